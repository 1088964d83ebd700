//! A window's causal folds, run as one loop over its sorted input.
//!
//! DataFusion's bounded window operator calls each function once per row
//! and returns a scalar, and for every partition of every batch it looks the
//! partition's state up by its key, slices its buffered rows and
//! concatenates its results; over many small partitions that costs about
//! 90 ns per row and function, whatever the function. When the input is
//! sorted on the partition keys, a partition is a run of rows, so a fold
//! needs no buffering and no lookup: [`FoldWindowExec`] finds where each run
//! starts, feeds every row to each fold in order and builds the result
//! columns directly. It keeps a window operator of the same functions for
//! everything the planner asks (schema, ordering, partitioning,
//! requirements), so the plan around it is unchanged. Besides the folds of
//! aggregates, the loop runs `ROW_NUMBER()`, `LAG(x)` and `FIRST_VALUE(x)`
//! (one value per run, so one append per run); a count of the following
//! rows looks ahead, so it stays in DataFusion's operator, below the loop.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, Float64Builder, Int64Builder, RecordBatch, UInt64Builder, make_comparator,
};
use datafusion::arrow::compute::SortOptions;
use datafusion::arrow::compute::kernels::partition::partition;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{Result, internal_err};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::OrderingRequirements;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::projection::ProjectionExpr;
use datafusion::physical_expr::window::WindowExpr;
use datafusion::physical_plan::distribution_requirements::InputDistributionRequirements;
use datafusion::physical_plan::execution_plan::{ChildrenPropertiesMode, ReplaceChildrenOptions};
use datafusion::physical_plan::metrics::{BaselineMetrics, ExecutionPlanMetricsSet, MetricsSet};
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::windows::BoundedWindowAggExec;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, InputOrderMode, PlanProperties,
    SendableRecordBatchStream,
};
use futures::StreamExt;

use super::expr::folded;
use super::fold::{FoldState, Output, Values};
use super::recognise::{Fold, recognise_in_loop};

/// One window function as a fold: the fold, its argument (none for
/// `ROW_NUMBER()`) and its result type.
#[derive(Debug, Clone)]
struct FoldColumn {
    fold: Fold,
    arg: Option<Arc<dyn PhysicalExpr>>,
    output: DataType,
}

/// `window` with its causal folds computed by one loop, when its input is
/// sorted on its partition keys. Functions the loop cannot run (a count of
/// following rows, which looks ahead, or one without a fold) stay in a
/// window operator below the loop, and a projection puts the columns back
/// in the window's order.
pub(super) fn fold_loop(
    window: &BoundedWindowAggExec,
    can_repartition: bool,
) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    if window.input_order_mode != InputOrderMode::Sorted {
        return Ok(None);
    }
    let exprs = window.window_expr();
    let Some(first) = exprs.first() else {
        return Ok(None);
    };
    // Runs are told apart by their keys: a window over the whole input is
    // left to DataFusion.
    let partition_by = first.partition_by().to_vec();
    if partition_by.is_empty()
        || exprs
            .iter()
            .any(|e| e.partition_by() != partition_by.as_slice())
    {
        return Ok(None);
    }
    let input = window.input();
    let input_schema = input.schema();
    // Each function, in the loop or in the operator below it.
    let mut looped: Vec<(usize, FoldColumn, Arc<dyn WindowExpr>)> = Vec::new();
    let mut below: Vec<(usize, Arc<dyn WindowExpr>)> = Vec::new();
    for (i, expr) in exprs.iter().enumerate() {
        let column = recognise_in_loop(expr, &input_schema)
            .filter(|(fold, _)| !matches!(fold, Fold::CountFollowing { .. }))
            .and_then(|(fold, args)| {
                let arg = match args.as_slice() {
                    [] => None,
                    [arg] => Some(Arc::clone(arg)),
                    _ => return None,
                };
                let output = expr.field().ok()?.data_type().clone();
                Some(FoldColumn { fold, arg, output })
            });
        match column {
            Some(column) => looped.push((i, column, Arc::clone(expr))),
            None => below.push((
                i,
                folded(expr, &input_schema).unwrap_or_else(|| Arc::clone(expr)),
            )),
        }
    }
    if looped.is_empty() {
        return Ok(None);
    }
    let loop_input: Arc<dyn ExecutionPlan> = match below.is_empty() {
        true => Arc::clone(input),
        false => Arc::new(BoundedWindowAggExec::try_new(
            below.iter().map(|(_, e)| Arc::clone(e)).collect(),
            Arc::clone(input),
            InputOrderMode::Sorted,
            can_repartition,
        )?),
    };
    // The loop's output is described by a window operator of its functions.
    let described = BoundedWindowAggExec::try_new(
        looped.iter().map(|(_, _, e)| Arc::clone(e)).collect(),
        Arc::clone(&loop_input),
        InputOrderMode::Sorted,
        can_repartition,
    )?;
    let run: Arc<dyn ExecutionPlan> = Arc::new(FoldWindowExec {
        window: Arc::new(described),
        partition_by,
        columns: looped.iter().map(|(_, c, _)| c.clone()).collect(),
        metrics: ExecutionPlanMetricsSet::new(),
    });
    if below.is_empty() {
        return Ok(Some(run));
    }
    // The input's columns, then the operator's functions, then the loop's:
    // back to the window's order.
    let n_input = input_schema.fields().len();
    let mut at = vec![0; exprs.len()];
    for (k, (i, _)) in below.iter().enumerate() {
        at[*i] = n_input + k;
    }
    for (k, (i, _, _)) in looped.iter().enumerate() {
        at[*i] = n_input + below.len() + k;
    }
    let schema = run.schema();
    let columns = (0..n_input).chain(at).map(|index| {
        let name = schema.field(index).name().clone();
        let column: Arc<dyn PhysicalExpr> = Arc::new(Column::new(&name, index));
        ProjectionExpr {
            expr: column,
            alias: name,
        }
    });
    Ok(Some(Arc::new(ProjectionExec::try_new(columns, run)?)))
}

