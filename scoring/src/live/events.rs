//! Job events: a job record with whatever is known of the job so far.
//!
//! Events of one job are merged into one record, keyed by cluster, job id
//! (array index included) and submit time: a scheduler may reuse job ids,
//! never with the same submit second. An event that carries a `job_key`
//! (a job table's own numbering) is keyed by it too, which tells apart
//! array tasks whose log gives them one id. A merge only adds what was unknown,
//! so the same event twice changes nothing and the parts of a job may
//! arrive in any order. The request is the first event's; later events add
//! the start, the end, the runtime and the final state.

use std::collections::HashMap;
use std::fmt::Write;

use rtp_jobs::Job;
use rtp_jobs::rules::{Problem, Purpose};
use rtp_jobs::schema::{KNOWN_STATES, col};

/// The key of a job across its events.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventKey(pub String);

impl EventKey {
    /// The key of `job` on `cluster`.
    pub fn of<S: AsRef<str>>(cluster: &str, job: &Job<S>) -> Self {
        let mut key = format!(
            "{cluster}\u{1f}{}\u{1f}{}",
            job.job_id.as_ref(),
            job.submit_time.unwrap_or(i64::MIN)
        );
        if let Some(k) = job.job_key {
            let _ = write!(key, "\u{1f}{k}");
        }
        Self(key)
    }

    /// A job key derived from the event key, for jobs that come without
    /// one: it orders ends of the same second, identically on every server.
    pub fn derived_job_key(&self) -> i64 {
        // FNV-1a: stable across processes and versions.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for b in self.0.bytes() {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        (hash >> 1) as i64
    }
}

/// What an event did to its job's record.
#[derive(Debug, Clone, PartialEq)]
pub enum Merged {
    /// The job was unknown; this is its record.
    New(Job),
    /// The record gained something.
    Changed(Job),
    /// The event said nothing new.
    Duplicate,
}

/// Checks an event: the rules of a history record, and a known state.
pub fn check_event(event: Job) -> Result<Job, Problem> {
    let job = event
        .validated(Purpose::History)
        .map_err(|p| p.0.into_iter().next().expect("a refusal names a problem"))?;
    if let Some(state) = &job.state
        && !KNOWN_STATES.contains(&state.as_str())
    {
        return Err(Problem {
            field: col::STATE,
            reason: format!("unknown state `{state}`"),
        });
    }
    if let Some(r) = job.run_time_s
        && (!r.is_finite() || r < 0.0)
    {
        return Err(Problem {
            field: col::RUN_TIME_S,
            reason: format!("must be a non-negative number of seconds (got {r})"),
        });
    }
    if let (Some(submit), Some(end)) = (job.submit_time, job.end_time)
        && end < submit
    {
        return Err(Problem {
            field: col::END_TIME,
            reason: format!("end time is {} s before submit time", submit - end),
        });
    }
    Ok(job)
}

/// Merges a checked event into the job's record so far.
pub fn merge(prev: Option<&Job>, event: Job) -> Result<Merged, Problem> {
    let Some(prev) = prev else {
        return Ok(Merged::New(event));
    };
    let mut next = prev.clone();
    let conflict = |field: &'static str, was: String, now: String| Problem {
        field,
        reason: format!("the job's {field} is already {was}, the event says {now}"),
    };
    for (field, known, said) in [
        (col::START_TIME, &mut next.start_time, event.start_time),
        (col::END_TIME, &mut next.end_time, event.end_time),
    ] {
        match (*known, said) {
            (None, Some(t)) => *known = Some(t),
            (Some(a), Some(b)) if a != b => {
                return Err(conflict(field, a.to_string(), b.to_string()));
            }
            _ => {}
        }
    }
    match (next.run_time_s, event.run_time_s) {
        (None, Some(r)) => next.run_time_s = Some(r),
        (Some(a), Some(b)) if a != b => {
            return Err(conflict(col::RUN_TIME_S, a.to_string(), b.to_string()));
        }
        _ => {}
    }
    // The state follows the job until it ends; the end's state is final.
    if prev.end_time.is_none() && event.state.is_some() {
        next.state = event.state;
    }
    let next = next.normalized();
    Ok(if &next == prev {
        Merged::Duplicate
    } else {
        Merged::Changed(next)
    })
}

/// The job as it was known at `t`: later times unknown, the state
/// PENDING or RUNNING until the job has ended.
pub fn known_at<S: AsRef<str>>(job: &Job<S>, t: i64) -> Job {
    let start = job.start_time.filter(|&s| s <= t);
    let end = job.end_time.filter(|&e| e <= t);
    let state = match (start, end) {
        (_, Some(_)) => job.state.as_ref().map(|s| s.as_ref().to_owned()),
        (Some(_), None) => Some("RUNNING".to_owned()),
        (None, None) => Some("PENDING".to_owned()),
    };
    Job {
        start_time: start,
        end_time: end,
        run_time_s: end.and(job.run_time_s),
        state,
        ..job.to_owned_job()
    }
}

