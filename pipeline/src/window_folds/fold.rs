//! The folds: one partition's evaluator, called by DataFusion's bounded
//! window operator once per row, in order, with the row's frame over the
//! partition's buffered rows.
//!
//! The operator drops buffered rows before the start of the last frame
//! returned by [`PartitionEvaluator::get_range`], so every frame reaches
//! back exactly as far as its fold reads: a running aggregate reads the one
//! row entering it, `lag` rows back; a median reads its whole frame; the
//! latest non-null value reads the current row.

use std::ops::Range;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::{Float64Type, Int64Type};
use datafusion::common::{Result, ScalarValue, internal_err};
use datafusion::logical_expr::PartitionEvaluator;

use super::recognise::{Fold, Running};

/// One partition's running state.
#[derive(Debug)]
pub(super) struct FoldEvaluator {
    fold: Fold,
    float: Option<f64>,
    int: Option<i64>,
    count: u64,
    /// A median's frame: its non-null values in total order.
    frame: Vec<f64>,
    /// The latest non-null value, once there is one.
    last: Option<ScalarValue>,
}

impl FoldEvaluator {
    pub(super) fn new(fold: Fold) -> Self {
        Self {
            fold,
            float: None,
            int: None,
            count: 0,
            frame: Vec::new(),
            last: None,
        }
    }

    /// Adds buffered row `i` to the running aggregate, as DataFusion's
    /// accumulators add it: sums from zero in row order, nulls skipped.
    fn absorb(&mut self, aggregate: Running, values: &ArrayRef, i: usize) {
        if values.is_null(i) {
            return;
        }
        self.count += 1;
        match aggregate {
            Running::SumFloat | Running::AvgFloat => {
                *self.float.get_or_insert(0.0) += values.as_primitive::<Float64Type>().value(i);
            }
            Running::SumInt | Running::MaxInt | Running::MinInt => {
                let v = values.as_primitive::<Int64Type>().value(i);
                self.int = Some(match (aggregate, self.int) {
                    (Running::SumInt, s) => s.unwrap_or(0).wrapping_add(v),
                    (_, None) => v,
                    (Running::MaxInt, Some(m)) => m.max(v),
                    (_, Some(m)) => m.min(v),
                });
            }
            Running::Count => {}
        }
    }

    fn running(&self, aggregate: Running) -> ScalarValue {
        match aggregate {
            Running::SumFloat => ScalarValue::Float64(self.float),
            Running::AvgFloat => ScalarValue::Float64(match self.count {
                0 => None,
                n => self.float.map(|s| s / n as f64),
            }),
            Running::SumInt | Running::MaxInt | Running::MinInt => ScalarValue::Int64(self.int),
            Running::Count => ScalarValue::Int64(Some(self.count as i64)),
        }
    }

    /// The median of the frame's non-null values as DataFusion's MEDIAN
    /// takes it: the middle value in total order, or the mean of the two
    /// middle values. The frame's values are kept sorted: each row adds the
    /// row entering the frame and drops the one leaving it.
    fn median(&mut self, values: &ArrayRef, frame: &Range<usize>) -> Result<ScalarValue> {
        let values = values.as_primitive::<Float64Type>();
        let sorted = &mut self.frame;
        let position = |sorted: &[f64], v: f64| sorted.partition_point(|x| x.total_cmp(&v).is_lt());
        // The row before the frame was the previous frame's first: it stays
        // buffered, so a frame starting at 0 is the partition's first rows.
        if let Some(leaving) = frame.start.checked_sub(1)
            && values.is_valid(leaving)
        {
            let v = values.value(leaving);
            let at = position(sorted, v);
            if sorted.get(at).is_none_or(|x| x.to_bits() != v.to_bits()) {
                return internal_err!("MEDIAN: the row leaving the frame is not in it");
            }
            sorted.remove(at);
        }
        let entering = frame.end - 1;
        if values.is_valid(entering) {
            let v = values.value(entering);
            let at = position(sorted, v);
            sorted.insert(at, v);
        }
        let n = sorted.len();
        Ok(ScalarValue::Float64(match n {
            0 => None,
            _ if n % 2 == 1 => Some(sorted[n / 2]),
            _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
        }))
    }
}

impl PartitionEvaluator for FoldEvaluator {
    fn supports_bounded_execution(&self) -> bool {
        true
    }

    fn uses_window_frame(&self) -> bool {
        false
    }

    /// A count of following rows waits for them (or the partition's end).
    fn is_causal(&self) -> bool {
        !matches!(self.fold, Fold::CountFollowing { .. })
    }

    fn get_range(&self, idx: usize, n_rows: usize) -> Result<Range<usize>> {
        Ok(match self.fold {
            Fold::Running { lag, .. } => idx.saturating_sub(lag)..idx + 1,
            Fold::Median { preceding } => idx.saturating_sub(preceding)..idx + 1,
            Fold::CountFollowing { from, to } => {
                (idx + from).min(n_rows)..(idx + to + 1).min(n_rows)
            }
            Fold::LastNonNull => idx..idx + 1,
        })
    }

    fn evaluate(&mut self, values: &[ArrayRef], range: &Range<usize>) -> Result<ScalarValue> {
        match self.fold {
            Fold::Running { aggregate, lag } => {
                let Some(values) = values.first() else {
                    return internal_err!("a running aggregate without an argument");
                };
                // Row `range.end - 1` takes in row `range.end - 1 - lag`, when
                // the partition has one (earlier rows stay buffered, so a
                // saturated frame start means the partition's first rows).
                if range.end > lag {
                    self.absorb(aggregate, values, range.start);
                }
                Ok(self.running(aggregate))
            }
            Fold::Median { .. } => {
                let Some(values) = values.first() else {
                    return internal_err!("MEDIAN without an argument");
                };
                self.median(values, range)
            }
            Fold::CountFollowing { .. } => Ok(ScalarValue::Int64(Some(
                range.end.saturating_sub(range.start) as i64,
            ))),
            Fold::LastNonNull => {
                let Some(values) = values.first() else {
                    return internal_err!("LAST_VALUE without an argument");
                };
                let current = range.end - 1;
                if values.is_valid(current) {
                    self.last = Some(ScalarValue::try_from_array(values, current)?);
                }
                match &self.last {
                    Some(last) => Ok(last.clone()),
                    None => ScalarValue::try_from(values.data_type()),
                }
            }
        }
    }
}
