//! The model a server is serving, replaced when a new bundle is published.
//!
//! Readers take an `Arc` of the current scorer, so a request started on the
//! old model finishes on it while the new one is swapped in. A bundle that
//! fails to load is refused: the old model keeps serving and the failure is
//! counted and logged.
//!
//! Job events go to the model serving; a new model is brought up to date
//! with them before it is swapped in (see [`EventFeed::rebase`]).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rtp_bundle::BundleStore;
use rtp_jobs::Job;

use crate::advice::AdviceOptions;
use crate::error::Result;
use crate::event_feed::{EventFeed, EventSource, FeedStats};
use crate::live::EventReport;
use crate::sacct_follower::{FollowSettings, FollowStatus, FollowerTask, SacctFollower};
use crate::scorer::Scorer;

/// The serving model and where new ones come from.
#[derive(Debug)]
pub struct LiveModel {
    store: BundleStore,
    advice: AdviceOptions,
    current: RwLock<Arc<Scorer>>,
    events: EventFeed,
    reloads: AtomicU64,
    reload_failures: AtomicU64,
    /// Whether the watcher's last look at `latest` succeeded.
    store_readable: AtomicBool,
    /// Serialises reloads, so two triggers do not load the same bundle twice.
    reloading: tokio::sync::Mutex<()>,
    /// The `sacct` follower, once one is started.
    follower: std::sync::OnceLock<Arc<SacctFollower>>,
}

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// `latest` names the version already serving.
    Unchanged(String),
    /// A new version is serving.
    Swapped {
        /// The version replaced.
        from: String,
        /// The version now serving.
        to: String,
    },
}

impl LiveModel {
    /// Loads the latest bundle of `store`, with job events kept in memory.
    pub async fn open(store: BundleStore, advice: AdviceOptions) -> Result<Self> {
        Self::open_with_events(store, advice, None).await
    }

    /// Loads the latest bundle of `store`; job events are stored durably
    /// at `events` when given, and those stored there already are applied.
    pub async fn open_with_events(
        store: BundleStore,
        advice: AdviceOptions,
        events: Option<&std::path::Path>,
    ) -> Result<Self> {
        let feed = match events {
            Some(path) => EventFeed::open(path)?,
            None => EventFeed::in_memory(),
        };
        let scorer = Scorer::load_latest(&store, advice).await?;
        feed.rebase(&scorer, || ())?;
        Ok(Self {
            store,
            advice,
            current: RwLock::new(Arc::new(scorer)),
            events: feed,
            reloads: AtomicU64::new(0),
            reload_failures: AtomicU64::new(0),
            store_readable: AtomicBool::new(true),
            reloading: tokio::sync::Mutex::new(()),
            follower: std::sync::OnceLock::new(),
        })
    }

