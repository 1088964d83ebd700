//! The folds: one partition's state, given the partition's rows one at a
//! time, in order. [`FoldState`] is the fold itself, shared by the two ways
//! it runs: [`FoldEvaluator`] inside DataFusion's bounded window operator,
//! and the fold window operator of [`super::exec`], which runs a whole
//! window of folds over sorted input.
//!
//! A causal fold keeps what it needs of the partition's past (the rows a
//! running aggregate still has to take in, a median's frame), so
//! DataFusion's operator only ever has to hand it the current row and drops
//! the rest. A count of following rows is the one fold that looks ahead: it
//! reads the frame DataFusion gives it.

use std::collections::VecDeque;
use std::ops::Range;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int64Array};
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type};
use datafusion::common::{Result, ScalarValue, internal_err};
use datafusion::logical_expr::PartitionEvaluator;

use super::recognise::{Fold, Running};

/// One row's argument, as a fold reads it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Value {
    Null,
    Float(f64),
    Int(i64),
    /// A non-null value of another type: only counted.
    Other,
}

/// A batch's argument column, downcast once to read its rows as values.
pub(super) enum Values<'a> {
    Float(&'a Float64Array),
    Int(&'a Int64Array),
    Other(&'a dyn Array),
    /// No argument: every row counts.
    None,
}

impl<'a> Values<'a> {
    pub(super) fn new(values: Option<&'a ArrayRef>) -> Self {
        let Some(values) = values else {
            return Self::None;
        };
        match values.data_type() {
            DataType::Float64 => Self::Float(values.as_primitive::<Float64Type>()),
            DataType::Int64 => Self::Int(values.as_primitive::<Int64Type>()),
            _ => Self::Other(values.as_ref()),
        }
    }

    /// Row `i`.
    pub(super) fn at(&self, i: usize) -> Value {
        match self {
            Self::Float(a) if a.is_valid(i) => Value::Float(a.value(i)),
            Self::Int(a) if a.is_valid(i) => Value::Int(a.value(i)),
            Self::Other(a) if a.is_valid(i) => Value::Other,
            Self::None => Value::Other,
            _ => Value::Null,
        }
    }
}

/// A fold's result for one row, in the type of the expression it replaces.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Output {
    Float(Option<f64>),
    Int(Option<i64>),
    UInt(u64),
}

impl From<Output> for ScalarValue {
    fn from(output: Output) -> Self {
        match output {
            Output::Float(v) => ScalarValue::Float64(v),
            Output::Int(v) => ScalarValue::Int64(v),
            Output::UInt(v) => ScalarValue::UInt64(Some(v)),
        }
    }
}

/// A causal fold over one partition, fed a row at a time.
#[derive(Debug)]
pub(super) struct FoldState {
    fold: Fold,
    float: Option<f64>,
    int: Option<i64>,
    count: u64,
    /// The partition's latest rows a fold still reads: those a lagging
    /// running aggregate has yet to take in, or a median's frame.
    recent: VecDeque<Value>,
    /// A median's frame: its non-null values in total order.
    sorted: Vec<f64>,
}

impl FoldState {
    pub(super) fn new(fold: Fold) -> Self {
        Self {
            fold,
            float: None,
            int: None,
            count: 0,
            recent: VecDeque::new(),
            sorted: Vec::new(),
        }
    }

    /// The fold this state computes.
    pub(super) fn fold(&self) -> Fold {
        self.fold
    }

    /// Starts the next partition.
    pub(super) fn reset(&mut self) {
        self.float = None;
        self.int = None;
        self.count = 0;
        self.recent.clear();
        self.sorted.clear();
    }

    /// Takes in the partition's next row and gives its result.
    pub(super) fn push(&mut self, value: Value) -> Result<Output> {
        match self.fold {
            Fold::Running { aggregate, lag: 0 } => {
                self.absorb(aggregate, value);
                Ok(self.running(aggregate))
            }
            Fold::Running { aggregate, lag } => {
                // Row n takes in row n - lag, once the partition has one.
                self.recent.push_back(value);
                if self.recent.len() > lag
                    && let Some(entering) = self.recent.pop_front()
                {
                    self.absorb(aggregate, entering);
                }
                Ok(self.running(aggregate))
            }
            Fold::Median { preceding } => self.median(preceding, value),
            Fold::RowNumber => {
                self.count += 1;
                Ok(Output::UInt(self.count))
            }
            Fold::Lag { offset, float } => {
                // The row `offset` back leaves the window as this one enters.
                self.recent.push_back(value);
                let back = match self.recent.len() > offset {
                    true => self.recent.pop_front().unwrap_or(Value::Null),
                    false => Value::Null,
                };
                Ok(match (back, float) {
                    (Value::Float(v), _) => Output::Float(Some(v)),
                    (Value::Int(v), _) => Output::Int(Some(v)),
                    (_, true) => Output::Float(None),
                    (_, false) => Output::Int(None),
                })
            }
            Fold::First { float } => {
                if self.count == 0 {
                    self.count = 1;
                    match value {
                        Value::Float(v) => self.float = Some(v),
                        Value::Int(v) => self.int = Some(v),
                        Value::Null | Value::Other => {}
                    }
                }
                Ok(match float {
                    true => Output::Float(self.float),
                    false => Output::Int(self.int),
                })
            }
            Fold::CountFollowing { .. } => internal_err!("a count of following rows is not causal"),
        }
    }

    /// Adds a row to the running aggregate, as DataFusion's accumulators add
    /// it: sums from zero in row order, nulls skipped.
    fn absorb(&mut self, aggregate: Running, value: Value) {
        if value == Value::Null {
            return;
        }
        self.count += 1;
        match (aggregate, value) {
            (Running::SumFloat | Running::AvgFloat, Value::Float(v)) => {
                *self.float.get_or_insert(0.0) += v;
            }
            (Running::SumInt | Running::MaxInt | Running::MinInt, Value::Int(v)) => {
                self.int = Some(match (aggregate, self.int) {
                    (Running::SumInt, s) => s.unwrap_or(0).wrapping_add(v),
                    (_, None) => v,
                    (Running::MaxInt, Some(m)) => m.max(v),
                    (_, Some(m)) => m.min(v),
                });
            }
            _ => {}
        }
    }

    fn running(&self, aggregate: Running) -> Output {
        match aggregate {
            Running::SumFloat => Output::Float(self.float),
            Running::AvgFloat => Output::Float(match self.count {
                0 => None,
                n => self.float.map(|s| s / n as f64),
            }),
            Running::SumInt | Running::MaxInt | Running::MinInt => Output::Int(self.int),
            Running::Count => Output::Int(Some(self.count as i64)),
        }
    }

    /// The median of the frame's non-null values as DataFusion's MEDIAN
    /// takes it: the middle value in total order, or the mean of the two
    /// middle values. The frame's values are kept sorted: each row adds the
    /// row entering the frame and drops the one leaving it.
    fn median(&mut self, preceding: usize, value: Value) -> Result<Output> {
        let position = |sorted: &[f64], v: f64| sorted.partition_point(|x| x.total_cmp(&v).is_lt());
        self.recent.push_back(value);
        if self.recent.len() > preceding + 1
            && let Some(Value::Float(v)) = self.recent.pop_front()
        {
            let at = position(&self.sorted, v);
            if self
                .sorted
                .get(at)
                .is_none_or(|x| x.to_bits() != v.to_bits())
            {
                return internal_err!("MEDIAN: the row leaving the frame is not in it");
            }
            self.sorted.remove(at);
        }
        if let Value::Float(v) = value {
            let at = position(&self.sorted, v);
            self.sorted.insert(at, v);
        }
        let sorted = &self.sorted;
        let n = sorted.len();
        Ok(Output::Float(match n {
            0 => None,
            _ if n % 2 == 1 => Some(sorted[n / 2]),
            _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
        }))
    }
}

/// A fold as DataFusion's bounded window operator calls it: once per row,
/// in order, with the row's frame over the partition's buffered rows.
#[derive(Debug)]
pub(super) struct FoldEvaluator {
    state: FoldState,
}

impl FoldEvaluator {
    pub(super) fn new(fold: Fold) -> Self {
        Self {
            state: FoldState::new(fold),
        }
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
        !matches!(self.state.fold(), Fold::CountFollowing { .. })
    }

    /// A causal fold reads the current row only: the operator drops the
    /// rows before it.
    fn get_range(&self, idx: usize, n_rows: usize) -> Result<Range<usize>> {
        Ok(match self.state.fold() {
            Fold::CountFollowing { from, to } => {
                (idx + from).min(n_rows)..(idx + to + 1).min(n_rows)
            }
            _ => idx..idx + 1,
        })
    }

    fn evaluate(&mut self, values: &[ArrayRef], range: &Range<usize>) -> Result<ScalarValue> {
        if let Fold::CountFollowing { .. } = self.state.fold() {
            return Ok(ScalarValue::Int64(Some(
                range.end.saturating_sub(range.start) as i64,
            )));
        }
        let Some(values) = values.first() else {
            return internal_err!("a window fold without an argument");
        };
        Ok(self
            .state
            .push(Values::new(Some(values)).at(range.end - 1))?
            .into())
    }
}
