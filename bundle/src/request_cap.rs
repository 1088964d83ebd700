//! How far past its request a job can run, learned from the training jobs.
//!
//! Where the scheduler enforces limits (Slurm kills a job at its limit plus
//! a grace), no job outlives its request and predictions are capped there.
//! Where limits are not enforced, many jobs run past their request, and a
//! cap at the request would put the true runtime of each of them outside
//! the interval. Whether and by how much is a fact in the cluster's own
//! history: the cap is `(request + grace) × factor`, the factor the
//! [`CAP_QUANTILE`] of runtime / (request + grace) over the training jobs
//! (at least 1), per partition where it has [`MIN_PARTITION_JOBS`] of them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The categorical feature whose value picks a job's partition cap: the
/// pipeline and the servers read the partition from it alike.
pub const PARTITION_FEATURE: &str = "cat_partition";

/// Seconds a job may run past its limit before the scheduler kills it.
pub const KILL_GRACE_S: f64 = 60.0;

/// Share of jobs the cap is allowed to cut: the cap sits at this quantile
/// of runtime / (request + grace).
pub const CAP_QUANTILE: f64 = 0.99;

/// Fewest training jobs with a request for a partition to get its own cap.
pub const MIN_PARTITION_JOBS: u64 = 500;

/// Share of training jobs without a requested time from which servers
/// score jobs without one: below it, the model has barely seen such jobs
/// and a missing request is more likely a client's omission.
pub const MIN_SHARE_WITHOUT_REQUEST: f64 = 0.01;

/// The evidence about one group of jobs' limits, and the cap it gives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LimitEvidence {
    /// Training jobs with a request in the group.
    pub jobs: u64,
    /// Share of them that ran past request + grace.
    pub over_share: f64,
    /// The cap is (request + grace) × factor; 1 where limits are enforced.
    pub factor: f64,
}

impl LimitEvidence {
    /// Nothing learned: the limit taken as enforced.
    pub const ENFORCED: Self = Self {
        jobs: 0,
        over_share: 0.0,
        factor: 1.0,
    };

    /// Whether the group's limits hold (no more than the cut share ran
    /// past request + grace).
    pub fn enforced(&self) -> bool {
        self.factor <= 1.0
    }

    fn learn(ratios: &mut [f64]) -> Self {
        let jobs = ratios.len();
        if jobs == 0 {
            return Self::ENFORCED;
        }
        ratios.sort_by(f64::total_cmp);
        let over = ratios.iter().filter(|&&r| r > 1.0).count();
        let at = ((jobs as f64 * CAP_QUANTILE).ceil() as usize).clamp(1, jobs) - 1;
        Self {
            jobs: jobs as u64,
            over_share: over as f64 / jobs as f64,
            factor: ratios[at].max(1.0),
        }
    }
}

/// The learned caps: one for all jobs, and one per partition with enough
/// jobs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestCap {
    /// All training jobs with a request.
    pub overall: LimitEvidence,
    /// Partitions with at least [`MIN_PARTITION_JOBS`] such jobs.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub partitions: BTreeMap<String, LimitEvidence>,
    /// Training jobs without a requested time.
    #[serde(default)]
    pub jobs_without_request: u64,
}

impl Default for RequestCap {
    /// Limits enforced everywhere: what bundles without the evidence assumed.
    fn default() -> Self {
        Self {
            overall: LimitEvidence::ENFORCED,
            partitions: BTreeMap::new(),
            jobs_without_request: 0,
        }
    }
}

/// One training job as the cap sees it.
#[derive(Debug, Clone, Copy)]
pub struct EndedJob<'a> {
    /// Its partition, if known.
    pub partition: Option<&'a str>,
    /// Its runtime, seconds.
    pub run_time_s: f64,
    /// Its request, seconds (NaN when unknown).
    pub request_s: f64,
}

