//! The batch side of rt-predictor: ingest job records, build leak-free
//! features with the SQL in `sql/`, train an ensemble of quantile models
//! (LightGBM, XGBoost, CatBoost), evaluate it against baselines, and publish
//! versioned model bundles.
#![deny(missing_docs)]

pub mod chain;
pub mod config;
pub mod error;
pub mod evaluate;
pub mod features;
pub mod frame;
pub mod generate;
pub mod ingest;
pub mod job_table;
pub mod lgbm;
pub mod publish;
pub mod replay;
pub mod stages;
pub mod train;
pub mod window_folds;

pub use error::{PipelineError, Result};
