//! The server as a program: settings from the defaults, a file and the
//! environment overrides the caller collected, logging, the banner and
//! ready line, then serving until SIGTERM or Ctrl-C and draining.
//! `rtp-flight-server` and `rtp serve flight` both end up here.

use std::path::Path;

use rtp_service_support::{ConfigError, Ready, Settings};

use crate::config::FlightConfig;
use crate::server::{ServerError, start};

/// The program's name, in its banner, ready line and errors.
pub const PROGRAM: &str = "rtp-flight-server";

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
    let config = FlightConfig::load(config_file, overrides)?;
    rtp_service_support::init_logging(config.log_format);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(RunError::Runtime)?
        .block_on(serve(&config))
}

async fn serve(config: &FlightConfig) -> Result<(), RunError> {
    let server = start(config).await?;
    let version = server.live.current().version().to_owned();
    println!(
        "{PROGRAM}: Flight on grpc://{}, metrics on http://{}/metrics, serving {version}",
        server.flight_addr, server.metrics_addr,
    );
    let ready = Ready::new(PROGRAM)
        .endpoint("flight", format!("grpc://{}", server.flight_addr))
        .endpoint("metrics", format!("http://{}/metrics", server.metrics_addr))
        .serving(version);
    println!("{}", ready.line());
    let stop = server.stop_token();
    tokio::spawn(async move {
        rtp_service_support::shutdown_signal().await;
        tracing::info!("shutting down");
        stop.cancel();
    });
    Ok(server.wait().await?)
}
