//! One job record in canonical units: seconds, MB for the whole job, Unix
//! seconds on the cluster's clock. `None` is unknown.
//!
//! The record is generic over its text so a server can read a job out of a
//! request or a batch without copying strings (`Job<&str>`), while readers
//! and event logs own theirs (`Job<String>`, the default).

/// A job: its request, and its outcome as far as it is known.
///
/// Serialised (serde) with its field names, as servers store job records.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Job<S = String> {
    /// Key of the record within a table (assigned at ingest; a client's
    /// own key when scoring).
    pub job_key: Option<i64>,
    /// The scheduler's job id; array tasks may share it.
    pub job_id: S,
    /// Submitting user.
    pub user: Option<S>,
    /// Charged account (or group).
    pub account: Option<S>,
    /// Partition (or queue).
    pub partition: Option<S>,
    /// Quality of service.
    pub qos: Option<S>,
    /// Requested wallclock limit, seconds (`None`: unlimited or unknown).
    pub wallclock_req_s: Option<f64>,
    /// Requested nodes.
    pub nodes_req: Option<i64>,
    /// Requested processors (cores).
    pub processors_req: Option<i64>,
    /// Requested GPUs.
    pub gpus_req: Option<i64>,
    /// Requested memory for the whole job, MB.
    pub mem_req_mb: Option<f64>,
    /// Submit time.
    pub submit_time: Option<i64>,
    /// Start time; `None` when the job has not started.
    pub start_time: Option<i64>,
    /// End time; `None` while pending or running.
    pub end_time: Option<i64>,
    /// Run time, seconds (end − start when both are known).
    pub run_time_s: Option<f64>,
    /// State in Slurm's vocabulary (COMPLETED, TIMEOUT, PENDING, …).
    pub state: Option<S>,
    /// Job name.
    pub name: Option<S>,
    /// Working directory.
    pub work_dir: Option<S>,
}

impl<S: AsRef<str>> Job<S> {
    /// The same job with its text mapped by `text`.
    pub fn map_text<'a, T>(&'a self, text: impl Fn(&'a str) -> T) -> Job<T> {
        let map = |v: &'a Option<S>| v.as_ref().map(|s| text(s.as_ref()));
        Job {
            job_key: self.job_key,
            job_id: text(self.job_id.as_ref()),
            user: map(&self.user),
            account: map(&self.account),
            partition: map(&self.partition),
            qos: map(&self.qos),
            wallclock_req_s: self.wallclock_req_s,
            nodes_req: self.nodes_req,
            processors_req: self.processors_req,
            gpus_req: self.gpus_req,
            mem_req_mb: self.mem_req_mb,
            submit_time: self.submit_time,
            start_time: self.start_time,
            end_time: self.end_time,
            run_time_s: self.run_time_s,
            state: map(&self.state),
            name: map(&self.name),
            work_dir: map(&self.work_dir),
        }
    }

    /// The same job, borrowing its text.
    pub fn as_borrowed(&self) -> Job<&str> {
        self.map_text(|s| s)
    }

    /// The same job owning its text.
    pub fn to_owned_job(&self) -> Job<String> {
        self.map_text(str::to_owned)
    }

    /// The job as it is known at its submit time: outcomes cleared, the
    /// state pending. What a server scores, whatever the client sent.
    pub fn at_submit(&self) -> Job<&str> {
        Job {
            start_time: None,
            end_time: None,
            run_time_s: None,
            state: Some(crate::schema::SCORING_STATE),
            ..self.as_borrowed()
        }
    }
}

/// A borrowed job made owning, for APIs that take either.
impl From<Job<&str>> for Job {
    fn from(job: Job<&str>) -> Self {
        job.to_owned_job()
    }
}
