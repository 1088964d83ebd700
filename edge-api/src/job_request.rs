//! Jobs as the wire carries them, checked and turned into the job rows the
//! scoring core takes.
//!
//! proto3 scalars have no presence, so a zero count or request reads as
//! "missing". Empty strings are absent values: an empty or never-seen user
//! or account gets no per-user history, which is how the feature SQL
//! treats first-time users (population and partition statistics still
//! apply); no placeholder identity is ever invented.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{
    ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampSecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use rtp_bundle::job_schema::col;
use rtp_proto::v1::JobFeatures;
use rtp_scoring::JobRecord;
use rtp_scoring::job_input::{MAX_SUBMIT_TIME_S, MAX_WALLCLOCK_REQ_S};

/// The nodes and wallclock a job requests, for the node-hour counters.
pub fn demand(job: Option<&JobFeatures>) -> (i32, f64) {
    job.map_or((0, f64::NAN), |j| (j.nodes_req, j.wallclock_req))
}

/// A field that makes a job unpredictable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct FieldError {
    /// Path of the field, e.g. `features.nodes_req` or `jobs[3].nodes_req`.
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

/// MB per GB of requested memory (Slurm's convention: 1G = 1024M).
const MB_PER_GB: f64 = 1024.0;

/// Checks one job; `path` prefixes the field names in the error.
pub fn validate(job: Option<&JobFeatures>, path: &str) -> Result<(), FieldError> {
    let fail = |field: &str, reason: String| {
        Err(FieldError {
            field: format!("{path}.{field}"),
            reason,
        })
    };
    let Some(job) = job else {
        return Err(FieldError {
            field: path.to_owned(),
            reason: "missing".into(),
        });
    };
    for (field, value) in [
        ("processors_req", job.processors_req),
        ("nodes_req", job.nodes_req),
    ] {
        match value {
            0 => return fail(field, "missing (must be at least 1)".into()),
            v if v < 0 => return fail(field, format!("must be at least 1, got {v}")),
            _ => {}
        }
    }
    match job.wallclock_req {
        w if !w.is_finite() => return fail("wallclock_req", format!("must be finite, got {w}")),
        0.0 => {
            return fail(
                "wallclock_req",
                "missing (seconds, must be positive)".into(),
            );
        }
        w if w < 0.0 => return fail("wallclock_req", format!("must be positive, got {w}")),
        w if w > MAX_WALLCLOCK_REQ_S => {
            return fail(
                "wallclock_req",
                format!("must be at most {MAX_WALLCLOCK_REQ_S:e} seconds, got {w:e}"),
            );
        }
        _ => {}
    }
    if !job.mem_req.is_finite() || job.mem_req < 0.0 {
        return fail(
            "mem_req",
            format!("must be a non-negative number of GB, got {}", job.mem_req),
        );
    }
    if job.gpus_req < 0 {
        return fail(
            "gpus_req",
            format!("must not be negative, got {}", job.gpus_req),
        );
    }
    if !(0..=MAX_SUBMIT_TIME_S).contains(&job.submit_time) {
        return fail(
            "submit_time",
            format!(
                "must be Unix seconds between 1970 and 9999 (0 = now), got {}",
                job.submit_time
            ),
        );
    }
    Ok(())
}

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let text = |name: &str| Field::new(name, DataType::Utf8, true);
    Arc::new(Schema::new(vec![
        Field::new(col::JOB_ID, DataType::Utf8, false),
        text(col::USER),
        text(col::ACCOUNT),
        text(col::PARTITION),
        text(col::QOS),
        Field::new(col::WALLCLOCK_REQ_S, DataType::Float64, true),
        Field::new(col::NODES_REQ, DataType::Int64, true),
        Field::new(col::PROCESSORS_REQ, DataType::Int64, true),
        Field::new(col::GPUS_REQ, DataType::Int64, true),
        Field::new(col::MEM_REQ_MB, DataType::Float64, true),
        Field::new(
            col::SUBMIT_TIME,
            DataType::Timestamp(TimeUnit::Second, None),
            true,
        ),
        text(col::NAME),
        text(col::WORK_DIR),
    ]))
});

/// One already validated job as the scoring core takes it, read exactly as
/// [`job_rows`] reads it.
pub fn job_record(job: &JobFeatures, now_s: i64) -> JobRecord<'_> {
    fn text(v: &str) -> Option<&str> {
        (!v.is_empty()).then_some(v)
    }
    JobRecord {
        job_key: None,
        job_id: &job.job_id,
        user: text(&job.user),
        account: text(&job.account),
        partition: text(&job.partition),
        qos: text(&job.qos),
        name: text(&job.job_name),
        work_dir: text(&job.work_dir),
        wallclock_req_s: Some(job.wallclock_req),
        nodes_req: Some(i64::from(job.nodes_req)),
        processors_req: Some(i64::from(job.processors_req)),
        gpus_req: Some(i64::from(job.gpus_req)),
        mem_req_mb: (job.mem_req > 0.0).then_some(job.mem_req * MB_PER_GB),
        submit_time_s: Some(if job.submit_time == 0 {
            now_s
        } else {
            job.submit_time
        }),
    }
}

