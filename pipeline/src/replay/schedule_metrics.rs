//! What a simulated schedule did for its users: waits, bounded slowdown,
//! utilisation, and the cost of underestimates.

use std::collections::BTreeMap;

use rtp_bundle::manifest::{ReplayDay, ReplayRun};

use super::simulator::{Outcome, SimJob};

/// Runtimes below this count as this long in the bounded slowdown, so
/// that a job of a second waiting a minute does not dominate the mean
/// (Feitelson et al. 1997; 10 s is the usual choice).
pub const SLOWDOWN_BOUND_S: f64 = 10.0;

/// Summarises one simulated schedule of `jobs`.
pub fn summarise(
    estimates: &str,
    jobs: &[SimJob],
    outcomes: &[Outcome],
    processors: u32,
    daily: bool,
) -> ReplayRun {
    let n = jobs.len().max(1) as f64;
    let mut wait = 0.0;
    let mut slowdown = 0.0;
    let mut useful = 0.0;
    let mut wasted = 0.0;
    let mut killed = 0u64;
    let mut days: BTreeMap<i64, (u64, f64, f64)> = BTreeMap::new();
    for (job, outcome) in jobs.iter().zip(outcomes) {
        let response = (outcome.end - job.submit) as f64;
        let run = job.run as f64;
        let job_wait = response - run;
        let job_slowdown = (response / run.max(SLOWDOWN_BOUND_S)).max(1.0);
        wait += job_wait;
        slowdown += job_slowdown;
        useful += run * f64::from(job.procs);
        wasted += outcome.wasted as f64;
        killed += u64::from(outcome.killed > 0);
        if daily {
            let day = days
                .entry(job.submit.div_euclid(86_400) * 86_400)
                .or_default();
            day.0 += 1;
            day.1 += job_wait;
            day.2 += job_slowdown;
        }
    }
    let first_submit = jobs.iter().map(|j| j.submit).min().unwrap_or(0);
    let last_end = outcomes.iter().map(|o| o.end).max().unwrap_or(0);
    let span = (last_end - first_submit).max(1) as f64;
    ReplayRun {
        estimates: estimates.to_owned(),
        jobs: jobs.len() as u64,
        mean_wait_h: wait / n / 3_600.0,
        bounded_slowdown: slowdown / n,
        utilisation: useful / (span * f64::from(processors)),
        killed_share: killed as f64 / n,
        wasted_share: if useful > 0.0 { wasted / useful } else { 0.0 },
        daily: days
            .into_iter()
            .map(|(day_s, (jobs, wait, slowdown))| ReplayDay {
                day_s,
                jobs,
                mean_wait_h: wait / jobs as f64 / 3_600.0,
                bounded_slowdown: slowdown / jobs as f64,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_slowdowns_and_utilisation_by_hand() {
        // Two jobs on 4 processors: one of 100 s starts at once, one of
        // 5 s waits 100 s (slowdown bounded: 105 / 10).
        let jobs = [
            SimJob {
                submit: 0,
                run: 100,
                procs: 4,
                estimate: 100,
                fallback: 100,
            },
            SimJob {
                submit: 0,
                run: 5,
                procs: 2,
                estimate: 5,
                fallback: 5,
            },
        ];
        let outcomes = [
            Outcome {
                start: 0,
                end: 100,
                killed: 0,
                wasted: 0,
            },
            Outcome {
                start: 100,
                end: 105,
                killed: 1,
                wasted: 20,
            },
        ];
        let run = summarise("requests", &jobs, &outcomes, 4, true);
        assert_eq!(run.jobs, 2);
        assert!((run.mean_wait_h - 50.0 / 3_600.0).abs() < 1e-12);
        assert!((run.bounded_slowdown - (1.0 + 10.5) / 2.0).abs() < 1e-12);
        assert!((run.utilisation - 410.0 / (105.0 * 4.0)).abs() < 1e-12);
        assert_eq!(run.killed_share, 0.5);
        assert!((run.wasted_share - 20.0 / 410.0).abs() < 1e-12);
        assert_eq!(run.daily.len(), 1);
        assert_eq!(run.daily[0].jobs, 2);
    }
}
