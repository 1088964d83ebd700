//! `job_context` rows gathered over several calls and built into one batch.
//!
//! A replay reads each submit second's jobs from the state of that second,
//! and most seconds hold one or two jobs. Building arrays and a record
//! batch per second cost more than reading the state; gathering the values
//! and building the arrays once per block of seconds does not.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch};

use crate::error::{Result, ScoringError};
use crate::row_projection::batch_of;
use crate::row_value::Value;

/// One context column's values so far.
#[derive(Debug)]
pub(crate) enum Gathered {
    /// A `job_base` column: taken whole from the jobs when the batch is
    /// built, so nothing is gathered.
    Base,
    /// Integer statistics or counts.
    Ints(Vec<Option<i64>>),
    /// Floating-point statistics.
    Floats(Vec<Option<f64>>),
}

/// Context rows gathered so far, in the order of their jobs
/// ([`crate::feature_program::FeatureProgram::gather_context`]).
#[derive(Debug)]
pub struct ContextRows {
    pub(crate) columns: Vec<Gathered>,
    pub(crate) rows: usize,
}

impl Gathered {
    /// Adds a value; one of another type than the column's is a null, as
    /// the state's statistics have their column's type or none.
    pub(crate) fn push(&mut self, value: Value) {
        match self {
            Self::Base => {}
            Self::Ints(values) => values.push(match value {
                Value::Int(i) => Some(i),
                _ => None,
            }),
            Self::Floats(values) => values.push(match value {
                Value::Float(f) => Some(f),
                _ => None,
            }),
        }
    }
}

impl ContextRows {
    pub(crate) fn new(columns: Vec<Gathered>) -> Self {
        Self { columns, rows: 0 }
    }

    /// Rows gathered.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether no row has been gathered.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The batch of `names` (one per column), the base columns taken from
    /// `base`, which must hold the gathered jobs' rows in the same order.
    pub(crate) fn build<'a>(
        self,
        names: impl Iterator<Item = &'a str>,
        base: impl Fn(&str) -> Option<ArrayRef>,
        base_rows: usize,
        label: &str,
    ) -> Result<RecordBatch> {
        if base_rows != self.rows {
            return Err(ScoringError::EvaluateRow {
                context: label.to_owned(),
                message: format!("{} context rows gathered for {base_rows} jobs", self.rows),
            });
        }
        let mut labels = Vec::with_capacity(self.columns.len());
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.columns.len());
        for (name, gathered) in names.zip(self.columns) {
            let column = match gathered {
                Gathered::Base => base(name).ok_or_else(|| ScoringError::EvaluateRow {
                    context: label.to_owned(),
                    message: format!("the jobs have no column `{name}`"),
                })?,
                Gathered::Ints(values) => Arc::new(Int64Array::from(values)),
                Gathered::Floats(values) => Arc::new(Float64Array::from(values)),
            };
            labels.push(name);
            columns.push(column);
        }
        batch_of(labels.into_iter(), columns, self.rows, label)
    }
}
