//! The pipeline's error type: one enum, variants named for what failed and
//! carrying the file, line, field or table needed to act on it.

use std::path::PathBuf;

/// Result alias for the pipeline library.
pub type Result<T, E = PipelineError> = std::result::Result<T, E>;

/// What went wrong in a pipeline step.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// The online state code refused the bundle's SQL or state.
    #[error(transparent)]
    Scoring(#[from] rtp_scoring::ScoringError),
    /// Reading or writing a file failed.
    #[error("I/O on {path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// `--strict` ingest met a bad row.
    #[error("{path}:{line}: field `{field}`: {reason}")]
    BadRow {
        /// Input file.
        path: PathBuf,
        /// 1-based line (text inputs) or row (Parquet inputs).
        line: u64,
        /// The offending field.
        field: String,
        /// Why the row was rejected.
        reason: String,
    },
    /// An input file cannot be read past a point (a truncated or corrupt
    /// compressed file, bytes that are not text): nothing is written.
    #[error("{path}:{line}: unreadable: {reason}; nothing was written")]
    Unreadable {
        /// Input file.
        path: PathBuf,
        /// 1-based line that could not be read.
        line: u64,
        /// What the reader reported.
        reason: String,
    },
    /// An input lacks a column the format requires.
    #[error("{path}: missing required column `{column}`")]
    MissingColumn {
        /// Input file.
        path: PathBuf,
        /// The column that is absent.
        column: String,
    },
    /// The input format could not be recognised from name or content.
    #[error("{path}: cannot tell the input format; pass --format eagle|swf|sacct")]
    UnknownFormat {
        /// Input file.
        path: PathBuf,
    },
    /// A configuration value is invalid.
    #[error("configuration: {0}")]
    Config(String),
    /// A feature SQL file failed to plan or run.
    #[error("feature SQL {file}: {source}")]
    Sql {
        /// The SQL file (or table) involved.
        file: String,
        /// DataFusion's error.
        source: Box<datafusion::error::DataFusionError>,
    },
    /// Arrow or Parquet failed while reading or writing a table.
    #[error("{context}: {source}")]
    Arrow {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: Box<datafusion::error::DataFusionError>,
    },
    /// The feature table lacks something training or evaluation needs.
    #[error("feature table: {0}")]
    Features(String),
    /// LightGBM reported an error.
    #[error("LightGBM: {0}")]
    LightGbm(String),
    /// A Python trainer (XGBoost, CatBoost) or its environment failed.
    #[error("Python trainer: {0}")]
    Python(String),
    /// The native engine disagrees with a library's own predictions: the
    /// model is not published.
    #[error("native evaluation differs from the library's: {0}")]
    Parity(String),
    /// A trained model cannot be loaded by the native engine.
    #[error("{member} model: {source}")]
    Model {
        /// The member whose model failed.
        member: String,
        /// Why.
        source: rtp_trees::TreeModelError,
    },
    /// Too little data to do what was asked.
    #[error("not enough data: {0}")]
    NotEnoughData(String),
    /// Jobs that do not fit the canonical job table.
    #[error(transparent)]
    Jobs(#[from] rtp_jobs::BatchError),
    /// Publishing or reading a bundle failed.
    #[error(transparent)]
    Bundle(#[from] rtp_bundle::BundleError),
}

impl PipelineError {
    /// Maps an I/O error to [`PipelineError::Io`] for `path`.
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }

    /// Maps a native-engine error to [`PipelineError::Model`] for `member`.
    pub fn model(member: &str) -> impl FnOnce(rtp_trees::TreeModelError) -> Self {
        let member = member.to_owned();
        move |source| Self::Model { member, source }
    }

    /// Maps an Arrow, Parquet or DataFusion error, saying what was being done.
    pub(crate) fn arrow<E: Into<datafusion::error::DataFusionError>>(
        context: impl Into<String>,
    ) -> impl FnOnce(E) -> Self {
        let context = context.into();
        move |e| Self::Arrow {
            context,
            source: Box::new(e.into()),
        }
    }
}
