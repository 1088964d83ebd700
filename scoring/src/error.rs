//! Errors of the scoring core.

use datafusion::arrow::error::ArrowError;
use datafusion::error::DataFusionError;

/// What went wrong while loading a bundle or scoring jobs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScoringError {
    /// The bundle cannot be read or is inconsistent.
    #[error(transparent)]
    Bundle(#[from] rtp_bundle::BundleError),
    /// The bundle's feature SQL does not plan.
    #[error("feature SQL {context}: {source}")]
    Sql {
        /// The file or query involved.
        context: String,
        /// DataFusion's error.
        source: Box<DataFusionError>,
    },
    /// The bundle's feature SQL plans, but not into what a server can
    /// evaluate row by row.
    #[error("feature SQL {context}: {message}")]
    NotRowLevel {
        /// The query involved.
        context: String,
        /// What was found.
        message: String,
    },
    /// A state table of the bundle is unreadable or lacks a column.
    #[error("state table {table}: {message}")]
    State {
        /// The table.
        table: String,
        /// What is wrong.
        message: String,
    },
    /// The request's columns do not fit the job schema: a required column
    /// is missing or a column has a type that cannot hold its values.
    #[error("column `{column}`: {message}")]
    Column {
        /// The column.
        column: String,
        /// What is wrong.
        message: String,
    },
    /// An Arrow kernel failed while scoring.
    #[error("{context}: {source}")]
    Arrow {
        /// What was being done.
        context: String,
        /// Arrow's error.
        source: ArrowError,
    },
    /// Explaining a prediction failed.
    #[error("contributions: {0}")]
    Explain(#[source] rtp_trees::TreeModelError),
    /// Evaluating a compiled feature expression failed.
    #[error("evaluating {context}: {source}")]
    Evaluate {
        /// The projection involved.
        context: String,
        /// DataFusion's error.
        source: Box<DataFusionError>,
    },
    /// The event store cannot be opened, read or written.
    #[error("event store {}: {message}", path.display())]
    Store {
        /// The store's file.
        path: std::path::PathBuf,
        /// What failed.
        message: String,
    },
    /// Evaluating a compiled feature expression on one row failed.
    #[error("evaluating {context}: {message}")]
    EvaluateRow {
        /// The projection involved.
        context: String,
        /// What failed.
        message: String,
    },
    /// A `sacct` follower cannot start.
    #[error("sacct follower: {0}")]
    Follower(String),
}

impl ScoringError {
    /// Conformed job rows that do not read as jobs.
    pub(crate) fn jobs(error: rtp_jobs::BatchError) -> Self {
        match error {
            rtp_jobs::BatchError::Column { column, reason } => Self::Column {
                column: column.into(),
                message: reason.into(),
            },
            rtp_jobs::BatchError::Arrow(source) => Self::Arrow {
                context: "job rows".into(),
                source,
            },
        }
    }

    pub(crate) fn sql(context: impl Into<String>) -> impl FnOnce(DataFusionError) -> Self {
        let context = context.into();
        move |source| Self::Sql {
            context,
            source: Box::new(source),
        }
    }

    pub(crate) fn arrow(context: impl Into<String>) -> impl FnOnce(ArrowError) -> Self {
        let context = context.into();
        move |source| Self::Arrow { context, source }
    }

    pub(crate) fn column(column: &str, message: impl Into<String>) -> Self {
        Self::Column {
            column: column.to_owned(),
            message: message.into(),
        }
    }

    /// Whether the error is the caller's (bad request columns) rather than
    /// the server's.
    pub fn is_invalid_input(&self) -> bool {
        matches!(self, Self::Column { .. })
    }
}

/// Result alias of the scoring core.
pub type Result<T, E = ScoringError> = std::result::Result<T, E>;
