//! The one runtime a user is told: the value most likely to lie within a
//! factor of two of the actual, read off the predicted quantiles.
//!
//! The median minimises the absolute error but not the share of jobs
//! predicted within 2×: where a job's outcome is two-humped (a quick failure
//! or a full run), the median falls between the humps and near neither. The
//! quantiles describe the whole predicted distribution, so the point that
//! catches the most probability in a window of ×/÷ 2 can be read off them,
//! with its expected absolute error kept near the median's.

use serde::{Deserialize, Serialize};

/// How the likely runtime is chosen; recorded in the manifest so servers
/// compute it exactly as the evaluation did.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LikelyRule {
    /// The factor the runtime aims to be within (2: from half to twice).
    pub within_factor: f64,
    /// What one unit of relative extra absolute error costs against the
    /// probability of being within the factor: the score of a candidate is
    /// P(within) − weight × (E|Y − x| / E|Y − median| − 1).
    pub error_weight: f64,
}

impl Default for LikelyRule {
    fn default() -> Self {
        Self {
            within_factor: 2.0,
            error_weight: 0.3,
        }
    }
}

impl LikelyRule {
    /// The likely value in `ln(1 + seconds)` from the quantiles `log_q` (same
    /// units) at `levels` (increasing, inside (0, 1), with 0.5 among or
    /// between them).
    ///
    /// The distribution is taken as uniform in log space between adjacent
    /// quantiles, its tails continuing the density of the outer segments.
    /// The window's probability is piecewise linear in the candidate, so its
    /// maximum lies where a window edge meets a knot: those points and the
    /// median are the candidates, and the median wins ties.
    pub fn log_point(&self, levels: &[f64], log_q: &[f64]) -> f64 {
        let Some(cdf) = LogCdf::from_quantiles(levels, log_q) else {
            return log_q.get(levels.len() / 2).copied().unwrap_or(f64::NAN);
        };
        let median = cdf.quantile(0.5);
        let median_error = cdf.expected_abs_error(median.exp_m1());
        if median_error.is_nan() || median_error <= 0.0 || self.within_factor <= 1.0 {
            return median;
        }
        let half_width = self.within_factor.ln();
        let score = |x: f64| {
            let within = cdf.at(x + half_width) - cdf.at(x - half_width);
            let extra_error = cdf.expected_abs_error(x.exp_m1()) / median_error - 1.0;
            within - self.error_weight * extra_error
        };
        let mut best = (median, score(median));
        for &knot in &cdf.knots {
            for x in [knot - half_width, knot + half_width] {
                if x < 0.0 {
                    continue;
                }
                let s = score(x);
                if s > best.1 + 1e-12 {
                    best = (x, s);
                }
            }
        }
        best.0
    }
}

/// A piecewise-linear CDF over `ln(1 + seconds)`.
struct LogCdf {
    knots: Vec<f64>,
    levels: Vec<f64>,
}

impl LogCdf {
    /// The CDF through the quantiles, with a knot at level 0 and at 1; `None`
    /// when there are too few quantiles, any is not finite, or all coincide.
    fn from_quantiles(levels: &[f64], log_q: &[f64]) -> Option<Self> {
        let n = levels.len();
        if n < 2 || log_q.len() != n || log_q.iter().any(|v| !v.is_finite()) {
            return None;
        }
        // Crossed quantiles are put in order, as the interval does.
        let mut q: Vec<f64> = log_q.iter().map(|v| v.max(0.0)).collect();
        q.sort_by(f64::total_cmp);
        if q[n - 1] - q[0] < 1e-9 {
            return None;
        }
        let density_slope = |a: usize, b: usize| (q[b] - q[a]) / (levels[b] - levels[a]);
        let low = (q[0] - density_slope(0, 1) * levels[0]).max(0.0);
        let high = q[n - 1] + density_slope(n - 2, n - 1) * (1.0 - levels[n - 1]);
        let mut knots = Vec::with_capacity(n + 2);
        knots.push(low);
        knots.extend(&q);
        knots.push(high);
        let mut all_levels = Vec::with_capacity(n + 2);
        all_levels.push(0.0);
        all_levels.extend(levels);
        all_levels.push(1.0);
        Some(Self {
            knots,
            levels: all_levels,
        })
    }

    /// P(Y ≤ x).
    fn at(&self, x: f64) -> f64 {
        interpolate(&self.knots, &self.levels, x)
    }

    /// The value at `level`.
    fn quantile(&self, level: f64) -> f64 {
        interpolate(&self.levels, &self.knots, level)
    }

