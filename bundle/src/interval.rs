//! From the ensemble's log-scale quantiles to the seconds a user sees.

use crate::likely::LikelyRule;
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

/// Where p10, p50 and p90 are among a bundle's quantile `levels`
/// (increasing): the outermost two and the median. `None` without a median.
pub fn interval_positions(levels: &[f64]) -> Option<[usize; 3]> {
    let median = levels.iter().position(|&q| (q - 0.5).abs() < 1e-9)?;
    Some([0, median, levels.len() - 1])
}

/// The p10, p50 and p90 of `log_q` (one value per level).
pub fn interval_of(positions: [usize; 3], log_q: &[f64]) -> [f64; 3] {
    positions.map(|i| log_q[i])
}

/// The likely runtime in seconds (see [`crate::likely`]): the p50 when the
/// bundle has no rule; otherwise the rule's point, kept inside the
/// calibrated, capped interval `seconds` (p10, p50, p90) it goes with.
pub fn likely_seconds(
    target: Target,
    rule: Option<&LikelyRule>,
    levels: &[f64],
    log_q: &[f64],
    seconds: [f64; 3],
) -> f64 {
    let [p10, p50, p90] = seconds;
    match rule {
        None => p50,
        Some(rule) => {
            let point = target.seconds(rule.log_point(levels, log_q));
            if point.is_nan() {
                p50
            } else {
                point.clamp(p10, p90)
            }
        }
    }
}

/// A job's calibrated, capped p10/p50/p90 and its likely runtime, seconds,
/// from the raw quantiles `log_q` of a bundle with quantile `levels`: what
/// the batch evaluation and the servers both compute.
pub fn calibrated_seconds(
    target: Target,
    levels: &[f64],
    positions: [usize; 3],
    log_q: &[f64],
    margin: f64,
    cap_s: f64,
    rule: Option<&LikelyRule>,
) -> ([f64; 3], f64) {
    let quantiles = to_seconds(target, interval_of(positions, log_q), margin, cap_s);
    let likely = likely_seconds(target, rule, levels, log_q, quantiles);
    (quantiles, likely)
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

    #[test]
    fn the_likely_runtime_stays_inside_the_capped_interval() {
        let levels = [0.1, 0.3, 0.5, 0.7, 0.9];
        let log_q = [1.0, 2.0, 6.0, 10.0, 10.2];
        let positions = interval_positions(&levels).unwrap();
        assert_eq!(positions, [0, 2, 4]);
        let target = Target::Log1pRunTime;
        let capped = to_seconds(target, interval_of(positions, &log_q), 0.0, 3600.0);
        let rule = LikelyRule::default();
        let likely = likely_seconds(target, Some(&rule), &levels, &log_q, capped);
        assert!(likely <= 3600.0 && likely >= capped[0], "{likely}");
        assert_eq!(
            likely_seconds(target, None, &levels, &log_q, capped),
            capped[1]
        );
        assert!(interval_positions(&[0.1, 0.9]).is_none());
    }
}
