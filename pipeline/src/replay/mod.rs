//! `rtp replay`: how much sooner jobs would start with tighter limits.
//!
//! The jobs of the test period are scheduled again by a simulated cluster
//! (FCFS with EASY backfilling, or plain FCFS) four times: with the users'
//! requests as limits, with the model's suggestions as limits (its p90,
//! from the state known at each submit, capped at the request), with its
//! p50 as the scheduler's estimate and the request as the limit, and with
//! perfect knowledge. The whole trace is also scheduled with requests and with
//! perfect knowledge, to set the simulator beside published figures.

mod report;
pub mod runs;
pub mod schedule_metrics;
pub mod simulator;

use std::collections::{BTreeMap, HashMap};

pub use report::render_replay;
use rtp_bundle::manifest::SchedulingReplay;
use rtp_jobs::{Job, JobRows, JobTable};
pub use runs::{Estimates, TraceJob, peak_in_use, run_all, suggested_limit};
pub use simulator::{Overrun, Policy};

use crate::error::{PipelineError, Result};

/// How the cluster is simulated; the default is `rtp replay`'s (EASY,
/// underestimates killed and resubmitted, the size from the trace).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayOptions {
    /// Queue discipline.
    pub policy: Policy,
    /// What an underestimated job does.
    pub overrun: Overrun,
    /// Processors (default: the trace's header, else its peak use).
    pub processors: Option<u32>,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        Self {
            policy: Policy::Easy,
            overrun: Overrun::KillAndResubmit,
            processors: None,
        }
    }
}

impl Policy {
    /// The name in tables and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::Fcfs => "fcfs",
            Self::Easy => "easy",
            Self::EasyShortestFirst => "easy-sjbf",
        }
    }
}

impl Overrun {
    /// The name in tables and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::KillAndResubmit => "kill",
            Self::Extend => "extend",
        }
    }
}

/// The cluster's size: the one given, else the one the trace declares,
/// else the most processors the log's own schedule had busy at once.
pub fn cluster_processors(
    given: Option<u32>,
    declared: Option<u32>,
    jobs: &JobRows<'_>,
) -> Result<(u32, &'static str)> {
    let found = match (given, declared) {
        (Some(n), _) => (n, "given"),
        (None, Some(n)) => (n, "the trace's header"),
        (None, None) => (
            peak_in_use(
                jobs.iter()
                    .filter_map(|j| Some((j.start_time?, j.end_time?, processors(&j)?))),
            ),
            "the log's peak use",
        ),
    };
    if found.0 == 0 {
        return Err(PipelineError::NotEnoughData(
            "the cluster's size is unknown: the trace declares none and no job has a start, an end and processors; give --processors".into(),
        ));
    }
    Ok(found)
}

fn processors<S>(job: &Job<S>) -> Option<u32> {
    job.processors_req
        .filter(|&p| p > 0)
        .and_then(|p| u32::try_from(p).ok())
}

/// The model's p50 and p90 of a job, seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Predicted {
    /// The median.
    pub p50: f64,
    /// The upper end of the interval.
    pub p90: f64,
}

/// The jobs of `jobs` submitted at or after `from`, as the replay needs
/// them, with their suggestions and predictions from `predicted`; those it
/// cannot simulate are counted by reason.
pub fn trace_jobs(
    jobs: &JobRows<'_>,
    from: i64,
    processors_total: u32,
    predicted: &HashMap<i64, Predicted>,
) -> (Vec<TraceJob>, BTreeMap<String, u64>) {
    let mut kept = Vec::new();
    let mut skipped: BTreeMap<String, u64> = BTreeMap::new();
    let mut skip = |reason: &str| *skipped.entry(reason.to_owned()).or_default() += 1;
    for job in jobs.iter() {
        let Some(submit) = job.submit_time.filter(|&s| s >= from) else {
            continue;
        };
        let Some(run) = job.run_time_s.filter(|r| *r >= 0.0) else {
            skip("runtime unknown");
            continue;
        };
        let Some(procs) = processors(&job) else {
            skip("processors unknown");
            continue;
        };
        if procs > processors_total {
            skip("wider than the cluster");
            continue;
        }
        let request = job
            .wallclock_req_s
            .filter(|r| *r > 0.0)
            .map(|r| r.round() as i64);
        let model = job.job_key.and_then(|k| predicted.get(&k));
        kept.push(TraceJob {
            submit,
            run: run.round() as i64,
            procs,
            request,
            suggestion: model.map(|p| suggested_limit(p.p90, request)),
            prediction: model.map(|p| suggested_limit(p.p50, request)),
        });
    }
    (kept, skipped)
}

/// Replays the test period (jobs submitted from `test_from`, with the
/// model's predictions of them) and the whole trace.
pub fn replay(
    jobs: &JobTable,
    test_from: i64,
    predicted: &HashMap<i64, Predicted>,
    declared: Option<u32>,
    options: ReplayOptions,
) -> Result<SchedulingReplay> {
    let jobs = jobs.rows();
    let (processors, processors_from) = cluster_processors(options.processors, declared, &jobs)?;
    let (test, skipped) = trace_jobs(&jobs, test_from, processors, predicted);
    if test.is_empty() {
        return Err(PipelineError::NotEnoughData(
            "no job of the test period can be simulated".into(),
        ));
    }
    let (whole, _) = trace_jobs(&jobs, i64::MIN, processors, &HashMap::new());
    let all = [
        Estimates::Requests,
        Estimates::Suggestions,
        Estimates::Predictions,
        Estimates::Perfect,
    ];
    Ok(SchedulingReplay {
        policy: options.policy.name().to_owned(),
        overrun: options.overrun.name().to_owned(),
        processors,
        processors_from: processors_from.to_owned(),
        skipped,
        runs: run_all(
            &test,
            &all,
            processors,
            options.policy,
            options.overrun,
            true,
        ),
        whole_trace: run_all(
            &whole,
            &[Estimates::Requests, Estimates::Perfect],
            processors,
            options.policy,
            options.overrun,
            false,
        ),
    })
}
