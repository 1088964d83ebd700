//! Native inference for gradient-boosted trees.
//!
//! Models trained by LightGBM (text format), XGBoost (JSON) and CatBoost
//! (JSON, oblivious trees) are loaded into one flat representation,
//! [`Forest`], and evaluated without linking any of those libraries: one row
//! at a time for interactive requests, or column-major batches (slices or an
//! Arrow [`RecordBatch`](arrow_array::RecordBatch)) for bulk scoring.
//!
//! Each loader reproduces its library's split rules exactly (comparison
//! direction, missing-value routing, categorical sets) and refuses, with a
//! [`TreeModelError::Unsupported`] naming the feature, anything it does not
//! implement (linear trees, CTR features, non-identity links, …), so a model
//! is either evaluated as its library would or not at all.
//!
//! Categorical inputs are integer codes carried as `f32` (NaN = missing).
//! CatBoost one-hot splits compare CatBoost's hash of a category string; the
//! CatBoost loader hashes each code's decimal text, which is what a model
//! trained on the codes as strings saw (missing as `"-1"`).

mod batch;
mod bitvector;
mod catboost;
mod cityhash;
mod error;
mod forest;
mod lightgbm;
mod shap;
mod workers;
mod xgboost;

pub use batch::columns_from_batch;
pub use catboost::MISSING_CATEGORY_TEXT;
pub use cityhash::{catboost_category_hash, city_hash64};
pub use error::TreeModelError;
pub use forest::{Forest, ModelFormat};
pub use shap::TreeShap;

/// Result alias of this crate.
pub type Result<T, E = TreeModelError> = std::result::Result<T, E>;
