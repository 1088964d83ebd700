//! The rules every job must pass, stated once for every surface: ingest,
//! the scoring core (Flight and the edge), the dashboard's upload.
//!
//! What is **unknown** is not an error: it becomes `None`. A memory
//! request of 0 (Slurm's `--mem=0`, "all of a node's memory") and a
//! wallclock limit of 0 (Slurm's "no limit") say nothing about the amount.
//! What is **an error** is a value no real job has: fewer than one node or
//! processor, a negative or non-finite quantity, a time outside the
//! calendar, a job that ends before it starts. Scoring needs four values a
//! history record may lack; [`Purpose`] says which rules apply.

use std::fmt;

use crate::job::Job;
use crate::schema::col;

/// Longest wallclock request taken, seconds (about 31 years: longer than
/// any machine lives). Beyond it a request is an input error, not a job.
pub const MAX_WALLCLOCK_REQ_S: f64 = 1e9;

/// Latest time taken, Unix seconds (9999-12-31T23:59:59Z): later times
/// have no calendar date, and adding a runtime to them overflows.
pub const MAX_TIME_S: i64 = 253_402_300_799;

/// Values a job must carry to be scored: the model's inputs that have no
/// stand-in.
pub const REQUIRED_FOR_SCORING: [&str; 4] = [
    col::SUBMIT_TIME,
    col::WALLCLOCK_REQ_S,
    col::NODES_REQ,
    col::PROCESSORS_REQ,
];

/// Values a job must carry to be scored by a model that learned from jobs
/// without a requested time (sites that enforce no limit record none).
pub const REQUIRED_FOR_SCORING_WITHOUT_REQUEST: [&str; 3] =
    [col::SUBMIT_TIME, col::NODES_REQ, col::PROCESSORS_REQ];

/// Values a history record must carry.
pub const REQUIRED_FOR_HISTORY: [&str; 2] = [col::SUBMIT_TIME, col::STATE];

/// What a job is checked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A record of a scheduler's log: its outcome may be known.
    History,
    /// A job to be scored: its request must be complete.
    Scoring,
    /// A job to be scored by a model that learned from jobs without a
    /// requested time: the rest of the request must be complete.
    ScoringWithoutRequest,
}

impl Purpose {
    /// The values this purpose cannot do without.
    pub fn required(self) -> &'static [&'static str] {
        match self {
            Self::History => &REQUIRED_FOR_HISTORY,
            Self::Scoring => &REQUIRED_FOR_SCORING,
            Self::ScoringWithoutRequest => &REQUIRED_FOR_SCORING_WITHOUT_REQUEST,
        }
    }
}

/// One value that breaks a rule: the canonical column and a reason a
/// person can act on.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// Canonical column name ([`col`]); surfaces rename it to their own.
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

/// Every problem of one job, in the order the rules are stated.
#[derive(Debug, Clone, Default, PartialEq, thiserror::Error)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    /// The first problem, if any.
    pub fn first(&self) -> Option<&Problem> {
        self.0.first()
    }

    /// True when the job passes every rule.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The problems as text, each field renamed by `name` (a surface's own
    /// spelling of a canonical column).
    pub fn describe(&self, name: impl Fn(&'static str) -> String) -> String {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|p| format!("{}: {}", name(p.field), p.reason))
            .collect();
        parts.join("; ")
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe(str::to_owned))
    }
}

impl<S: AsRef<str>> Job<S> {
    /// The job with unknowns made explicit and derivable values filled in:
    /// zero memory and zero wallclock become unknown, the run time comes
    /// from start and end when only they are known.
    pub fn normalized(mut self) -> Self {
        self.mem_req_mb = self.mem_req_mb.filter(|&m| m != 0.0);
        self.wallclock_req_s = self.wallclock_req_s.filter(|&w| w != 0.0);
        // An end before the start is left for the rules to name.
        if self.run_time_s.is_none()
            && let (Some(s), Some(e)) = (self.start_time, self.end_time)
            && e >= s
        {
            self.run_time_s = Some(e.saturating_sub(s) as f64);
        }
        self
    }

