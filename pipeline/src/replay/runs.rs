//! The schedules a replay compares: the same jobs with the users' requests,
//! the model's suggestions as limits, the model's predictions as the
//! scheduler's estimates (the requests staying the limits), and their true
//! runtimes.

use rtp_bundle::manifest::ReplayRun;

use super::schedule_metrics::summarise;
use super::simulator::{Overrun, Policy, SimJob, simulate};

/// A job of the trace as the replay needs it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TraceJob {
    /// Submit time, Unix seconds.
    pub submit: i64,
    /// Runtime in the log, seconds.
    pub run: i64,
    /// Processors.
    pub procs: u32,
    /// The user's requested limit, seconds (`None`: none given).
    pub request: Option<i64>,
    /// The model's suggested limit (from its p90), seconds (`None`: not
    /// predicted).
    pub suggestion: Option<i64>,
    /// The model's median prediction in whole minutes, seconds (`None`:
    /// not predicted).
    pub prediction: Option<i64>,
}

/// Which estimates a run gives the scheduler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Estimates {
    /// The users' requests.
    Requests,
    /// The model's suggestions, capped at the request, as limits.
    Suggestions,
    /// The model's p50 as the scheduler's estimate; the request stays the
    /// limit, and a job that outlives its estimate is expected until its
    /// request (system-generated predictions, Tsafrir et al. 2007).
    Predictions,
    /// The true runtimes.
    Perfect,
}

impl Estimates {
    /// The name in tables and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::Requests => "requests",
            Self::Suggestions => "suggestions",
            Self::Predictions => "predictions",
            Self::Perfect => "perfect",
        }
    }
}

/// The suggested limit from a p90 runtime: rounded up to Slurm's whole
/// minutes, at least one, and never above the request (a suggestion
/// lowers a limit, it does not raise it).
pub fn suggested_limit(p90_s: f64, request_s: Option<i64>) -> i64 {
    let minutes = (p90_s.max(0.0) / 60.0).ceil().max(1.0) as i64;
    let limit = minutes * 60;
    request_s.map_or(limit, |r| limit.min(r.max(60)))
}

/// The jobs as the simulator sees them under `estimates`. A job without a
/// request gets the longest request of the trace (the site's longest
/// limit stands in for the default it was given).
pub fn sim_jobs(jobs: &[TraceJob], estimates: Estimates) -> Vec<SimJob> {
    let longest = jobs.iter().filter_map(|j| j.request).max();
    jobs.iter()
        .map(|j| {
            let request = j.request.or(longest).unwrap_or(j.run).max(1);
            let estimate = match estimates {
                Estimates::Requests => request,
                Estimates::Suggestions => j.suggestion.map_or(request, |s| s.min(request)),
                Estimates::Predictions => j.prediction.map_or(request, |p| p.min(request)),
                Estimates::Perfect => j.run.max(1),
            };
            SimJob {
                submit: j.submit,
                run: j.run,
                procs: j.procs,
                estimate,
                fallback: request.max(estimate),
            }
        })
        .collect()
}

/// Schedules `jobs` once per entry of `which` and summarises each run;
/// `overrun` is what the suggestions' run does with a job that outlives
/// its limit (predictions are never limits: they are corrected).
pub fn run_all(
    jobs: &[TraceJob],
    which: &[Estimates],
    processors: u32,
    policy: Policy,
    overrun: Overrun,
    daily: bool,
) -> Vec<ReplayRun> {
    which
        .iter()
        .map(|&estimates| {
            let sim = sim_jobs(jobs, estimates);
            let overrun = match estimates {
                Estimates::Predictions => Overrun::Extend,
                _ => overrun,
            };
            let outcomes = simulate(processors, &sim, policy, overrun);
            summarise(estimates.name(), &sim, &outcomes, processors, daily)
        })
        .collect()
}

/// The most processors the log's own schedule had busy at once: the
/// cluster's size when the trace does not declare it.
pub fn peak_in_use(intervals: impl IntoIterator<Item = (i64, i64, u32)>) -> u32 {
    let mut changes: Vec<(i64, i64)> = Vec::new();
    for (start, end, procs) in intervals {
        if end > start {
            changes.push((start, i64::from(procs)));
            changes.push((end, -i64::from(procs)));
        }
    }
    // Ends before starts at the same second: a node freed is reused.
    changes.sort_unstable_by_key(|&(t, delta)| (t, delta));
    let mut busy = 0i64;
    let mut peak = 0i64;
    for (_, delta) in changes {
        busy += delta;
        peak = peak.max(busy);
    }
    peak as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_are_whole_minutes_under_the_request() {
        assert_eq!(suggested_limit(61.0, Some(3_600)), 120);
        assert_eq!(suggested_limit(5.0, Some(3_600)), 60);
        assert_eq!(suggested_limit(7_200.0, Some(3_600)), 3_600);
        assert_eq!(suggested_limit(7_200.0, None), 7_200);
    }

    #[test]
    fn estimates_per_run_and_a_missing_request() {
        let jobs = [
            TraceJob {
                submit: 0,
                run: 100,
                procs: 1,
                request: Some(1_000),
                suggestion: Some(180),
                prediction: Some(120),
            },
            TraceJob {
                submit: 5,
                run: 50,
                procs: 1,
                request: None,
                suggestion: None,
                prediction: None,
            },
        ];
        let estimates = |e| -> Vec<(i64, i64)> {
            sim_jobs(&jobs, e)
                .iter()
                .map(|s| (s.estimate, s.fallback))
                .collect()
        };
        assert_eq!(
            estimates(Estimates::Requests),
            [(1_000, 1_000), (1_000, 1_000)]
        );
        assert_eq!(
            estimates(Estimates::Suggestions),
            [(180, 1_000), (1_000, 1_000)]
        );
        assert_eq!(
            estimates(Estimates::Predictions),
            [(120, 1_000), (1_000, 1_000)]
        );
        assert_eq!(estimates(Estimates::Perfect), [(100, 1_000), (50, 1_000)]);
    }

    #[test]
    fn the_peak_counts_overlaps_only() {
        // 0–10 on 4, 5–15 on 4, 10–20 on 8: at most 12 busy (10–15).
        assert_eq!(peak_in_use([(0, 10, 4), (5, 15, 4), (10, 20, 8)]), 12);
        assert_eq!(peak_in_use([(0, 10, 4), (10, 20, 4)]), 4);
    }
}
