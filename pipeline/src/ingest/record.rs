//! Why a source row was set aside, and the one check ([`rtp_jobs::rules`])
//! every record passes before it enters the canonical table.

use rtp_jobs::{Job, Problems, Purpose};

/// Why a record was rejected: the field at fault and a reason a person can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowProblem {
    /// Field name as the source spells it (or the canonical name).
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

impl RowProblem {
    /// A problem with `field`.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// A row with the wrong number of fields.
    pub fn field_count(expected: usize, found: usize) -> Self {
        Self::new(
            "(row)",
            format!("missing field: expected {expected} fields, found {found}"),
        )
    }
}

impl From<Problems> for RowProblem {
    /// The first problem: one is enough to set a row aside, and it is the
    /// first the rules state.
    fn from(problems: Problems) -> Self {
        match problems.first() {
            Some(p) => Self::new(p.field, p.reason.clone()),
            None => Self::new("(row)", "rejected"),
        }
    }
}

/// A source's record as it enters the table: normalized and checked as a
/// history record.
pub fn checked(job: Job) -> Result<Job, RowProblem> {
    Ok(job.validated(Purpose::History)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> Job {
        Job {
            job_id: "1".into(),
            submit_time: Some(100),
            start_time: Some(110),
            end_time: Some(170),
            state: Some("COMPLETED".into()),
            ..Default::default()
        }
    }

    #[test]
    fn derives_run_time_from_start_and_end() {
        assert_eq!(checked(job()).unwrap().run_time_s, Some(60.0));
    }

    #[test]
    fn rejects_inconsistent_times_and_negative_requests() {
        let end_before_start = Job {
            end_time: Some(105),
            ..job()
        };
        assert_eq!(checked(end_before_start).unwrap_err().field, "end_time");
        let start_before_submit = Job {
            start_time: Some(90),
            ..job()
        };
        assert_eq!(
            checked(start_before_submit).unwrap_err().field,
            "start_time"
        );
        let negative_nodes = Job {
            nodes_req: Some(-2),
            ..job()
        };
        assert_eq!(checked(negative_nodes).unwrap_err().field, "nodes_req");
        let nan_request = Job {
            wallclock_req_s: Some(f64::NAN),
            ..job()
        };
        assert_eq!(checked(nan_request).unwrap_err().field, "wallclock_req_s");
    }
}
