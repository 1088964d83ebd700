//! Job events as the wire carries them (`JobEvent`), turned into the job
//! records the scoring core folds into its live state.

use rtp_jobs::Job;
use rtp_jobs::rules::Problem;
use rtp_jobs::schema::col;
use rtp_proto::v1::JobEvent;

use crate::job_request::{FieldError, job_from_wire, wire_name};

/// The job record an event carries. The request's fields read as for
/// Predict, except that the job id and the submit time must be given: they
/// identify the job across its events.
pub fn job_from_event(event: &JobEvent) -> Result<Job, FieldError> {
    let missing = |field: &str| FieldError {
        field: field.to_owned(),
        reason: "missing".into(),
    };
    let wire = event.job.as_ref().ok_or_else(|| missing("job"))?;
    if wire.job_id.is_empty() {
        return Err(missing("job.job_id"));
    }
    if wire.submit_time == 0 {
        return Err(missing("job.submit_time"));
    }
    let time = |t: i64| (t != 0).then_some(t);
    let state = (!event.state.is_empty()).then(|| event.state.to_ascii_uppercase());
    Ok(Job {
        start_time: time(event.start_time),
        end_time: time(event.end_time),
        run_time_s: event.run_time_seconds,
        state,
        ..job_from_wire(wire, 0).to_owned_job()
    })
}

/// The wire path of the field a refused event is refused for.
pub fn event_field(problem: &Problem) -> String {
    match problem.field {
        col::START_TIME | col::END_TIME | col::STATE => problem.field.to_owned(),
        col::RUN_TIME_S => "run_time_seconds".to_owned(),
        other => format!("job.{}", wire_name(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtp_proto::v1::JobFeatures;

    fn event() -> JobEvent {
        JobEvent {
            job: Some(JobFeatures {
                job_id: "42".into(),
                submit_time: 1_700_000_000,
                nodes_req: 1,
                processors_req: 4,
                wallclock_req: 3600.0,
                user: "alice".into(),
                ..Default::default()
            }),
            start_time: 1_700_000_060,
            end_time: 1_700_000_660,
            run_time_seconds: None,
            state: "completed".into(),
            cluster: String::new(),
        }
    }

    #[test]
    fn an_ended_job_reads_with_its_outcome() {
        let job = job_from_event(&event()).unwrap();
        assert_eq!(job.job_id, "42");
        assert_eq!(job.user.as_deref(), Some("alice"));
        assert_eq!(
            (job.start_time, job.end_time),
            (Some(1_700_000_060), Some(1_700_000_660))
        );
        assert_eq!(job.state.as_deref(), Some("COMPLETED"));
        // Zero is proto3's "not set": a pending job has neither time.
        let pending = JobEvent {
            start_time: 0,
            end_time: 0,
            state: "PENDING".into(),
            ..event()
        };
        let job = job_from_event(&pending).unwrap();
        assert_eq!((job.start_time, job.end_time), (None, None));
    }

    #[test]
    fn an_event_without_identity_is_refused_with_its_field() {
        let mut e = event();
        e.job.as_mut().unwrap().submit_time = 0;
        assert_eq!(
            job_from_event(&e).unwrap_err().to_string(),
            "job.submit_time: missing"
        );
        let mut e = event();
        e.job.as_mut().unwrap().job_id.clear();
        assert_eq!(job_from_event(&e).unwrap_err().field, "job.job_id");
        let e = JobEvent {
            job: None,
            ..event()
        };
        assert_eq!(job_from_event(&e).unwrap_err().field, "job");
        let problem = Problem {
            field: col::WALLCLOCK_REQ_S,
            reason: String::new(),
        };
        assert_eq!(event_field(&problem), "job.wallclock_req");
    }
}
