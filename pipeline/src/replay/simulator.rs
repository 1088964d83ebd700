//! An event-driven simulator of one space-shared cluster: jobs arrive, wait
//! in one queue in arrival order, and run on a fixed number of processors,
//! under FCFS or FCFS with EASY backfilling.
//!
//! EASY (Lifka 1995): when the head of the queue does not fit, it gets a
//! reservation at the earliest time enough processors free up, computed
//! from the running jobs' *estimated* ends; a later job may start now if it
//! fits and either its estimated end is before that time or it uses only
//! processors the head will not need then. The estimates are what the run
//! compares (the user's request, a prediction, or the truth); the true
//! runtime only decides when a job really ends.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Queue discipline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// First come, first served: nothing passes a blocked head.
    Fcfs,
    /// FCFS with EASY backfilling, candidates tried in queue order.
    Easy,
    /// EASY backfilling trying the shortest estimates first (SJBF,
    /// Tsafrir et al. 2007), the order in which better estimates pay most.
    EasyShortestFirst,
}

/// What happens when a job runs past its estimate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overrun {
    /// The estimate is the job's limit: the job is killed when it reaches
    /// it and submitted again at once with its fallback (the user's own
    /// request) as estimate and limit; the killed attempt is wasted work.
    KillAndResubmit,
    /// The estimate only guides the scheduler: the job runs on, and the
    /// scheduler takes its fallback as the new estimate (Tsafrir et al.
    /// 2007's correction).
    Extend,
}

/// One job as the simulator sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimJob {
    /// Submit time, seconds.
    pub submit: i64,
    /// True runtime, seconds.
    pub run: i64,
    /// Processors it occupies.
    pub procs: u32,
    /// The scheduler's estimate of its runtime, seconds.
    pub estimate: i64,
    /// The estimate after an overrun (the user's request); a job never
    /// overruns past it, as the log's runtime is the truth.
    pub fallback: i64,
}

/// What became of one job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// Start of the attempt that completed.
    pub start: i64,
    /// Its end.
    pub end: i64,
    /// Attempts killed at an underestimated limit before it.
    pub killed: u32,
    /// Processor-seconds of killed attempts.
    pub wasted: i64,
}

#[derive(Debug, Clone, Copy)]
struct Running {
    job: usize,
    start: i64,
    /// When the job really stops (its end, or its kill).
    stop: i64,
    estimate: i64,
    killed: bool,
}

#[derive(Debug, Clone, Copy)]
struct Waiting {
    job: usize,
    estimate: i64,
}

/// Simulates `jobs` on `capacity` processors. Every job must fit
/// (`procs <= capacity`); outcomes are in the order of `jobs`.
pub fn simulate(capacity: u32, jobs: &[SimJob], policy: Policy, overrun: Overrun) -> Vec<Outcome> {
    assert!(
        jobs.iter().all(|j| j.procs <= capacity && j.procs > 0),
        "every job must fit the cluster"
    );
    let mut order: Vec<usize> = (0..jobs.len()).collect();
    order.sort_by_key(|&i| (jobs[i].submit, i));
    let mut arrivals = order.into_iter().peekable();
    let mut stops: BinaryHeap<Reverse<(i64, usize)>> = BinaryHeap::new();
    let mut running: Vec<Running> = Vec::new();
    let mut queue: Vec<Waiting> = Vec::new();
    let mut free = capacity;
    let mut outcomes = vec![
        Outcome {
            start: 0,
            end: 0,
            killed: 0,
            wasted: 0,
        };
        jobs.len()
    ];
    loop {
        let next_arrival = arrivals.peek().map(|&i| jobs[i].submit);
        let next_stop = stops.peek().map(|Reverse((t, _))| *t);
        let now = match (next_arrival, next_stop) {
            (None, None) => break,
            (Some(a), None) => a,
            (None, Some(s)) => s,
            (Some(a), Some(s)) => a.min(s),
        };
        while let Some(&Reverse((t, job))) = stops.peek() {
            if t > now {
                break;
            }
            stops.pop();
            let at = running
                .iter()
                .position(|r| r.job == job)
                .expect("a stop belongs to a running job");
            let done = running.swap_remove(at);
            free += jobs[job].procs;
            let outcome = &mut outcomes[job];
            if done.killed {
                outcome.killed += 1;
                outcome.wasted += (done.stop - done.start) * i64::from(jobs[job].procs);
                queue.push(Waiting {
                    job,
                    estimate: jobs[job].fallback,
                });
            } else {
                outcome.start = done.start;
                outcome.end = done.stop;
            }
        }
        while let Some(&job) = arrivals.peek() {
            if jobs[job].submit > now {
                break;
            }
            arrivals.next();
            queue.push(Waiting {
                job,
                estimate: jobs[job].estimate,
            });
        }
        if overrun == Overrun::Extend {
            for r in &mut running {
                if r.start + r.estimate <= now && r.estimate < jobs[r.job].fallback {
                    r.estimate = jobs[r.job].fallback;
                }
            }
        }
        let mut start = |w: Waiting, free: &mut u32, running: &mut Vec<Running>| {
            let job = &jobs[w.job];
            // Past its fallback a job runs on: the log says it was not stopped.
            let killed = overrun == Overrun::KillAndResubmit
                && job.run > w.estimate
                && w.estimate < job.fallback;
            let stop = now + if killed { w.estimate } else { job.run };
            *free -= job.procs;
            running.push(Running {
                job: w.job,
                start: now,
                stop,
                estimate: w.estimate,
                killed,
            });
            stops.push(Reverse((stop, w.job)));
        };
        schedule(
            now,
            policy,
            jobs,
            &mut queue,
            &mut running,
            &mut free,
            &mut start,
        );
    }
    outcomes
}

