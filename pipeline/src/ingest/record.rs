//! One job record as the readers produce it, and the checks every record must
//! pass before it enters the canonical table.

/// A job record in canonical units (seconds, MB, epoch seconds on the cluster clock).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobRecord {
    /// Scheduler job id (array tasks may share it).
    pub job_id: String,
    /// Submitting user.
    pub user: Option<String>,
    /// Charged account.
    pub account: Option<String>,
    /// Partition or queue.
    pub partition: Option<String>,
    /// Quality of service.
    pub qos: Option<String>,
    /// Requested wallclock, seconds (None: unlimited or unknown).
    pub wallclock_req_s: Option<f64>,
    /// Requested nodes.
    pub nodes_req: Option<i64>,
    /// Requested processors.
    pub processors_req: Option<i64>,
    /// Requested GPUs.
    pub gpus_req: Option<i64>,
    /// Requested memory for the whole job, MB.
    pub mem_req_mb: Option<f64>,
    /// Submit time, epoch seconds.
    pub submit_time: i64,
    /// Start time, epoch seconds.
    pub start_time: Option<i64>,
    /// End time, epoch seconds.
    pub end_time: Option<i64>,
    /// Run time, seconds.
    pub run_time_s: Option<f64>,
    /// Final state (Slurm vocabulary).
    pub state: String,
    /// Job name.
    pub name: Option<String>,
    /// Working directory.
    pub work_dir: Option<String>,
}

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

impl JobRecord {
    /// Fills derivable values and checks consistency: no negative requests,
    /// no job ending before it started or starting before it was submitted.
    pub fn finish(mut self) -> Result<Self, RowProblem> {
        if self.run_time_s.is_none()
            && let (Some(s), Some(e)) = (self.start_time, self.end_time)
        {
            self.run_time_s = Some((e - s) as f64);
        }
        if let (Some(s), Some(e)) = (self.start_time, self.end_time)
            && e < s
        {
            return Err(RowProblem::new(
                "end_time",
                format!("end time is {} s before start time", s - e),
            ));
        }
        if let Some(s) = self.start_time
            && s < self.submit_time
        {
            return Err(RowProblem::new(
                "start_time",
                format!(
                    "start time is {} s before submit time",
                    self.submit_time - s
                ),
            ));
        }
        for (field, value) in [
            ("nodes_req", self.nodes_req),
            ("processors_req", self.processors_req),
            ("gpus_req", self.gpus_req),
        ] {
            if value.is_some_and(|v| v < 0) {
                return Err(RowProblem::new(field, "negative value"));
            }
        }
        for (field, value) in [
            ("wallclock_req_s", self.wallclock_req_s),
            ("mem_req_mb", self.mem_req_mb),
            ("run_time_s", self.run_time_s),
        ] {
            if let Some(v) = value
                && (!v.is_finite() || v < 0.0)
            {
                return Err(RowProblem::new(field, format!("invalid value {v}")));
            }
        }
        if self.state.is_empty() {
            return Err(RowProblem::new("state", "empty state"));
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> JobRecord {
        JobRecord {
            job_id: "1".into(),
            submit_time: 100,
            start_time: Some(110),
            end_time: Some(170),
            state: "COMPLETED".into(),
            ..Default::default()
        }
    }

    #[test]
    fn derives_run_time_from_start_and_end() {
        assert_eq!(job().finish().unwrap().run_time_s, Some(60.0));
    }

    #[test]
    fn rejects_inconsistent_times_and_negative_requests() {
        let end_before_start = JobRecord {
            end_time: Some(105),
            ..job()
        };
        assert_eq!(end_before_start.finish().unwrap_err().field, "end_time");
        let start_before_submit = JobRecord {
            start_time: Some(90),
            ..job()
        };
        assert_eq!(
            start_before_submit.finish().unwrap_err().field,
            "start_time"
        );
        let negative_nodes = JobRecord {
            nodes_req: Some(-2),
            ..job()
        };
        assert_eq!(negative_nodes.finish().unwrap_err().field, "nodes_req");
        let nan_request = JobRecord {
            wallclock_req_s: Some(f64::NAN),
            ..job()
        };
        assert_eq!(nan_request.finish().unwrap_err().field, "wallclock_req_s");
    }
}
