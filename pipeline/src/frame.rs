//! The feature table loaded into memory for training and evaluation:
//! outcome columns as plain vectors, numeric features as `f32`, categorical
//! features interned to ids.
//!
//! Which columns are features is read from the table itself: `f_*` columns
//! are numeric features and `cat_*` columns categorical ones, as the SQL
//! names them.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float32Type, Float64Type, Int64Type};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::error::{PipelineError, Result};

/// Prefix of numeric feature columns.
pub const NUMERIC_PREFIX: &str = "f_";
/// Prefix of categorical feature columns.
pub const CATEGORICAL_PREFIX: &str = "cat_";
/// The categorical feature naming the job's partition.
pub use rtp_bundle::request_cap::PARTITION_FEATURE as PARTITION_COLUMN;
/// Id of a missing categorical value.
pub const MISSING_ID: u32 = u32::MAX;

/// A numeric feature column.
#[derive(Debug, Clone)]
pub struct NumericColumn {
    /// Column name.
    pub name: String,
    /// Values; NaN is missing.
    pub values: Vec<f32>,
}

/// A categorical feature column, interned.
#[derive(Debug, Clone, Default)]
pub struct CategoricalColumn {
    /// Column name.
    pub name: String,
    /// Per row, an index into `dictionary` or [`MISSING_ID`].
    pub ids: Vec<u32>,
    /// Distinct values in order of first appearance.
    pub dictionary: Vec<String>,
    index: HashMap<String, u32>,
}

impl CategoricalColumn {
    /// A column of `values`, interned in order.
    pub fn from_values<'a>(name: &str, values: impl IntoIterator<Item = Option<&'a str>>) -> Self {
        let mut column = Self {
            name: name.to_owned(),
            ..Default::default()
        };
        for value in values {
            column.push(value);
        }
        column
    }

    fn push(&mut self, value: Option<&str>) {
        let id = match value {
            None => MISSING_ID,
            Some(v) => match self.index.get(v) {
                Some(id) => *id,
                None => {
                    let id = self.dictionary.len() as u32;
                    self.dictionary.push(v.to_owned());
                    self.index.insert(v.to_owned(), id);
                    id
                }
            },
        };
        self.ids.push(id);
    }
}

/// The feature table in memory.
#[derive(Debug, Clone, Default)]
pub struct FeatureFrame {
    /// Job key per row.
    pub job_key: Vec<i64>,
    /// Submit time, epoch seconds.
    pub submit_s: Vec<i64>,
    /// End time, epoch seconds; `i64::MAX` when the job has not ended.
    pub end_s: Vec<i64>,
    /// Runtime in seconds; NaN when unknown.
    pub run_time_s: Vec<f64>,
    /// Requested wallclock in seconds; NaN when unknown or unlimited.
    pub wallclock_req_s: Vec<f64>,
    /// Final state per row, interned in `states`.
    pub state: Vec<u16>,
    /// Distinct states.
    pub states: Vec<String>,
    /// The `user_request` baseline, seconds.
    pub base_user_request_s: Vec<f64>,
    /// The `last2` baseline, seconds.
    pub base_last2_s: Vec<f64>,
    /// Numeric features in table order.
    pub numeric: Vec<NumericColumn>,
    /// Categorical features in table order.
    pub categorical: Vec<CategoricalColumn>,
}

impl FeatureFrame {
    /// Rows in the frame.
    pub fn len(&self) -> usize {
        self.job_key.len()
    }

    /// Whether the frame has no rows.
    pub fn is_empty(&self) -> bool {
        self.job_key.is_empty()
    }

    /// Reads a feature table written by the feature SQL.
    pub fn read(path: &Path) -> Result<Self> {
        let context = || format!("reading features {}", path.display());
        let file = File::open(path).map_err(PipelineError::io(path))?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(PipelineError::arrow(context()))?
            .with_batch_size(65_536)
            .build()
            .map_err(PipelineError::arrow(context()))?;
        let mut frame = FeatureFrame::default();
        for batch in reader {
            let batch = batch.map_err(PipelineError::arrow(context()))?;
            frame.append(&batch)?;
        }
        Ok(frame)
    }