/// Starts what may start at `now`.
fn schedule(
    now: i64,
    policy: Policy,
    jobs: &[SimJob],
    queue: &mut Vec<Waiting>,
    running: &mut Vec<Running>,
    free: &mut u32,
    start: &mut impl FnMut(Waiting, &mut u32, &mut Vec<Running>),
) {
    let mut head = 0;
    while head < queue.len() && jobs[queue[head].job].procs <= *free {
        start(queue[head], free, running);
        head += 1;
    }
    queue.drain(..head);
    if queue.is_empty() || policy == Policy::Fcfs {
        return;
    }
    let (shadow, mut extra) = reservation(now, jobs[queue[0].job].procs, *free, running, jobs);
    // Candidates in queue order, or shortest estimate first (SJBF).
    let mut candidates: Vec<usize> = (1..queue.len()).collect();
    if policy == Policy::EasyShortestFirst {
        candidates.sort_by_key(|&i| (queue[i].estimate, i));
    }
    let mut started = vec![false; queue.len()];
    for i in candidates {
        let w = queue[i];
        let procs = jobs[w.job].procs;
        if procs > *free {
            continue;
        }
        let ends_in_time = now + w.estimate <= shadow;
        if ends_in_time || procs <= extra {
            if !ends_in_time {
                extra -= procs;
            }
            start(w, free, running);
            started[i] = true;
        }
    }
    let mut index = 0;
    queue.retain(|_| {
        index += 1;
        !started[index - 1]
    });
}

