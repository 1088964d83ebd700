//! The size of the median's window, read from the bundle's own SQL: the
//! frame of the MEDIAN window function of `entity_end_stats` (sql/04). The
//! online state keeps that many recent ends per entity, so the SQL is the
//! one definition of the window.

use datafusion::common::ScalarValue;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::{
    Expr, LogicalPlan, WindowFrameBound, WindowFrameUnits, expr::WindowFunction,
};

use crate::error::{Result, ScoringError};

/// The table whose MEDIAN frame sets the window.
pub const END_STATS_TABLE: &str = "entity_end_stats";

/// The number of rows of the MEDIAN window frame in `plan`
/// (`ROWS BETWEEN n PRECEDING AND CURRENT ROW` gives n + 1).
pub fn median_window(plan: &LogicalPlan) -> Result<usize> {
    let mut found: Vec<std::result::Result<usize, String>> = Vec::new();
    plan.apply(|node| {
        if let LogicalPlan::Window(window) = node {
            for expr in &window.window_expr {
                if let Expr::WindowFunction(f) = strip_alias(expr)
                    && f.fun.name().eq_ignore_ascii_case("median")
                {
                    found.push(rows_of(f));
                }
            }
        }
        Ok(TreeNodeRecursion::Continue)
    })
    .map_err(|e| ScoringError::NotRowLevel {
        context: END_STATS_TABLE.into(),
        message: e.to_string(),
    })?;
    let error = |message: String| ScoringError::NotRowLevel {
        context: END_STATS_TABLE.into(),
        message,
    };
    match found.as_slice() {
        [Ok(rows)] => Ok(*rows),
        [Err(why)] => Err(error(why.clone())),
        [] => Err(error(
            "has no MEDIAN window for the online state to follow".into(),
        )),
        _ => Err(error("has more than one MEDIAN window".into())),
    }
}

fn strip_alias(expr: &Expr) -> &Expr {
    match expr {
        Expr::Alias(a) => strip_alias(&a.expr),
        other => other,
    }
}

fn rows_of(f: &WindowFunction) -> std::result::Result<usize, String> {
    let frame = &f.params.window_frame;
    let preceding = match (&frame.units, &frame.start_bound, &frame.end_bound) {
        (WindowFrameUnits::Rows, WindowFrameBound::Preceding(n), WindowFrameBound::CurrentRow) => n,
        _ => {
            return Err(format!(
                "the MEDIAN frame is {frame}; the online state follows only \
                 ROWS BETWEEN n PRECEDING AND CURRENT ROW"
            ));
        }
    };
    let n = match preceding {
        ScalarValue::UInt64(Some(n)) => *n,
        ScalarValue::Int64(Some(n)) if *n >= 0 => *n as u64,
        other => return Err(format!("the MEDIAN frame starts {other} PRECEDING")),
    };
    // The last and previous runtimes are read from the window too.
    usize::try_from(n + 1)
        .ok()
        .filter(|&rows| rows >= 2)
        .ok_or_else(|| format!("the MEDIAN frame of {} rows is shorter than 2", n + 1))
}
