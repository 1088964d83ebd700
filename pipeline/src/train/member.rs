//! What every member trainer receives and returns.

use std::collections::BTreeMap;

use rtp_bundle::MemberKind;

use crate::lgbm::ColumnMajor;

/// The rows a model is trained on, shared by every member: the fit rows
/// first, then the validation slice (the most recently submitted jobs).
#[derive(Debug)]
pub struct TrainingMatrix<'a> {
    /// Every feature, every row.
    pub x: &'a ColumnMajor,
    /// Labels (log1p runtime).
    pub y: &'a [f64],
    /// Rows before the validation slice.
    pub n_fit: usize,
    /// Feature names, in column order.
    pub feature_names: &'a [String],
    /// Whether each column holds category codes.
    pub categorical: &'a [bool],
    /// Rows (from the first) on which library predictions are recorded for
    /// the parity check.
    pub parity_rows: usize,
}

impl TrainingMatrix<'_> {
    /// Labels of the validation slice.
    pub fn valid_y(&self) -> &[f64] {
        &self.y[self.n_fit..]
    }
}

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