    /// E|Y − c| in seconds, Y = exp(U) − 1 with U following this CDF.
    fn expected_abs_error(&self, c: f64) -> f64 {
        let pivot = c.max(0.0).ln_1p();
        // ∫ (e^u − 1 − c) du
        let antiderivative = |u: f64| u.exp() - u - c * u;
        let mut total = 0.0;
        for i in 0..self.knots.len() - 1 {
            let (a, b) = (self.knots[i], self.knots[i + 1]);
            let mass = self.levels[i + 1] - self.levels[i];
            if mass <= 0.0 {
                continue;
            }
            let mean_abs = if b - a < 1e-12 {
                (a.exp_m1() - c).abs()
            } else if pivot <= a {
                (antiderivative(b) - antiderivative(a)) / (b - a)
            } else if pivot >= b {
                (antiderivative(a) - antiderivative(b)) / (b - a)
            } else {
                (antiderivative(a) + antiderivative(b) - 2.0 * antiderivative(pivot)) / (b - a)
            };
            total += mass * mean_abs;
        }
        total
    }
}

/// Linear interpolation of `ys` over increasing `xs`, flat outside.
fn interpolate(xs: &[f64], ys: &[f64], x: f64) -> f64 {
    if x <= xs[0] {
        return ys[0];
    }
    let last = xs.len() - 1;
    if x >= xs[last] {
        return ys[last];
    }
    let i = xs.partition_point(|&v| v <= x) - 1;
    let span = xs[i + 1] - xs[i];
    if span <= 0.0 {
        return ys[i + 1];
    }
    ys[i] + (ys[i + 1] - ys[i]) * (x - xs[i]) / span
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEVELS: [f64; 5] = [0.1, 0.3, 0.5, 0.7, 0.9];

    fn ln1p_min(minutes: f64) -> f64 {
        (minutes * 60.0).ln_1p()
    }

    #[test]
    fn a_symmetric_distribution_keeps_its_median() {
        let q: Vec<f64> = [-2.0, -1.0, 0.0, 1.0, 2.0]
            .iter()
            .map(|d| 8.0 + d * 0.3)
            .collect();
        assert_eq!(LikelyRule::default().log_point(&LEVELS, &q), 8.0);
    }

    #[test]
    fn a_two_humped_outcome_moves_to_the_likelier_hump() {
        // Quick failures at 1–2 min, full runs at 8 h and more: the median
        // (1 h) lies between the humps, within 2× of neither.
        let q = [
            ln1p_min(1.0),
            ln1p_min(2.0),
            ln1p_min(60.0),
            ln1p_min(480.0),
            ln1p_min(500.0),
        ];
        let rule = LikelyRule::default();
        let x = rule.log_point(&LEVELS, &q);
        let seconds = x.exp_m1();
        assert!(
            seconds > 3.0 * 3600.0,
            "the dense upper hump should win: {seconds}"
        );
        // Without the error term it goes to the densest window as well.
        let free = LikelyRule {
            error_weight: 0.0,
            ..rule
        };
        assert!(free.log_point(&LEVELS, &q).exp_m1() > 3.0 * 3600.0);
    }

    #[test]
    fn the_error_weight_holds_the_point_near_the_median() {
        let q = [
            ln1p_min(1.0),
            ln1p_min(1.5),
            ln1p_min(30.0),
            ln1p_min(100.0),
            ln1p_min(1000.0),
        ];
        let median = q[2];
        let heavy = LikelyRule {
            error_weight: 1e6,
            ..LikelyRule::default()
        };
        assert_eq!(heavy.log_point(&LEVELS, &q), median);
        let free = LikelyRule {
            error_weight: 0.0,
            ..LikelyRule::default()
        };
        assert_ne!(free.log_point(&LEVELS, &q), median);
    }

    #[test]
    fn expected_error_matches_sampling() {
        let cdf = LogCdf::from_quantiles(&LEVELS, &[3.0, 5.0, 6.0, 7.5, 9.0]).unwrap();
        let c = 600.0;
        let n = 200_000;
        let sampled: f64 = (0..n)
            .map(|i| (cdf.quantile((i as f64 + 0.5) / n as f64).exp_m1() - c).abs())
            .sum::<f64>()
            / n as f64;
        let exact = cdf.expected_abs_error(c);
        assert!(
            (sampled - exact).abs() / exact < 1e-3,
            "{sampled} vs {exact}"
        );
    }

    #[test]
    fn degenerate_quantiles_give_the_median() {
        let rule = LikelyRule::default();
        assert_eq!(rule.log_point(&LEVELS, &[4.0; 5]), 4.0);
        assert_eq!(rule.log_point(&[0.1, 0.5, 0.9], &[1.0, 2.0, f64::NAN]), 2.0);
    }

    #[test]
    fn crossed_quantiles_are_ordered_first() {
        let rule = LikelyRule::default();
        let ordered = rule.log_point(&LEVELS, &[3.0, 5.0, 6.0, 7.5, 9.0]);
        let crossed = rule.log_point(&LEVELS, &[5.0, 3.0, 6.0, 9.0, 7.5]);
        assert_eq!(ordered, crossed);
    }
}