/// Job rows for already validated jobs; a zero submit time becomes `now_s`.
pub fn job_rows<'a>(
    jobs: impl ExactSizeIterator<Item = &'a JobFeatures> + Clone,
    now_s: i64,
) -> RecordBatch {
    let optional = |f: fn(&JobFeatures) -> &str| -> ArrayRef {
        Arc::new(StringArray::from_iter(jobs.clone().map(|j| {
            let v = f(j);
            (!v.is_empty()).then_some(v)
        })))
    };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            jobs.clone().map(|j| j.job_id.as_str()),
        )),
        optional(|j| &j.user),
        optional(|j| &j.account),
        optional(|j| &j.partition),
        optional(|j| &j.qos),
        Arc::new(Float64Array::from_iter_values(
            jobs.clone().map(|j| j.wallclock_req),
        )),
        Arc::new(Int64Array::from_iter_values(
            jobs.clone().map(|j| i64::from(j.nodes_req)),
        )),
        Arc::new(Int64Array::from_iter_values(
            jobs.clone().map(|j| i64::from(j.processors_req)),
        )),
        Arc::new(Int64Array::from_iter_values(
            jobs.clone().map(|j| i64::from(j.gpus_req)),
        )),
        Arc::new(Float64Array::from_iter(
            jobs.clone()
                .map(|j| (j.mem_req > 0.0).then_some(j.mem_req * MB_PER_GB)),
        )),
        Arc::new(TimestampSecondArray::from_iter_values(jobs.clone().map(
            |j| {
                if j.submit_time == 0 {
                    now_s
                } else {
                    j.submit_time
                }
            },
        ))),
        optional(|j| &j.job_name),
        optional(|j| &j.work_dir),
    ];
    RecordBatch::try_new(Arc::clone(&SCHEMA), columns).expect("columns match the schema")
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::{Float64Type, TimestampSecondType};

    type Spoil = fn(&mut JobFeatures);

    fn job() -> JobFeatures {
        JobFeatures {
            processors_req: 36,
            nodes_req: 1,
            mem_req: 2.0,
            wallclock_req: 3600.0,
            partition: "short".into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_good_job_passes_and_becomes_one_row() {
        validate(Some(&job()), "features").unwrap();
        let rows = job_rows([job()].iter(), 1_700_000_000);
        assert_eq!(rows.num_rows(), 1);
        let mem = rows
            .column_by_name(col::MEM_REQ_MB)
            .unwrap()
            .as_primitive::<Float64Type>();
        assert_eq!(mem.value(0), 2048.0);
        assert!(rows.column_by_name(col::USER).unwrap().is_null(0));
        let submit = rows
            .column_by_name(col::SUBMIT_TIME)
            .unwrap()
            .as_primitive::<TimestampSecondType>();
        assert_eq!(submit.value(0), 1_700_000_000);
    }

    #[test]
    fn a_job_record_reads_the_job_as_its_row_does() {
        let mut full = job();
        full.user = "alice".into();
        full.job_name = "relax".into();
        full.submit_time = 1_700_000_123;
        full.gpus_req = 2;
        for (j, now) in [(job(), 1_700_000_000), (full, 5)] {
            let rows = job_rows([j.clone()].iter(), now);
            let conformed = rtp_scoring::job_input::conform(&rows, 0).unwrap();
            let mut from_row = JobRecord::from_conformed(&conformed.batch, 0).unwrap();
            from_row.job_key = None; // numbered by the batch, absent on the wire
            assert_eq!(
                format!("{:?}", job_record(&j, now)),
                format!("{from_row:?}")
            );
        }
    }

    #[test]
    fn bad_fields_are_named_with_their_path() {
        let cases: [(Spoil, &str); 9] = [
            (|j| j.nodes_req = 0, "features.nodes_req: missing"),
            (
                |j| j.processors_req = -4,
                "features.processors_req: must be at least 1, got -4",
            ),
            (
                |j| j.wallclock_req = f64::NAN,
                "features.wallclock_req: must be finite",
            ),
            (
                |j| j.wallclock_req = -5.0,
                "features.wallclock_req: must be positive",
            ),
            (|j| j.mem_req = -1.0, "features.mem_req"),
            (|j| j.gpus_req = -1, "features.gpus_req"),
            (|j| j.submit_time = -1, "features.submit_time"),
            (
                |j| j.wallclock_req = 1e300,
                "features.wallclock_req: must be at most 1e9 seconds, got 1e300",
            ),
            (
                |j| j.submit_time = i64::MAX,
                "features.submit_time: must be Unix seconds between 1970 and 9999",
            ),
        ];
        for (spoil, expected) in cases {
            let mut j = job();
            spoil(&mut j);
            let err = validate(Some(&j), "features").unwrap_err().to_string();
            assert!(err.starts_with(expected), "{err} vs {expected}");
        }
        let err = validate(None, "jobs[2]").unwrap_err().to_string();
        assert_eq!(err, "jobs[2]: missing");
    }
}
