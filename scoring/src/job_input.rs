//! Incoming job rows, conformed to the canonical job schema.
//!
//! Clients send the columns they have; absent optional columns become null.
//! Outcome columns (start, end, runtime, state) are never read at serving
//! time, even when sent: a job being scored has not run yet.
//! A column of the wrong type fails the whole request; a bad value fails
//! only its row, by the rules of [`rtp_jobs::rules`], the same for every
//! surface.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
    new_null_array,
};
use datafusion::arrow::compute::{cast, nullif};
use datafusion::arrow::datatypes::{DataType, Int64Type, TimeUnit};
use rtp_jobs::schema::{OUTCOME_COLUMNS, SCORING_STATE, col, job_schema, nullable_job_schema};
use rtp_jobs::{Job, JobColumns, Purpose};

use crate::error::{Result, ScoringError};
use crate::row_value::{Value, value_at};

/// Requests conformed to the job schema, with per-row problems.
#[derive(Debug)]
pub struct JobRows {
    /// The rows in the canonical job schema.
    pub batch: RecordBatch,
    /// Per row, why it cannot be scored.
    pub errors: Vec<Option<String>>,
}

/// Conforms `input` to the canonical job schema. `first_key` numbers rows
/// when the request carries no `job_key`.
pub fn conform(input: &RecordBatch, first_key: i64) -> Result<JobRows> {
    conform_for(input, first_key, Purpose::Scoring)
}

/// [`conform`] by the rules of `purpose` (a bundle that learned from jobs
/// without a request scores jobs without one).
pub fn conform_for(input: &RecordBatch, first_key: i64, purpose: Purpose) -> Result<JobRows> {
    for &required in purpose.required() {
        if input.column_by_name(required).is_none() {
            return Err(ScoringError::column(required, "required column is missing"));
        }
    }
    let batch = conform_columns(input, Some(first_key))?;
    let errors = row_errors(&batch, purpose)?;
    Ok(JobRows { batch, errors })
}

/// Conforms job events to the canonical job schema, as [`conform`] but
/// keeping the outcome columns and the state, and leaving rows without a
/// `job_key` unkeyed: a job's key must not depend on where in an upload
/// its row was. Rows are checked as the events they are when applied.
pub fn conform_events(input: &RecordBatch) -> Result<Vec<Job>> {
    for required in [col::JOB_ID, col::SUBMIT_TIME] {
        if input.column_by_name(required).is_none() {
            return Err(ScoringError::column(required, "required column is missing"));
        }
    }
    let batch = conform_columns(input, None)?;
    let columns = JobColumns::new(&batch).map_err(ScoringError::jobs)?;
    Ok((0..batch.num_rows())
        .map(|row| columns.job(row).to_owned_job())
        .collect())
}

/// The canonical columns of `input`: for scoring (`first_key` numbers
/// unkeyed rows) outcomes are dropped and the state is pending; for
/// events (`None`) they are kept.
fn conform_columns(input: &RecordBatch, first_key: Option<i64>) -> Result<RecordBatch> {
    let rows = input.num_rows();
    let schema = job_schema();
    let scoring = first_key.is_some();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        let name = field.name().as_str();
        let given = input.column_by_name(name);
        let column = match (name, given) {
            (n, _) if scoring && OUTCOME_COLUMNS.contains(&n) => {
                new_null_array(field.data_type(), rows)
            }
            (col::STATE, _) if scoring => Arc::new(StringArray::from(vec![SCORING_STATE; rows])),
            (col::JOB_KEY, None) => match first_key {
                Some(first) => Arc::new(Int64Array::from_iter_values(
                    (0..rows as i64).map(|i| first + i),
                )),
                None => new_null_array(field.data_type(), rows),
            },
            (col::JOB_KEY, Some(array)) => {
                let keys = conform_column(name, array, field.data_type())?;
                match first_key {
                    Some(first) => numbered(keys, first),
                    None => keys,
                }
            }
            (col::JOB_ID, None) => Arc::new(StringArray::from(vec![""; rows])),
            (_, None) => new_null_array(field.data_type(), rows),
            (_, Some(array)) => {
                unknown_as_null(name, conform_column(name, array, field.data_type())?)?
            }
        };
        columns.push(column);
    }
    RecordBatch::try_new(nullable_job_schema(), columns)
        .map_err(ScoringError::arrow("conforming the request"))
}

