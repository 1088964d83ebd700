//! The server as a program: settings from the defaults, a file and the
//! environment overrides the caller collected, logging, the banner and
//! ready line, then serving until SIGTERM or Ctrl-C and draining.
//! `rtp-flight-server` and `rtp serve flight` both end up here.

use std::path::Path;

use rtp_service_support::{Ready, Settings};

use crate::config::FlightConfig;
use crate::server::{ServerError, start};

/// The program's name, in its banner, ready line and errors.
pub const PROGRAM: &str = "rtp-flight-server";

/// Why the program stopped with an error.
pub type RunError = rtp_service_support::RunError<ServerError>;

/// Loads the settings, serves until a stop signal, and drains.
pub fn run(config_file: Option<&Path>, overrides: &[(&str, String)]) -> Result<(), RunError> {
    let config = FlightConfig::load(config_file, overrides)?;
    rtp_service_support::init_logging(config.log_format);
    rtp_service_support::runtime(0)
        .map_err(RunError::Runtime)?
        .block_on(serve(&config))
}

async fn serve(config: &FlightConfig) -> Result<(), RunError> {
    let server = start(config).await.map_err(RunError::Server)?;
    let version = server.live.current().version().to_owned();
    let scheme = if server.tls { "grpc+tls" } else { "grpc" };
    let banner = format!(
        "{PROGRAM}: Flight on {scheme}://{}, metrics on http://{}/metrics, serving {version}",
        server.flight_addr, server.metrics_addr,
    );
    let ready = Ready::new(PROGRAM)
        .endpoint("flight", format!("{scheme}://{}", server.flight_addr))
        .endpoint("metrics", format!("http://{}/metrics", server.metrics_addr))
        .serving(version);
    rtp_service_support::announce(&banner, &ready);
    rtp_service_support::stop_on_signal(server.stop_token());
    server.wait().await.map_err(RunError::Server)
}