    /// The job normalized, or every rule it breaks for `purpose`.
    pub fn validated(self, purpose: Purpose) -> Result<Self, Problems> {
        let job = self.normalized();
        let problems = job.problems(purpose);
        if problems.is_empty() {
            Ok(job)
        } else {
            Err(problems)
        }
    }

    /// Every rule the job, as it is, breaks for `purpose`.
    pub fn problems(&self, purpose: Purpose) -> Problems {
        let mut found = Vec::new();
        let mut fail = |field: &'static str, reason: String| found.push(Problem { field, reason });
        for &field in purpose.required() {
            if !self.has(field) {
                fail(field, "missing".into());
            }
        }
        for (field, value) in [
            (col::SUBMIT_TIME, self.submit_time),
            (col::START_TIME, self.start_time),
            (col::END_TIME, self.end_time),
        ] {
            if let Some(t) = value.filter(|t| !(0..=MAX_TIME_S).contains(t)) {
                fail(
                    field,
                    format!("must be Unix seconds between 1970 and 9999 (got {t})"),
                );
            }
        }
        if let (Some(submit), Some(start)) = (self.submit_time, self.start_time)
            && start < submit
        {
            fail(
                col::START_TIME,
                format!(
                    "start time is {} s before submit time",
                    submit.saturating_sub(start)
                ),
            );
        }
        if let (Some(start), Some(end)) = (self.start_time, self.end_time)
            && end < start
        {
            fail(
                col::END_TIME,
                format!(
                    "end time is {} s before start time",
                    start.saturating_sub(end)
                ),
            );
        }
        for (field, value) in [
            (col::NODES_REQ, self.nodes_req),
            (col::PROCESSORS_REQ, self.processors_req),
        ] {
            if let Some(v) = value.filter(|&v| v < 1) {
                fail(field, format!("must be at least 1 (got {v})"));
            }
        }
        if let Some(v) = self.gpus_req.filter(|&v| v < 0) {
            fail(col::GPUS_REQ, format!("must not be negative (got {v})"));
        }
        if let Some(w) = self.wallclock_req_s {
            if !w.is_finite() {
                fail(col::WALLCLOCK_REQ_S, format!("must be finite (got {w})"));
            } else if w <= 0.0 {
                fail(col::WALLCLOCK_REQ_S, format!("must be positive (got {w})"));
            } else if w > MAX_WALLCLOCK_REQ_S {
                fail(
                    col::WALLCLOCK_REQ_S,
                    format!("must be at most {MAX_WALLCLOCK_REQ_S:e} seconds (got {w:e})"),
                );
            }
        }
        // Without the value: surfaces take these in their own units.
        for (field, value) in [
            (col::MEM_REQ_MB, self.mem_req_mb),
            (col::RUN_TIME_S, self.run_time_s),
        ] {
            match value {
                Some(v) if !v.is_finite() => fail(field, "must be finite".into()),
                Some(v) if v < 0.0 => fail(field, "must not be negative".into()),
                _ => {}
            }
        }
        Problems(found)
    }

    /// Whether `field` holds a value (text counts only when not empty).
    fn has(&self, field: &str) -> bool {
        let text = |v: &Option<S>| v.as_ref().is_some_and(|s| !s.as_ref().is_empty());
        match field {
            col::SUBMIT_TIME => self.submit_time.is_some(),
            col::WALLCLOCK_REQ_S => self.wallclock_req_s.is_some(),
            col::NODES_REQ => self.nodes_req.is_some(),
            col::PROCESSORS_REQ => self.processors_req.is_some(),
            col::STATE => text(&self.state),
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending() -> Job<&'static str> {
        Job {
            submit_time: Some(1_700_000_000),
            wallclock_req_s: Some(3600.0),
            nodes_req: Some(1),
            processors_req: Some(36),
            ..Default::default()
        }
    }

    fn ended() -> Job<&'static str> {
        Job {
            start_time: Some(1_700_000_010),
            end_time: Some(1_700_000_070),
            state: Some("COMPLETED"),
            ..pending()
        }
    }

