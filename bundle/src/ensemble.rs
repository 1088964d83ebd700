//! The ensemble a bundle describes, loaded into the native tree engine.
//!
//! Every member reads a subset of the bundle's features; inputs are given
//! in the bundle's feature order and each member picks its own. A quantile's
//! prediction is the weighted sum of the members' predictions for it (log
//! scale); members whose weight is zero for every quantile are not evaluated.

use std::path::Path;

use rtp_trees::Forest;

use crate::error::BundleError;
use crate::manifest::{Manifest, MemberKind};
use crate::parity::ParitySample;

/// One member with its models loaded.
#[derive(Debug, Clone)]
pub struct LoadedMember {
    /// Which library trained it.
    pub kind: MemberKind,
    /// Its inputs, as indices into the bundle's features.
    pub inputs: Vec<usize>,
    /// One forest per quantile, in the ensemble's quantile order.
    pub forests: Vec<Forest>,
}

/// The members and their blend weights.
#[derive(Debug, Clone)]
pub struct Ensemble {
    quantiles: Vec<f64>,
    /// Where p10, p50 and p90 are among `quantiles`.
    interval_positions: [usize; 3],
    num_features: usize,
    members: Vec<LoadedMember>,
    /// `weights[q][m]`: weight of member `m` for quantile `q`.
    weights: Vec<Vec<f64>>,
}

impl Ensemble {
    /// Assembles an ensemble over `num_features` inputs, checking that the
    /// shapes agree.
    pub fn new(
        quantiles: Vec<f64>,
        num_features: usize,
        members: Vec<LoadedMember>,
        weights: Vec<Vec<f64>>,
    ) -> Result<Self, BundleError> {
        let inconsistent = |m: String| Err(BundleError::Inconsistent(m));
        if weights.len() != quantiles.len() || weights.iter().any(|w| w.len() != members.len()) {
            return inconsistent("blend weights do not match quantiles × members".into());
        }
        if quantiles.windows(2).any(|w| w[0] >= w[1]) {
            return inconsistent(format!("quantiles {quantiles:?} are not increasing"));
        }
        let Some(interval_positions) = crate::interval::interval_positions(&quantiles) else {
            return inconsistent(format!("quantiles {quantiles:?} have no median"));
        };
        for member in &members {
            if member.forests.len() != quantiles.len() {
                return inconsistent(format!(
                    "{} has {} models for {} quantiles",
                    member.kind,
                    member.forests.len(),
                    quantiles.len()
                ));
            }
            if let Some(&bad) = member.inputs.iter().find(|&&i| i >= num_features) {
                return inconsistent(format!(
                    "{} reads input {bad} of {num_features}",
                    member.kind
                ));
            }
            if let Some(f) = member
                .forests
                .iter()
                .find(|f| f.num_features() != member.inputs.len())
            {
                return inconsistent(format!(
                    "a {} model reads {} inputs, the member lists {}",
                    member.kind,
                    f.num_features(),
                    member.inputs.len()
                ));
            }
        }
        Ok(Self {
            quantiles,
            interval_positions,
            num_features,
            members,
            weights,
        })
    }

