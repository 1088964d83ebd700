//! What the batch pipeline and the servers share: the canonical job table and
//! the versioned model bundle.
//!
//! The pipeline writes both; servers only read bundles. Keeping the formats in
//! one small crate means a server never links the training stack.
#![deny(missing_docs)]

pub mod job_schema;
pub mod manifest;
pub mod store;

mod error;

pub use error::BundleError;
pub use manifest::{FeatureKind, FeatureSpec, Manifest, QualityMetrics};
pub use store::{BundleStore, LoadedBundle, StagedBundle};
