//! The dashboard as a program: settings from the defaults, a file and the
//! environment overrides the caller collected, logging, the banner and
//! ready line, then serving until SIGTERM or Ctrl-C and draining.
//! `rtp-dashboard` and `rtp serve dashboard` both end up here.

use std::path::Path;

use rtp_service_support::{ConfigError, Ready, Settings};

use crate::config::DashboardConfig;
use crate::server::{ServerError, start};

/// The program's name, in its banner, ready line and errors.
pub const PROGRAM: &str = "rtp-dashboard";

/// Why the program stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The settings are unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The server could not start or failed.
    #[error(transparent)]
    Server(#[from] ServerError),
    /// The async runtime could not start.
    #[error("starting the async runtime: {0}")]
    Runtime(std::io::Error),
}

/// Loads the settings, serves until a stop signal, and drains.
pub fn run(config_file: Option<&Path>, overrides: &[(&str, String)]) -> Result<(), RunError> {
    let config = DashboardConfig::load(config_file, overrides)?;
    rtp_service_support::init_logging(config.log_format);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(RunError::Runtime)?
        .block_on(serve(&config))
}

async fn serve(config: &DashboardConfig) -> Result<(), RunError> {
    let server = start(config).await?;
    println!(
        "{PROGRAM}: http://{}/ (edge {}, Flight {}, metrics on http://{}/metrics)",
        server.addr, config.edge.address, config.flight.address, server.addr
    );
    let ready = Ready::new(PROGRAM)
        .endpoint("http", format!("http://{}/", server.addr))
        .endpoint("metrics", format!("http://{}/metrics", server.addr));
    println!("{}", ready.line());
    let stop = server.stop_token();
    tokio::spawn(async move {
        rtp_service_support::shutdown_signal().await;
        tracing::info!("shutting down");
        stop.cancel();
    });
    Ok(server.wait().await?)
}
