//! Applying job events: check, merge into the job's record, fold into the
//! live state. The one update path of every source (push, Flight, sacct)
//! and of the evaluation's replay.
//!
//! Applying is two steps so a server can store what changed between them:
//! [`EventFolder::prepare`] checks and merges a batch without changing
//! anything, [`EventFolder::commit`] folds it in.

use std::collections::HashMap;

use rtp_jobs::Job;
use rtp_jobs::rules::Problem;
use rtp_jobs::schema::col;

use crate::feature_program::FeatureProgram;
use crate::live::events::{EventKey, EventReport, JobRecords, Merged, check_event, merge};
use crate::live::facts::JobFacts;
use crate::live::state::LiveState;

/// Every job's record so far, and the folding of new events.
#[derive(Debug, Default, Clone)]
pub struct EventFolder {
    records: JobRecords,
    /// The facts of each record under the program last folded with, so a
    /// job's next event computes only its new facts.
    facts: HashMap<EventKey, JobFacts>,
}

/// A checked and merged batch of events, not yet applied.
#[derive(Debug, Default)]
pub struct Prepared {
    /// Per changed job, in first-change order: its new record and facts.
    changes: Vec<Change>,
    /// What each event did.
    pub report: EventReport,
}

#[derive(Debug)]
struct Change {
    key: EventKey,
    record: Job,
    after: JobFacts,
}

/// An event checked as [`EventFolder::apply_keeping_unfinished`] checks
/// it, with the facts of its job when it knows the job's end: all that
/// folding it needs from the event alone, so events can be checked on
/// several threads and folded in order on one.
#[derive(Debug)]
pub struct CheckedEvent {
    job: Job,
    key: EventKey,
    /// The job's facts, if the event knows its end.
    ended: Option<Result<JobFacts, Problem>>,
}

impl CheckedEvent {
    /// Checks `event` of `cluster`, computing its facts if it has ended.
    pub fn new(program: &FeatureProgram, cluster: &str, event: Job) -> Result<Self, Problem> {
        // The key and the end are read from the job as checked.
        let job = check_event(event)?;
        let key = EventKey::of(cluster, &job);
        let ended = job.end_time.map(|_| record_facts(program, &key, &job));
        Ok(Self { job, key, ended })
    }
}

impl Prepared {
    /// The records the batch changes, to be stored before it is committed.
    pub fn records(&self) -> impl Iterator<Item = (&EventKey, &Job)> {
        self.changes.iter().map(|c| (&c.key, &c.record))
    }

    /// The newest time (submit, start or end) among the changed records.
    pub fn newest_time(&self) -> Option<i64> {
        self.changes
            .iter()
            .flat_map(|c| [c.record.submit_time, c.record.start_time, c.record.end_time])
            .flatten()
            .max()
    }
}

impl EventFolder {
    /// A folder that knows `records` (as stored), without applying them.
    pub fn with_records(records: impl IntoIterator<Item = (EventKey, Job)>) -> Self {
        let mut known = JobRecords::default();
        for (key, job) in records {
            known.put(key, job);
        }
        Self {
            records: known,
            facts: HashMap::new(),
        }
    }

    /// The records so far.
    pub fn records(&self) -> &JobRecords {
        &self.records
    }

    /// Applies `events` of `cluster` to `state`. Refused events are named
    /// with their field and change nothing; the others are applied in turn.
    pub fn apply<E: Into<Job>>(
        &mut self,
        program: &FeatureProgram,
        state: &mut LiveState,
        cluster: &str,
        events: impl IntoIterator<Item = E>,
    ) -> EventReport {
        let prepared = self.prepare(program, cluster, events);
        self.commit(program, state, prepared)
    }

    /// Applies `events` as [`EventFolder::apply`] does, except that the
    /// event of a job the folder does not know which already knows the
    /// job's end is folded into `state` and its record not kept: such a
    /// record says everything the job will say, and [`forget_ended`] would
    /// drop it anyway. Folding a log job by job, as known at its last
    /// event, this keeps only the jobs still queued or running.
    ///
    /// [`forget_ended`]: EventFolder::forget_ended
    pub fn apply_keeping_unfinished(
        &mut self,
        program: &FeatureProgram,
        state: &mut LiveState,
        cluster: &str,
        events: impl IntoIterator<Item = Job>,
    ) -> EventReport {
        let checked = events
            .into_iter()
            .map(|event| CheckedEvent::new(program, cluster, event));
        self.apply_checked(program, state, cluster, checked)
    }

    /// [`EventFolder::apply_keeping_unfinished`] for events already
    /// checked (by [`CheckedEvent::new`] with the same `cluster`, which may
    /// run on other threads).
    pub fn apply_checked(
        &mut self,
        program: &FeatureProgram,
        state: &mut LiveState,
        cluster: &str,
        events: impl IntoIterator<Item = Result<CheckedEvent, Problem>>,
    ) -> EventReport {
        let mut report = EventReport::default();
        for (i, event) in events.into_iter().enumerate() {
            let CheckedEvent { job, key, ended } = match event {
                Ok(event) => event,
                Err(problem) => {
                    report.refused.push((i, problem));
                    continue;
                }
            };
            match ended {
                Some(facts) if self.records.get(&key).is_none() => match facts {
                    Ok(after) => {
                        state.apply(None, &after);
                        report.applied += 1;
                    }
                    Err(problem) => report.refused.push((i, problem)),
                },
                _ => {
                    let one = self.apply(program, state, cluster, [job]);
                    report.absorb(one, i);
                }
            }
        }
        report
    }

