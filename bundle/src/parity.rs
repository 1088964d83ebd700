//! The parity sample: a few training rows with each library's own
//! predictions for them, recorded when the bundle is made and replayed
//! through the native engine whenever the bundle is loaded.
//!
//! The file digests prove a model file is the one published; the sample proves
//! this build's engine still reads it as the library meant (a model that
//! parses but evaluates differently is refused, not served).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::ensemble::Ensemble;
use crate::error::BundleError;
use crate::manifest::MemberKind;

/// Rows kept in a bundle's parity sample: enough to reach most leaves of
/// shallow trees, small enough to check in milliseconds.
pub const SAMPLE_ROWS: usize = 256;

/// Largest `|native − library| / max(|library|, 1)`: relative for values of
/// magnitude ≥ 1 (log runtimes mostly are), absolute below.
pub fn max_rel_diff(native: &[f64], library: &[f64]) -> f64 {
    native
        .iter()
        .zip(library)
        .map(|(&a, &b)| (a - b).abs() / b.abs().max(1.0))
        .fold(0.0, f64::max)
}

/// Largest difference allowed between native and library predictions:
/// LightGBM predicts in double precision, XGBoost and CatBoost in single.
pub fn tolerance(kind: MemberKind) -> f64 {
    match kind {
        MemberKind::Lightgbm => 1e-9,
        MemberKind::Xgboost | MemberKind::Catboost => 1e-5,
    }
}

/// Model inputs of the sampled rows and each member's library predictions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParitySample {
    /// The bundle's features, in model input order.
    pub features: Vec<String>,
    /// One column per feature; `None` is a missing value (NaN to the models).
    pub columns: Vec<Vec<Option<f32>>>,
    /// What each member's library predicted for the rows, per quantile.
    pub members: BTreeMap<String, Vec<QuantileParity>>,
}

/// One quantile model's library predictions on the sampled rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuantileParity {
    /// The quantile.
    pub quantile: f64,
    /// The library's predictions, target (log) units.
    pub library: Vec<f64>,
}

impl ParitySample {
    /// Reads a sample written by [`ParitySample::write`].
    pub fn read(path: &Path) -> Result<Self, BundleError> {
        crate::error::read_json(path)
    }

    /// Writes the sample as JSON (floats round-trip exactly).
    pub fn write(&self, path: &Path) -> Result<(), BundleError> {
        let json = serde_json::to_vec(self).map_err(|source| BundleError::Manifest {
            path: path.to_owned(),
            source,
        })?;
        std::fs::write(path, json).map_err(BundleError::io(path))
    }

    /// Number of sampled rows.
    pub fn rows(&self) -> usize {
        self.columns.first().map_or(0, Vec::len)
    }