    /// The model serving now.
    pub fn current(&self) -> Arc<Scorer> {
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Applies job events of `cluster` from `source` to the serving state,
    /// durably when the feed has a store. Blocks on the store's commit:
    /// async callers run it on a blocking thread.
    pub fn report_events(
        &self,
        source: EventSource,
        cluster: &str,
        events: &[Job],
    ) -> Result<EventReport> {
        // Under the feed's lock (taken inside), so a swap cannot fall
        // between reading the current model and applying to it.
        self.events
            .apply_with(|| self.current(), source, cluster, events)
    }

    /// The server's job events.
    pub fn event_feed(&self) -> &EventFeed {
        &self.events
    }

    /// Starts following `sacct` (one follower per model; a second call
    /// is refused); it polls until the returned task is stopped.
    pub fn follow_sacct(self: &Arc<Self>, settings: FollowSettings) -> Result<FollowerTask> {
        let follower = Arc::new(SacctFollower::new(settings, self)?);
        self.follower
            .set(Arc::clone(&follower))
            .map_err(|_| crate::ScoringError::Follower("sacct is already followed".into()))?;
        tracing::info!(command = ?follower.settings().command,
            watermark = follower.status().watermark_s, "following sacct");
        Ok(follower.spawn(Arc::clone(self)))
    }

    /// The `sacct` follower's progress, when one runs.
    pub fn follower_status(&self) -> Option<FollowStatus> {
        self.follower.get().map(|f| f.status())
    }

    /// Whether the model's inputs are fresh enough to serve: an error
    /// naming why not (a follower too far behind).
    pub fn readiness(&self) -> std::result::Result<(), String> {
        match self.follower_status() {
            Some(status) if status.behind => Err(format!(
                "sacct follower is {:.0} s behind (max {:.0} s){}",
                status.lag_s,
                self.follower
                    .get()
                    .map_or(0.0, |f| f.settings().max_lag.as_secs_f64()),
                status
                    .last_error
                    .map(|e| format!("; last poll: {e}"))
                    .unwrap_or_default()
            )),
            _ => Ok(()),
        }
    }

    /// The job events' counts, freshness and size.
    pub fn event_stats(&self) -> FeedStats {
        self.events.stats()
    }

    /// The bundle store watched.
    pub fn store(&self) -> &BundleStore {
        &self.store
    }

    /// Successful swaps so far.
    pub fn reloads(&self) -> u64 {
        self.reloads.load(Ordering::Relaxed)
    }

    /// Refused bundles so far.
    pub fn reload_failures(&self) -> u64 {
        self.reload_failures.load(Ordering::Relaxed)
    }

    /// Whether the bundle store's `latest` could be read when last checked.
    /// While it cannot, the serving model keeps serving, but no new bundle
    /// can reach it.
    pub fn store_readable(&self) -> bool {
        self.store_readable.load(Ordering::Relaxed)
    }

    /// Records the outcome of a look at `latest`, logging each change once.
    fn note_store(&self, looked: &std::result::Result<String, rtp_bundle::BundleError>) {
        let readable = looked.is_ok();
        let was = self.store_readable.swap(readable, Ordering::Relaxed);
        match looked {
            Err(e) if was => tracing::error!(
                store = %self.store.root().display(),
                serving = %self.current().version(),
                error = %e,
                "bundle store unreadable; the serving model is kept, no new bundle can be loaded"
            ),
            Ok(latest) if !was => tracing::info!(
                store = %self.store.root().display(),
                %latest,
                "bundle store readable again"
            ),
            _ => {}
        }
    }

    /// Loads the bundle `latest` names, if it is not the one serving, and
    /// swaps it in. On failure the old model keeps serving.
    pub async fn reload(&self) -> Result<ReloadOutcome> {
        let _guard = self.reloading.lock().await;
        let serving = self.current().version().to_owned();
        let result = async {
            // A bundle opens only under its own version, so the name in
            // `latest` says whether it is the one serving, without hashing it.
            let latest = self.store.latest_version()?;
            if latest == serving {
                return Ok(ReloadOutcome::Unchanged(serving.clone()));
            }
            let bundle = self.store.open(&latest)?;
            let scorer = Arc::new(Scorer::load(bundle, self.advice).await?);
            let to = scorer.version().to_owned();
            // Loading is slow and runs while the old model serves and takes
            // events; the replay and the swap are one step under the feed.
            let incoming = Arc::clone(&scorer);
            self.events.rebase(&incoming, || {
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = scorer;
            })?;
            Ok(ReloadOutcome::Swapped {
                from: serving.clone(),
                to,
            })
        }
        .await;
        match &result {
            Ok(ReloadOutcome::Swapped { from, to }) => {
                self.reloads.fetch_add(1, Ordering::Relaxed);
                tracing::info!(%from, %to, "model reloaded");
            }
            Ok(ReloadOutcome::Unchanged(_)) => {}
            Err(e) => {
                self.reload_failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!(serving = %serving, error = %e, "bundle refused; the serving model is kept");
            }
        }
        result
    }

    /// Checks `latest` every `interval` and reloads when it moves, until the
    /// returned task is aborted.
    pub fn watch(self: &Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        let live = Arc::clone(self);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last_seen = live.store.latest_version().ok();
            loop {
                ticker.tick().await;
                let looked = live.store.latest_version();
                live.note_store(&looked);
                let latest = looked.ok();
                if latest.is_some() && latest != last_seen {
                    last_seen = latest;
                    // Failures are counted and logged by reload.
                    let _ = live.reload().await;
                }
            }
        })
    }
}
