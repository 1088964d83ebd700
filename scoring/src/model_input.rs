//! Feature rows to model inputs: numeric features as `f32` (as the training
//! frame reads them), categorical values as the bundle's codes.

use std::collections::HashMap;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float32Type};
use rtp_bundle::{CategoryCodes, FeatureKind, FeatureSpec};

use crate::error::{Result, ScoringError};
use crate::row_value::{Value, render};

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

    /// Where each model input is in a feature row with columns `names`.
    pub fn positions(&self, names: &[String]) -> Result<Vec<usize>> {
        self.features
            .iter()
            .map(|(name, _)| {
                names
                    .iter()
                    .position(|n| n == name)
                    .ok_or_else(|| ScoringError::State {
                        table: "features".into(),
                        message: format!("the feature SQL does not produce model input `{name}`"),
                    })
            })
            .collect()
    }

    /// The model inputs of one feature row (`positions` from
    /// [`ModelInput::positions`]), read as [`ModelInput::columns`] reads a
    /// batch: numbers as `f32`, categories as codes, NaN for missing.
    pub fn row(&self, positions: &[usize], values: &[Value]) -> Vec<f32> {
        self.features
            .iter()
            .zip(positions)
            .map(|((_, codes), &i)| {
                let value = &values[i];
                match (codes, value) {
                    (_, Value::Null) => f32::NAN,
                    (None, Value::Float(f)) => *f as f32,
                    (None, Value::Int(v)) => *v as f32,
                    (None, Value::Bool(b)) => f32::from(u8::from(*b)),
                    (None, Value::Str(s)) => s.trim().parse().unwrap_or(f32::NAN),
                    (Some(codes), Value::Str(s)) => codes.get(&**s).copied().unwrap_or(f32::NAN),
                    (Some(codes), other) => codes
                        .get(render(other, false).as_str())
                        .copied()
                        .unwrap_or(f32::NAN),
                }
            })
            .collect()
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
