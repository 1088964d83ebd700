//! The frame every service program shares: the error it ends on, the
//! async runtime it serves on, its announcement once it listens, and the
//! stop on SIGTERM or Ctrl-C.

use tokio::runtime::Runtime;
use tokio_util::sync::CancellationToken;

use crate::ready::Ready;
use crate::settings::ConfigError;
use crate::shutdown::shutdown_signal;

/// Why a service program stopped with an error; `E` is its server's error.
#[derive(Debug, thiserror::Error)]
pub enum RunError<E: std::error::Error + 'static> {
    /// The settings are unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The server could not start, or failed while serving.
    #[error(transparent)]
    Server(E),
    /// The async runtime could not start.
    #[error("starting the async runtime: {0}")]
    Runtime(std::io::Error),
}

/// A runtime with `workers` worker threads: 0 is one per core, 1 a
/// single-threaded runtime (no hand-offs between threads).
pub fn runtime(workers: usize) -> std::io::Result<Runtime> {
    match workers {
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
}

/// Prints the banner for people, then the ready line for programs, on
/// standard output.
pub fn announce(banner: &str, ready: &Ready) {
    println!("{banner}");
    println!("{}", ready.line());
}

/// Cancels `stop` at the first SIGTERM or Ctrl-C. Call it on the runtime
/// that serves.
pub fn stop_on_signal(stop: CancellationToken) {
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        stop.cancel();
    });
}
