//! The dashboard as a program: settings from the defaults, a file and the
//! environment overrides the caller collected, logging, the banner and
//! ready line, then serving until SIGTERM or Ctrl-C and draining.
//! `rtp-dashboard` and `rtp serve dashboard` both end up here.

use std::path::Path;

use rtp_service_support::{Ready, Settings};

use crate::config::DashboardConfig;
use crate::server::{ServerError, start};

/// The program's name, in its banner, ready line and errors.
pub const PROGRAM: &str = "rtp-dashboard";

/// Why the program stopped with an error.
pub type RunError = rtp_service_support::RunError<ServerError>;

/// Loads the settings, serves until a stop signal, and drains.
pub fn run(config_file: Option<&Path>, overrides: &[(&str, String)]) -> Result<(), RunError> {
    let config = DashboardConfig::load(config_file, overrides)?;
    rtp_service_support::init_logging(config.log_format);
    rtp_service_support::runtime(0)
        .map_err(RunError::Runtime)?
        .block_on(serve(&config))
}

async fn serve(config: &DashboardConfig) -> Result<(), RunError> {
    let server = start(config).await.map_err(RunError::Server)?;
    let banner = format!(
        "{PROGRAM}: http://{}/ (edge {}, Flight {}, metrics on http://{}/metrics)",
        server.addr, config.edge.address, config.flight.address, server.addr
    );
    let ready = Ready::new(PROGRAM)
        .endpoint("http", format!("http://{}/", server.addr))
        .endpoint("metrics", format!("http://{}/metrics", server.addr));
    rtp_service_support::announce(&banner, &ready);
    rtp_service_support::stop_on_signal(server.stop_token());
    server.wait().await.map_err(RunError::Server)
}
