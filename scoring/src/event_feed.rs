//! A server's job events: every source's way into the live state, the
//! store that makes them durable, and the counts that make them visible.
//!
//! One lock orders everything that changes the state: a batch is checked
//! and merged, stored (one durable transaction), then folded in, so an
//! acknowledged event is on disk and an event that failed to store changed
//! nothing. A bundle swap takes the same lock to replay the records into
//! the new model's state, so no event falls between the two models.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use rtp_jobs::Job;

use crate::error::Result;
use crate::live::{EventFolder, EventKey, EventReport, EventStore, Prepared};
use crate::scorer::Scorer;

/// Where events come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventSource {
    /// Pushed over gRPC (`ReportJobs`).
    Push,
    /// Uploaded over Arrow Flight (`DoPut` to `["events"]`).
    Flight,
    /// Read from `sacct` by the server's follower.
    Sacct,
}

impl EventSource {
    /// Every source, in metric order.
    pub const ALL: [EventSource; 3] = [Self::Push, Self::Flight, Self::Sacct];

    /// The source's name in metrics and logs.
    pub fn name(self) -> &'static str {
        match self {
            Self::Push => "push",
            Self::Flight => "flight",
            Self::Sacct => "sacct",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Counts of one source's events.
#[derive(Debug, Default)]
struct SourceCounts {
    applied: AtomicU64,
    duplicated: AtomicU64,
    refused: AtomicU64,
}

/// What a source has delivered so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceTotals {
    /// The source.
    pub source: EventSource,
    /// Events that changed the state.
    pub applied: u64,
    /// Events that said nothing new.
    pub duplicated: u64,
    /// Events refused.
    pub refused: u64,
}

/// The feed's state, for metrics and probes.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedStats {
    /// Per source.
    pub sources: Vec<SourceTotals>,
    /// The newest submit, start or end time applied, Unix seconds.
    pub newest_event_s: Option<i64>,
    /// Job records kept (jobs not yet in the serving bundle's state).
    pub records: u64,
    /// The event store's file size, bytes (0 without a store).
    pub store_bytes: u64,
    /// Whether events are stored durably.
    pub durable: bool,
}

#[derive(Debug)]
struct Folded {
    folder: EventFolder,
    store: Option<EventStore>,
}

/// The job events of a server.
#[derive(Debug)]
pub struct EventFeed {
    folded: Mutex<Folded>,
    counts: [SourceCounts; 3],
    newest_event_s: AtomicI64,
    records: AtomicU64,
}

impl FeedStats {
    /// Per source: its name and its applied, duplicated and refused
    /// events.
    pub fn source_counts(&self) -> impl Iterator<Item = (&'static str, [u64; 3])> + '_ {
        self.sources
            .iter()
            .map(|s| (s.source.name(), [s.applied, s.duplicated, s.refused]))
    }
}

impl EventFeed {
    /// A feed kept in memory only.
    pub fn in_memory() -> Self {
        Self::with(EventFolder::default(), None)
    }

    /// A feed stored at `path`, with the records already stored there.
    pub fn open(path: &Path) -> Result<Self> {
        let store = EventStore::open(path)?;
        let records = store.records()?;
        tracing::info!(store = %path.display(), records = records.len(), "event store opened");
        Ok(Self::with(EventFolder::with_records(records), Some(store)))
    }