/// See the module documentation.
#[derive(Debug)]
pub struct FoldWindowExec {
    /// A window operator of the same functions over the same input, never
    /// run: it describes this one's output.
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
    /// The previous batch's last partition key, a row of each key column:
    /// a run may span batches.
    last_key: Option<Vec<ArrayRef>>,
    metrics: BaselineMetrics,
}

impl FoldRun {
    fn batch(&mut self, batch: &RecordBatch) -> Result<RecordBatch> {
        let elapsed = self.metrics.elapsed_compute().clone();
        let timer = elapsed.timer();
        let starts = self.partition_starts(batch)?;
        let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
        for (column, state) in self.columns.iter().zip(&mut self.states) {
            let arg = match &column.arg {
                Some(arg) => Some(arg.evaluate(batch)?.into_array(batch.num_rows())?),
                None => None,
            };
            columns.push(fold_column(state, &column.output, arg.as_ref(), &starts)?);
        }
        let out = RecordBatch::try_new(Arc::clone(&self.schema), columns)?;
        timer.done();
        self.metrics.record_output(out.num_rows());
        Ok(out)
    }

    /// Whether each row starts a partition (a run of equal keys). Arrow's
    /// partition kernel compares each key column with itself shifted by a
    /// row, a column at a time; the batch's first row is compared with the
    /// previous batch's last, since a run may span batches.
    fn partition_starts(&mut self, batch: &RecordBatch) -> Result<Vec<bool>> {
        let rows = batch.num_rows();
        let keys: Vec<ArrayRef> = self
            .partition_by
            .iter()
            .map(|e| e.evaluate(batch)?.into_array(rows))
            .collect::<Result<_>>()?;
        let mut starts = vec![false; rows];
        if rows == 0 {
            return Ok(starts);
        }
        for run in partition(&keys)?.ranges() {
            starts[run.start] = true;
        }
        if let Some(last) = &self.last_key {
            starts[0] = !same_key(last, &keys)?;
        }
        self.last_key = Some(keys.iter().map(|k| k.slice(rows - 1, 1)).collect());
        Ok(starts)
    }
}

/// Whether the one-row key `last` equals the first row of `keys`.
fn same_key(last: &[ArrayRef], keys: &[ArrayRef]) -> Result<bool> {
    for (last, key) in last.iter().zip(keys) {
        let compare = make_comparator(last.as_ref(), key.as_ref(), SortOptions::default())?;
        if !compare(0, 0).is_eq() {
            return Ok(false);
        }
    }
    Ok(true)
}

/// One fold over a batch: each row's result, the fold restarting at every
/// partition start. A fold without an argument counts rows.
fn fold_column(
    state: &mut FoldState,
    output: &DataType,
    arg: Option<&ArrayRef>,
    starts: &[bool],
) -> Result<ArrayRef> {
    let mut builder = ColumnBuilder::new(output, starts.len())?;
    let values = Values::new(arg);
    if let Fold::First { .. } = state.fold() {
        // A run's rows all take its first row's value: one append per run.
        let mut run = 0;
        for end in 1..=starts.len() {
            if end < starts.len() && !starts[end] {
                continue;
            }
            if starts[run] {
                state.reset();
            }
            builder.append_n(state.push(values.at(run))?, end - run)?;
            run = end;
        }
        return Ok(builder.finish());
    }
    for (i, &start) in starts.iter().enumerate() {
        if start {
            state.reset();
        }
        builder.append(state.push(values.at(i))?)?;
    }
    Ok(builder.finish())
}

/// A result column of one of the types folds give.
enum ColumnBuilder {
    Float(Float64Builder),
    Int(Int64Builder),
    UInt(UInt64Builder),
}

impl ColumnBuilder {
    fn new(output: &DataType, rows: usize) -> Result<Self> {
        Ok(match output {
            DataType::Float64 => Self::Float(Float64Builder::with_capacity(rows)),
            DataType::Int64 => Self::Int(Int64Builder::with_capacity(rows)),
            DataType::UInt64 => Self::UInt(UInt64Builder::with_capacity(rows)),
            other => return internal_err!("no window fold gives {other}"),
        })
    }

    fn append(&mut self, output: Output) -> Result<()> {
        match (self, output) {
            (Self::Float(b), Output::Float(v)) => b.append_option(v),
            (Self::Int(b), Output::Int(v)) => b.append_option(v),
            (Self::UInt(b), Output::UInt(v)) => b.append_value(v),
            (_, output) => return internal_err!("a window fold gave {output:?} for another type"),
        }
        Ok(())
    }

    /// Appends `output` `n` times.
    fn append_n(&mut self, output: Output, n: usize) -> Result<()> {
        match (self, output) {
            (Self::Float(b), Output::Float(Some(v))) => b.append_value_n(v, n),
            (Self::Int(b), Output::Int(Some(v))) => b.append_value_n(v, n),
            (Self::Float(b), Output::Float(None)) => b.append_nulls(n),
            (Self::Int(b), Output::Int(None)) => b.append_nulls(n),
            (Self::UInt(b), Output::UInt(v)) => b.append_value_n(v, n),
            (_, output) => return internal_err!("a window fold gave {output:?} for another type"),
        }
        Ok(())
    }

    fn finish(self) -> ArrayRef {
        match self {
            Self::Float(mut b) => Arc::new(b.finish()),
            Self::Int(mut b) => Arc::new(b.finish()),
            Self::UInt(mut b) => Arc::new(b.finish()),
        }
    }
}
