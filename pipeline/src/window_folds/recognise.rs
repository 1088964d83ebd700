//! Which window expressions have a fold, read from DataFusion's physical
//! window expressions: the function, its arguments and types, and the frame.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{WindowFrame, WindowFrameBound, WindowFrameUnits};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::aggregate::AggregateFunctionExpr;
use datafusion::physical_expr::expressions::Literal;
use datafusion::physical_expr::window::{
    PlainAggregateWindowExpr, SlidingAggregateWindowExpr, StandardWindowExpr,
    StandardWindowFunctionExpr, WindowExpr,
};
use datafusion::physical_plan::windows::WindowUDFExpr;

/// A window aggregate with a closed form over a partition's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Fold {
    /// An aggregate over `ROWS BETWEEN UNBOUNDED PRECEDING AND <lag>
    /// PRECEDING` (`lag` 0 is `CURRENT ROW`).
    Running { aggregate: Running, lag: usize },
    /// `MEDIAN(x)` over `ROWS BETWEEN <preceding> PRECEDING AND CURRENT ROW`.
    Median { preceding: usize },
    /// `COUNT(*)` over `ROWS BETWEEN <from> FOLLOWING AND <to> FOLLOWING`.
    CountFollowing { from: usize, to: usize },
    /// `ROW_NUMBER()`; only in a loop of folds (DataFusion's costs little).
    RowNumber,
    /// `LAG(x)`: the value `offset` rows back, of a Float64 (`float`) or
    /// Int64 column; only in a loop of folds, like `RowNumber`.
    Lag { offset: usize, float: bool },
    /// `FIRST_VALUE(x)` over `ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT
    /// ROW`: the partition's first row's value, nulls included, of a
    /// Float64 (`float`) or Int64 column; only in a loop of folds.
    First { float: bool },
}

/// The running aggregates, by argument type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Running {
    SumFloat,
    SumInt,
    AvgFloat,
    Count,
    MaxInt,
    MinInt,
}

/// The fold of `expr` and the arguments it reads, when it has one.
/// DataFusion's own functions (ROW_NUMBER, LAG) already cost little a row;
/// the aggregates are what a fold replaces.
pub(super) fn recognise(
    expr: &Arc<dyn WindowExpr>,
    input: &Schema,
) -> Option<(Fold, Vec<Arc<dyn PhysicalExpr>>)> {
    let frame = expr.get_window_frame();
    let output = expr.field().ok()?.data_type().clone();
    if let Some(plain) = expr.as_any().downcast_ref::<PlainAggregateWindowExpr>() {
        return aggregate(plain.get_aggregate_expr(), frame, input, &output);
    }
    let sliding = expr.as_any().downcast_ref::<SlidingAggregateWindowExpr>()?;
    aggregate(sliding.get_aggregate_expr(), frame, input, &output)
}

/// The fold of `expr` in a loop of folds ([`super::exec`]), which also
/// takes DataFusion's `ROW_NUMBER()`, `LAG(x)` and `FIRST_VALUE(x)`: there,
/// leaving one function to DataFusion's operator would cost the whole
/// operator.
pub(super) fn recognise_in_loop(
    expr: &Arc<dyn WindowExpr>,
    input: &Schema,
) -> Option<(Fold, Vec<Arc<dyn PhysicalExpr>>)> {
    if let Some(found) = recognise(expr, input) {
        return Some(found);
    }
    let standard = expr.as_any().downcast_ref::<StandardWindowExpr>()?;
    let function = standard
        .get_standard_func_expr()
        .as_any()
        .downcast_ref::<WindowUDFExpr>()?;
    // The display name tells a function from another one DataFusion
    // reversed into it (LEAD into LAG), and shows IGNORE NULLS.
    let name = function.name().to_ascii_lowercase();
    if name.contains("ignore nulls") {
        return None;
    }
    let output = expr.field().ok()?.data_type().clone();
    match (function.fun().name(), function.args()) {
        ("row_number", []) if name.starts_with("row_number(") && output == DataType::UInt64 => {
            Some((Fold::RowNumber, vec![]))
        }
        ("lag", [arg, rest @ ..]) if name.starts_with("lag(") => {
            let offset = match rest {
                [] => 1,
                [offset] | [offset, _] => match literal(offset)? {
                    ScalarValue::Int64(Some(n)) if *n > 0 => usize::try_from(*n).ok()?,
                    _ => return None,
                },
                _ => return None,
            };
            if let [_, default] = rest
                && !literal(default)?.is_null()
            {
                return None;
            }
            let arg_type = arg.data_type(input).ok()?;
            let float = match (&arg_type, &output) {
                (DataType::Float64, DataType::Float64) => true,
                (DataType::Int64, DataType::Int64) => false,
                _ => return None,
            };
            Some((Fold::Lag { offset, float }, vec![Arc::clone(arg)]))
        }
        ("first_value", [arg]) if name.starts_with("first_value(") => {
            // Any frame that starts at the partition's first row and holds
            // the current row gives that first row; ROWS up to the current
            // row is the one the SQL writes.
            if rows_frame(expr.get_window_frame())? != (Bound::Unbounded, Bound::Preceding(0)) {
                return None;
            }
            let float = match (arg.data_type(input).ok()?, &output) {
                (DataType::Float64, DataType::Float64) => true,
                (DataType::Int64, DataType::Int64) => false,
                _ => return None,
            };
            Some((Fold::First { float }, vec![Arc::clone(arg)]))
        }
        _ => None,
    }
}

