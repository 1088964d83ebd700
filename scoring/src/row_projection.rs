//! A SQL query over one table, compiled once into DataFusion physical
//! expressions and then evaluated on each incoming batch, with no planning
//! per request.
//!
//! Only row-level queries compile: the optimised plan must be projections
//! (possibly stacked, e.g. after common-subexpression elimination, and
//! possibly under aliases) over a plain table scan. Anything else — a
//! filter, a join, an aggregate — is refused at load time.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, RecordBatchOptions};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::PhysicalExpr;
use datafusion::prelude::SessionContext;

use crate::error::{Result, ScoringError};

/// One level of projection.
#[derive(Debug)]
struct Stage {
    exprs: Vec<Arc<dyn PhysicalExpr>>,
    names: Vec<String>,
}

/// A compiled row-level query.
#[derive(Debug)]
pub struct RowProjection {
    label: String,
    /// Columns read from the input, by name, with the types the plan expects.
    inputs: Vec<(String, DataType)>,
    /// Innermost first.
    stages: Vec<Stage>,
    /// Output column names.
    output: Vec<String>,
}

impl RowProjection {
    /// Plans `sql` in `ctx` and compiles it; `label` names it in errors.
    pub async fn compile(ctx: &SessionContext, sql: &str, label: &str) -> Result<Self> {
        let df = ctx.sql(sql).await.map_err(ScoringError::sql(label))?;
        let plan = df.into_optimized_plan().map_err(ScoringError::sql(label))?;
        let not_row_level = |node: &LogicalPlan| ScoringError::NotRowLevel {
            context: label.to_owned(),
            message: format!(
                "expected projections over one table scan, found:\n{}",
                node.display_indent()
            ),
        };
        // Walk down to the scan, collecting projections outermost first.
        let mut projections = Vec::new();
        let mut node = &plan;
        let scan = loop {
            match node {
                LogicalPlan::Projection(p) => {
                    projections.push(p);
                    node = &p.input;
                }
                LogicalPlan::SubqueryAlias(a) => node = &a.input,
                LogicalPlan::TableScan(scan) => break scan,
                other => return Err(not_row_level(other)),
            }
        };
        if !scan.filters.is_empty() || scan.fetch.is_some() {
            return Err(not_row_level(node));
        }
        let inputs: Vec<(String, DataType)> = scan
            .projected_schema
            .fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().clone()))
            .collect();
        let state = ctx.state();
        let mut stages = Vec::with_capacity(projections.len());
        for p in projections.iter().rev() {
            let exprs = p
                .expr
                .iter()
                .map(|e| state.create_physical_expr(e.clone(), p.input.schema()))
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(ScoringError::sql(label))?;
            let names = p.schema.fields().iter().map(|f| f.name().clone()).collect();
            stages.push(Stage { exprs, names });
        }
        let output = match stages.last() {
            Some(stage) => stage.names.clone(),
            None => inputs.iter().map(|(n, _)| n.clone()).collect(),
        };
        Ok(Self {
            label: label.to_owned(),
            inputs,
            stages,
            output,
        })
    }

    /// Names of the input columns the query reads.
    pub fn input_names(&self) -> impl Iterator<Item = &str> {
        self.inputs.iter().map(|(n, _)| n.as_str())
    }

    /// Names of the output columns, in order.
    pub fn output_names(&self) -> &[String] {
        &self.output
    }

    /// Evaluates the query on `input`, which must hold (at least) the input
    /// columns by name; their types are cast to the planned ones if needed.
    pub fn evaluate(&self, input: &RecordBatch) -> Result<RecordBatch> {
        let rows = input.num_rows();
        let mut columns = Vec::with_capacity(self.inputs.len());
        for (name, ty) in &self.inputs {
            let column = input
                .column_by_name(name)
                .ok_or_else(|| ScoringError::NotRowLevel {
                    context: self.label.clone(),
                    message: format!("reads `{name}`, which the input lacks"),
                })?;
            columns.push(if column.data_type() == ty {
                Arc::clone(column)
            } else {
                cast(column, ty).map_err(|e| {
                    ScoringError::arrow(format!("{}: casting `{name}` to {ty}", self.label))(e)
                })?
            });
        }
        let mut batch = batch_of(
            self.inputs.iter().map(|(n, _)| n.as_str()),
            columns,
            rows,
            &self.label,
        )?;
        for stage in &self.stages {
            let columns = stage
                .exprs
                .iter()
                .map(|e| e.evaluate(&batch).and_then(|v| v.into_array(rows)))
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|source| ScoringError::Evaluate {
                    context: self.label.clone(),
                    source: Box::new(source),
                })?;
            batch = batch_of(
                stage.names.iter().map(String::as_str),
                columns,
                rows,
                &self.label,
            )?;
        }
        Ok(batch)
    }
}

/// A batch of `columns` under `names`, every field nullable.
pub(crate) fn batch_of<'a>(
    names: impl Iterator<Item = &'a str>,
    columns: Vec<ArrayRef>,
    rows: usize,
    label: &str,
) -> Result<RecordBatch> {
    let fields: Vec<Field> = names
        .zip(&columns)
        .map(|(n, c)| Field::new(n, c.data_type().clone(), true))
        .collect();
    let schema: SchemaRef = Arc::new(Schema::new(fields));
    RecordBatch::try_new_with_options(
        schema,
        columns,
        &RecordBatchOptions::new().with_row_count(Some(rows)),
    )
    .map_err(ScoringError::arrow(label.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, AsArray, Float64Array, Int64Array};
    use datafusion::arrow::datatypes::Float64Type;
    use datafusion::datasource::MemTable;

    async fn context() -> SessionContext {
        let ctx = SessionContext::new();
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int64, true),
            Field::new("b", DataType::Float64, true),
        ]));
        ctx.register_table(
            "t",
            Arc::new(MemTable::try_new(schema, vec![vec![]]).unwrap()),
        )
        .unwrap();
        ctx
    }

    #[tokio::test]
    async fn compiled_expressions_match_the_query() {
        let ctx = context().await;
        let p = RowProjection::compile(
            &ctx,
            "SELECT ln(1.0 + b) AS x, ln(1.0 + b) * 2 AS y, COALESCE(a, 0) AS z FROM t",
            "test",
        )
        .await
        .unwrap();
        assert_eq!(p.output_names(), ["x", "y", "z"]);
        let input = batch_of(
            ["b", "a"].into_iter(),
            vec![
                Arc::new(Float64Array::from(vec![Some(1.0), None])),
                Arc::new(Int64Array::from(vec![None, Some(3)])),
            ],
            2,
            "t",
        )
        .unwrap();
        let out = p.evaluate(&input).unwrap();
        let x = out.column(0).as_primitive::<Float64Type>();
        assert_eq!(x.value(0), 2f64.ln());
        assert!(x.is_null(1));
        assert_eq!(
            out.column(1).as_primitive::<Float64Type>().value(0),
            2.0 * 2f64.ln()
        );
        assert_eq!(
            out.column(2)
                .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                .value(0),
            0
        );
    }

    #[tokio::test]
    async fn queries_that_are_not_row_level_are_refused() {
        let ctx = context().await;
        for sql in ["SELECT a FROM t WHERE b > 1", "SELECT SUM(a) FROM t"] {
            let err = RowProjection::compile(&ctx, sql, "q").await.unwrap_err();
            assert!(
                matches!(err, ScoringError::NotRowLevel { .. }),
                "{sql}: {err}"
            );
        }
    }
}
