//! Errors of model loading and evaluation.

use crate::forest::ModelFormat;

/// Why a model could not be loaded or evaluated.
#[derive(Debug, thiserror::Error)]
pub enum TreeModelError {
    /// The model text is malformed.
    #[error("{format} model: {detail}")]
    Parse {
        /// The model format.
        format: ModelFormat,
        /// What is wrong, with the key or tree it concerns.
        detail: String,
    },
    /// The model uses something this engine does not evaluate.
    #[error("{format} model uses {what}, which the native engine does not support")]
    Unsupported {
        /// The model format.
        format: ModelFormat,
        /// The unsupported feature.
        what: String,
    },
    /// The input does not match the model.
    #[error("input: {0}")]
    Input(String),
    /// A model file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl TreeModelError {
    pub(crate) fn parse(format: ModelFormat, detail: impl Into<String>) -> Self {
        Self::Parse {
            format,
            detail: detail.into(),
        }
    }

    pub(crate) fn unsupported(format: ModelFormat, what: impl Into<String>) -> Self {
        Self::Unsupported {
            format,
            what: what.into(),
        }
    }
}