/// The head's reservation: the earliest time `needed` processors are free
/// by the running jobs' estimated ends, and how many are spare then.
fn reservation(
    now: i64,
    needed: u32,
    free: u32,
    running: &[Running],
    jobs: &[SimJob],
) -> (i64, u32) {
    let mut ends: Vec<(i64, u32)> = running
        .iter()
        // A job past its estimate is expected to end at any moment.
        .map(|r| ((r.start + r.estimate).max(now), jobs[r.job].procs))
        .collect();
    ends.sort_unstable();
    let mut available = free;
    for (end, procs) in ends {
        available += procs;
        if available >= needed {
            return (end, available - needed);
        }
    }
    unreachable!("a job that fits the cluster fits once every job has ended")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(submit: i64, run: i64, procs: u32, estimate: i64) -> SimJob {
        SimJob {
            submit,
            run,
            procs,
            estimate,
            fallback: estimate,
        }
    }

    fn starts(outcomes: &[Outcome]) -> Vec<i64> {
        outcomes.iter().map(|o| o.start).collect()
    }

    /// 10 processors. A (8 procs, 0–100) runs; B (6 procs) must wait for
    /// it and is reserved at 100; C (2 procs, estimate 50) fits beside A
    /// and ends before 100, so EASY starts it at once; FCFS keeps it
    /// behind B.
    #[test]
    fn a_short_job_is_backfilled_before_the_reservation() {
        let jobs = [job(0, 100, 8, 100), job(1, 100, 6, 100), job(2, 50, 2, 50)];
        let easy = simulate(10, &jobs, Policy::Easy, Overrun::KillAndResubmit);
        assert_eq!(starts(&easy), vec![0, 100, 2]);
        assert_eq!(easy[2].end, 52);
        let fcfs = simulate(10, &jobs, Policy::Fcfs, Overrun::KillAndResubmit);
        assert_eq!(starts(&fcfs), vec![0, 100, 100]);
    }

    /// C would end after B's reservation and needs processors B needs:
    /// it is blocked; D, as long but narrow enough for the spare ones,
    /// is backfilled.
    #[test]
    fn a_job_that_would_delay_the_head_is_blocked() {
        // 10 procs: A 8 procs 0–100; B needs 9 (reserved at 100, 1 spare).
        let jobs = [
            job(0, 100, 8, 100),
            job(1, 50, 9, 50),
            job(2, 300, 2, 300), // C: ends past 100, 2 > 1 spare
            job(3, 300, 1, 300), // D: ends past 100, 1 <= 1 spare
        ];
        let easy = simulate(10, &jobs, Policy::Easy, Overrun::KillAndResubmit);
        assert_eq!(easy[3].start, 3, "D is backfilled on the spare processor");
        assert_eq!(easy[1].start, 100, "B starts at its reservation");
        // C waits for B (100–150) and then needs 2 of the 1 + 9 free.
        assert_eq!(easy[2].start, 150);
    }

    /// A job whose estimate is too short is killed at it and runs again
    /// with its fallback; its wait counts from the first submit.
    #[test]
    fn an_underestimated_job_is_killed_and_resubmitted() {
        let jobs = [SimJob {
            submit: 0,
            run: 100,
            procs: 4,
            estimate: 60,
            fallback: 200,
        }];
        let killed = simulate(4, &jobs, Policy::Easy, Overrun::KillAndResubmit);
        assert_eq!(
            killed[0],
            Outcome {
                start: 60,
                end: 160,
                killed: 1,
                wasted: 240
            }
        );
        let extended = simulate(4, &jobs, Policy::Easy, Overrun::Extend);
        assert_eq!(
            extended[0],
            Outcome {
                start: 0,
                end: 100,
                killed: 0,
                wasted: 0
            }
        );
    }

    /// With an extended estimate the reservation moves: once A passes its
    /// estimate of 50, the scheduler expects it until its fallback, 200,
    /// so a job ending before 200 may backfill.
    #[test]
    fn an_overrun_moves_the_reservation_to_the_fallback() {
        let jobs = [
            SimJob {
                submit: 0,
                run: 150,
                procs: 8,
                estimate: 50,
                fallback: 200,
            },
            job(60, 100, 9, 100), // B: blocked, reserved, 1 processor spare
            job(61, 100, 2, 100), // C: ends at 161 <= 200 only after the correction
        ];
        let easy = simulate(10, &jobs, Policy::Easy, Overrun::Extend);
        assert_eq!(easy[2].start, 61);
        // A ends at 150, but C holds 2 of the 9 B needs until 161.
        assert_eq!(easy[1].start, 161);
        let mut uncorrected = jobs;
        uncorrected[0].fallback = 50;
        let easy = simulate(10, &uncorrected, Policy::Easy, Overrun::Extend);
        assert_eq!(easy[2].start, 250, "without the correction C is blocked");
        assert_eq!(easy[1].start, 150);
    }

    /// Two candidates fit the same two processors: EASY takes the first
    /// in the queue, SJBF the shorter.
    #[test]
    fn sjbf_backfills_the_shortest_estimate_first() {
        let jobs = [
            job(0, 100, 8, 100),
            job(1, 100, 10, 100), // B: reserved at 100, nothing spare
            job(2, 90, 2, 90),    // C: first in the queue
            job(2, 50, 2, 50),    // D: shorter
        ];
        let easy = simulate(10, &jobs, Policy::Easy, Overrun::KillAndResubmit);
        assert_eq!((easy[2].start, easy[3].start), (2, 200));
        let sjbf = simulate(
            10,
            &jobs,
            Policy::EasyShortestFirst,
            Overrun::KillAndResubmit,
        );
        assert_eq!((sjbf[2].start, sjbf[3].start), (200, 2));
    }

    /// When every job needs the whole machine nothing can backfill, and
    /// EASY schedules exactly as FCFS.
    #[test]
    fn fcfs_equals_easy_when_nothing_can_backfill() {
        let jobs: Vec<SimJob> = (0..50)
            .map(|i| job(i * 7, 10 + (i * 37) % 90, 16, 100))
            .collect();
        assert_eq!(
            simulate(16, &jobs, Policy::Easy, Overrun::KillAndResubmit),
            simulate(16, &jobs, Policy::Fcfs, Overrun::KillAndResubmit)
        );
    }
}
