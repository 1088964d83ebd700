//! Why a prediction is what it is: the features that moved one job's p50
//! most, by TreeSHAP on the bundle's LightGBM median model (the values
//! LightGBM's own `predict_contrib` gives).
//!
//! Contributions are in the model's target units, ln(seconds): +0.69 means
//! the feature about doubled the predicted runtime against the training
//! average. Only the LightGBM member is explained; in a blend its
//! contributions describe that member, which carries most of the weight.

use rtp_bundle::{Ensemble, Manifest, MemberKind};
use rtp_trees::TreeShap;

use crate::error::{Result, ScoringError};

/// One feature's contribution to a prediction.
#[derive(Debug, Clone, PartialEq)]
pub struct Contribution {
    /// The bundle feature.
    pub feature: String,
    /// Its contribution to ln(p50 seconds).
    pub value: f64,
}

/// The model explained and how its inputs map to bundle features.
#[derive(Debug, Clone)]
pub struct Explainer {
    shap: TreeShap,
    /// Bundle feature index of each model input.
    inputs: Vec<usize>,
    /// Name of each model input.
    names: Vec<String>,
}

impl Explainer {
    /// The LightGBM member's median model, if the bundle has one with the
    /// node covers TreeSHAP needs.
    pub fn for_bundle(ensemble: &Ensemble, manifest: &Manifest) -> Option<Self> {
        let q = ensemble
            .quantiles()
            .iter()
            .position(|&q| (q - 0.5).abs() < 1e-9)?;
        let member = ensemble
            .members()
            .iter()
            .find(|m| m.kind == MemberKind::Lightgbm)?;
        let shap = TreeShap::new(member.forests[q].clone()).ok()?;
        let names = member
            .inputs
            .iter()
            .map(|&i| manifest.features[i].name.clone())
            .collect();
        Some(Self {
            shap,
            inputs: member.inputs.clone(),
            names,
        })
    }

    /// The `top` contributions of largest magnitude for row `row` of
    /// column-major bundle inputs, largest first.
    pub fn top(&self, columns: &[Vec<f32>], row: usize, top: usize) -> Result<Vec<Contribution>> {
        let values: Vec<f32> = self.inputs.iter().map(|&i| columns[i][row]).collect();
        self.top_of_model_row(&values, top)
    }

    /// As [`Explainer::top`], for one row of bundle inputs.
    pub fn top_of_row(&self, row: &[f32], top: usize) -> Result<Vec<Contribution>> {
        let values: Vec<f32> = self.inputs.iter().map(|&i| row[i]).collect();
        self.top_of_model_row(&values, top)
    }

    fn top_of_model_row(&self, values: &[f32], top: usize) -> Result<Vec<Contribution>> {
        let phi = self
            .shap
            .contributions(values)
            .map_err(ScoringError::Explain)?;
        let mut ranked: Vec<(usize, f64)> = phi[..self.names.len()]
            .iter()
            .copied()
            .enumerate()
            .filter(|(_, v)| *v != 0.0)
            .collect();
        ranked.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
        Ok(ranked
            .into_iter()
            .take(top)
            .map(|(i, value)| Contribution {
                feature: self.names[i].clone(),
                value,
            })
            .collect())
    }
}
