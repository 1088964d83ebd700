//! From the ensemble's log-scale quantiles to the seconds a user sees.

use crate::target::Target;

pub use crate::request_cap::KILL_GRACE_S;

/// Turns quantiles in `target` units (p10, p50, p90) into ordered seconds:
/// widens by the conformal margin (in target units), caps at `cap_s` (the
/// longest the job can run: its request plus the kill grace where limits
/// are enforced, see [`crate::request_cap`]), and removes quantile
/// crossing.
pub fn to_seconds(target: Target, log_q: [f64; 3], margin: f64, cap_s: f64) -> [f64; 3] {
    let secs = |v: f64| target.seconds(v).clamp(0.0, cap_s);
    let p50 = secs(log_q[1]);
    let p10 = secs(log_q[0] - margin).min(p50);
    let p90 = secs(log_q[2] + margin).max(p50);
    [p10, p50, p90]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_ordered_and_capped_at_the_request() {
        let [p10, p50, p90] = to_seconds(Target::Log1pRunTime, [8.0, 7.0, 9.0], 0.0, 1860.0);
        assert!(p10 <= p50 && p50 <= p90);
        assert_eq!(p90, 1860.0);
        let [_, p50, _] = to_seconds(Target::Log1pRunTime, [1.0, 2.0, 3.0], 0.1, f64::INFINITY);
        assert!((p50 - 2f64.exp_m1()).abs() < 1e-12);
    }
}
