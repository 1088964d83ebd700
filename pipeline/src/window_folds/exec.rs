//! A window whose every function is a causal fold, run as one loop over its
//! sorted input.
//!
//! DataFusion's bounded window operator calls each function once per row
//! and returns a scalar, and for every partition of every batch it looks the
//! partition's state up by its key, slices its buffered rows and
//! concatenates its results; over many small partitions that costs about
//! 90 ns per row and function, whatever the function. When the input is
//! sorted on the partition keys, a partition is a run of rows, so a fold
//! needs no buffering and no lookup: [`FoldWindowExec`] finds where each run
//! starts, feeds every row to each fold in order and builds the result
//! columns directly. It keeps the window operator it replaces for
//! everything the planner asks (schema, ordering, partitioning,
//! requirements), so the plan around it is unchanged.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Builder, Int64Builder, RecordBatch};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::row::{OwnedRow, RowConverter, SortField};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{Result, internal_err};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::OrderingRequirements;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::distribution_requirements::InputDistributionRequirements;
use datafusion::physical_plan::execution_plan::{ChildrenPropertiesMode, ReplaceChildrenOptions};
use datafusion::physical_plan::metrics::{BaselineMetrics, ExecutionPlanMetricsSet, MetricsSet};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::windows::BoundedWindowAggExec;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, InputOrderMode, PlanProperties,
    SendableRecordBatchStream,
};
use futures::StreamExt;

use super::fold::{FoldState, Output, Value};
use super::recognise::{Fold, recognise};

/// One window function as a fold: the fold, its argument and result type.
#[derive(Debug, Clone)]
struct FoldColumn {
    fold: Fold,
    arg: Arc<dyn PhysicalExpr>,
    output: DataType,
}

/// The window operator `window` replaced by one loop of folds, when its
/// input is sorted on its partition keys and each of its functions is a
/// causal fold; `folded` is the same operator with its functions folded,
/// which describes the loop's output.
pub(super) fn fold_window(
    window: &BoundedWindowAggExec,
    folded: &BoundedWindowAggExec,
) -> Option<FoldWindowExec> {
    if window.input_order_mode != InputOrderMode::Sorted {
        return None;
    }
    let exprs = window.window_expr();
    let partition_by = exprs.first()?.partition_by().to_vec();
    let input = window.input().schema();
    let mut columns = Vec::with_capacity(exprs.len());
    for expr in exprs {
        if expr.partition_by() != partition_by.as_slice() {
            return None;
        }
        let (fold, args) = recognise(expr, &input)?;
        let [arg] = args.as_slice() else {
            return None;
        };
        if matches!(fold, Fold::CountFollowing { .. }) {
            return None;
        }
        columns.push(FoldColumn {
            fold,
            arg: Arc::clone(arg),
            output: expr.field().ok()?.data_type().clone(),
        });
    }
    Some(FoldWindowExec {
        window: Arc::new(folded.clone()),
        partition_by,
        columns,
        metrics: ExecutionPlanMetricsSet::new(),
    })
}

/// See the module documentation.
#[derive(Debug)]
pub struct FoldWindowExec {
    /// The window operator replaced, which describes this one's output.
    window: Arc<BoundedWindowAggExec>,
    partition_by: Vec<Arc<dyn PhysicalExpr>>,
    columns: Vec<FoldColumn>,
    metrics: ExecutionPlanMetricsSet,
}

impl FoldWindowExec {
    /// How many window functions this loop folds.
    #[cfg(test)]
    pub(super) fn folds(&self) -> usize {
        self.columns.len()
    }
}

impl DisplayAs for FoldWindowExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let names: Vec<&str> = self.window.window_expr().iter().map(|e| e.name()).collect();
        write!(f, "FoldWindowExec: wdw=[{}]", names.join(", "))
    }
}

