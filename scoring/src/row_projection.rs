//! A SQL query over one table, compiled once into DataFusion physical
//! expressions and then evaluated on each incoming batch, with no planning
//! per request.
//!
//! The same plan is also compiled into [`RowExpr`]s, which evaluate one
//! row of [`Value`]s without Arrow arrays: a single job costs microseconds
//! instead of the fixed cost of a batch. When an expression has no row
//! form, [`RowProjection::row_form`] says why and callers use batches.
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
use crate::row_expr::{self, RowExpr, Unsupported};
use crate::row_value::Value;

/// One level of projection.
#[derive(Debug)]
struct Stage {
    exprs: Vec<Arc<dyn PhysicalExpr>>,
    names: Vec<String>,
    /// The same expressions in row form, if they all have one.
    row: std::result::Result<Vec<RowExpr>, Unsupported>,
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
    /// Output column types.
    output_types: Vec<DataType>,
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
        let config = Arc::clone(state.config_options());
        let mut stages = Vec::with_capacity(projections.len());
        for p in projections.iter().rev() {
            let exprs = p
                .expr
                .iter()
                .map(|e| state.create_physical_expr(e.clone(), p.input.schema()))
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(ScoringError::sql(label))?;
            let row = p
                .expr
                .iter()
                .map(|e| row_expr::compile(e, p.input.schema(), &config))
                .collect();
            let names = p.schema.fields().iter().map(|f| f.name().clone()).collect();
            stages.push(Stage { exprs, names, row });
        }
        let (output, output_types) = match projections.first() {
            Some(p) => p
                .schema
                .fields()
                .iter()
                .map(|f| (f.name().clone(), f.data_type().clone()))
                .unzip(),
            None => inputs.iter().cloned().unzip(),
        };
        Ok(Self {
            label: label.to_owned(),
            inputs,
            stages,
            output,
            output_types,
        })
    }

    /// Whether the query has a row form, and if not, why.
    pub fn row_form(&self) -> std::result::Result<(), Unsupported> {
        self.stages
            .iter()
            .try_for_each(|s| s.row.as_ref().map(|_| ()).map_err(Clone::clone))
    }

    /// The input columns the query reads, with the types it plans them as.
    pub fn inputs(&self) -> &[(String, DataType)] {
        &self.inputs
    }

    /// Types of the output columns, in order.
    pub fn output_types(&self) -> &[DataType] {
        &self.output_types
    }

    /// Evaluates the query on one row: `input` holds the input columns in
    /// [`RowProjection::inputs`] order, as values of their planned types.
    pub fn evaluate_row(&self, input: &[Value]) -> Result<Vec<Value>> {
        let mut row: Option<Vec<Value>> = None;
        for stage in &self.stages {
            let exprs = stage.row.as_ref().map_err(|e| ScoringError::NotRowLevel {
                context: self.label.clone(),
                message: e.to_string(),
            })?;
            let slots = row.as_deref().unwrap_or(input);
            let next = exprs
                .iter()
                .map(|e| e.eval(slots))
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| ScoringError::EvaluateRow {
                    context: self.label.clone(),
                    message: e.to_string(),
                })?;
            row = Some(next);
        }
        Ok(row.unwrap_or_else(|| input.to_vec()))
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

    fn mixed_table() -> RecordBatch {
        use datafusion::arrow::array::{StringArray, TimestampSecondArray};
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Float64Array::from(vec![
                Some(3600.0),
                Some(0.0),
                None,
                Some(-2.5),
                Some(f64::NAN),
                Some(1e-3),
            ])),
            Arc::new(Int64Array::from(vec![
                Some(4),
                Some(0),
                Some(-7),
                None,
                Some(36),
                Some(1 << 40),
            ])),
            Arc::new(StringArray::from(vec![
                Some("alice"),
                None,
                Some("TIMEOUT"),
                Some(""),
                Some("bob"),
                Some("ünï"),
            ])),
            Arc::new(TimestampSecondArray::from(vec![
                Some(1_700_000_000),
                Some(0),
                Some(-1),
                None,
                Some(951_782_400),
                Some(1_234_567_890),
            ])),
        ];
        batch_of(["f", "i", "s", "t"].into_iter(), columns, 6, "m").unwrap()
    }

    /// Every output of `sql` over `mixed_table`, row by row against the
    /// vectorised evaluation.
    async fn rows_match_batches(sql: &str) {
        let batch = mixed_table();
        let ctx = SessionContext::new();
        ctx.register_table(
            "m",
            Arc::new(MemTable::try_new(batch.schema(), vec![vec![]]).unwrap()),
        )
        .unwrap();
        let p = RowProjection::compile(&ctx, sql, "test").await.unwrap();
        p.row_form().unwrap();
        let expected = p.evaluate(&batch).unwrap();
        let columns: Vec<usize> = p
            .inputs()
            .iter()
            .map(|(n, _)| batch.schema().index_of(n).unwrap())
            .collect();
        for row in 0..batch.num_rows() {
            let input: Vec<Value> = columns
                .iter()
                .map(|&c| {
                    let scalar =
                        datafusion::common::ScalarValue::try_from_array(batch.column(c), row)
                            .unwrap();
                    crate::row_value::from_scalar(&scalar).unwrap()
                })
                .collect();
            let got = p.evaluate_row(&input).unwrap();
            for (i, value) in got.iter().enumerate() {
                let want = datafusion::common::ScalarValue::try_from_array(expected.column(i), row)
                    .unwrap();
                let want = crate::row_value::from_scalar(&want).unwrap();
                let same = match (value, &want) {
                    (Value::Float(a), Value::Float(b)) => a.to_bits() == b.to_bits(),
                    _ => *value == want,
                };
                assert!(
                    same,
                    "`{}` row {row}: {value:?}, batches give {want:?}",
                    p.output_names()[i]
                );
            }
        }
    }

    #[tokio::test]
    async fn rows_evaluate_as_batches_do() {
        rows_match_batches(
            "SELECT ln(1.0 + f) AS a, f * 2 - i AS b, CAST(i AS DOUBLE) / 3 AS c, \
             i + 1 AS d, i * 2 AS e, CASE WHEN i > 0 THEN f / i END AS g, \
             COALESCE(f, i, 0) AS h, f > 0 AND s IS NOT NULL AS j, \
             f > 0 OR s = 'TIMEOUT' AS k, NOT (i < 0) AS l, \
             concat(s, '|', CAST(f AS VARCHAR), '|', CAST(i AS VARCHAR)) AS n, \
             CAST(date_part('hour', t) AS DOUBLE) AS o, \
             CAST(date_part('dow', t) AS DOUBLE) AS q, date_part('minute', t) AS r, \
             CAST(t AS BIGINT) AS u, LEAST(f, 10.0) AS v, GREATEST(i, 5) AS w, \
             CASE i WHEN 4 THEN 'four' WHEN 0 THEN 'zero' ELSE s END AS x, \
             -f AS y, -i AS z, abs(f) AS aa, round(f) AS ab, TRY_CAST(f AS INT) AS ac, \
             upper(s) AS ad, length(s) AS ae, f IS DISTINCT FROM 0.0 AS af, \
             CAST(f AS VARCHAR) AS ag, i % 5 AS ah, ln(1.0 + f) * 2 AS ai, \
             CASE WHEN s IS NOT NULL AND f IS NOT NULL THEN concat(s, '|', CAST(f AS VARCHAR)) END AS aj \
             FROM m",
        )
        .await;
    }

    #[tokio::test]
    async fn a_failing_row_fails_both_ways() {
        let ctx = context().await;
        let p = RowProjection::compile(&ctx, "SELECT a / 0 AS x FROM t", "q")
            .await
            .unwrap();
        let err = p.evaluate_row(&[Value::Int(1)]).unwrap_err();
        assert!(err.to_string().contains("Divide by zero"), "{err}");
        // A NULL operand makes no error.
        assert_eq!(p.evaluate_row(&[Value::Null]).unwrap(), vec![Value::Null]);
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
