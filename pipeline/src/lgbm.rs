//! A small safe layer over LightGBM's C API (through `lightgbm3-sys`).
//!
//! Datasets are created with their parameters (categorical columns, bins) at
//! construction time: LightGBM decides bins and categorical handling when the
//! dataset is built, so parameters given only to the booster would be ignored.

use std::ffi::{CStr, CString, c_void};
use std::ptr;

use lightgbm3_sys as sys;

use crate::error::{PipelineError, Result};

const DTYPE_FLOAT32: i32 = 0;
const PREDICT_NORMAL: i32 = 0;
const PREDICT_CONTRIB: i32 = 3;
const IMPORTANCE_GAIN: i32 = 1;

fn check(code: i32) -> Result<()> {
    if code == 0 {
        return Ok(());
    }
    // SAFETY: LGBM_GetLastError returns a pointer to a thread-local,
    // NUL-terminated buffer that stays valid until the next API call.
    let message = unsafe { CStr::from_ptr(sys::LGBM_GetLastError()) };
    Err(PipelineError::LightGbm(
        message.to_string_lossy().into_owned(),
    ))
}

fn c_string(s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| PipelineError::LightGbm(format!("NUL byte in {s:?}")))
}

/// A dense matrix in column-major order, `f32` (halves memory over `f64`;
/// LightGBM bins the values anyway).
#[derive(Debug, Clone, Default)]
pub struct ColumnMajor {
    /// Values, column after column.
    pub values: Vec<f32>,
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
}

impl ColumnMajor {
    /// Column `j`.
    pub fn column(&self, j: usize) -> &[f32] {
        &self.values[j * self.rows..(j + 1) * self.rows]
    }

    /// Every column, in order.
    pub fn columns(&self) -> Vec<&[f32]> {
        (0..self.cols).map(|j| self.column(j)).collect()
    }

    /// Rows `range` of every column, as a new matrix.
    pub fn row_range(&self, range: std::ops::Range<usize>) -> ColumnMajor {
        let mut values = Vec::with_capacity(range.len() * self.cols);
        for j in 0..self.cols {
            values.extend_from_slice(&self.column(j)[range.clone()]);
        }
        ColumnMajor {
            values,
            rows: range.len(),
            cols: self.cols,
        }
    }

    /// Rows `rows` of every column, in that order, as a new matrix.
    pub fn select_rows(&self, rows: &[usize]) -> ColumnMajor {
        let mut values = Vec::with_capacity(rows.len() * self.cols);
        for j in 0..self.cols {
            let column = self.column(j);
            values.extend(rows.iter().map(|&r| column[r]));
        }
        ColumnMajor {
            values,
            rows: rows.len(),
            cols: self.cols,
        }
    }

    fn dims(&self) -> Result<(i32, i32)> {
        let rows = i32::try_from(self.rows)
            .map_err(|_| PipelineError::LightGbm(format!("{} rows exceed i32", self.rows)))?;
        debug_assert_eq!(self.values.len(), self.rows * self.cols);
        Ok((rows, self.cols as i32))
    }
}

/// A LightGBM training or validation dataset.
#[derive(Debug)]
pub struct Dataset {
    handle: sys::DatasetHandle,
}