/// Keys where the client gave none: row `i` is `first_key + i`.
fn numbered(keys: ArrayRef, first_key: i64) -> ArrayRef {
    if keys.null_count() == 0 {
        return keys;
    }
    let keys = keys.as_primitive::<Int64Type>();
    Arc::new(Int64Array::from_iter_values(
        keys.iter()
            .enumerate()
            .map(|(i, k)| k.unwrap_or(first_key + i as i64)),
    ))
}

/// Zero memory and zero wallclock are unknown, as
/// [`Job::normalized`](rtp_jobs::Job::normalized) makes them: the same
/// null the training table holds for them.
fn unknown_as_null(name: &str, array: ArrayRef) -> Result<ArrayRef> {
    if name != col::MEM_REQ_MB && name != col::WALLCLOCK_REQ_S {
        return Ok(array);
    }
    let values = array
        .as_any()
        .downcast_ref::<Float64Array>()
        .expect("conformed to Float64");
    let zero: BooleanArray = values.iter().map(|v| Some(v == Some(0.0))).collect();
    nullif(&array, &zero).map_err(ScoringError::arrow(name))
}

/// Casts a client column to the schema type, refusing types whose values
/// cannot mean the same thing.
fn conform_column(name: &str, array: &ArrayRef, target: &DataType) -> Result<ArrayRef> {
    let given = array.data_type();
    let acceptable = match target {
        DataType::Utf8 => {
            matches!(
                given,
                DataType::Utf8
                    | DataType::LargeUtf8
                    | DataType::Utf8View
                    | DataType::Dictionary(_, _)
            ) && dictionary_of_strings(given)
        }
        DataType::Int64 | DataType::Float64 => given.is_numeric() || given == &DataType::Null,
        DataType::Timestamp(_, _) => {
            matches!(given, DataType::Timestamp(_, _) | DataType::Null) || given.is_integer()
        }
        _ => false,
    };
    if !acceptable {
        return Err(ScoringError::column(
            name,
            format!("has type {given}, expected {target}"),
        ));
    }
    let conformed = match (given, target) {
        // Integers in a timestamp column are epoch seconds.
        (g, DataType::Timestamp(TimeUnit::Second, _)) if g.is_integer() => {
            let secs = cast(array, &DataType::Int64).map_err(ScoringError::arrow(name))?;
            cast(&secs, target)
        }
        // Time zones are dropped: the models work on the cluster's clock.
        (DataType::Timestamp(unit, Some(_)), _) => {
            cast(array, &DataType::Timestamp(*unit, None)).and_then(|a| cast(&a, target))
        }
        _ => cast(array, target),
    }
    .map_err(|e| ScoringError::column(name, format!("cannot be read as {target}: {e}")))?;
    if conformed.null_count() > array.null_count() {
        return Err(ScoringError::column(
            name,
            format!("values of type {given} do not fit {target}"),
        ));
    }
    Ok(conformed)
}

fn dictionary_of_strings(ty: &DataType) -> bool {
    match ty {
        DataType::Dictionary(_, value) => {
            matches!(
                value.as_ref(),
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            )
        }
        _ => true,
    }
}

/// Why each row cannot be scored, if it cannot.
fn row_errors(batch: &RecordBatch, purpose: Purpose) -> Result<Vec<Option<String>>> {
    let jobs = JobColumns::new(batch).map_err(ScoringError::jobs)?;
    Ok((0..batch.num_rows())
        .map(|row| job_problems_for(&jobs.job(row), purpose))
        .collect())
}

/// Why a job cannot be scored, if it cannot: the same rules for rows of a
/// batch and for single jobs.
pub fn job_problems(job: &Job<&str>) -> Option<String> {
    job_problems_for(job, Purpose::Scoring)
}

/// [`job_problems`] by the rules of `purpose`.
pub fn job_problems_for(job: &Job<&str>, purpose: Purpose) -> Option<String> {
    let problems = job.at_submit().normalized().problems(purpose);
    (!problems.is_empty()).then(|| problems.to_string())
}

/// The job, as known at its submit time, as a row of the canonical job
/// schema in its column order; `key` numbers it when it has no `job_key`.
pub(crate) fn job_values(job: &Job<&str>, key: i64) -> Vec<Value> {
    crate::live::facts::record_values(&job.at_submit().normalized(), key)
}

