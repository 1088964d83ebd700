//! The sizes of the windows over recent ends, read from the bundle's own
//! SQL: the frame of the MEDIAN window function of `entity_end_stats`
//! (sql/04), and that of its MAX and MIN (the recent run/request ratios).
//! The online state keeps that many recent ends per entity, so the SQL is
//! the one definition of the windows.

use datafusion::common::ScalarValue;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::{
    Expr, LogicalPlan, WindowFrameBound, WindowFrameUnits, expr::WindowFunction,
};

use crate::error::{Result, ScoringError};
use crate::live::history::EndWindows;

/// The table whose MEDIAN frame sets the window.
pub const END_STATS_TABLE: &str = "entity_end_stats";

/// The windows of `plan`: the MEDIAN frame's rows
/// (`ROWS BETWEEN n PRECEDING AND CURRENT ROW` gives n + 1), and the MAX
/// and MIN frames' (one size for both, at most the median's), if any.
pub fn end_windows(plan: &LogicalPlan) -> Result<EndWindows> {
    let error = |message: String| ScoringError::NotRowLevel {
        context: END_STATS_TABLE.into(),
        message,
    };
    let median = match frames(plan, &["median"])?.as_slice() {
        [Ok(rows)] if *rows >= 2 => *rows,
        // The last and previous runtimes are read from the window too.
        [Ok(rows)] => {
            return Err(error(format!(
                "the MEDIAN frame of {rows} rows is shorter than 2"
            )));
        }
        [Err(why)] => return Err(error(format!("the MEDIAN {why}"))),
        [] => {
            return Err(error(
                "has no MEDIAN window for the online state to follow".into(),
            ));
        }
        _ => return Err(error("has more than one MEDIAN window".into())),
    };
    let mut ratio = None;
    for found in frames(plan, &["max", "min"])? {
        let rows = found.map_err(|why| error(format!("the MAX/MIN {why}")))?;
        if ratio.is_some_and(|r| r != rows) {
            return Err(error(
                "has MAX and MIN windows of different frames; the online state keeps one".into(),
            ));
        }
        if rows > median {
            return Err(error(format!(
                "the MAX/MIN frame of {rows} rows is longer than the MEDIAN's {median}"
            )));
        }
        ratio = Some(rows);
    }
    Ok(EndWindows { median, ratio })
}

/// The frame size of every window function named one of `names`.
fn frames(plan: &LogicalPlan, names: &[&str]) -> Result<Vec<std::result::Result<usize, String>>> {
    let mut found = Vec::new();
    plan.apply(|node| {
        if let LogicalPlan::Window(window) = node {
            for expr in &window.window_expr {
                if let Expr::WindowFunction(f) = strip_alias(expr)
                    && names.iter().any(|n| f.fun.name().eq_ignore_ascii_case(n))
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
    Ok(found)
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
                "frame is {frame}; the online state follows only \
                 ROWS BETWEEN n PRECEDING AND CURRENT ROW"
            ));
        }
    };
    let n = match preceding {
        ScalarValue::UInt64(Some(n)) => *n,
        ScalarValue::Int64(Some(n)) if *n >= 0 => *n as u64,
        other => return Err(format!("frame starts {other} PRECEDING")),
    };
    usize::try_from(n + 1).map_err(|_| format!("frame of {n} PRECEDING is too long"))
}
