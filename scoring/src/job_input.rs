//! Incoming job rows, conformed to the canonical job schema.
//!
//! Clients send the columns they have; absent optional columns become null.
//! Outcome columns (start, end, runtime, state) are never read at serving
//! time, even when sent: a job being scored has not run yet.
//! A column of the wrong type fails the whole request; a bad value fails
//! only its row.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Int64Array, RecordBatch, StringArray, new_null_array,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    ArrowPrimitiveType, DataType, Float64Type, Int64Type, TimeUnit, TimestampSecondType,
};
use rtp_bundle::job_schema::{col, job_schema};

use crate::error::{Result, ScoringError};
use crate::row_value::{Value, value_at};

/// Columns every request must carry.
pub const REQUIRED_COLUMNS: [&str; 4] = [
    col::SUBMIT_TIME,
    col::WALLCLOCK_REQ_S,
    col::NODES_REQ,
    col::PROCESSORS_REQ,
];

/// Longest wallclock request taken, seconds (about 31 years: longer than
/// any machine lives). Beyond it a request is an input error, not a job.
pub const MAX_WALLCLOCK_REQ_S: f64 = 1e9;

/// Latest submit time taken, Unix seconds (9999-12-31T23:59:59Z): later
/// times have no calendar date, and adding a runtime to them overflows.
pub const MAX_SUBMIT_TIME_S: i64 = 253_402_300_799;

/// Columns describing the job's outcome, ignored when scoring.
const OUTCOME_COLUMNS: [&str; 3] = [col::START_TIME, col::END_TIME, col::RUN_TIME_S];

/// State given to jobs being scored.
const SCORING_STATE: &str = "PENDING";

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
    let rows = input.num_rows();
    let schema = job_schema();
    for required in REQUIRED_COLUMNS {
        if input.column_by_name(required).is_none() {
            return Err(ScoringError::column(required, "required column is missing"));
        }
    }
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        let name = field.name().as_str();
        let given = input.column_by_name(name);
        let column = match (name, given) {
            (n, _) if OUTCOME_COLUMNS.contains(&n) => new_null_array(field.data_type(), rows),
            (col::STATE, _) => Arc::new(StringArray::from(vec![SCORING_STATE; rows])),
            (col::JOB_KEY, None) => Arc::new(Int64Array::from_iter_values(
                (0..rows as i64).map(|i| first_key + i),
            )),
            (col::JOB_ID, None) => Arc::new(StringArray::from(vec![""; rows])),
            (_, None) => new_null_array(field.data_type(), rows),
            (_, Some(array)) => conform_column(name, array, field.data_type())?,
        };
        columns.push(column);
    }
    let batch = RecordBatch::try_new(nullable_schema(), columns)
        .map_err(ScoringError::arrow("conforming the request"))?;
    let errors = row_errors(&batch);
    Ok(JobRows { batch, errors })
}