impl ExecutionPlan for FoldWindowExec {
    fn name(&self) -> &'static str {
        "FoldWindowExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.window.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![self.window.input()]
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        self.window.apply_expressions(f)
    }

    fn required_input_ordering(&self) -> Vec<Option<OrderingRequirements>> {
        self.window.required_input_ordering()
    }

    fn input_distribution_requirements(&self) -> InputDistributionRequirements {
        self.window.input_distribution_requirements()
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn replace_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
        options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let window = Arc::clone(&self.window).replace_children(children, options)?;
        let Some(window) = window.downcast_ref::<BoundedWindowAggExec>() else {
            return internal_err!("a window operator's copy is not a window operator");
        };
        Ok(Arc::new(Self {
            window: Arc::new(window.clone()),
            partition_by: self.partition_by.clone(),
            columns: self.columns.clone(),
            metrics: ExecutionPlanMetricsSet::new(),
        }))
    }

    #[allow(deprecated)]
    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(
            children,
            ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
        )
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let input = self.window.input().execute(partition, context)?;
        let schema = self.window.schema();
        let mut run = FoldRun {
            schema: Arc::clone(&schema),
            partition_by: self.partition_by.clone(),
            columns: self.columns.clone(),
            states: self
                .columns
                .iter()
                .map(|c| FoldState::new(c.fold))
                .collect(),
            keys: None,
            last_key: None,
            metrics: BaselineMetrics::new(&self.metrics, partition),
        };
        let stream = input.map(move |batch| run.batch(&batch?));
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

/// One output partition's folds, carried from batch to batch.
struct FoldRun {
    schema: SchemaRef,
    partition_by: Vec<Arc<dyn PhysicalExpr>>,
    columns: Vec<FoldColumn>,
    states: Vec<FoldState>,
    /// Encodes partition keys so rows compare as bytes; made on first use.
    keys: Option<RowConverter>,
    /// The previous batch's last partition key: a run may span batches.
    last_key: Option<OwnedRow>,
    metrics: BaselineMetrics,
}

impl FoldRun {
    fn batch(&mut self, batch: &RecordBatch) -> Result<RecordBatch> {
        let elapsed = self.metrics.elapsed_compute().clone();
        let timer = elapsed.timer();
        let starts = self.partition_starts(batch)?;
        let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
        for (column, state) in self.columns.iter().zip(&mut self.states) {
            let arg = column.arg.evaluate(batch)?.into_array(batch.num_rows())?;
            columns.push(fold_column(state, &column.output, &arg, &starts)?);
        }
        let out = RecordBatch::try_new(Arc::clone(&self.schema), columns)?;
        timer.done();
        self.metrics.record_output(out.num_rows());
        Ok(out)
    }

    /// Whether each row starts a partition (a run of equal keys).
    fn partition_starts(&mut self, batch: &RecordBatch) -> Result<Vec<bool>> {
        let rows = batch.num_rows();
        let keys: Vec<ArrayRef> = self
            .partition_by
            .iter()
            .map(|e| e.evaluate(batch)?.into_array(rows))
            .collect::<Result<_>>()?;
        let converter = match &mut self.keys {
            Some(c) => c,
            None => self.keys.insert(RowConverter::new(
                keys.iter()
                    .map(|k| SortField::new(k.data_type().clone()))
                    .collect(),
            )?),
        };
        let encoded = converter.convert_columns(&keys)?;
        let mut starts = Vec::with_capacity(rows);
        for i in 0..rows {
            let row = encoded.row(i);
            let start = match i {
                0 => self.last_key.as_ref().is_none_or(|last| last.row() != row),
                _ => encoded.row(i - 1) != row,
            };
            starts.push(start);
        }
        if rows > 0 {
            self.last_key = Some(encoded.row(rows - 1).owned());
        }
        Ok(starts)
    }
}

/// One fold over a batch: each row's result, the fold restarting at every
/// partition start.
fn fold_column(
    state: &mut FoldState,
    output: &DataType,
    arg: &ArrayRef,
    starts: &[bool],
) -> Result<ArrayRef> {
    let mut floats = Float64Builder::with_capacity(starts.len());
    let mut ints = Int64Builder::with_capacity(starts.len());
    for (i, &start) in starts.iter().enumerate() {
        if start {
            state.reset();
        }
        match state.push(Value::at(arg.as_ref(), i))? {
            Output::Float(v) => floats.append_option(v),
            Output::Int(v) => ints.append_option(v),
        }
    }
    Ok(match output {
        DataType::Float64 => Arc::new(floats.finish()),
        _ => Arc::new(ints.finish()),
    })
}
