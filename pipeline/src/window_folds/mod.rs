//! Window aggregates computed by folds instead of DataFusion's accumulators.
//!
//! DataFusion evaluates an aggregate window function row by row: each row
//! slices its arguments, updates an accumulator and yields a scalar, which
//! costs about a microsecond per row and function. Over the feature SQL's
//! tens of millions of membership and event rows that was most of the SQL's
//! time. The aggregates the SQL uses have folds that cost a few operations a
//! row: running totals from the partition's start, a median over the last n
//! rows and a count of the following rows. [`FoldWindows`] is a physical
//! optimizer rule that puts a window function computing the fold in place
//! of each such aggregate, inside DataFusion's own bounded window operator
//! (which still partitions, buffers and prunes, and calls it row by row).
//!
//! The SQL is untouched and stays the definition: a window the rule does not
//! recognise exactly (another function, frame, argument or result type,
//! `FILTER` or `DISTINCT`) is left to DataFusion. The values are the same bit for
//! bit: sums add the same values in the same order from the same zero, and
//! the median takes the same order statistics.

mod exec;
mod expr;
mod fold;
mod recognise;

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::config::ConfigOptions;
use datafusion::physical_expr::window::WindowExpr;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::windows::BoundedWindowAggExec;

/// The physical optimizer rule; see the module documentation. It runs after
/// DataFusion's own rules, so the sorts and partitioning a window needs are
/// already in place and stay as they are.
#[derive(Debug, Default)]
pub struct FoldWindows;

impl PhysicalOptimizerRule for FoldWindows {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            let Some(window) = node.downcast_ref::<BoundedWindowAggExec>() else {
                return Ok(Transformed::no(node));
            };
            // The operator repartitions by the window's keys exactly when its
            // partition keys are not empty.
            let can_repartition = !window.partition_keys().is_empty();
            // A window over runs of partitions folds in one loop.
            if let Some(run) = exec::fold_loop(window, can_repartition)? {
                return Ok(Transformed::yes(run));
            }
            let input_schema = window.input().schema();
            let mut folded_any = false;
            let exprs: Vec<Arc<dyn WindowExpr>> = window
                .window_expr()
                .iter()
                .map(|e| match expr::folded(e, &input_schema) {
                    Some(folded) => {
                        folded_any = true;
                        folded
                    }
                    None => Arc::clone(e),
                })
                .collect();
            if !folded_any {
                return Ok(Transformed::no(node));
            }
            let folded = BoundedWindowAggExec::try_new(
                exprs,
                Arc::clone(window.input()),
                window.input_order_mode.clone(),
                can_repartition,
            )?;
            Ok(Transformed::yes(Arc::new(folded) as Arc<dyn ExecutionPlan>))
        })
        .data()
    }

    fn name(&self) -> &str {
        "fold_windows"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests;
