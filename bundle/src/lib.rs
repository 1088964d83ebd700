//! What the batch pipeline and the servers share: the versioned model bundle
//! and the ensemble it loads into.
//!
//! The pipeline writes both; servers only read bundles. Keeping the formats in
//! one small crate means a server never links the training stack.
#![deny(missing_docs)]

pub mod categories;
pub mod ensemble;
pub mod evaluation_details;
pub mod feature_sql;
pub mod integrity;
pub mod interval;
pub mod layout;
pub mod likely;
pub mod manifest;
pub mod parity;
pub mod request_cap;
pub mod store;
pub mod target;

mod error;

pub use categories::CategoryCodes;
pub use ensemble::{Ensemble, LoadedMember};
pub use error::BundleError;
pub use manifest::{FeatureKind, FeatureSpec, Manifest, MemberKind, MemberSpec, QualityMetrics};
pub use request_cap::RequestCap;
pub use store::{BundleStore, LoadedBundle, StagedBundle};
pub use target::Target;
