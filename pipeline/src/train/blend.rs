//! Blend weights: per quantile, the non-negative weights summing to 1 that
//! minimise the pinball loss of the weighted member predictions (log scale)
//! on the validation slice. Found by exhaustive search on a grid of the
//! simplex, so a member that does not help gets exactly zero.

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

    #[test]
    fn a_useless_member_gets_zero_and_complementary_errors_are_mixed() {
        let y: Vec<f64> = (0..400).map(|i| (i % 17) as f64).collect();
        // a errs +1 on even rows, b errs +1 on odd rows: their mean is exact
        let a: Vec<f64> = y.iter().enumerate().map(|(i, v)| v + if i % 2 == 0 { 1.0 } else { 0.0 }).collect();
        let b: Vec<f64> = y.iter().enumerate().map(|(i, v)| v + if i % 2 == 1 { 1.0 } else { 0.0 }).collect();
        let noise: Vec<f64> = y.iter().map(|v| v + 5.0).collect();
        let w = fit_weights(&[&a, &b, &noise], &y, 0.5);
        assert_eq!(w[2], 0.0, "{w:?}");
        assert!((w[0] - 0.5).abs() < 1e-12 && (w[1] - 0.5).abs() < 1e-12, "{w:?}");
        let mut blended = vec![0.0; y.len()];
        blend_into(&[&a, &b, &noise], &w, &mut blended);
        assert!(pinball_loss(&blended, &y, 0.5) < 1e-12);
    }

    #[test]
    fn pinball_weighs_under_and_over_prediction_by_the_quantile() {
        assert!((pinball_loss(&[0.0], &[1.0], 0.9) - 0.9).abs() < 1e-12);
        assert!((pinball_loss(&[1.0], &[0.0], 0.9) - 0.1).abs() < 1e-12);
    }
}