    /// Checks and merges `events` of `cluster` against the records so far
    /// (and each other), changing nothing. Events may be borrowed or owned;
    /// owned ones are not copied.
    pub fn prepare<E: Into<Job>>(
        &self,
        program: &FeatureProgram,
        cluster: &str,
        events: impl IntoIterator<Item = E>,
    ) -> Prepared {
        let mut prepared = Prepared::default();
        // Where a job changed earlier in this batch sits in `changes`.
        let mut changed: HashMap<EventKey, usize> = HashMap::new();
        for (i, event) in events.into_iter().enumerate() {
            let merged = check_event(event.into()).and_then(|event| {
                let key = EventKey::of(cluster, &event);
                let earlier = changed.get(&key).copied();
                let prev = match earlier {
                    Some(at) => Some(&prepared.changes[at].record),
                    None => self.records.get(&key),
                };
                let record = match merge(prev, event)? {
                    Merged::Duplicate => return Ok(None),
                    Merged::New(job) | Merged::Changed(job) => job,
                };
                let job_key = record.job_key.unwrap_or_else(|| key.derived_job_key());
                let known = match earlier {
                    Some(at) => Some(&prepared.changes[at].after),
                    None => self.facts.get(&key),
                };
                let after = facts(program, &record, job_key, known)?;
                Ok(Some((key, earlier, record, after)))
            });
            match merged {
                Ok(None) => prepared.report.duplicated += 1,
                Ok(Some((key, Some(at), record, after))) => {
                    let change = &mut prepared.changes[at];
                    debug_assert_eq!(change.key, key);
                    change.record = record;
                    change.after = after;
                    prepared.report.applied += 1;
                }
                Ok(Some((key, None, record, after))) => {
                    changed.insert(key.clone(), prepared.changes.len());
                    prepared.changes.push(Change { key, record, after });
                    prepared.report.applied += 1;
                }
                Err(problem) => prepared.report.refused.push((i, problem)),
            }
        }
        prepared
    }

    /// Folds a prepared batch into `state` and the records. A record
    /// known before has its facts cached, unless the folder was restored
    /// from stored records and not yet replayed (then they are computed).
    pub fn commit(
        &mut self,
        program: &FeatureProgram,
        state: &mut LiveState,
        prepared: Prepared,
    ) -> EventReport {
        for change in prepared.changes {
            let before = match self.facts.remove(&change.key) {
                Some(cached) => Some(cached),
                None => self
                    .records
                    .get(&change.key)
                    .and_then(|prev| record_facts(program, &change.key, prev).ok()),
            };
            state.apply(before.as_ref(), &change.after);
            self.facts.insert(change.key.clone(), change.after);
            self.records.put(change.key, change.record);
        }
        prepared.report
    }

    /// Folds every record into `state` (a new bundle's, or a restarted
    /// server's): parts the state already holds are skipped by it.
    /// Records whose facts cannot be computed by `program` are returned.
    pub fn replay(
        &mut self,
        program: &FeatureProgram,
        state: &mut LiveState,
    ) -> Vec<(EventKey, Problem)> {
        let mut refused = Vec::new();
        self.facts.clear();
        for (key, record) in self.records.iter() {
            match record_facts(program, key, record) {
                Ok(after) => {
                    state.apply(None, &after);
                    self.facts.insert(key.clone(), after);
                }
                Err(problem) => refused.push((key.clone(), problem)),
            }
        }
        refused
    }

    /// Forgets the records of jobs that ended at or before `until` (a new
    /// bundle's data end, whose state holds them); returns their keys.
    pub fn forget_ended(&mut self, until: i64) -> Vec<EventKey> {
        let gone = self
            .records
            .remove_where(|job| job.end_time.is_some_and(|end| end <= until));
        for key in &gone {
            self.facts.remove(key);
        }
        gone
    }
}

/// The facts of a whole record of job `key`, computed afresh.
fn record_facts(
    program: &FeatureProgram,
    key: &EventKey,
    record: &Job,
) -> Result<JobFacts, Problem> {
    let job_key = record.job_key.unwrap_or_else(|| key.derived_job_key());
    facts(program, record, job_key, None)
}

/// The facts of `job`; `earlier` are those of an earlier record of it.
fn facts(
    program: &FeatureProgram,
    job: &Job,
    job_key: i64,
    earlier: Option<&JobFacts>,
) -> Result<JobFacts, Problem> {
    let job = job.as_borrowed();
    match earlier {
        Some(earlier) => program.later_job_facts(&job, job_key, earlier),
        None => program.job_facts(&job, job_key),
    }
    .map_err(|e| Problem {
        field: col::JOB_ID,
        reason: e.to_string(),
    })
}