/// The job schema with every column nullable: a request may leave out what
/// the training table always has.
fn nullable_schema() -> datafusion::arrow::datatypes::SchemaRef {
    static SCHEMA: std::sync::LazyLock<datafusion::arrow::datatypes::SchemaRef> =
        std::sync::LazyLock::new(|| {
            Arc::new(datafusion::arrow::datatypes::Schema::new(
                job_schema()
                    .fields()
                    .iter()
                    .map(|f| f.as_ref().clone().with_nullable(true))
                    .collect::<Vec<_>>(),
            ))
        });
    Arc::clone(&SCHEMA)
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
fn row_errors(batch: &RecordBatch) -> Vec<Option<String>> {
    let column = |name: &str| batch.column_by_name(name).expect("conformed column");
    let submit = column(col::SUBMIT_TIME).as_primitive::<TimestampSecondType>();
    let request = column(col::WALLCLOCK_REQ_S).as_primitive::<Float64Type>();
    let memory = column(col::MEM_REQ_MB).as_primitive::<Float64Type>();
    let counts: Vec<&datafusion::arrow::array::PrimitiveArray<Int64Type>> =
        [col::NODES_REQ, col::PROCESSORS_REQ, col::GPUS_REQ]
            .into_iter()
            .map(|n| column(n).as_primitive::<Int64Type>())
            .collect();
    let float = |a: &datafusion::arrow::array::PrimitiveArray<Float64Type>, row| {
        a.is_valid(row).then(|| a.value(row))
    };
    (0..batch.num_rows())
        .map(|row| {
            let count = |i: usize| counts[i].is_valid(row).then(|| counts[i].value(row));
            problems(
                submit.is_valid(row).then(|| submit.value(row)),
                float(request, row),
                float(memory, row),
                [count(0), count(1), count(2)],
            )
        })
        .collect()
}

/// Why a job cannot be scored, if it cannot: the same rules for rows of a
/// batch and for single jobs.
fn problems(
    submit: Option<i64>,
    request: Option<f64>,
    memory: Option<f64>,
    counts: [Option<i64>; 3],
) -> Option<String> {
    let mut problems = Vec::new();
    // A null in a required column is as missing as an absent column: the
    // model would otherwise fill in a value the user never asked for.
    let present = [
        (col::SUBMIT_TIME, submit.is_some()),
        (col::WALLCLOCK_REQ_S, request.is_some()),
        (col::NODES_REQ, counts[0].is_some()),
        (col::PROCESSORS_REQ, counts[1].is_some()),
    ];
    debug_assert!(present.iter().map(|(n, _)| n).eq(REQUIRED_COLUMNS.iter()));
    for (name, given) in present {
        if !given {
            problems.push(format!("{name} is missing"));
        }
    }
    for (name, value) in [(col::WALLCLOCK_REQ_S, request), (col::MEM_REQ_MB, memory)] {
        if let Some(v) = value
            && (!v.is_finite() || v < 0.0)
        {
            problems.push(format!("{name} must be a non-negative number, got {v}"));
        }
    }
    if let Some(w) = request.filter(|&w| w > MAX_WALLCLOCK_REQ_S) {
        problems.push(format!(
            "{} must be at most {MAX_WALLCLOCK_REQ_S:e} s, got {w:e}",
            col::WALLCLOCK_REQ_S
        ));
    }
    if let Some(t) = submit.filter(|t| !(0..=MAX_SUBMIT_TIME_S).contains(t)) {
        problems.push(format!(
            "{} must be Unix seconds between 1970 and 9999, got {t}",
            col::SUBMIT_TIME
        ));
    }
    for (name, value) in [col::NODES_REQ, col::PROCESSORS_REQ, col::GPUS_REQ]
        .into_iter()
        .zip(counts)
    {
        if let Some(v) = value
            && v < 0
        {
            problems.push(format!("{name} must be non-negative, got {v}"));
        }
    }
    (!problems.is_empty()).then(|| problems.join("; "))
}

/// One job as a submit tool describes it: what is known at submit time.
/// Absent values are `None`; outcomes are not part of it.
#[derive(Debug, Clone, Copy, Default)]
pub struct JobRecord<'a> {
    /// The caller's key for the job; numbered by the request when absent.
    pub job_key: Option<i64>,
    /// The scheduler's job id, if known.
    pub job_id: &'a str,
    /// Submitting user.
    pub user: Option<&'a str>,
    /// Charged account.
    pub account: Option<&'a str>,
    /// Partition.
    pub partition: Option<&'a str>,
    /// Quality of service.
    pub qos: Option<&'a str>,
    /// Job name.
    pub name: Option<&'a str>,
    /// Working directory.
    pub work_dir: Option<&'a str>,
    /// Requested wallclock, seconds.
    pub wallclock_req_s: Option<f64>,
    /// Requested nodes.
    pub nodes_req: Option<i64>,
    /// Requested processors.
    pub processors_req: Option<i64>,
    /// Requested GPUs.
    pub gpus_req: Option<i64>,
    /// Requested memory for the whole job, MB.
    pub mem_req_mb: Option<f64>,
    /// Submit time, epoch seconds on the cluster's clock.
    pub submit_time_s: Option<i64>,
}

/// Column `name` of conformed job rows.
fn conformed_column<'a>(rows: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef> {
    rows.column_by_name(name)
        .ok_or_else(|| ScoringError::column(name, "required column is missing"))
}

/// The value of primitive column `name` at `row`, or `None` where it is null.
fn primitive_at<T: ArrowPrimitiveType>(
    rows: &RecordBatch,
    row: usize,
    name: &str,
    wrong_type: &str,
) -> Result<Option<T::Native>> {
    let c = conformed_column(rows, name)?
        .as_primitive_opt::<T>()
        .ok_or_else(|| ScoringError::column(name, wrong_type))?;
    Ok(c.is_valid(row).then(|| c.value(row)))
}