impl Dataset {
    /// Builds a dataset from `matrix` with labels `label`. `reference` aligns
    /// the bins of a validation set with its training set.
    pub fn new(
        matrix: &ColumnMajor,
        label: &[f32],
        params: &str,
        reference: Option<&Dataset>,
    ) -> Result<Self> {
        let (rows, cols) = matrix.dims()?;
        if label.len() != matrix.rows {
            return Err(PipelineError::LightGbm(format!(
                "{} labels for {} rows",
                label.len(),
                matrix.rows
            )));
        }
        let params = c_string(params)?;
        let mut handle: sys::DatasetHandle = ptr::null_mut();
        // SAFETY: the matrix buffer holds rows*cols f32 values and outlives the
        // call (LightGBM copies it into bins); `handle` receives a new dataset.
        check(unsafe {
            sys::LGBM_DatasetCreateFromMat(
                matrix.values.as_ptr() as *const c_void,
                DTYPE_FLOAT32,
                rows,
                cols,
                0,
                params.as_ptr(),
                reference.map_or(ptr::null_mut(), |r| r.handle),
                &mut handle,
            )
        })?;
        let dataset = Self { handle };
        let field = c_string("label")?;
        // SAFETY: `label` holds `rows` f32 values; LightGBM copies them.
        check(unsafe {
            sys::LGBM_DatasetSetField(
                dataset.handle,
                field.as_ptr(),
                label.as_ptr() as *const c_void,
                rows,
                DTYPE_FLOAT32,
            )
        })?;
        Ok(dataset)
    }
}

impl Drop for Dataset {
    fn drop(&mut self) {
        // SAFETY: the handle was created by LGBM_DatasetCreateFromMat and is freed once.
        unsafe { sys::LGBM_DatasetFree(self.handle) };
    }
}

/// A LightGBM booster (a trained or training model).
#[derive(Debug)]
pub struct Booster {
    handle: sys::BoosterHandle,
    num_features: usize,
}

// SAFETY: LightGBM boosters may be used from any thread; prediction takes an
// internal lock, and training (`&mut self`) is never concurrent.
unsafe impl Send for Booster {}
// SAFETY: see above: concurrent predictions are synchronised inside LightGBM.
unsafe impl Sync for Booster {}

impl Booster {
    /// A new booster on `train` with `params` (`key=value` separated by spaces).
    pub fn new(train: &Dataset, params: &str, num_features: usize) -> Result<Self> {
        let params = c_string(params)?;
        let mut handle: sys::BoosterHandle = ptr::null_mut();
        // SAFETY: `train` is a live dataset; `handle` receives a new booster.
        check(unsafe { sys::LGBM_BoosterCreate(train.handle, params.as_ptr(), &mut handle) })?;
        Ok(Self {
            handle,
            num_features,
        })
    }

    /// Loads a booster from LightGBM's text model format.
    pub fn from_model_string(model: &str) -> Result<Self> {
        let text = c_string(model)?;
        let mut iterations = 0;
        let mut handle: sys::BoosterHandle = ptr::null_mut();
        // SAFETY: `text` is a NUL-terminated model string; `handle` receives a booster.
        check(unsafe {
            sys::LGBM_BoosterLoadModelFromString(text.as_ptr(), &mut iterations, &mut handle)
        })?;
        let mut features = 0;
        // SAFETY: `handle` is the booster just created.
        check(unsafe { sys::LGBM_BoosterGetNumFeature(handle, &mut features) })?;
        Ok(Self {
            handle,
            num_features: features as usize,
        })
    }

    /// Adds a validation set, evaluated after every iteration.
    pub fn add_validation(&mut self, valid: &Dataset) -> Result<()> {
        // SAFETY: both handles are live; LightGBM keeps a reference to `valid`,
        // which the caller keeps alive for the booster's training.
        check(unsafe { sys::LGBM_BoosterAddValidData(self.handle, valid.handle) })
    }

    /// Runs one boosting iteration; true when no further split was possible.
    pub fn update(&mut self) -> Result<bool> {
        let mut finished = 0;
        // SAFETY: live booster handle.
        check(unsafe { sys::LGBM_BoosterUpdateOneIter(self.handle, &mut finished) })?;
        Ok(finished != 0)
    }

