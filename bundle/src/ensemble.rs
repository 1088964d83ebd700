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
                add_weighted(&mut blended[q], w, &scratch);
            }
        }
        Ok(blended)
    }

    /// The blend of predictions the members have already made, one
    /// [`Ensemble::member_log_quantiles`] result per member, in member
    /// order: the same values as [`Ensemble::log_quantiles`] on the same
    /// rows, bit for bit (the same sums in the same order), without
    /// evaluating any forest again.
    pub fn blend_member_outputs(
        &self,
        outputs: &[Vec<Vec<f64>>],
    ) -> Result<Vec<Vec<f64>>, BundleError> {
        let shape_error = |what: String| Err(BundleError::Inconsistent(what));
        if outputs.len() != self.members.len() {
            return shape_error(format!(
                "{} members' predictions given, the ensemble has {} members",
                outputs.len(),
                self.members.len()
            ));
        }
        let rows = outputs.first().and_then(|o| o.first()).map_or(0, Vec::len);
        for (member, output) in self.members.iter().zip(outputs) {
            if output.len() != self.quantiles.len() || output.iter().any(|q| q.len() != rows) {
                return shape_error(format!(
                    "{}'s predictions are not {} quantiles × {rows} rows",
                    member.kind,
                    self.quantiles.len()
                ));
            }
        }
        let mut blended = vec![vec![0.0; rows]; self.quantiles.len()];
        for (m, output) in outputs.iter().enumerate() {
            for (q, values) in output.iter().enumerate() {
                let w = self.weights[q][m];
                if w != 0.0 {
                    add_weighted(&mut blended[q], w, values);
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

/// `blended += w × values`, element by element. Every blend adds through
/// here, so blends computed in one pass or from the members' outputs agree.
fn add_weighted(blended: &mut [f64], w: f64, values: &[f64]) {
    for (b, v) in blended.iter_mut().zip(values) {
        *b += w * v;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One tree: `x <= threshold ? left : right`, missing values left.
    fn stump(threshold: f64, left: f64, right: f64) -> Forest {
        let text = format!(
            "tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\n\
             max_feature_idx=0\nobjective=quantile\nfeature_names=a\n\n\
             Tree=0\nnum_leaves=2\nnum_cat=0\nsplit_feature=0\nthreshold={threshold}\n\
             decision_type=2\nleft_child=-1\nright_child=-2\nleaf_value={left} {right}\n\
             shrinkage=1\n\nend of trees\n"
        );
        Forest::from_lightgbm_text(&text).unwrap()
    }

    /// Two members over two features, each reading one; the second member
    /// has no weight for the median.
    fn two_members() -> Ensemble {
        let member = |kind, input, offset: f64| LoadedMember {
            kind,
            inputs: vec![input],
            forests: [0.1, 0.5, 0.9]
                .iter()
                .map(|q| stump(0.5 + q, 1.0 / 3.0 + q + offset, 2.7 * q - offset))
                .collect(),
        };
        Ensemble::new(
            vec![0.1, 0.5, 0.9],
            2,
            vec![
                member(MemberKind::Lightgbm, 0, 0.0),
                member(MemberKind::Xgboost, 1, 0.7),
            ],
            vec![vec![0.3, 0.7], vec![1.0, 0.0], vec![0.55, 0.45]],
        )
        .unwrap()
    }

    #[test]
    fn blending_the_members_outputs_equals_the_blend() {
        let ensemble = two_members();
        let a: Vec<f32> = vec![0.0, 0.7, 1.2, f32::NAN, 2.0, 0.61];
        let b: Vec<f32> = vec![1.5, f32::NAN, 0.2, 0.9, 1.0, 1.39];
        let columns = [a.as_slice(), b.as_slice()];
        let outputs: Vec<Vec<Vec<f64>>> = (0..2)
            .map(|m| ensemble.member_log_quantiles(m, &columns).unwrap())
            .collect();
        let blended = ensemble.blend_member_outputs(&outputs).unwrap();
        let direct = ensemble.log_quantiles(&columns).unwrap();
        let bits = |v: &Vec<Vec<f64>>| -> Vec<Vec<u64>> {
            v.iter()
                .map(|q| q.iter().map(|x| x.to_bits()).collect())
                .collect()
        };
        assert_eq!(bits(&blended), bits(&direct));
        // The median is the first member's alone; the others mix both.
        assert_eq!(blended[1], outputs[0][1]);
        assert_ne!(blended[0], outputs[0][0]);
    }

    #[test]
    fn outputs_of_the_wrong_shape_are_refused() {
        let ensemble = two_members();
        let a = [0.0f32, 1.0];
        let columns = [&a[..], &a[..]];
        let one = ensemble.member_log_quantiles(0, &columns).unwrap();
        let err = ensemble
            .blend_member_outputs(std::slice::from_ref(&one))
            .unwrap_err();
        assert!(err.to_string().contains("1 members' predictions"), "{err}");
        let mut short = one.clone();
        short[2].pop();
        let err = ensemble.blend_member_outputs(&[one, short]).unwrap_err();
        assert!(err.to_string().contains("3 quantiles × 2 rows"), "{err}");
    }
}
