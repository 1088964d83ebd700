//! Jobs as the wire carries them, checked and turned into the job rows the
//! scoring core takes.
//!
//! proto3 scalars have no presence, so a zero count or request reads as
//! "missing". Empty strings are absent values: an empty or never-seen user
//! or account gets no per-user history, which is how the feature SQL
//! treats first-time users (population and partition statistics still
//! apply); no placeholder identity is ever invented.

use datafusion::arrow::array::RecordBatch;
use rtp_jobs::schema::col;
use rtp_jobs::units::{gb_from_mb, mb_from_gb};
use rtp_jobs::{Job, Purpose, jobs_batch};
use rtp_proto::v1::JobFeatures;

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

/// The wire's name of a canonical job column.
pub fn wire_name(column: &str) -> &str {
    match column {
        col::WALLCLOCK_REQ_S => "wallclock_req",
        col::MEM_REQ_MB => "mem_req",
        col::NAME => "job_name",
        other => other,
    }
}

/// The job a wire message describes, in canonical units: memory from GB
/// to MB, a zero (proto3's "not set") as unknown, except for GPUs, where
/// zero is a count. A zero submit time is `now_s`.
pub fn job_from_wire(job: &JobFeatures, now_s: i64) -> Job<&str> {
    fn text(v: &str) -> Option<&str> {
        (!v.is_empty()).then_some(v)
    }
    let set = |v: i32| (v != 0).then_some(i64::from(v));
    Job {
        job_key: None,
        job_id: &job.job_id,
        user: text(&job.user),
        account: text(&job.account),
        partition: text(&job.partition),
        qos: text(&job.qos),
        name: text(&job.job_name),
        work_dir: text(&job.work_dir),
        wallclock_req_s: (job.wallclock_req != 0.0).then_some(job.wallclock_req),
        nodes_req: set(job.nodes_req),
        processors_req: set(job.processors_req),
        gpus_req: Some(i64::from(job.gpus_req)),
        mem_req_mb: (job.mem_req != 0.0).then(|| mb_from_gb(job.mem_req)),
        submit_time: Some(if job.submit_time == 0 {
            now_s
        } else {
            job.submit_time
        }),
        ..Job::default()
    }
}

/// The wire message of a job, the inverse of [`job_from_wire`]: memory
/// from MB to GB, and an unknown value as proto3's zero or empty string.
pub fn wire_from_job<S: AsRef<str>>(job: &Job<S>) -> JobFeatures {
    let text = |v: &Option<S>| {
        v.as_ref()
            .map_or_else(String::new, |v| v.as_ref().to_owned())
    };
    let count = |v: Option<i64>| v.and_then(|v| i32::try_from(v).ok()).unwrap_or(0);
    JobFeatures {
        job_id: job.job_id.as_ref().to_owned(),
        user: text(&job.user),
        account: text(&job.account),
        partition: text(&job.partition),
        qos: text(&job.qos),
        job_name: text(&job.name),
        work_dir: text(&job.work_dir),
        wallclock_req: job.wallclock_req_s.unwrap_or(0.0),
        nodes_req: count(job.nodes_req),
        processors_req: count(job.processors_req),
        gpus_req: count(job.gpus_req),
        mem_req: job.mem_req_mb.map_or(0.0, gb_from_mb),
        submit_time: job.submit_time.unwrap_or(0),
    }
}

/// Checks one job by the rules every surface shares, for `purpose` (the
/// serving bundle's: see `Scorer::purpose`); `path` prefixes the field
/// names (in the wire's spelling) in the error.
pub fn validate(job: Option<&JobFeatures>, path: &str, purpose: Purpose) -> Result<(), FieldError> {
    let Some(job) = job else {
        return Err(FieldError {
            field: path.to_owned(),
            reason: "missing".into(),
        });
    };
    // Any valid time stands in for "now": only the given time is checked.
    match job_from_wire(job, 0).problems(purpose).first() {
        None => Ok(()),
        Some(problem) => Err(FieldError {
            field: format!("{path}.{}", wire_name(problem.field)),
            reason: problem.reason.clone(),
        }),
    }
}

/// Job rows for already validated jobs; a zero submit time becomes `now_s`.
pub fn job_rows<'a>(jobs: impl Iterator<Item = &'a JobFeatures>, now_s: i64) -> RecordBatch {
    jobs_batch(jobs.map(|j| job_from_wire(j, now_s)))
        .expect("every column of a request is nullable")
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::{Float64Type, TimestampSecondType};
    use rtp_scoring::job_input::conform;

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
    fn a_job_survives_the_wire_both_ways() {
        let mut wire = job();
        wire.user = "alice".into();
        wire.job_name = "relax".into();
        wire.submit_time = 1_700_000_000;
        wire.gpus_req = 2;
        let job = job_from_wire(&wire, 0);
        assert_eq!(job.mem_req_mb, Some(2048.0));
        assert_eq!(wire_from_job(&job), wire);
        // Unknown values go back as proto3's "not set".
        let unknown = Job::<&str>::default();
        let back = wire_from_job(&unknown);
        assert_eq!(
            (back.nodes_req, back.mem_req, back.user.as_str()),
            (0, 0.0, "")
        );
    }

    #[test]
    fn a_good_job_passes_and_becomes_one_row() {
        validate(Some(&job()), "features", Purpose::Scoring).unwrap();
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
    fn a_job_reads_the_same_alone_and_as_its_row() {
        let mut full = job();
        full.user = "alice".into();
        full.job_name = "relax".into();
        full.submit_time = 1_700_000_123;
        full.gpus_req = 2;
        for (j, now) in [(job(), 1_700_000_000), (full, 5)] {
            let rows = job_rows([j.clone()].iter(), now);
            let conformed = conform(&rows, 0).unwrap();
            let mut from_row = Job::from_batch(&conformed.batch, 0).unwrap();
            from_row.job_key = None; // numbered by the batch, absent on the wire
            assert_eq!(job_from_wire(&j, now).at_submit(), from_row);
        }
    }

    #[test]
    fn bad_fields_are_named_with_their_path() {
        let cases: [(Spoil, &str); 9] = [
            (|j| j.nodes_req = 0, "features.nodes_req: missing"),
            (
                |j| j.processors_req = -4,
                "features.processors_req: must be at least 1 (got -4)",
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
                "features.wallclock_req: must be at most 1e9 seconds (got 1e300)",
            ),
            (
                |j| j.submit_time = i64::MAX,
                "features.submit_time: must be Unix seconds between 1970 and 9999",
            ),
        ];
        for (spoil, expected) in cases {
            let mut j = job();
            spoil(&mut j);
            let err = validate(Some(&j), "features", Purpose::Scoring)
                .unwrap_err()
                .to_string();
            assert!(err.starts_with(expected), "{err} vs {expected}");
        }
        let err = validate(None, "jobs[2]", Purpose::Scoring)
            .unwrap_err()
            .to_string();
        assert_eq!(err, "jobs[2]: missing");
    }
}
