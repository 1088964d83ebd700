//! What can go wrong starting, supervising or measuring the services.

use std::path::PathBuf;

use datafusion::arrow::error::ArrowError;
use datafusion::parquet::errors::ParquetError;

/// A failure of the stack or of a benchmark.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StackError {
    /// Reading or writing a file, or starting a process, failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or program.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A service exited or stopped talking before it announced that it
    /// listens.
    #[error("{program} did not start: {detail}")]
    NotStarted {
        /// The service.
        program: String,
        /// What it did instead.
        detail: String,
    },
    /// A service announced itself without an endpoint it must have.
    #[error("{program} announced no {role} endpoint")]
    MissingEndpoint {
        /// The service.
        program: String,
        /// The endpoint's role (`grpc`, `flight`, `http`, `metrics`).
        role: String,
    },
    /// The bundle store or a bundle could not be read.
    #[error(transparent)]
    Bundle(#[from] rtp_bundle::BundleError),
    /// Scoring in-process failed.
    #[error(transparent)]
    Scoring(#[from] rtp_scoring::ScoringError),
    /// Arrow data could not be built, read or written.
    #[error("{context}: {source}")]
    Arrow {
        /// What was being done.
        context: String,
        /// The cause.
        source: ArrowError,
    },
    /// A Parquet file could not be written.
    #[error("{path}: {source}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: ParquetError,
    },
    /// The job pool lacks what the benchmark sends.
    #[error("the job pool {0}")]
    JobPool(String),
    /// A call to a running service failed.
    #[error("calling {endpoint}: {message}")]
    Call {
        /// The service's address.
        endpoint: String,
        /// What the client reported.
        message: String,
    },
    /// A client outside this process (the pyarrow benchmark) failed.
    #[error("{program} failed: {message}")]
    Client {
        /// The client program.
        program: PathBuf,
        /// Its standard error.
        message: String,
    },
    /// The reference predictor given by the caller failed.
    #[error("the reference predictor: {0}")]
    Reference(String),
    /// A benchmark's own worker thread panicked.
    #[error("the {0} thread panicked")]
    Panicked(&'static str),
}

/// Results of this crate.
pub type Result<T, E = StackError> = std::result::Result<T, E>;

impl StackError {
    /// A mapper of I/O errors about `path`.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }

    /// A mapper of Arrow errors while doing `context`.
    pub fn arrow(context: impl Into<String>) -> impl FnOnce(ArrowError) -> Self {
        let context = context.into();
        move |source| Self::Arrow { context, source }
    }

    /// A mapper of Parquet errors about `path`.
    pub fn parquet(path: impl Into<PathBuf>) -> impl FnOnce(ParquetError) -> Self {
        let path = path.into();
        move |source| Self::Parquet { path, source }
    }

    /// A mapper of client errors calling `endpoint`.
    pub fn call<E: std::fmt::Display>(endpoint: &str) -> impl FnOnce(E) -> Self + '_ {
        move |e| Self::Call {
            endpoint: endpoint.to_owned(),
            message: e.to_string(),
        }
    }
}