fn aggregate(
    agg: &AggregateFunctionExpr,
    frame: &WindowFrame,
    input: &Schema,
    output: &DataType,
) -> Option<(Fold, Vec<Arc<dyn PhysicalExpr>>)> {
    // A FILTER clause shows only in the aggregate's display name; no fold
    // applies one.
    if agg.is_distinct() || agg.name().contains("FILTER (WHERE") {
        return None;
    }
    let args = agg.expressions();
    let [arg] = args.as_slice() else {
        return None;
    };
    let arg_type = arg.data_type(input).ok()?;
    let name = agg.fun().name();
    let (start, end) = rows_frame(frame)?;
    let fold = match (name, start, end) {
        ("count", Bound::Following(from), Bound::Following(to))
            if from <= to && is_non_null_literal(arg) && *output == DataType::Int64 =>
        {
            return Some((Fold::CountFollowing { from, to }, vec![]));
        }
        ("median", Bound::Preceding(preceding), Bound::Preceding(0))
            if arg_type == DataType::Float64 && *output == DataType::Float64 =>
        {
            Fold::Median { preceding }
        }
        (_, Bound::Unbounded, Bound::Preceding(lag)) => {
            let aggregate = match (name, &arg_type, output) {
                ("sum", DataType::Float64, DataType::Float64) => Running::SumFloat,
                ("sum", DataType::Int64, DataType::Int64) => Running::SumInt,
                ("avg", DataType::Float64, DataType::Float64) => Running::AvgFloat,
                ("count", _, DataType::Int64) => Running::Count,
                ("max", DataType::Int64, DataType::Int64) => Running::MaxInt,
                ("min", DataType::Int64, DataType::Int64) => Running::MinInt,
                _ => return None,
            };
            Fold::Running { aggregate, lag }
        }
        _ => return None,
    };
    Some((fold, args))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bound {
    Unbounded,
    /// n rows before the current one; 0 is the current row.
    Preceding(usize),
    Following(usize),
}

fn rows_frame(frame: &WindowFrame) -> Option<(Bound, Bound)> {
    if frame.units != WindowFrameUnits::Rows {
        return None;
    }
    Some((bound(&frame.start_bound)?, bound(&frame.end_bound)?))
}

fn bound(bound: &WindowFrameBound) -> Option<Bound> {
    match bound {
        WindowFrameBound::CurrentRow => Some(Bound::Preceding(0)),
        WindowFrameBound::Preceding(n) => match rows(n)? {
            None => Some(Bound::Unbounded),
            Some(n) => Some(Bound::Preceding(n)),
        },
        WindowFrameBound::Following(n) => Some(Bound::Following(rows(n)??)),
    }
}

/// A frame offset: `None` for UNBOUNDED.
fn rows(value: &ScalarValue) -> Option<Option<usize>> {
    match value {
        ScalarValue::UInt64(None) | ScalarValue::Int64(None) => Some(None),
        ScalarValue::UInt64(Some(n)) => usize::try_from(*n).ok().map(Some),
        ScalarValue::Int64(Some(n)) if *n >= 0 => usize::try_from(*n).ok().map(Some),
        _ => None,
    }
}

fn literal(expr: &Arc<dyn PhysicalExpr>) -> Option<&ScalarValue> {
    expr.downcast_ref::<Literal>().map(|l| l.value())
}

fn is_non_null_literal(expr: &Arc<dyn PhysicalExpr>) -> bool {
    literal(expr).is_some_and(|v| !v.is_null())
}
