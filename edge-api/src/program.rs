//! The edge as a program: settings from the defaults, a file and the
//! environment overrides the caller collected, logging, a runtime sized by
//! `worker_threads`, the banner and ready line, then serving until SIGTERM
//! or Ctrl-C and draining. `rtp-edge-api` and `rtp serve edge` both end up
//! here.

use std::path::Path;

use rtp_service_support::{ConfigError, Ready, Settings};

use crate::config::EdgeConfig;
use crate::server::{ServerError, start};

/// The program's name, in its banner, ready line and errors.
pub const PROGRAM: &str = "rtp-edge-api";

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
    let config = EdgeConfig::load(config_file, overrides)?;
    rtp_service_support::init_logging(config.log_format);
    // One worker: a single-threaded runtime, no hand-offs between threads.
    let runtime = match config.worker_threads {
        1 => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        0 => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
        n => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build(),
    }
    .map_err(RunError::Runtime)?;
    runtime.block_on(serve(&config))
}

async fn serve(config: &EdgeConfig) -> Result<(), RunError> {
    let server = start(config).await?;
    let scheme = if server.tls { "grpc+tls" } else { "grpc" };
    let version = server.live.current().version().to_owned();
    println!(
        "{PROGRAM}: gRPC on {scheme}://{}, metrics on http://{}/metrics, serving {version}",
        server.grpc_addr, server.metrics_addr,
    );
    let ready = Ready::new(PROGRAM)
        .endpoint("grpc", format!("{scheme}://{}", server.grpc_addr))
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
