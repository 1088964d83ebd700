//! One entity's history, continued as its jobs end.
//!
//! The statistics are those of `entity_end_stats` (sql/04) at the entity's
//! latest end: a count, running sums behind the means, and the most recent
//! ends in end order for the bounded median and for the last and previous
//! runtimes. Ends may arrive in any order: each is placed by its
//! (end time, job key), the order of the SQL's windows.

use std::collections::VecDeque;

use crate::row_value::Value;

/// A statistic of `history_state`, by its column name there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryStat {
    /// Jobs of the entity that ended (and ran).
    NEnded,
    /// Mean of ln(1 + runtime).
    MeanLogRt,
    /// Median of ln(1 + runtime) over the window of recent ends.
    MedianLogRt,
    /// Runtime of the latest end.
    LastRt,
    /// Runtime of the end before it.
    PrevRt,
    /// Mean runtime / request.
    MeanRatio,
    /// Share of ends that timed out.
    TimeoutShare,
    /// Time of the latest end.
    LastEndS,
    /// Time of the latest submit.
    LastSubmitS,
}

impl HistoryStat {
    /// Every statistic with its column name and whether it is an integer.
    pub const ALL: [(HistoryStat, &'static str, bool); 9] = [
        (Self::NEnded, "n_ended", true),
        (Self::MeanLogRt, "mean_log_rt", false),
        (Self::MedianLogRt, "median_log_rt", false),
        (Self::LastRt, "last_rt", false),
        (Self::PrevRt, "prev_rt", false),
        (Self::MeanRatio, "mean_ratio", false),
        (Self::TimeoutShare, "timeout_share", false),
        (Self::LastEndS, "last_end_s", true),
        (Self::LastSubmitS, "last_submit_s", true),
    ];

    /// The statistic a `history_state` column holds.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().find(|(_, n, _)| *n == name).map(|s| s.0)
    }

    /// Whether the statistic is an integer (else a float).
    pub fn is_integer(self) -> bool {
        Self::ALL.iter().any(|(s, _, int)| *s == self && *int)
    }
}

/// One end in the window: its place in end order, its log runtime and its
/// runtime.
#[derive(Debug, Clone, Copy, PartialEq)]
struct RecentEnd {
    order: (i64, i64),
    log_rt: f64,
    run_time_s: f64,
}

/// What one job's end adds to its entities' history.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EndFacts {
    /// End time, epoch seconds.
    pub end_s: i64,
    /// The job's key, which orders ends of the same second.
    pub job_key: i64,
    /// ln(1 + runtime).
    pub log_rt: f64,
    /// Runtime, seconds.
    pub run_time_s: f64,
    /// Runtime / request, when the request is known.
    pub run_req_ratio: Option<f64>,
    /// 1 when the job timed out, else 0.
    pub is_timeout: f64,
}

/// An entity's history.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EntityHistory {
    n_ended: i64,
    log_rt_sum: f64,
    ratio_n: i64,
    ratio_sum: f64,
    timeout_sum: f64,
    /// The most recent ends, oldest first, at most the window's size.
    recent: VecDeque<RecentEnd>,
    last_end_s: Option<i64>,
    last_submit_s: Option<i64>,
}

/// An entity's history as `history_state` publishes it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoredHistory {
    /// Jobs that ended.
    pub n_ended: i64,
    /// Sum of ln(1 + runtime).
    pub log_rt_sum: f64,
    /// Ends with a known ratio.
    pub ratio_n: i64,
    /// Sum of the known ratios.
    pub ratio_sum: f64,
    /// Number of timeouts.
    pub timeout_sum: f64,
    /// Log runtimes of the most recent ends, oldest first.
    pub recent_log_rt: Vec<f64>,
    /// Runtime of the latest end.
    pub last_rt: Option<f64>,
    /// Runtime of the end before it.
    pub prev_rt: Option<f64>,
    /// Time of the latest end.
    pub last_end_s: Option<i64>,
    /// Time of the latest submit.
    pub last_submit_s: Option<i64>,
}

impl EntityHistory {
    /// The history published in a bundle. Its ends all precede any end
    /// applied later, so they are ordered by position alone.
    pub fn from_stored(stored: StoredHistory) -> Self {
        let len = stored.recent_log_rt.len();
        let recent = stored
            .recent_log_rt
            .iter()
            .enumerate()
            .map(|(i, &log_rt)| RecentEnd {
                order: (i64::MIN, i as i64),
                log_rt,
                // Only the last two runtimes are ever read.
                run_time_s: if i + 1 == len {
                    stored.last_rt.unwrap_or(f64::NAN)
                } else if i + 2 == len {
                    stored.prev_rt.unwrap_or(f64::NAN)
                } else {
                    f64::NAN
                },
            })
            .collect();
        Self {
            n_ended: stored.n_ended,
            log_rt_sum: stored.log_rt_sum,
            ratio_n: stored.ratio_n,
            ratio_sum: stored.ratio_sum,
            timeout_sum: stored.timeout_sum,
            recent,
            last_end_s: stored.last_end_s,
            last_submit_s: stored.last_submit_s,
        }
    }

    /// Records a submit at `t`.
    pub fn add_submit(&mut self, t: i64) {
        self.last_submit_s = Some(self.last_submit_s.map_or(t, |s| s.max(t)));
    }

