//! Queue counts, continued as jobs move through the queue.
//!
//! A job counts as pending from its submit until it starts (or ends without
//! starting) and as running from its start until its end, as the deltas of
//! `queue_events` (sql/07) sum. A job's share of a count therefore depends
//! only on which of its times are known, whatever order they arrive in.

use crate::row_value::Value;

/// A count of `queue_state`, by its column name there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueCount {
    /// Jobs submitted and not started or ended.
    Pending,
    /// Jobs started and not ended.
    Running,
}

impl QueueCount {
    /// Every count with its column name.
    pub const ALL: [(QueueCount, &'static str); 2] =
        [(Self::Pending, "pending"), (Self::Running, "running")];

    /// The count a `queue_state` column holds.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().find(|(_, n)| *n == name).map(|c| c.0)
    }
}

/// One queue's counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueCounts {
    /// Jobs pending.
    pub pending: i64,
    /// Jobs running.
    pub running: i64,
}

impl QueueCounts {
    /// Count `count`.
    pub fn value(&self, count: QueueCount) -> Value {
        Value::Int(match count {
            QueueCount::Pending => self.pending,
            QueueCount::Running => self.running,
        })
    }

    /// Adds `share` times `sign`.
    pub fn add(&mut self, share: QueueCounts, sign: i64) {
        self.pending += sign * share.pending;
        self.running += sign * share.running;
    }
}

/// The times of a job that move it through the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueTimes {
    /// Submit, epoch seconds.
    pub submit_s: i64,
    /// Start, if known.
    pub start_s: Option<i64>,
    /// End, if known.
    pub end_s: Option<i64>,
}

impl QueueTimes {
    /// The job's share of its queues once its events up to `until` (all
    /// of them when `None`) are counted.
    pub fn share(&self, until: Option<i64>) -> QueueCounts {
        let known = |t: Option<i64>| t.is_some_and(|t| until.is_none_or(|u| t <= u));
        let submitted = known(Some(self.submit_s));
        let started = known(self.start_s);
        let ended = known(self.end_s);
        QueueCounts {
            pending: i64::from(submitted && !started && !ended),
            running: i64::from(started && !ended),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_share_follows_the_known_times() {
        let job = QueueTimes {
            submit_s: 10,
            start_s: Some(20),
            end_s: Some(30),
        };
        let at = |u| job.share(Some(u));
        assert_eq!(at(9), QueueCounts::default());
        assert_eq!(
            at(10),
            QueueCounts {
                pending: 1,
                running: 0
            }
        );
        assert_eq!(
            at(20),
            QueueCounts {
                pending: 0,
                running: 1
            }
        );
        assert_eq!(at(30), QueueCounts::default());
        assert_eq!(job.share(None), QueueCounts::default());
        let cancelled = QueueTimes {
            submit_s: 10,
            start_s: None,
            end_s: Some(15),
        };
        assert_eq!(
            cancelled.share(Some(12)),
            QueueCounts {
                pending: 1,
                running: 0
            }
        );
        assert_eq!(cancelled.share(None), QueueCounts::default());
    }
}