    /// The first metric on data set `index` (0 = training, 1 = first validation set).
    pub fn eval(&self, index: i32) -> Result<f64> {
        let mut count = 0;
        // SAFETY: live booster handle.
        check(unsafe { sys::LGBM_BoosterGetEvalCounts(self.handle, &mut count) })?;
        let mut results = vec![0.0f64; count.max(1) as usize];
        let mut len = 0;
        // SAFETY: `results` has room for every metric LightGBM reported.
        check(unsafe {
            sys::LGBM_BoosterGetEval(self.handle, index, &mut len, results.as_mut_ptr())
        })?;
        results
            .first()
            .copied()
            .filter(|_| len > 0)
            .ok_or_else(|| PipelineError::LightGbm("no evaluation metric configured".into()))
    }

    /// The model as LightGBM text, keeping the first `iterations` rounds.
    pub fn model_string(&self, iterations: i32) -> Result<String> {
        let mut len = 0i64;
        let mut buffer = vec![0u8; 1 << 20];
        loop {
            // SAFETY: `buffer` has `buffer.len()` writable bytes.
            check(unsafe {
                sys::LGBM_BoosterSaveModelToString(
                    self.handle,
                    0,
                    iterations,
                    IMPORTANCE_GAIN,
                    buffer.len() as i64,
                    &mut len,
                    buffer.as_mut_ptr() as *mut std::os::raw::c_char,
                )
            })?;
            if (len as usize) <= buffer.len() {
                break;
            }
            buffer.resize(len as usize, 0);
        }
        buffer.truncate((len as usize).saturating_sub(1)); // drop the NUL
        String::from_utf8(buffer)
            .map_err(|_| PipelineError::LightGbm("model text is not UTF-8".into()))
    }

    /// Predictions (transformed output) for every row of `matrix`.
    pub fn predict(&self, matrix: &ColumnMajor, iterations: i32) -> Result<Vec<f64>> {
        self.predict_kind(matrix, iterations, PREDICT_NORMAL, matrix.rows)
    }

    /// Per-feature contributions (SHAP) for every row: `cols + 1` values per
    /// row, the last being the expected value.
    pub fn contributions(&self, matrix: &ColumnMajor, iterations: i32) -> Result<Vec<f64>> {
        self.predict_kind(
            matrix,
            iterations,
            PREDICT_CONTRIB,
            matrix.rows * (matrix.cols + 1),
        )
    }

    fn predict_kind(
        &self,
        matrix: &ColumnMajor,
        iterations: i32,
        kind: i32,
        out_len: usize,
    ) -> Result<Vec<f64>> {
        if matrix.cols != self.num_features {
            return Err(PipelineError::LightGbm(format!(
                "model expects {} features, got {}",
                self.num_features, matrix.cols
            )));
        }
        if matrix.rows == 0 {
            return Ok(Vec::new());
        }
        let (rows, cols) = matrix.dims()?;
        let mut out = vec![0.0f64; out_len];
        let mut len = 0i64;
        let params = c_string("")?;
        // SAFETY: the input holds rows*cols f32 values; `out` has room for the
        // documented output length of this prediction kind.
        check(unsafe {
            sys::LGBM_BoosterPredictForMat(
                self.handle,
                matrix.values.as_ptr() as *const c_void,
                DTYPE_FLOAT32,
                rows,
                cols,
                0,
                kind,
                0,
                iterations,
                params.as_ptr(),
                &mut len,
                out.as_mut_ptr(),
            )
        })?;
        out.truncate(len as usize);
        Ok(out)
    }

    /// Gain importance per feature over the first `iterations` rounds.
    pub fn gain_importance(&self, iterations: i32) -> Result<Vec<f64>> {
        let mut out = vec![0.0f64; self.num_features];
        // SAFETY: `out` has one slot per feature.
        check(unsafe {
            sys::LGBM_BoosterFeatureImportance(
                self.handle,
                iterations,
                IMPORTANCE_GAIN,
                out.as_mut_ptr(),
            )
        })?;
        Ok(out)
    }
}

impl Drop for Booster {
    fn drop(&mut self) {
        // SAFETY: the handle was created by this type and is freed once.
        unsafe { sys::LGBM_BoosterFree(self.handle) };
    }
}
