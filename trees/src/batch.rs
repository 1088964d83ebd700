//! Arrow input: a [`RecordBatch`]'s columns as the `f32` slices the engine
//! reads, and file loading.

use std::borrow::Cow;
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type,
    UInt32Type,
};
use arrow_array::{Array, ArrowPrimitiveType, PrimitiveArray, RecordBatch};
use arrow_schema::DataType;

use crate::error::TreeModelError;
use crate::forest::{Forest, ModelFormat};

fn to_f32<T: ArrowPrimitiveType>(
    array: &PrimitiveArray<T>,
    convert: impl Fn(T::Native) -> f32,
) -> Vec<f32> {
    (0..array.len())
        .map(|i| {
            if array.is_null(i) {
                f32::NAN
            } else {
                convert(array.value(i))
            }
        })
        .collect()
}

/// The named columns of `batch` as `f32` values, in the order of `names`;
/// nulls become NaN (missing). Float32 columns without nulls are borrowed.
pub fn columns_from_batch<'a>(
    batch: &'a RecordBatch,
    names: &[&str],
) -> crate::Result<Vec<Cow<'a, [f32]>>> {
    names
        .iter()
        .map(|&name| {
            let column = batch
                .column_by_name(name)
                .ok_or_else(|| TreeModelError::Input(format!("column `{name}` is missing")))?;
            let values: Cow<'a, [f32]> = match column.data_type() {
                DataType::Float32 => {
                    let array = column.as_primitive::<Float32Type>();
                    if array.null_count() == 0 {
                        Cow::Borrowed(array.values().as_ref())
                    } else {
                        Cow::Owned(to_f32(array, |v| v))
                    }
                }
                DataType::Float64 => {
                    Cow::Owned(to_f32(column.as_primitive::<Float64Type>(), |v| v as f32))
                }
                DataType::Int64 => {
                    Cow::Owned(to_f32(column.as_primitive::<Int64Type>(), |v| v as f32))
                }
                DataType::Int32 => {
                    Cow::Owned(to_f32(column.as_primitive::<Int32Type>(), |v| v as f32))
                }
                DataType::Int16 => {
                    Cow::Owned(to_f32(column.as_primitive::<Int16Type>(), f32::from))
                }
                DataType::Int8 => Cow::Owned(to_f32(column.as_primitive::<Int8Type>(), f32::from)),
                DataType::UInt32 => {
                    Cow::Owned(to_f32(column.as_primitive::<UInt32Type>(), |v| v as f32))
                }
                DataType::UInt16 => {
                    Cow::Owned(to_f32(column.as_primitive::<UInt16Type>(), f32::from))
                }
                DataType::UInt8 => {
                    Cow::Owned(to_f32(column.as_primitive::<UInt8Type>(), f32::from))
                }
                other => {
                    return Err(TreeModelError::Input(format!(
                        "column `{name}` has type {other}; a number is needed"
                    )));
                }
            };
            Ok(values)
        })
        .collect()
}

impl Forest {
    /// Loads a model file of the given format.
    pub fn load(path: &Path, format: ModelFormat) -> crate::Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| TreeModelError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, format)
    }

    /// Loads a model from its file contents in the given format.
    pub fn parse(text: &str, format: ModelFormat) -> crate::Result<Self> {
        match format {
            ModelFormat::LightGbm => Self::from_lightgbm_text(text),
            ModelFormat::XgBoost => Self::from_xgboost_json(text),
            ModelFormat::CatBoost => Self::from_catboost_json(text),
        }
    }

    /// Raw scores of the rows of `batch`, reading input `i` from the column
    /// named `names[i]`.
    pub fn predict_batch(&self, batch: &RecordBatch, names: &[&str]) -> crate::Result<Vec<f64>> {
        let columns = columns_from_batch(batch, names)?;
        let slices: Vec<&[f32]> = columns.iter().map(|c| c.as_ref()).collect();
        let mut out = vec![0.0; batch.num_rows()];
        self.predict_columns(&slices, &mut out)?;
        Ok(out)
    }
}
