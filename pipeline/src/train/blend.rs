//! Blend weights: per quantile, the non-negative weights summing to 1 that
//! minimise the pinball loss of the weighted member predictions (log scale)
//! on the validation slice. Found by exhaustive search on a grid of the
//! simplex, so a member that does not help gets exactly zero.
//!
//! A blend fitted on a few thousand recent jobs can fit their noise. So the
//! blend must first earn its place: weights fitted on the older half of the
//! validation slice must beat, on the newer half, the member that was best on
//! the older half. Otherwise that member alone takes all the weight.

/// Weight resolution: weights are multiples of 1/GRID_STEPS.
const GRID_STEPS: u32 = 20;

/// Mean pinball (quantile) loss of `pred` against `y` at quantile `q`.
pub fn pinball_loss(pred: &[f64], y: &[f64], q: f64) -> f64 {
    if y.is_empty() {
        return 0.0;
    }
    let total: f64 = pred
        .iter()
        .zip(y)
        .map(|(&p, &t)| {
            let d = t - p;
            if d >= 0.0 { q * d } else { (q - 1.0) * d }
        })
        .sum();
    total / y.len() as f64
}

/// Every way to split `GRID_STEPS` into `parts` non-negative counts.
fn compositions(parts: usize) -> Vec<Vec<u32>> {
    fn extend(prefix: &mut Vec<u32>, left: u32, parts: usize, out: &mut Vec<Vec<u32>>) {
        if prefix.len() + 1 == parts {
            prefix.push(left);
            out.push(prefix.clone());
            prefix.pop();
            return;
        }
        for take in (0..=left).rev() {
            prefix.push(take);
            extend(prefix, left - take, parts, out);
            prefix.pop();
        }
    }
    let mut out = Vec::new();
    if parts > 0 {
        extend(&mut Vec::new(), GRID_STEPS, parts, &mut out);
    }
    out
}

/// The weights of `members` (one prediction vector each) for quantile `q`.
pub fn fit_weights(members: &[&[f64]], y: &[f64], q: f64) -> Vec<f64> {
    if members.len() == 1 {
        return vec![1.0];
    }
    let mut best = (f64::INFINITY, Vec::new());
    let mut blended = vec![0.0; y.len()];
    for counts in compositions(members.len()) {
        let weights: Vec<f64> = counts
            .iter()
            .map(|&c| f64::from(c) / f64::from(GRID_STEPS))
            .collect();
        blend_into(members, &weights, &mut blended);
        let loss = pinball_loss(&blended, y, q);
        if loss < best.0 {
            best = (loss, weights);
        }
    }
    best.1
}

/// The member with the lowest pinball loss.
fn best_member(members: &[&[f64]], y: &[f64], q: f64) -> usize {
    let losses: Vec<f64> = members.iter().map(|m| pinball_loss(m, y, q)).collect();
    (0..members.len())
        .min_by(|&a, &b| losses[a].total_cmp(&losses[b]))
        .unwrap_or(0)
}

/// Weights for quantile `q`: the fitted blend if it generalises from the
/// older to the newer half of the validation rows (`y` in submit order),
/// else all weight on the best member.
pub fn choose_weights(members: &[&[f64]], y: &[f64], q: f64) -> Vec<f64> {
    if members.len() == 1 {
        return vec![1.0];
    }
    let half = y.len() / 2;
    let older: Vec<&[f64]> = members.iter().map(|m| &m[..half]).collect();
    let newer: Vec<&[f64]> = members.iter().map(|m| &m[half..]).collect();
    let weights = fit_weights(&older, &y[..half], q);
    let mut blended = vec![0.0; y.len() - half];
    blend_into(&newer, &weights, &mut blended);
    let best = best_member(&older, &y[..half], q);
    if pinball_loss(&blended, &y[half..], q) < pinball_loss(newer[best], &y[half..], q) {
        fit_weights(members, y, q)
    } else {
        let best = best_member(members, y, q);
        (0..members.len())
            .map(|m| if m == best { 1.0 } else { 0.0 })
            .collect()
    }
}

/// `out[i] = Σ_m weights[m] * members[m][i]`.
pub fn blend_into(members: &[&[f64]], weights: &[f64], out: &mut [f64]) {
    out.fill(0.0);
    for (member, &w) in members.iter().zip(weights) {
        if w == 0.0 {
            continue;
        }
        for (o, &p) in out.iter_mut().zip(member.iter()) {
            *o += w * p;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_covers_the_simplex() {
        let grid = compositions(3);
        assert_eq!(grid.len(), 231); // C(22, 2)
        assert!(grid.iter().all(|c| c.iter().sum::<u32>() == GRID_STEPS));
    }

    /// `y` with `offset` added on even rows up to `until`, and `late` added after.
    fn shifted(y: &[f64], offset: f64, until: usize, late: f64) -> Vec<f64> {
        y.iter()
            .enumerate()
            .map(|(i, v)| match i {
                i if i >= until => v + late,
                i if i % 2 == 0 => v + offset,
                _ => *v,
            })
            .collect()
    }

    #[test]
    fn a_useless_member_gets_zero_and_complementary_errors_are_mixed() {
        let y: Vec<f64> = (0..400).map(|i| (i % 17) as f64).collect();
        // on even rows a errs by +1 and b by -1: their mean is exact
        let a = shifted(&y, 1.0, y.len(), 0.0);
        let b = shifted(&y, -1.0, y.len(), 0.0);
        let noise = shifted(&y, 5.0, 0, 5.0);
        let w = fit_weights(&[&a, &b, &noise], &y, 0.5);
        assert_eq!(w[2], 0.0, "{w:?}");
        assert!(
            (w[0] - 0.5).abs() < 1e-12 && (w[1] - 0.5).abs() < 1e-12,
            "{w:?}"
        );
        let mut blended = vec![0.0; y.len()];
        blend_into(&[&a, &b, &noise], &w, &mut blended);
        assert!(pinball_loss(&blended, &y, 0.5) < 1e-12);
    }

    #[test]
    fn a_blend_that_only_fits_the_older_half_is_not_used() {
        let y: Vec<f64> = (0..400).map(|i| (i % 13) as f64).collect();
        // a is good throughout; b helps on the older half only
        let a = shifted(&y, 1.0, y.len(), 0.0);
        let b = shifted(&y, -1.0, 200, 3.0);
        assert_eq!(choose_weights(&[&a, &b], &y, 0.5), [1.0, 0.0]);
        // where b helps throughout, the blend is kept
        let b = shifted(&y, -1.0, y.len(), 0.0);
        let w = choose_weights(&[&a, &b], &y, 0.5);
        assert!((w[0] - 0.5).abs() < 1e-12, "{w:?}");
    }

    #[test]
    fn pinball_weighs_under_and_over_prediction_by_the_quantile() {
        assert!((pinball_loss(&[0.0], &[1.0], 0.9) - 0.9).abs() < 1e-12);
        assert!((pinball_loss(&[1.0], &[0.0], 0.9) - 0.1).abs() < 1e-12);
    }
}
