//! What the scoring servers share about job events: their `[events]`
//! settings and their Prometheus metrics.

use std::path::PathBuf;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::Deserialize;

/// The `[events]` section of a server's settings.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EventsSettings {
    /// The redb file job events are stored in; empty keeps them in memory
    /// only (lost at restart).
    pub store: PathBuf,
    /// The cluster name events are keyed under when they name none.
    pub cluster: String,
}

impl EventsSettings {
    /// The store's path, when events are stored.
    pub fn store_path(&self) -> Option<&std::path::Path> {
        (!self.store.as_os_str().is_empty()).then_some(self.store.as_path())
    }

    /// The settings checked; the message names the key at fault.
    pub fn validate(self) -> Result<Self, String> {
        if self.cluster.trim().is_empty() {
            return Err("events.cluster must not be empty".into());
        }
        Ok(self)
    }
}

/// Labels of the event counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabels {
    source: String,
    outcome: String,
}

/// One source's totals as the scoring core counts them: its name (`push`,
/// `flight`, `sacct`) and its applied, duplicated and refused events.
pub type SourceCounts<'a> = (&'a str, [u64; 3]);

/// The job-event metrics of a server.
#[derive(Debug)]
pub struct EventMetrics {
    events: Family<EventLabels, Counter>,
    newest: Gauge<f64, AtomicU64>,
    lag: Gauge<f64, AtomicU64>,
    records: Gauge,
    store_bytes: Gauge,
}

impl EventMetrics {
    /// The metrics, registered in `registry` (under its prefix).
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            events: Family::default(),
            newest: Gauge::default(),
            lag: Gauge::default(),
            records: Gauge::default(),
            store_bytes: Gauge::default(),
        };
        registry.register(
            "job_events",
            "Job events received, by source (push, flight, sacct) and outcome (applied, duplicated, refused)",
            metrics.events.clone(),
        );
        registry.register(
            "job_events_newest_timestamp_seconds",
            "The newest submit, start or end time applied to the live state, Unix seconds",
            metrics.newest.clone(),
        );
        registry.register(
            "job_events_lag_seconds",
            "Now minus the newest applied event time: how stale the live state may be",
            metrics.lag.clone(),
        );
        registry.register(
            "job_event_records",
            "Job records kept beyond the serving bundle's state",
            metrics.records.clone(),
        );
        registry.register(
            "job_event_store_bytes",
            "Size of the event store file (0 when events are kept in memory)",
            metrics.store_bytes.clone(),
        );
        metrics
    }

    /// Brings the metrics up to the totals kept by the scoring core:
    /// per source, the newest applied event time, the records kept and
    /// the store's size.
    pub fn update<'a>(
        &self,
        sources: impl IntoIterator<Item = SourceCounts<'a>>,
        newest_event_s: Option<i64>,
        records: u64,
        store_bytes: u64,
    ) {
        let now_s = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        self.update_at(sources, newest_event_s, records, store_bytes, now_s);
    }

    fn update_at<'a>(
        &self,
        sources: impl IntoIterator<Item = SourceCounts<'a>>,
        newest_event_s: Option<i64>,
        records: u64,
        store_bytes: u64,
        now_s: f64,
    ) {
        for (source, [applied, duplicated, refused]) in sources {
            for (outcome, total) in [
                ("applied", applied),
                ("duplicated", duplicated),
                ("refused", refused),
            ] {
                let counter = self.events.get_or_create(&EventLabels {
                    source: source.to_owned(),
                    outcome: outcome.to_owned(),
                });
                let now = counter.get();
                if total > now {
                    counter.inc_by(total - now);
                }
            }
        }
        if let Some(newest) = newest_event_s {
            self.newest.set(newest as f64);
            self.lag.set((now_s - newest as f64).max(0.0));
        }
        self.records.set(records as i64);
        self.store_bytes.set(store_bytes as i64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_lag_reach_the_exposition() {
        let mut registry = Registry::with_prefix("rtp_test");
        let metrics = EventMetrics::register(&mut registry);
        let push = ("push", [5, 2, 1]);
        metrics.update_at([push], Some(1_000), 3, 4096, 1_060.0);
        metrics.update_at([push], Some(1_000), 3, 4096, 1_060.0);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains(r#"rtp_test_job_events_total{source="push",outcome="applied"} 5"#),
            "{text}"
        );
        assert!(
            text.contains("rtp_test_job_events_lag_seconds 60.0"),
            "{text}"
        );
        assert!(
            text.contains("rtp_test_job_event_store_bytes 4096"),
            "{text}"
        );
    }
}