    fn with(folder: EventFolder, store: Option<EventStore>) -> Self {
        let newest = newest_time(&folder).unwrap_or(i64::MIN);
        let records = folder.records().len() as u64;
        Self {
            folded: Mutex::new(Folded { folder, store }),
            counts: Default::default(),
            newest_event_s: AtomicI64::new(newest),
            records: AtomicU64::new(records),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Folded> {
        self.folded.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies `events` of `cluster` from `source` to `scorer`'s state,
    /// storing them first. On a store failure nothing is applied.
    pub fn apply(
        &self,
        scorer: &Scorer,
        source: EventSource,
        cluster: &str,
        events: &[Job],
    ) -> Result<EventReport> {
        self.apply_with(|| scorer, source, cluster, events)
    }

    /// [`EventFeed::apply`] to the scorer `serving` gives under the
    /// feed's lock.
    pub fn apply_with<S: std::ops::Deref<Target = Scorer>>(
        &self,
        serving: impl FnOnce() -> S,
        source: EventSource,
        cluster: &str,
        events: &[Job],
    ) -> Result<EventReport> {
        let mut folded = self.lock();
        let scorer = serving();
        let prepared: Prepared = folded.folder.prepare(
            scorer.program(),
            cluster,
            events.iter().map(Job::as_borrowed),
        );
        if let Some(store) = &folded.store {
            store.put(prepared.records())?;
        }
        if let Some(newest) = prepared.newest_time() {
            self.newest_event_s.fetch_max(newest, Ordering::Relaxed);
        }
        let report = scorer.commit_events(&mut folded.folder, prepared);
        drop(scorer);
        self.records
            .store(folded.folder.records().len() as u64, Ordering::Relaxed);
        let counts = &self.counts[source.index()];
        counts.applied.fetch_add(report.applied, Ordering::Relaxed);
        counts
            .duplicated
            .fetch_add(report.duplicated, Ordering::Relaxed);
        counts
            .refused
            .fetch_add(report.refused.len() as u64, Ordering::Relaxed);
        Ok(report)
    }

    /// Brings `scorer` (a model about to serve) up to date: its bundle's
    /// state plus every record, then forgets the records its state already
    /// holds. `swap` runs under the feed's lock, so no event is applied to
    /// the old model after the replay.
    pub fn rebase<T>(&self, scorer: &Scorer, swap: impl FnOnce() -> T) -> Result<T> {
        let mut folded = self.lock();
        let refused = scorer.replay_records(&mut folded.folder);
        for (key, problem) in &refused {
            tracing::warn!(job = %key.0.replace('\u{1f}', "/"), field = problem.field, reason = %problem.reason,
                "a stored job record does not fit the new bundle; it is kept but not applied");
        }
        let until = scorer.live_state().base_until_s();
        let gone: Vec<EventKey> = until.map_or_else(Vec::new, |t| folded.folder.forget_ended(t));
        self.records
            .store(folded.folder.records().len() as u64, Ordering::Relaxed);
        let swapped = swap();
        // Records the new state holds are only replayed as no-ops if they
        // stay: failing to drop them must not stop the swap.
        if let Some(store) = &folded.store
            && !gone.is_empty()
            && let Err(e) = store.remove(&gone)
        {
            tracing::warn!(error = %e, records = gone.len(), "records already in the new bundle's state were not dropped from the event store");
        }
        Ok(swapped)
    }

    /// Counts `refused` events of `source` that never reached the feed
    /// (lines a follower could not read as jobs).
    pub fn count_refused(&self, source: EventSource, refused: u64) {
        self.counts[source.index()]
            .refused
            .fetch_add(refused, Ordering::Relaxed);
    }

    /// The watermark `name` stored with the events (None in memory, or
    /// never stored).
    pub fn mark(&self, name: &str) -> Result<Option<i64>> {
        match &self.lock().store {
            Some(store) => store.mark(name),
            None => Ok(None),
        }
    }

    /// Stores watermark `name` durably (nothing in memory).
    pub fn set_mark(&self, name: &str, value: i64) -> Result<()> {
        match &self.lock().store {
            Some(store) => store.set_mark(name, value),
            None => Ok(()),
        }
    }

    /// Counts, freshness and size.
    pub fn stats(&self) -> FeedStats {
        let newest = self.newest_event_s.load(Ordering::Relaxed);
        let folded = self.lock();
        FeedStats {
            sources: EventSource::ALL
                .iter()
                .map(|&source| {
                    let c = &self.counts[source.index()];
                    SourceTotals {
                        source,
                        applied: c.applied.load(Ordering::Relaxed),
                        duplicated: c.duplicated.load(Ordering::Relaxed),
                        refused: c.refused.load(Ordering::Relaxed),
                    }
                })
                .collect(),
            newest_event_s: (newest != i64::MIN).then_some(newest),
            records: self.records.load(Ordering::Relaxed),
            store_bytes: folded.store.as_ref().map_or(0, EventStore::file_bytes),
            durable: folded.store.is_some(),
        }
    }
}

fn newest_time(folder: &EventFolder) -> Option<i64> {
    folder
        .records()
        .iter()
        .flat_map(|(_, job)| [job.submit_time, job.start_time, job.end_time])
        .flatten()
        .max()
}
