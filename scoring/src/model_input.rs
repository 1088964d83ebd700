//! Feature rows to model inputs: numeric features as `f32` (as the training
//! frame reads them), categorical values as the bundle's codes.

use std::collections::HashMap;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float32Type};
use rtp_bundle::{CategoryCodes, FeatureKind, FeatureSpec};

use crate::error::{Result, ScoringError};

/// How each bundle feature is read from a feature row.
#[derive(Debug)]
pub struct ModelInput {
    features: Vec<(String, Option<HashMap<String, f32>>)>,
}

impl ModelInput {
    /// The reader of `features` with categorical codes from `codes`.
    pub fn new(features: &[FeatureSpec], codes: &CategoryCodes) -> Self {
        let features = features
            .iter()
            .map(|f| {
                let map = (f.kind == FeatureKind::Categorical).then(|| {
                    codes
                        .code_map(&f.name)
                        .into_iter()
                        .map(|(k, v)| (k.to_owned(), v))
                        .collect()
                });
                (f.name.clone(), map)
            })
            .collect();
        Self { features }
    }

    /// Names of the features read, in model order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.features.iter().map(|(n, _)| n.as_str())
    }

    /// Column-major model inputs for the rows of `batch`; NaN is missing.
    pub fn columns(&self, batch: &RecordBatch) -> Result<Vec<Vec<f32>>> {
        self.features
            .iter()
            .map(|(name, codes)| {
                let column = batch
                    .column_by_name(name)
                    .ok_or_else(|| ScoringError::State {
                        table: "features".into(),
                        message: format!("the feature SQL does not produce model input `{name}`"),
                    })?;
                match codes {
                    None => {
                        let values = cast(column, &DataType::Float32)
                            .map_err(|e| ScoringError::arrow(format!("feature `{name}`"))(e))?;
                        let values = values.as_primitive::<Float32Type>();
                        Ok((0..values.len())
                            .map(|i| {
                                if values.is_null(i) {
                                    f32::NAN
                                } else {
                                    values.value(i)
                                }
                            })
                            .collect())
                    }
                    Some(codes) => {
                        let values = cast(column, &DataType::Utf8)
                            .map_err(|e| ScoringError::arrow(format!("feature `{name}`"))(e))?;
                        Ok(values
                            .as_string::<i32>()
                            .iter()
                            .map(|v| v.and_then(|v| codes.get(v).copied()).unwrap_or(f32::NAN))
                            .collect())
                    }
                }
            })
            .collect()
    }
}