    /// Records an end; `window` is the median's window size.
    pub fn add_end(&mut self, end: &EndFacts, window: usize) {
        self.n_ended += 1;
        self.log_rt_sum += end.log_rt;
        if let Some(r) = end.run_req_ratio {
            self.ratio_n += 1;
            self.ratio_sum += r;
        }
        self.timeout_sum += end.is_timeout;
        self.last_end_s = Some(self.last_end_s.map_or(end.end_s, |e| e.max(end.end_s)));
        let order = (end.end_s, end.job_key);
        let at = self.recent.partition_point(|r| r.order < order);
        self.recent.insert(
            at,
            RecentEnd {
                order,
                log_rt: end.log_rt,
                run_time_s: end.run_time_s,
            },
        );
        while self.recent.len() > window {
            self.recent.pop_front();
        }
    }

    /// Statistic `stat`, NULL where the SQL's would be.
    pub fn stat(&self, stat: HistoryStat) -> Value {
        let float = |v: Option<f64>| v.map_or(Value::Null, Value::Float);
        let int = |v: Option<i64>| v.map_or(Value::Null, Value::Int);
        let n = self.n_ended;
        match stat {
            HistoryStat::NEnded => Value::Int(n),
            HistoryStat::MeanLogRt => float((n > 0).then(|| self.log_rt_sum / n as f64)),
            HistoryStat::MedianLogRt => float(self.median_log_rt()),
            HistoryStat::LastRt => float(self.recent.back().map(|r| r.run_time_s)),
            HistoryStat::PrevRt => float(
                self.recent
                    .len()
                    .checked_sub(2)
                    .map(|i| self.recent[i].run_time_s),
            ),
            HistoryStat::MeanRatio => {
                float((self.ratio_n > 0).then(|| self.ratio_sum / self.ratio_n as f64))
            }
            HistoryStat::TimeoutShare => float((n > 0).then(|| self.timeout_sum / n as f64)),
            HistoryStat::LastEndS => int(self.last_end_s),
            HistoryStat::LastSubmitS => int(self.last_submit_s),
        }
    }

    /// The median as DataFusion's MEDIAN computes it: the middle value, or
    /// the mean of the two middle values.
    fn median_log_rt(&self) -> Option<f64> {
        let mut values: Vec<f64> = self.recent.iter().map(|r| r.log_rt).collect();
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        let mid = values.len() / 2;
        Some(if values.len().is_multiple_of(2) {
            (values[mid - 1] + values[mid]) / 2.0
        } else {
            values[mid]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn end(end_s: i64, job_key: i64, run_time_s: f64) -> EndFacts {
        EndFacts {
            end_s,
            job_key,
            log_rt: (1.0 + run_time_s).ln(),
            run_time_s,
            run_req_ratio: Some(run_time_s / 100.0),
            is_timeout: 0.0,
        }
    }

    #[test]
    fn ends_in_any_order_give_the_same_history() {
        let ends: Vec<EndFacts> = (0..40)
            .map(|i| end(1000 + (i * 7919) % 97, i, (10 + i * 3) as f64))
            .collect();
        let mut in_order = EntityHistory::default();
        let mut sorted = ends.clone();
        sorted.sort_by_key(|e| (e.end_s, e.job_key));
        for e in &sorted {
            in_order.add_end(e, 25);
        }
        let mut reversed = EntityHistory::default();
        for e in sorted.iter().rev() {
            reversed.add_end(e, 25);
        }
        for (stat, name, _) in HistoryStat::ALL {
            let (a, b) = (in_order.stat(stat), reversed.stat(stat));
            match (&a, &b) {
                (Value::Float(x), Value::Float(y)) => {
                    assert!(
                        (x - y).abs() <= 1e-12 * x.abs().max(1.0),
                        "{name}: {x} vs {y}"
                    )
                }
                _ => assert_eq!(a, b, "{name}"),
            }
        }
        let last = sorted.last().unwrap();
        assert_eq!(
            in_order.stat(HistoryStat::LastRt),
            Value::Float(last.run_time_s)
        );
        assert_eq!(
            in_order.stat(HistoryStat::PrevRt),
            Value::Float(sorted[sorted.len() - 2].run_time_s)
        );
    }

    #[test]
    fn the_median_is_over_the_window_and_averages_an_even_middle() {
        let mut h = EntityHistory::default();
        for (i, rt) in [1.0, 3.0, 7.0, 15.0].iter().enumerate() {
            h.add_end(&end(i as i64, i as i64, *rt), 3);
        }
        // window: ln 4, ln 8, ln 16 -> median ln 8
        assert_eq!(h.stat(HistoryStat::MedianLogRt), Value::Float(8f64.ln()));
        let mut even = EntityHistory::default();
        even.add_end(&end(0, 0, 1.0), 25);
        even.add_end(&end(1, 1, 3.0), 25);
        assert_eq!(
            even.stat(HistoryStat::MedianLogRt),
            Value::Float((2f64.ln() + 4f64.ln()) / 2.0)
        );
        assert_eq!(even.stat(HistoryStat::NEnded), Value::Int(2));
    }

    #[test]
    fn an_entity_only_submitted_has_nulls_where_the_sql_has() {
        let mut h = EntityHistory::default();
        h.add_submit(50);
        h.add_submit(40);
        assert_eq!(h.stat(HistoryStat::LastSubmitS), Value::Int(50));
        assert_eq!(h.stat(HistoryStat::NEnded), Value::Int(0));
        for s in [
            HistoryStat::MeanLogRt,
            HistoryStat::MedianLogRt,
            HistoryStat::LastRt,
            HistoryStat::PrevRt,
            HistoryStat::LastEndS,
        ] {
            assert_eq!(h.stat(s), Value::Null);
        }
    }
}
