//! Outputs of rows a model has already scored, each with a fingerprint of
//! its model inputs: a job scored again from the same inputs (a test job
//! served live gets the features the SQL gave it) takes its outputs from
//! here instead of from every forest again.

use crate::lgbm::ColumnMajor;

/// The blend's raw outputs (log units) of scored rows, and each row's
/// input fingerprint ([`row_fingerprints`]).
#[derive(Debug, Clone, Default)]
pub struct ScoredRows {
    /// One per scored row.
    pub fingerprints: Vec<u64>,
    /// One vector per quantile, one value per scored row.
    pub raw: Vec<Vec<f64>>,
}

impl ScoredRows {
    /// Whether scored row `k`'s inputs had `fingerprint`.
    pub fn matches(&self, k: usize, fingerprint: u64) -> bool {
        self.fingerprints.get(k) == Some(&fingerprint)
    }
}

/// A 64-bit fingerprint of each row of `x`: every value's bits, column by
/// column, folded through a bijective mixer. Rows that differ in one value
/// always differ in fingerprint (each step is a bijection of the state);
/// rows that differ in more share one with a chance of about 2^-64.
pub fn row_fingerprints(x: &ColumnMajor) -> Vec<u64> {
    let mut fingerprints = vec![0x243f_6a88_85a3_08d3_u64; x.rows];
    for j in 0..x.cols {
        for (h, value) in fingerprints.iter_mut().zip(x.column(j)) {
            *h = mix(*h ^ u64::from(value.to_bits()));
        }
    }
    fingerprints
}

/// MurmurHash3's 64-bit finalizer: a bijection with full avalanche.
fn mix(mut z: u64) -> u64 {
    z ^= z >> 33;
    z = z.wrapping_mul(0xff51_afd7_ed55_8ccd);
    z ^= z >> 33;
    z = z.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    z ^ (z >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix(rows: &[[f32; 3]]) -> ColumnMajor {
        let values = (0..3)
            .flat_map(|j| rows.iter().map(move |r| r[j]))
            .collect();
        ColumnMajor {
            values,
            rows: rows.len(),
            cols: 3,
        }
    }

    #[test]
    fn equal_rows_share_a_fingerprint_and_any_changed_value_breaks_it() {
        let base = [1.5, f32::NAN, 7.0];
        let mut rows = vec![base, base];
        for j in 0..3 {
            let mut changed = base;
            changed[j] = if j == 1 {
                0.0
            } else {
                base[j] + f32::EPSILON * 8.0
            };
            rows.push(changed);
        }
        // The same values in another column order are other inputs.
        rows.push([7.0, f32::NAN, 1.5]);
        let h = row_fingerprints(&matrix(&rows));
        assert_eq!(h[0], h[1]);
        for (i, other) in h.iter().enumerate().skip(2) {
            assert_ne!(h[0], *other, "row {i}");
        }
        let scored = ScoredRows {
            fingerprints: h.clone(),
            raw: vec![vec![0.0; h.len()]],
        };
        assert!(scored.matches(1, h[0]));
        assert!(!scored.matches(2, h[0]));
        assert!(!scored.matches(99, h[0]));
    }
}