/// Row `row` of conformed job rows, as job-schema values.
pub(crate) fn row_values(rows: &RecordBatch, row: usize) -> Result<Vec<Value>> {
    rows.columns()
        .iter()
        .map(|c| value_at(c, row).map_err(ScoringError::arrow("reading a job row")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int32Array, TimestampNanosecondArray};
    use datafusion::arrow::datatypes::{Field, Schema};
    use rtp_jobs::rules::MAX_TIME_S;

    fn request(nodes: ArrayRef, wallclock: Vec<f64>) -> RecordBatch {
        let n = wallclock.len();
        let submit: ArrayRef = Arc::new(TimestampNanosecondArray::from(
            vec![1_700_000_000_000_000_000; n],
        ));
        let fields = vec![
            Field::new("submit_time", submit.data_type().clone(), true),
            Field::new("wallclock_req_s", DataType::Float64, true),
            Field::new("nodes_req", nodes.data_type().clone(), true),
            Field::new("processors_req", DataType::Int32, true),
            Field::new("run_time_s", DataType::Float64, true),
        ];
        RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            vec![
                submit,
                Arc::new(Float64Array::from(wallclock)),
                nodes,
                Arc::new(Int32Array::from(vec![36; n])),
                Arc::new(Float64Array::from(vec![5.0; n])),
            ],
        )
        .unwrap()
    }

    #[test]
    fn bad_values_fail_their_row_only() {
        let rows = conform(
            &request(
                Arc::new(Int32Array::from(vec![1, -2, 1])),
                vec![3600.0, 60.0, f64::NAN],
            ),
            100,
        )
        .unwrap();
        assert_eq!(rows.errors[0], None);
        assert!(rows.errors[1].as_deref().unwrap().contains("nodes_req"));
        assert!(
            rows.errors[2]
                .as_deref()
                .unwrap()
                .contains("wallclock_req_s")
        );
        let keys = rows
            .batch
            .column_by_name("job_key")
            .unwrap()
            .as_primitive::<Int64Type>();
        assert_eq!(keys.values().to_vec(), vec![100, 101, 102]);
        // The outcome sent along is not read.
        assert_eq!(
            rows.batch
                .column_by_name("run_time_s")
                .unwrap()
                .null_count(),
            3
        );
        let submit = rows.batch.column_by_name("submit_time").unwrap();
        assert_eq!(
            submit.data_type(),
            &DataType::Timestamp(TimeUnit::Second, None)
        );
    }

    #[test]
    fn requests_and_submit_times_beyond_any_real_job_are_refused() {
        let rows = conform(
            &request(Arc::new(Int32Array::from(vec![1, 1])), vec![1e9, 1e300]),
            0,
        )
        .unwrap();
        assert_eq!(rows.errors[0], None);
        let err = rows.errors[1].as_deref().unwrap();
        assert!(
            err.contains("wallclock_req_s: must be at most 1e9 seconds"),
            "{err}"
        );

        let job = |submit| Job {
            submit_time: Some(submit),
            wallclock_req_s: Some(3600.0),
            nodes_req: Some(1),
            processors_req: Some(36),
            ..Default::default()
        };
        assert_eq!(job_problems(&job(MAX_TIME_S)), None);
        for bad in [MAX_TIME_S + 1, i64::MAX, -1] {
            let err = job_problems(&job(bad)).unwrap();
            assert!(err.contains("submit_time: must be Unix seconds"), "{err}");
        }
    }

    #[test]
    fn zero_memory_and_wallclock_are_unknown_as_in_the_training_table() {
        let mut batch = request(Arc::new(Int32Array::from(vec![1, 1])), vec![3600.0, 0.0]);
        let memory: ArrayRef = Arc::new(Float64Array::from(vec![0.0, 2048.0]));
        let mut fields = batch.schema().fields().to_vec();
        fields.push(Arc::new(Field::new("mem_req_mb", DataType::Float64, true)));
        let mut columns = batch.columns().to_vec();
        columns.push(memory);
        batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
        let rows = conform(&batch, 0).unwrap();
        let mem = rows.batch.column_by_name(col::MEM_REQ_MB).unwrap();
        assert!(mem.is_null(0) && mem.is_valid(1));
        assert_eq!(rows.errors[0], None);
        assert_eq!(rows.errors[1].as_deref(), Some("wallclock_req_s: missing"));
    }

    #[test]
    fn wrong_types_and_missing_columns_name_the_column() {
        let err = conform(
            &request(Arc::new(StringArray::from(vec!["x"])), vec![1.0]),
            0,
        )
        .unwrap_err();
        assert!(err.is_invalid_input());
        assert!(err.to_string().contains("nodes_req"), "{err}");
        let batch = request(Arc::new(Int32Array::from(vec![1])), vec![1.0]);
        let without = batch.project(&[0, 1, 3]).unwrap();
        let err = conform(&without, 0).unwrap_err();
        assert!(
            err.to_string()
                .contains("`nodes_req`: required column is missing"),
            "{err}"
        );
    }
}