    /// Replays the rows through every member of `ensemble` and returns the
    /// largest relative difference; a member beyond its tolerance, or one the
    /// sample does not cover, is an error.
    pub fn check(&self, ensemble: &Ensemble, features: &[String]) -> Result<f64, BundleError> {
        let inconsistent = |m: String| BundleError::Inconsistent(format!("parity sample: {m}"));
        if self.features != features {
            return Err(inconsistent("its features are not the bundle's".into()));
        }
        let rows = self.rows();
        if self.columns.iter().any(|c| c.len() != rows) {
            return Err(inconsistent("columns of different lengths".into()));
        }
        let columns: Vec<Vec<f32>> = self
            .columns
            .iter()
            .map(|c| c.iter().map(|v| v.unwrap_or(f32::NAN)).collect())
            .collect();
        let mut worst = 0.0f64;
        for member in ensemble.members() {
            let recorded = self
                .members
                .get(member.kind.name())
                .ok_or_else(|| inconsistent(format!("no predictions of {}", member.kind)))?;
            let inputs: Vec<&[f32]> = member
                .inputs
                .iter()
                .map(|&j| columns[j].as_slice())
                .collect();
            for (forest, &quantile) in member.forests.iter().zip(ensemble.quantiles()) {
                let library = recorded
                    .iter()
                    .find(|r| r.quantile == quantile)
                    .filter(|r| r.library.len() == rows)
                    .ok_or_else(|| {
                        inconsistent(format!(
                            "no {rows} predictions of {} p{quantile}",
                            member.kind
                        ))
                    })?;
                let mut native = vec![0.0; rows];
                forest.predict_columns(&inputs, &mut native)?;
                let diff = max_rel_diff(&native, &library.library);
                let allowed = tolerance(member.kind);
                if diff.is_nan() || diff > allowed {
                    return Err(BundleError::Parity {
                        member: member.kind,
                        quantile,
                        diff,
                        tolerance: allowed,
                        rows,
                    });
                }
                worst = worst.max(diff);
            }
        }
        Ok(worst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_above_one_absolute_below() {
        assert!((max_rel_diff(&[10.1], &[10.0]) - 0.01).abs() < 1e-12);
        assert!((max_rel_diff(&[0.15], &[0.1]) - 0.05).abs() < 1e-12);
        assert_eq!(max_rel_diff(&[1.0, 2.0], &[1.0, 2.0]), 0.0);
    }

    #[test]
    fn missing_values_and_floats_round_trip_through_the_file() {
        let sample = ParitySample {
            features: vec!["a".into()],
            columns: vec![vec![Some(0.1), None, Some(f32::MAX)]],
            members: BTreeMap::from([(
                "lightgbm".into(),
                vec![QuantileParity {
                    quantile: 0.5,
                    library: vec![1.0 / 3.0, 7.25, -0.0],
                }],
            )]),
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("parity.json");
        sample.write(&path).unwrap();
        assert_eq!(ParitySample::read(&path).unwrap(), sample);
        assert_eq!(sample.rows(), 3);
    }

    fn one_tree_ensemble() -> Ensemble {
        // x0 <= 0.5 ? 1 : 3, missing values go left.
        let text = "tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\n\
            max_feature_idx=0\nobjective=quantile\nfeature_names=a\n\n\
            Tree=0\nnum_leaves=2\nnum_cat=0\nsplit_feature=0\nthreshold=0.5\n\
            decision_type=2\nleft_child=-1\nright_child=-2\nleaf_value=1 3\n\
            shrinkage=1\n\nend of trees\n";
        let forest = rtp_trees::Forest::from_lightgbm_text(text).unwrap();
        let member = crate::LoadedMember {
            kind: MemberKind::Lightgbm,
            inputs: vec![0],
            forests: vec![forest],
        };
        Ensemble::new(vec![0.5], 1, vec![member], vec![vec![1.0]]).unwrap()
    }

    fn sample(library: Vec<f64>) -> ParitySample {
        ParitySample {
            features: vec!["a".into()],
            columns: vec![vec![Some(0.0), Some(1.0), None]],
            members: BTreeMap::from([(
                "lightgbm".into(),
                vec![QuantileParity {
                    quantile: 0.5,
                    library,
                }],
            )]),
        }
    }

    #[test]
    fn an_engine_that_reproduces_the_library_passes_and_one_that_does_not_is_refused() {
        let ensemble = one_tree_ensemble();
        let features = ["a".to_owned()];
        assert_eq!(
            sample(vec![1.0, 3.0, 1.0])
                .check(&ensemble, &features)
                .unwrap(),
            0.0
        );
        let err = sample(vec![1.0, 3.0, 3.0])
            .check(&ensemble, &features)
            .unwrap_err();
        assert!(matches!(err, BundleError::Parity { rows: 3, .. }), "{err}");
        // A sample that does not cover the member, or other features.
        let mut uncovered = sample(vec![1.0, 3.0, 1.0]);
        uncovered.members.clear();
        assert!(uncovered.check(&ensemble, &features).is_err());
        assert!(
            sample(vec![1.0, 3.0, 1.0])
                .check(&ensemble, &["b".to_owned()])
                .is_err()
        );
    }
}
