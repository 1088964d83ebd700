//! The edge as a program: settings from the defaults, a file and the
//! environment overrides the caller collected, logging, a runtime sized by
//! `worker_threads`, the banner and ready line, then serving until SIGTERM
//! or Ctrl-C and draining. `rtp-edge-api` and `rtp serve edge` both end up
//! here.

use std::path::Path;

use rtp_service_support::{Ready, Settings};

use crate::config::EdgeConfig;
use crate::server::{ServerError, start};

/// The program's name, in its banner, ready line and errors.
pub const PROGRAM: &str = "rtp-edge-api";

/// Why the program stopped with an error.
pub type RunError = rtp_service_support::RunError<ServerError>;

/// Loads the settings, serves until a stop signal, and drains.
pub fn run(config_file: Option<&Path>, overrides: &[(&str, String)]) -> Result<(), RunError> {
    let config = EdgeConfig::load(config_file, overrides)?;
    rtp_service_support::init_logging(config.log_format);
    rtp_service_support::runtime(config.worker_threads)
        .map_err(RunError::Runtime)?
        .block_on(serve(&config))
}

async fn serve(config: &EdgeConfig) -> Result<(), RunError> {
    let server = start(config).await.map_err(RunError::Server)?;
    let scheme = if server.tls { "grpc+tls" } else { "grpc" };
    let version = server.live.current().version().to_owned();
    let banner = format!(
        "{PROGRAM}: gRPC on {scheme}://{}, metrics on http://{}/metrics, serving {version}",
        server.grpc_addr, server.metrics_addr,
    );
    let ready = Ready::new(PROGRAM)
        .endpoint("grpc", format!("{scheme}://{}", server.grpc_addr))
        .endpoint("metrics", format!("http://{}/metrics", server.metrics_addr))
        .serving(version);
    rtp_service_support::announce(&banner, &ready);
    rtp_service_support::stop_on_signal(server.stop_token());
    server.wait().await.map_err(RunError::Server)
}
