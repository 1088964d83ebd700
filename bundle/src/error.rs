//! Errors raised while reading or publishing a bundle.

use std::path::PathBuf;

/// What went wrong with a bundle, with the path involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// A file or directory of the bundle store could not be read or written.
    #[error("bundle I/O on {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A manifest exists but is not valid JSON of the expected shape.
    #[error("invalid manifest {path}: {source}")]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// The decoding error.
        source: serde_json::Error,
    },
    /// A feature SQL directory without `.sql` files.
    #[error("no .sql files in {0}")]
    NoSql(PathBuf),
    /// A manifest of a bundle layout this build does not read.
    #[error(
        "{path}: bundle format version {found:?}, this build reads version {expected}; retrain or use a matching release"
    )]
    FormatVersion {
        /// The manifest file.
        path: PathBuf,
        /// The version the manifest declares, if any.
        found: Option<u64>,
        /// The version this build reads.
        expected: u32,
    },
    /// The store has no published bundle yet.
    #[error("no bundle has been published in {0}")]
    NoBundle(PathBuf),
    /// A version name that cannot be a directory name of the store.
    #[error("invalid bundle version {0:?}: use letters, digits, '-', '_' and '.'")]
    InvalidVersion(String),
    /// A model file of the bundle cannot be evaluated.
    #[error("model {path}: {source}")]
    Model {
        /// The model file.
        path: PathBuf,
        /// Why.
        source: rtp_trees::TreeModelError,
    },
    /// Input rows do not fit the ensemble.
    #[error("prediction: {0}")]
    Predict(#[from] rtp_trees::TreeModelError),
    /// The manifest contradicts itself (an input or member it does not list).
    #[error("inconsistent bundle: {0}")]
    Inconsistent(String),
    /// The native engine does not reproduce a model's recorded predictions.
    #[error(
        "{member} p{quantile} model predicts up to {diff:e} (relative) away from what its library predicted on the {rows} rows recorded at training (tolerance {tolerance:e}); refused"
    )]
    Parity {
        /// The member.
        member: crate::manifest::MemberKind,
        /// The quantile of the model.
        quantile: f64,
        /// The largest difference found.
        diff: f64,
        /// The largest allowed.
        tolerance: f64,
        /// Rows compared.
        rows: usize,
    },
    /// A bundle's files are not the ones its manifest lists.
    #[error("bundle {dir} is not as published: {detail}; it is refused")]
    Integrity {
        /// The bundle's directory.
        dir: PathBuf,
        /// Which file and how it differs.
        detail: String,
    },
    /// A manifest naming a version other than its directory's (a copied bundle).
    #[error(
        "{path} names version {found:?} but lies in directory {expected:?}; a bundle is published under its own version"
    )]
    VersionMismatch {
        /// The manifest file.
        path: PathBuf,
        /// The version the manifest names.
        found: String,
        /// The directory's name.
        expected: String,
    },
    /// A version was asked for that is already published; bundles are immutable.
    #[error("bundle version {0} already exists")]
    VersionExists(String),
}

/// Reads a JSON file of a bundle.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(
    path: &std::path::Path,
) -> Result<T, BundleError> {
    let text = std::fs::read_to_string(path).map_err(BundleError::io(path))?;
    serde_json::from_str(&text).map_err(|source| BundleError::Manifest {
        path: path.to_owned(),
        source,
    })
}

impl BundleError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }
}
