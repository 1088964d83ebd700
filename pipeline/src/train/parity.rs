//! The check that the native engine predicts what each library predicts,
//! run on training rows before anything is published.

/// Largest `|native − library| / max(|library|, 1)`: relative for values of
/// magnitude ≥ 1 (log runtimes mostly are), absolute below.
pub fn max_rel_diff(native: &[f64], library: &[f64]) -> f64 {
    native
        .iter()
        .zip(library)
        .map(|(&a, &b)| (a - b).abs() / b.abs().max(1.0))
        .fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_above_one_absolute_below() {
        assert!((max_rel_diff(&[10.1], &[10.0]) - 0.01).abs() < 1e-12);
        assert!((max_rel_diff(&[0.15], &[0.1]) - 0.05).abs() < 1e-12);
        assert_eq!(max_rel_diff(&[1.0, 2.0], &[1.0, 2.0]), 0.0);
    }
}