impl<'a> JobRecord<'a> {
    /// Row `row` of job rows already conformed by [`conform`].
    pub fn from_conformed(rows: &'a RecordBatch, row: usize) -> Result<Self> {
        let text = |name: &str| -> Result<Option<&'a str>> {
            let c = conformed_column(rows, name)?
                .as_string_opt::<i32>()
                .ok_or_else(|| ScoringError::column(name, "is not conformed text"))?;
            Ok(c.is_valid(row).then(|| c.value(row)))
        };
        let float =
            |name: &str| primitive_at::<Float64Type>(rows, row, name, "is not a conformed float");
        let int =
            |name: &str| primitive_at::<Int64Type>(rows, row, name, "is not a conformed integer");
        Ok(Self {
            job_key: int(col::JOB_KEY)?,
            job_id: text(col::JOB_ID)?.unwrap_or(""),
            user: text(col::USER)?,
            account: text(col::ACCOUNT)?,
            partition: text(col::PARTITION)?,
            qos: text(col::QOS)?,
            name: text(col::NAME)?,
            work_dir: text(col::WORK_DIR)?,
            wallclock_req_s: float(col::WALLCLOCK_REQ_S)?,
            nodes_req: int(col::NODES_REQ)?,
            processors_req: int(col::PROCESSORS_REQ)?,
            gpus_req: int(col::GPUS_REQ)?,
            mem_req_mb: float(col::MEM_REQ_MB)?,
            submit_time_s: primitive_at::<TimestampSecondType>(
                rows,
                row,
                col::SUBMIT_TIME,
                "is not conformed",
            )?,
        })
    }

    /// Why the job cannot be scored, if it cannot (as for a batch row).
    pub fn problems(&self) -> Option<String> {
        problems(
            self.submit_time_s,
            self.wallclock_req_s,
            self.mem_req_mb,
            [self.nodes_req, self.processors_req, self.gpus_req],
        )
    }

    /// The job as a row of the canonical job schema, in its column order;
    /// `key` numbers it when it has no `job_key`.
    pub(crate) fn values(&self, key: i64) -> Vec<Value> {
        let text = |v: Option<&str>| v.map_or(Value::Null, Value::str);
        let int = |v: Option<i64>| v.map_or(Value::Null, Value::Int);
        let float = |v: Option<f64>| v.map_or(Value::Null, Value::Float);
        job_schema()
            .fields()
            .iter()
            .map(|field| match field.name().as_str() {
                col::JOB_KEY => Value::Int(self.job_key.unwrap_or(key)),
                col::JOB_ID => Value::str(self.job_id),
                col::USER => text(self.user),
                col::ACCOUNT => text(self.account),
                col::PARTITION => text(self.partition),
                col::QOS => text(self.qos),
                col::NAME => text(self.name),
                col::WORK_DIR => text(self.work_dir),
                col::WALLCLOCK_REQ_S => float(self.wallclock_req_s),
                col::NODES_REQ => int(self.nodes_req),
                col::PROCESSORS_REQ => int(self.processors_req),
                col::GPUS_REQ => int(self.gpus_req),
                col::MEM_REQ_MB => float(self.mem_req_mb),
                col::SUBMIT_TIME => int(self.submit_time_s),
                col::STATE => Value::str(SCORING_STATE),
                // Outcomes: the job has not run.
                _ => Value::Null,
            })
            .collect()
    }
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
    use datafusion::arrow::array::{Float64Array, Int32Array, TimestampNanosecondArray};
    use datafusion::arrow::datatypes::{Field, Schema};

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
            err.contains("wallclock_req_s must be at most 1e9 s"),
            "{err}"
        );

        let job = |submit| JobRecord {
            submit_time_s: Some(submit),
            wallclock_req_s: Some(3600.0),
            nodes_req: Some(1),
            processors_req: Some(36),
            ..Default::default()
        };
        assert_eq!(job(MAX_SUBMIT_TIME_S).problems(), None);
        for bad in [MAX_SUBMIT_TIME_S + 1, i64::MAX, -1] {
            let err = job(bad).problems().unwrap();
            assert!(err.contains("submit_time must be Unix seconds"), "{err}");
        }
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
