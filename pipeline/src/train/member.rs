//! What every member trainer receives and returns.

use std::collections::BTreeMap;

use rtp_bundle::MemberKind;

/// One quantile model as its library wrote it.
#[derive(Debug, Clone)]
pub struct FittedModel {
    /// The quantile.
    pub quantile: f64,
    /// Boosting rounds kept.
    pub best_iteration: u32,
    /// The model file's contents.
    pub text: String,
}

/// What training one member produced.
#[derive(Debug, Clone)]
pub struct MemberFit {
    /// Which library.
    pub kind: MemberKind,
    /// Its version.
    pub library_version: String,
    /// Columns of the training matrix it reads, in its input order.
    pub inputs: Vec<usize>,
    /// One model per quantile.
    pub models: Vec<FittedModel>,
    /// Parameters, as given to the library.
    pub params: BTreeMap<String, String>,
    /// Per quantile, the train-only model's predictions on the validation
    /// slice (log scale).
    pub validation: Vec<Vec<f64>>,
    /// Per quantile, the final model's predictions by the library itself on
    /// the first parity rows.
    pub library_parity: Vec<Vec<f64>>,
}
