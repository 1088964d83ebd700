//! From the ensemble's log-scale quantiles to the seconds a user sees.

use crate::target::Target;

/// Seconds a job may run past its limit before the scheduler kills it; no
/// prediction exceeds request + grace.
pub const KILL_GRACE_S: f64 = 60.0;

/// Turns quantiles in `target` units (p10, p50, p90) into ordered seconds:
/// widens by the conformal margin (in target units), caps at the request
/// plus the kill grace (a job cannot outlive its limit), and removes
/// quantile crossing.
pub fn to_seconds(target: Target, log_q: [f64; 3], margin: f64, request_s: f64) -> [f64; 3] {
    let cap = if request_s.is_finite() && request_s > 0.0 {
        request_s + KILL_GRACE_S
    } else {
        f64::INFINITY
    };
    let secs = |v: f64| target.seconds(v).clamp(0.0, cap);
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
        let [p10, p50, p90] = to_seconds(Target::Log1pRunTime, [8.0, 7.0, 9.0], 0.0, 1800.0);
        assert!(p10 <= p50 && p50 <= p90);
        assert_eq!(p90, 1800.0 + KILL_GRACE_S);
        let [_, p50, _] = to_seconds(Target::Log1pRunTime, [1.0, 2.0, 3.0], 0.1, f64::NAN);
        assert!((p50 - 2f64.exp_m1()).abs() < 1e-12);
    }
}