    /// Loads the models of the bundle in `dir` described by `manifest`, and
    /// refuses them unless they reproduce the bundle's parity sample.
    pub fn load(dir: &Path, manifest: &Manifest) -> Result<Self, BundleError> {
        let quantiles: Vec<f64> = manifest.blend.iter().map(|b| b.quantile).collect();
        let mut members = Vec::with_capacity(manifest.members.len());
        for spec in &manifest.members {
            let inputs = spec
                .inputs
                .iter()
                .map(|name| {
                    manifest
                        .features
                        .iter()
                        .position(|f| &f.name == name)
                        .ok_or_else(|| {
                            BundleError::Inconsistent(format!(
                                "{} reads `{name}`, which is not a bundle feature",
                                spec.kind
                            ))
                        })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let mut forests = Vec::with_capacity(quantiles.len());
            for &q in &quantiles {
                let model = spec
                    .models
                    .iter()
                    .find(|m| m.quantile == q)
                    .ok_or_else(|| {
                        BundleError::Inconsistent(format!(
                            "{} has no model for quantile {q}",
                            spec.kind
                        ))
                    })?;
                let path = dir.join(&model.file);
                let forest = Forest::load(&path, spec.kind.model_format())
                    .map_err(|source| BundleError::Model { path, source })?;
                forests.push(forest);
            }
            members.push(LoadedMember {
                kind: spec.kind,
                inputs,
                forests,
            });
        }
        let weights = manifest
            .blend
            .iter()
            .map(|b| {
                members
                    .iter()
                    .map(|m| b.weights.get(m.kind.name()).copied().unwrap_or(0.0))
                    .collect()
            })
            .collect();
        let ensemble = Self::new(quantiles, manifest.features.len(), members, weights)?;
        let features: Vec<String> = manifest.features.iter().map(|f| f.name.clone()).collect();
        ParitySample::read(&dir.join(&manifest.parity_file))?.check(&ensemble, &features)?;
        Ok(ensemble)
    }

    /// The quantiles predicted, in order.
    pub fn quantiles(&self) -> &[f64] {
        &self.quantiles
    }

    /// Where p10, p50 and p90 are among [`Ensemble::quantiles`].
    pub fn interval_positions(&self) -> [usize; 3] {
        self.interval_positions
    }

    /// The members.
    pub fn members(&self) -> &[LoadedMember] {
        &self.members
    }

    /// Member weights for quantile index `q`.
    pub fn weights(&self, q: usize) -> &[f64] {
        &self.weights[q]
    }

    fn check_columns(&self, columns: &[&[f32]]) -> Result<usize, BundleError> {
        if columns.len() != self.num_features {
            return Err(rtp_trees::TreeModelError::Input(format!(
                "{} feature columns given, the bundle has {}",
                columns.len(),
                self.num_features
            ))
            .into());
        }
        Ok(columns.first().map_or(0, |c| c.len()))
    }

    /// Member `m`'s own predictions (log scale), one vector per quantile, for
    /// a column-major batch in bundle feature order.
    pub fn member_log_quantiles(
        &self,
        m: usize,
        columns: &[&[f32]],
    ) -> Result<Vec<Vec<f64>>, BundleError> {
        let rows = self.check_columns(columns)?;
        let member = &self.members[m];
        let inputs: Vec<&[f32]> = member.inputs.iter().map(|&i| columns[i]).collect();
        member
            .forests
            .iter()
            .map(|forest| {
                let mut out = vec![0.0; rows];
                forest.predict_columns(&inputs, &mut out)?;
                Ok(out)
            })
            .collect()
    }

    /// Blended predictions (log scale), one vector per quantile.
    pub fn log_quantiles(&self, columns: &[&[f32]]) -> Result<Vec<Vec<f64>>, BundleError> {
        let rows = self.check_columns(columns)?;
        let mut blended = vec![vec![0.0; rows]; self.quantiles.len()];
        let mut scratch = vec![0.0; rows];
        for (m, member) in self.members.iter().enumerate() {
            let inputs: Vec<&[f32]> = member.inputs.iter().map(|&i| columns[i]).collect();
            for (q, forest) in member.forests.iter().enumerate() {
                let w = self.weights[q][m];
                if w == 0.0 {
                    continue;
                }
                forest.predict_columns(&inputs, &mut scratch)?;
                for (b, s) in blended[q].iter_mut().zip(&scratch) {
                    *b += w * s;
                }
            }
        }
        Ok(blended)
    }

    /// Blended predictions (log scale) of one row in bundle feature order.
    pub fn log_quantiles_row(&self, row: &[f32]) -> Result<Vec<f64>, BundleError> {
        if row.len() != self.num_features {
            return Err(rtp_trees::TreeModelError::Input(format!(
                "row has {} features, the bundle has {}",
                row.len(),
                self.num_features
            ))
            .into());
        }
        let mut out = vec![0.0; self.quantiles.len()];
        let mut inputs = Vec::with_capacity(self.num_features);
        for (m, member) in self.members.iter().enumerate() {
            if self.weights.iter().all(|w| w[m] == 0.0) {
                continue;
            }
            inputs.clear();
            inputs.extend(member.inputs.iter().map(|&i| row[i]));
            for (q, forest) in member.forests.iter().enumerate() {
                let w = self.weights[q][m];
                if w != 0.0 {
                    out[q] += w * forest.predict_row(&inputs)?;
                }
            }
        }
        Ok(out)
    }
}
