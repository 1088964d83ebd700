//! A job table as the feature SQL reads it: whatever wrote the Parquet file
//! (ingest, pandas, pyarrow, Spark), its columns are conformed to the
//! canonical job schema, or the table is refused with the column named.
//!
//! Conformable: any timestamp unit or zone, or integer Unix seconds, for
//! the times; any integer or float type for numbers (pandas writes integer
//! columns with nulls as floats); any string type
//! (plain, large, view, dictionary) for text; a missing column that may be
//! null. Everything else is refused before the SQL runs, so a user never
//! meets an engine error about a type they did not choose.

use std::fs::File;
use std::path::Path;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::logical_expr::{Expr, cast, col, lit};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;
use rtp_jobs::job_schema;

use crate::error::{PipelineError, Result};
use crate::ingest::cast_to_schema;

/// Whether a column of type `given` can be read as `target`.
fn conformable(given: &DataType, target: &DataType) -> bool {
    let text = |t: &DataType| {
        matches!(
            t,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null
        )
    };
    match target {
        DataType::Utf8 => match given {
            DataType::Dictionary(_, value) => text(value),
            other => text(other),
        },
        // Floats too: pandas writes an integer column with nulls as float64.
        DataType::Int64 | DataType::Float64 => given.is_numeric() || given == &DataType::Null,
        DataType::Timestamp(_, _) => {
            matches!(given, DataType::Timestamp(_, _) | DataType::Null) || given.is_integer()
        }
        _ => false,
    }
}

/// What the table holds and what each column must become.
fn describe(target: &DataType) -> &'static str {
    match target {
        DataType::Utf8 => "text",
        DataType::Int64 => "an integer",
        DataType::Float64 => "a number",
        DataType::Timestamp(_, _) => "a timestamp or integer Unix seconds",
        _ => "the job schema's type",
    }
}

/// The expression reading canonical column `field` from a table of schema
/// `given`, or why it cannot.
fn conformed(field: &Field, given: &Schema, table: &str) -> Result<Expr> {
    let name = field.name();
    let target = field.data_type();
    let refuse = |reason: String| {
        PipelineError::Features(format!("job table {table}: column `{name}` {reason}"))
    };
    let Ok(source) = given.field_with_name(name) else {
        if field.is_nullable() {
            let null = ScalarValue::try_from(target).map_err(|e| refuse(e.to_string()))?;
            return Ok(lit(null).alias(name));
        }
        return Err(refuse("is missing".into()));
    };
    let from = source.data_type();
    if !conformable(from, target) {
        // The engine reads text as views; the file holds plain strings.
        let shown = match from {
            DataType::Utf8View => &DataType::Utf8,
            other => other,
        };
        return Err(refuse(format!(
            "has type {shown}, expected {}",
            describe(target)
        )));
    }
    let column = col(format!("\"{name}\""));
    let expr = match (from, target) {
        (f, t) if same_type(f, t) => column,
        // Times on another unit or zone: the instant, on the cluster clock.
        (DataType::Timestamp(unit, Some(_)), t) => {
            cast(cast(column, DataType::Timestamp(*unit, None)), t.clone())
        }
        // Integers in a time column are Unix seconds.
        (f, t @ DataType::Timestamp(_, _)) if f.is_integer() => {
            cast(cast(column, DataType::Int64), t.clone())
        }
        (_, t) => cast(column, t.clone()),
    };
    Ok(expr.alias(name))
}

/// Whether a column of type `given` is already of type `target` for the
/// SQL: string views are the engine's own form of text, read as they are.
fn same_type(given: &DataType, target: &DataType) -> bool {
    given == target || (target == &DataType::Utf8 && given == &DataType::Utf8View)
}

/// True when `given` holds every canonical column with its type.
fn already_canonical(given: &Schema) -> bool {
    job_schema().fields().iter().all(|f| {
        given
            .field_with_name(f.name())
            .is_ok_and(|g| same_type(g.data_type(), f.data_type()))
    })
}

/// Registers the job table at `location` as `name`, conformed to the job
/// schema; `raw` is the name its file is registered under first.
pub async fn register_job_table(
    ctx: &SessionContext,
    name: &str,
    raw: &str,
    location: &str,
) -> Result<()> {
    let table = ctx.table(raw).await.map_err(PipelineError::arrow(format!(
        "reading the job table {location}"
    )))?;
    let given = table.schema().as_arrow().clone();
    if already_canonical(&given) {
        let provider = table.into_view();
        ctx.register_table(name, provider)
            .map_err(PipelineError::arrow(format!("registering `{name}`")))?;
        return Ok(());
    }
    let columns = job_schema()
        .fields()
        .iter()
        .map(|f| conformed(f, &given, location))
        .collect::<Result<Vec<_>>>()?;
    let view = table
        .select(columns)
        .map_err(PipelineError::arrow(format!(
            "conforming the job table {location}"
        )))?
        .into_view();
    ctx.register_table(name, view)
        .map_err(PipelineError::arrow(format!("registering `{name}`")))?;
    Ok(())
}

/// The batches of a job table this project wrote (`rtp ingest`), in the
/// in-memory job schema: times back in seconds.
pub fn read_job_table(path: &Path) -> Result<Vec<RecordBatch>> {
    let context = || format!("reading {}", path.display());
    let file = File::open(path).map_err(PipelineError::io(path))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .map_err(PipelineError::arrow(context()))?;
    let schema = job_schema();
    reader
        .map(|batch| {
            let batch = batch.map_err(PipelineError::arrow(context()))?;
            cast_to_schema(&batch, &schema).map_err(PipelineError::arrow(context()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::TimeUnit;

    #[test]
    fn compatible_types_are_conformable_and_the_rest_are_not() {
        let seconds = DataType::Timestamp(TimeUnit::Second, None);
        for given in [
            DataType::Timestamp(TimeUnit::Nanosecond, None),
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            DataType::Int64,
            DataType::Int32,
        ] {
            assert!(conformable(&given, &seconds), "{given}");
        }
        assert!(!conformable(&DataType::Utf8, &seconds));
        assert!(conformable(&DataType::Float64, &DataType::Int64));
        assert!(conformable(&DataType::Int32, &DataType::Float64));
        assert!(conformable(
            &DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
            &DataType::Utf8
        ));
        assert!(!conformable(&DataType::Int64, &DataType::Utf8));
    }
}