impl RequestCap {
    /// Learns the caps from training jobs; jobs without a request say
    /// nothing about limits.
    pub fn learn<'a>(jobs: impl IntoIterator<Item = EndedJob<'a>>) -> Self {
        let mut overall = Vec::new();
        let mut by_partition: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
        let mut without_request = 0;
        for job in jobs {
            // NaN (unknown) is not positive.
            let has_request = job.request_s > 0.0;
            if !has_request {
                without_request += 1;
                continue;
            }
            let ran = job.run_time_s >= 0.0;
            if !ran {
                continue;
            }
            let ratio = job.run_time_s / (job.request_s + KILL_GRACE_S);
            overall.push(ratio);
            if let Some(p) = job.partition {
                by_partition.entry(p).or_default().push(ratio);
            }
        }
        Self {
            overall: LimitEvidence::learn(&mut overall),
            partitions: by_partition
                .into_iter()
                .filter(|(_, r)| r.len() as u64 >= MIN_PARTITION_JOBS)
                .map(|(p, mut r)| (p.to_owned(), LimitEvidence::learn(&mut r)))
                .collect(),
            jobs_without_request: without_request,
        }
    }

    /// Whether servers score jobs without a requested time: the model
    /// learned from enough of them (at least [`MIN_SHARE_WITHOUT_REQUEST`]
    /// of its training jobs).
    pub fn requests_optional(&self) -> bool {
        let all = self.overall.jobs + self.jobs_without_request;
        all > 0 && self.jobs_without_request as f64 >= MIN_SHARE_WITHOUT_REQUEST * all as f64
    }

    /// The evidence that applies to a job of `partition`.
    pub fn evidence(&self, partition: Option<&str>) -> &LimitEvidence {
        partition
            .and_then(|p| self.partitions.get(p))
            .unwrap_or(&self.overall)
    }

    /// The longest runtime a job with `request_s` in `partition` is
    /// predicted to reach, seconds (unbounded without a request).
    pub fn cap_s(&self, partition: Option<&str>, request_s: f64) -> f64 {
        if request_s.is_finite() && request_s > 0.0 {
            (request_s + KILL_GRACE_S) * self.evidence(partition).factor
        } else {
            f64::INFINITY
        }
    }

    /// The most a suggested request may be: the request itself where limits
    /// hold (a suggestion lowers a limit), the cap where they do not (the
    /// job will run that long whatever it asked for).
    pub fn suggestion_ceiling_s(&self, partition: Option<&str>, request_s: f64) -> f64 {
        if self.evidence(partition).enforced() {
            request_s
        } else {
            self.cap_s(partition, request_s)
        }
    }

    /// One line on what the training jobs showed, for reports.
    pub fn describe(&self) -> String {
        let group = |name: &str, e: &LimitEvidence| {
            if e.jobs == 0 {
                format!("{name}: no job records a request; predictions are not capped")
            } else if e.enforced() {
                format!(
                    "{name}: limits enforced ({:.1} % of {} jobs ran past request + {KILL_GRACE_S} s; cap at request + {KILL_GRACE_S} s)",
                    e.over_share * 100.0,
                    e.jobs
                )
            } else {
                format!(
                    "{name}: limits not enforced ({:.1} % of {} jobs ran past request + {KILL_GRACE_S} s; cap at (request + {KILL_GRACE_S} s) × {:.2})",
                    e.over_share * 100.0,
                    e.jobs,
                    e.factor
                )
            }
        };
        // Partitions that agree with the whole are summed up in one clause.
        let differing: Vec<String> = self
            .partitions
            .iter()
            .filter(|(_, e)| e.enforced() != self.overall.enforced() || !e.enforced())
            .map(|(p, e)| group(&format!("partition {p}"), e))
            .collect();
        let agreeing = self.partitions.len() - differing.len();
        let mut text = group("all partitions", &self.overall);
        if self.requests_optional() {
            text.push_str(&format!(
                "; {} training jobs had no request, so jobs without one are scored",
                self.jobs_without_request
            ));
        }
        if agreeing > 0 {
            text.push_str(&format!(
                "; the same in {agreeing} partition(s) with their own evidence"
            ));
        }
        std::iter::once(text)
            .chain(differing)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Whether every group's limits hold.
    pub fn enforced_everywhere(&self) -> bool {
        self.overall.enforced() && self.partitions.values().all(LimitEvidence::enforced)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jobs(partition: &'static str, runs_and_requests: &[(f64, f64)]) -> Vec<EndedJob<'static>> {
        runs_and_requests
            .iter()
            .map(|&(run_time_s, request_s)| EndedJob {
                partition: Some(partition),
                run_time_s,
                request_s,
            })
            .collect()
    }

    #[test]
    fn enforced_limits_cap_at_the_request_plus_grace() {
        let cap = RequestCap::learn(jobs("short", &[(100.0, 3600.0); 1000]));
        assert!(cap.enforced_everywhere());
        assert_eq!(cap.cap_s(Some("short"), 3600.0), 3600.0 + KILL_GRACE_S);
        assert_eq!(cap.suggestion_ceiling_s(Some("short"), 3600.0), 3600.0);
        assert_eq!(cap.cap_s(None, f64::NAN), f64::INFINITY);
    }

    #[test]
    fn limits_that_are_not_enforced_raise_the_cap_by_what_the_jobs_show() {
        // 40 % of the jobs run to three times their request.
        let mut mixed = jobs("loose", &[(100.0, 940.0); 600]);
        mixed.extend(jobs("loose", &[(3000.0, 940.0); 400]));
        mixed.extend(jobs("strict", &[(100.0, 940.0); 600]));
        let cap = RequestCap::learn(mixed);
        let loose = cap.evidence(Some("loose"));
        assert!((loose.over_share - 0.4).abs() < 1e-12);
        assert!((loose.factor - 3.0).abs() < 1e-12);
        assert_eq!(cap.cap_s(Some("loose"), 940.0), 3000.0);
        assert_eq!(cap.suggestion_ceiling_s(Some("loose"), 940.0), 3000.0);
        // The strict partition keeps its own enforced cap.
        assert!(cap.evidence(Some("strict")).enforced());
        assert_eq!(cap.cap_s(Some("strict"), 940.0), 1000.0);
        // Too few jobs: the overall evidence applies.
        assert_eq!(cap.evidence(Some("tiny")), &cap.overall);
        assert!(!cap.enforced_everywhere());
    }

    #[test]
    fn jobs_without_a_request_say_nothing_about_limits() {
        let cap = RequestCap::learn(jobs("any", &[(100.0, f64::NAN); 800]));
        assert_eq!(cap.overall, LimitEvidence::ENFORCED);
        assert_eq!(cap.jobs_without_request, 800);
        assert!(cap.requests_optional());
        assert!(!RequestCap::default().requests_optional());
        // One job in a thousand without a request is an omission.
        let mut mostly = jobs("any", &[(100.0, 3600.0); 999]);
        mostly.extend(jobs("any", &[(100.0, f64::NAN); 1]));
        assert!(!RequestCap::learn(mostly).requests_optional());
    }
}