    fn first_problem(job: Job<&str>, purpose: Purpose) -> String {
        job.validated(purpose)
            .unwrap_err()
            .first()
            .unwrap()
            .to_string()
    }

    #[test]
    fn a_complete_job_passes_both_purposes_and_derives_its_run_time() {
        assert_eq!(
            ended().validated(Purpose::History).unwrap().run_time_s,
            Some(60.0)
        );
        pending().validated(Purpose::Scoring).unwrap();
    }

    #[test]
    fn zero_memory_and_zero_wallclock_are_unknown_not_errors() {
        let job = Job {
            mem_req_mb: Some(0.0),
            wallclock_req_s: Some(0.0),
            ..ended()
        };
        let history = job.validated(Purpose::History).unwrap();
        assert_eq!((history.mem_req_mb, history.wallclock_req_s), (None, None));
        // Unknown is not enough to score on.
        assert_eq!(
            first_problem(job, Purpose::Scoring),
            "wallclock_req_s: missing"
        );
    }

    #[test]
    fn scoring_needs_the_request_and_history_needs_the_state() {
        let empty = Job::<&str>::default();
        let scoring = empty.problems(Purpose::Scoring).to_string();
        assert_eq!(
            scoring,
            "submit_time: missing; wallclock_req_s: missing; nodes_req: missing; processors_req: missing"
        );
        let no_state = Job {
            state: Some(""),
            ..ended()
        };
        assert_eq!(first_problem(no_state, Purpose::History), "state: missing");
        // A history record may lack a request.
        Job {
            nodes_req: None,
            wallclock_req_s: None,
            ..ended()
        }
        .validated(Purpose::History)
        .unwrap();
    }

    #[test]
    fn values_no_real_job_has_are_named() {
        type Spoil = fn(&mut Job<&'static str>);
        let cases: [(Spoil, &str); 10] = [
            (
                |j| j.nodes_req = Some(0),
                "nodes_req: must be at least 1 (got 0)",
            ),
            (
                |j| j.processors_req = Some(-4),
                "processors_req: must be at least 1 (got -4)",
            ),
            (
                |j| j.gpus_req = Some(-1),
                "gpus_req: must not be negative (got -1)",
            ),
            (
                |j| j.wallclock_req_s = Some(f64::NAN),
                "wallclock_req_s: must be finite (got NaN)",
            ),
            (
                |j| j.wallclock_req_s = Some(-5.0),
                "wallclock_req_s: must be positive (got -5)",
            ),
            (
                |j| j.wallclock_req_s = Some(1e300),
                "wallclock_req_s: must be at most 1e9 seconds (got 1e300)",
            ),
            (
                |j| j.mem_req_mb = Some(-1.0),
                "mem_req_mb: must not be negative",
            ),
            (
                |j| j.submit_time = Some(i64::MAX),
                "submit_time: must be Unix seconds between 1970 and 9999",
            ),
            (
                |j| j.start_time = Some(1_699_999_990),
                "start_time: start time is 10 s before",
            ),
            (
                |j| j.end_time = Some(1_700_000_000),
                "end_time: end time is 10 s before",
            ),
        ];
        for (spoil, expected) in cases {
            let mut job = ended();
            spoil(&mut job);
            let found = first_problem(job, Purpose::History);
            assert!(found.starts_with(expected), "{found} vs {expected}");
        }
        let last = Job {
            submit_time: Some(MAX_TIME_S),
            ..pending()
        };
        last.validated(Purpose::Scoring).unwrap();
    }

    #[test]
    fn problems_are_described_in_a_surface_s_own_names() {
        let job = Job {
            nodes_req: Some(0),
            mem_req_mb: Some(-1.0),
            ..pending()
        };
        let text = job
            .problems(Purpose::Scoring)
            .describe(|f| format!("features.{}", f.trim_end_matches("_mb")));
        assert_eq!(
            text,
            "features.nodes_req: must be at least 1 (got 0); features.mem_req: must not be negative"
        );
    }
}
