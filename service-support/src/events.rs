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
    /// The `sacct` command followed (program and leading arguments,
    /// split at spaces); empty turns the follower off.
    pub sacct: String,
    /// Seconds between the follower's polls.
    pub sacct_interval_s: f64,
    /// Seconds each poll reads again before the last one's end.
    pub sacct_overlap_s: f64,
    /// Seconds a poll may take before it is killed.
    pub sacct_timeout_s: f64,
    /// Where the follower starts when the store holds no watermark: a
    /// time (`YYYY-MM-DDTHH:MM:SS`, UTC) or Unix seconds; empty starts at
    /// the serving bundle's data end.
    pub sacct_start: String,
    /// `/readyz` fails while the follower's watermark is older than this,
    /// seconds.
    pub max_lag_s: f64,
}

impl EventsSettings {
    /// The store's path, when events are stored.
    pub fn store_path(&self) -> Option<&std::path::Path> {
        (!self.store.as_os_str().is_empty()).then_some(self.store.as_path())
    }

    /// The follower's command, when one is configured.
    pub fn sacct_command(&self) -> Option<Vec<String>> {
        let words: Vec<String> = self.sacct.split_whitespace().map(str::to_owned).collect();
        (!words.is_empty()).then_some(words)
    }

    /// The follower's configured start, Unix seconds.
    pub fn sacct_start_s(&self) -> Option<i64> {
        rtp_jobs::values::parse_timestamp(&self.sacct_start)
            .ok()
            .flatten()
    }

    /// The settings checked; the message names the key at fault.
    pub fn validate(self) -> Result<Self, String> {
        if self.cluster.trim().is_empty() {
            return Err("events.cluster must not be empty".into());
        }
        for (key, value) in [
            ("sacct_interval_s", self.sacct_interval_s),
            ("sacct_timeout_s", self.sacct_timeout_s),
            ("max_lag_s", self.max_lag_s),
        ] {
            if !(value.is_finite() && value > 0.0) {
                return Err(format!(
                    "events.{key} must be a positive number of seconds (got {value})"
                ));
            }
        }
        if !(self.sacct_overlap_s.is_finite() && self.sacct_overlap_s >= 0.0) {
            return Err(format!(
                "events.sacct_overlap_s must be zero or more seconds (got {})",
                self.sacct_overlap_s
            ));
        }
        rtp_jobs::values::parse_timestamp(&self.sacct_start)
            .map_err(|reason| format!("events.sacct_start: {reason}"))?;
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
    follower_lag: Gauge<f64, AtomicU64>,
    polls: Family<PollLabels, Counter>,
}

/// Labels of the follower's poll counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PollLabels {
    outcome: String,
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
            follower_lag: Gauge::default(),
            polls: Family::default(),
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
        registry.register(
            "sacct_follower_lag_seconds",
            "Now minus the time the sacct follower has read up to (0 without a follower)",
            metrics.follower_lag.clone(),
        );
        registry.register(
            "sacct_polls",
            "Polls of the sacct follower, by outcome (ok, failed)",
            metrics.polls.clone(),
        );
        metrics
    }

    /// Brings the follower's metrics up to its lag and poll totals.
    pub fn update_follower(&self, lag_s: f64, polls_ok: u64, polls_failed: u64) {
        self.follower_lag.set(lag_s);
        for (outcome, total) in [("ok", polls_ok), ("failed", polls_failed)] {
            let counter = self.polls.get_or_create(&PollLabels {
                outcome: outcome.to_owned(),
            });
            let now = counter.get();
            if total > now {
                counter.inc_by(total - now);
            }
        }
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
        metrics.update_follower(12.0, 3, 1);
        metrics.update_follower(12.0, 3, 1);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains("rtp_test_sacct_follower_lag_seconds 12.0"),
            "{text}"
        );
        assert!(
            text.contains(r#"rtp_test_sacct_polls_total{outcome="failed"} 1"#),
            "{text}"
        );
    }

    fn settings() -> EventsSettings {
        EventsSettings {
            store: PathBuf::new(),
            cluster: "local".into(),
            sacct: String::new(),
            sacct_interval_s: 30.0,
            sacct_overlap_s: 300.0,
            sacct_timeout_s: 60.0,
            sacct_start: String::new(),
            max_lag_s: 600.0,
        }
    }

    #[test]
    fn follower_settings_are_checked_by_key() {
        assert_eq!(settings().validate().unwrap().sacct_command(), None);
        let following = EventsSettings {
            sacct: " sacct  -M eagle ".into(),
            sacct_start: "2026-12-01T00:00:00".into(),
            ..settings()
        }
        .validate()
        .unwrap();
        assert_eq!(
            following.sacct_command().unwrap(),
            vec!["sacct", "-M", "eagle"]
        );
        assert_eq!(following.sacct_start_s(), Some(1_796_083_200));
        let bad_start = EventsSettings {
            sacct_start: "yesterday".into(),
            ..settings()
        };
        assert!(
            bad_start
                .validate()
                .unwrap_err()
                .starts_with("events.sacct_start")
        );
        let bad_lag = EventsSettings {
            max_lag_s: 0.0,
            ..settings()
        };
        assert!(
            bad_lag
                .validate()
                .unwrap_err()
                .starts_with("events.max_lag_s")
        );
    }
}