/// The events a job's record implies, each at its time: its submit, its
/// start and its end, as they were known then (one event per distinct
/// time).
pub fn job_events(job: &Job) -> Vec<(i64, Job)> {
    event_times(job)
        .into_iter()
        .map(|t| (t, known_at(job, t)))
        .collect()
}

/// The times of the job's events ([`job_events`] without the records, for
/// callers that build each record only when they apply it).
pub fn event_times<S>(job: &Job<S>) -> Vec<i64> {
    let mut times: Vec<i64> = [job.submit_time, job.start_time, job.end_time]
        .into_iter()
        .flatten()
        .collect();
    times.sort_unstable();
    times.dedup();
    times
}

/// Counts of what a batch of events did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventReport {
    /// Events that changed the state.
    pub applied: u64,
    /// Events that said nothing new.
    pub duplicated: u64,
    /// Events refused: their position in the batch and why.
    pub refused: Vec<(usize, Problem)>,
}

impl EventReport {
    /// Adds another report's counts; refusals are renumbered from `offset`.
    pub fn absorb(&mut self, other: EventReport, offset: usize) {
        self.applied += other.applied;
        self.duplicated += other.duplicated;
        self.refused
            .extend(other.refused.into_iter().map(|(i, p)| (i + offset, p)));
    }
}

/// Every job's record so far, in memory (the evaluation's replay and
/// tests; servers keep theirs in the event store).
#[derive(Debug, Default, Clone)]
pub struct JobRecords {
    jobs: HashMap<EventKey, Job>,
}

impl JobRecords {
    /// The record of `key`.
    pub fn get(&self, key: &EventKey) -> Option<&Job> {
        self.jobs.get(key)
    }

    /// Stores the record of `key`.
    pub fn put(&mut self, key: EventKey, job: Job) {
        self.jobs.insert(key, job);
    }

    /// Jobs known.
    pub fn len(&self) -> usize {
        self.jobs.len()
    }

    /// Whether no job is known.
    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    /// Removes the records `gone` picks; returns their keys.
    pub fn remove_where(&mut self, gone: impl Fn(&Job) -> bool) -> Vec<EventKey> {
        let keys: Vec<EventKey> = self
            .jobs
            .iter()
            .filter(|(_, job)| gone(job))
            .map(|(key, _)| key.clone())
            .collect();
        for key in &keys {
            self.jobs.remove(key);
        }
        keys
    }

    /// Every record.
    pub fn iter(&self) -> impl Iterator<Item = (&EventKey, &Job)> {
        self.jobs.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> Job {
        Job {
            job_id: "7".into(),
            submit_time: Some(100),
            state: Some("PENDING".into()),
            nodes_req: Some(1),
            processors_req: Some(4),
            ..Job::default()
        }
    }

    #[test]
    fn merges_add_what_was_unknown_and_repeat_nothing() {
        let submit = check_event(job()).unwrap();
        let ended = check_event(Job {
            start_time: Some(110),
            end_time: Some(170),
            state: Some("COMPLETED".into()),
            ..job()
        })
        .unwrap();
        let Merged::Changed(record) = merge(Some(&submit), ended.clone()).unwrap() else {
            panic!("the end changes the record");
        };
        assert_eq!(record.run_time_s, Some(60.0));
        assert_eq!(record.state.as_deref(), Some("COMPLETED"));
        assert_eq!(merge(Some(&record), ended).unwrap(), Merged::Duplicate);
        // A late submit event neither reopens the job nor changes its state.
        assert_eq!(merge(Some(&record), submit).unwrap(), Merged::Duplicate);
    }

    #[test]
    fn contradictions_and_bad_values_are_refused_with_their_field() {
        let record = Job {
            start_time: Some(110),
            end_time: Some(170),
            state: Some("COMPLETED".into()),
            ..job()
        }
        .normalized();
        let other_end = Job {
            end_time: Some(200),
            ..record.clone()
        };
        assert_eq!(
            merge(Some(&record), other_end).unwrap_err().field,
            col::END_TIME
        );
        let unknown = Job {
            state: Some("EXPLODED".into()),
            ..job()
        };
        assert_eq!(check_event(unknown).unwrap_err().field, col::STATE);
        let before_submit = Job {
            end_time: Some(50),
            state: Some("CANCELLED".into()),
            ..job()
        };
        assert_eq!(check_event(before_submit).unwrap_err().field, col::END_TIME);
        let negative = Job {
            run_time_s: Some(-1.0),
            ..job()
        };
        assert_eq!(check_event(negative).unwrap_err().field, col::RUN_TIME_S);
    }

    #[test]
    fn keys_tell_apart_reused_ids_and_clusters() {
        let a = EventKey::of("c", &job());
        let later = Job {
            submit_time: Some(900),
            ..job()
        };
        assert_ne!(a, EventKey::of("c", &later));
        assert_ne!(a, EventKey::of("d", &job()));
        assert_eq!(
            a.derived_job_key(),
            EventKey::of("c", &job()).derived_job_key()
        );
        assert!(a.derived_job_key() >= 0);
    }
}