    /// The frame of `rows`, in that order.
    pub fn select(&self, rows: &[usize]) -> Self {
        fn pick<T: Copy>(values: &[T], rows: &[usize]) -> Vec<T> {
            rows.iter().map(|&r| values[r]).collect()
        }
        FeatureFrame {
            job_key: pick(&self.job_key, rows),
            submit_s: pick(&self.submit_s, rows),
            end_s: pick(&self.end_s, rows),
            run_time_s: pick(&self.run_time_s, rows),
            wallclock_req_s: pick(&self.wallclock_req_s, rows),
            state: pick(&self.state, rows),
            states: self.states.clone(),
            base_user_request_s: pick(&self.base_user_request_s, rows),
            base_last2_s: pick(&self.base_last2_s, rows),
            numeric: self
                .numeric
                .iter()
                .map(|c| NumericColumn {
                    name: c.name.clone(),
                    values: pick(&c.values, rows),
                })
                .collect(),
            categorical: self
                .categorical
                .iter()
                .map(|c| CategoricalColumn {
                    name: c.name.clone(),
                    ids: pick(&c.ids, rows),
                    dictionary: c.dictionary.clone(),
                    index: c.index.clone(),
                })
                .collect(),
        }
    }

    /// Appends the rows of `batch` (a features query's columns).
    pub fn append(&mut self, batch: &RecordBatch) -> Result<()> {
        let schema = batch.schema();
        if self.numeric.is_empty() && self.categorical.is_empty() {
            for field in schema.fields() {
                let name = field.name();
                if name.starts_with(NUMERIC_PREFIX) {
                    self.numeric.push(NumericColumn {
                        name: name.clone(),
                        values: Vec::new(),
                    });
                } else if name.starts_with(CATEGORICAL_PREFIX) {
                    self.categorical.push(CategoricalColumn {
                        name: name.clone(),
                        ..Default::default()
                    });
                }
            }
        }
        let column = |name: &str, ty: &DataType| -> Result<std::sync::Arc<dyn Array>> {
            let array = batch
                .column_by_name(name)
                .ok_or_else(|| PipelineError::Features(format!("missing column `{name}`")))?;
            cast(array, ty).map_err(PipelineError::arrow(format!("column `{name}` as {ty}")))
        };
        let ints = |name: &str, missing: i64| -> Result<Vec<i64>> {
            let a = column(name, &DataType::Int64)?;
            let a = a.as_primitive::<Int64Type>();
            Ok((0..a.len())
                .map(|i| if a.is_null(i) { missing } else { a.value(i) })
                .collect())
        };
        let floats = |name: &str| -> Result<Vec<f64>> {
            let a = column(name, &DataType::Float64)?;
            let a = a.as_primitive::<Float64Type>();
            Ok((0..a.len())
                .map(|i| if a.is_null(i) { f64::NAN } else { a.value(i) })
                .collect())
        };
        self.job_key.extend(ints("job_key", -1)?);
        self.submit_s.extend(ints("submit_s", 0)?);
        self.end_s.extend(ints("end_s", i64::MAX)?);
        self.run_time_s.extend(floats("run_time_s")?);
        self.wallclock_req_s.extend(floats("wallclock_req_s")?);
        self.base_user_request_s
            .extend(floats("base_user_request_s")?);
        self.base_last2_s.extend(floats("base_last2_s")?);
        let states = column("state", &DataType::Utf8)?;
        for value in states.as_string::<i32>().iter() {
            let value = value.unwrap_or("");
            let id = match self.states.iter().position(|s| s == value) {
                Some(id) => id,
                None => {
                    self.states.push(value.to_owned());
                    self.states.len() - 1
                }
            };
            self.state.push(id as u16);
        }
        for col in &mut self.numeric {
            let a = column(&col.name, &DataType::Float32)?;
            let a = a.as_primitive::<Float32Type>();
            col.values
                .extend((0..a.len()).map(|i| if a.is_null(i) { f32::NAN } else { a.value(i) }));
        }
        for col in &mut self.categorical {
            let a = column(&col.name, &DataType::Utf8)?;
            for value in a.as_string::<i32>().iter() {
                col.push(value);
            }
        }
        Ok(())
    }

    /// Row `i`'s partition, where the features name it.
    pub fn partition_of(&self, i: usize) -> Option<&str> {
        let column = self
            .categorical
            .iter()
            .find(|c| c.name == PARTITION_COLUMN)?;
        column
            .dictionary
            .get(column.ids[i] as usize)
            .map(String::as_str)
    }

    /// Names of the numeric and then the categorical features: the model's
    /// input order.
    pub fn feature_names(&self) -> Vec<String> {
        self.numeric
            .iter()
            .map(|c| c.name.clone())
            .chain(self.categorical.iter().map(|c| c.name.clone()))
            .collect()
    }

    /// The latest end time in the frame (0 when no job has ended).
    pub fn last_end_s(&self) -> i64 {
        self.end_s
            .iter()
            .copied()
            .filter(|&e| e != i64::MAX)
            .max()
            .unwrap_or(0)
    }

    /// The state name of row `i`.
    pub fn state_of(&self, i: usize) -> &str {
        &self.states[self.state[i] as usize]
    }
}
