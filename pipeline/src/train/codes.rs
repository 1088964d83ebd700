//! The model matrix: features as `f32` columns, categorical values replaced
//! by integer codes that every member and the native engine share.

use std::collections::{BTreeMap, HashMap};

use crate::frame::{FeatureFrame, MISSING_ID};
use crate::lgbm::ColumnMajor;

pub use rtp_bundle::CategoryCodes;

/// Builds the codes from the given rows of `frame`: codes follow descending
/// training frequency.
pub fn fit_codes(frame: &FeatureFrame, rows: &[usize]) -> CategoryCodes {
    let mut columns = BTreeMap::new();
    for col in &frame.categorical {
        let mut counts: HashMap<u32, u64> = HashMap::new();
        for &r in rows {
            let id = col.ids[r];
            if id != MISSING_ID {
                *counts.entry(id).or_default() += 1;
            }
        }
        let mut ids: Vec<(u32, u64)> = counts.into_iter().collect();
        ids.sort_by(|a, b| {
            b.1.cmp(&a.1)
                .then_with(|| col.dictionary[a.0 as usize].cmp(&col.dictionary[b.0 as usize]))
        });
        let values = ids
            .into_iter()
            .map(|(id, _)| col.dictionary[id as usize].clone())
            .collect();
        columns.insert(col.name.clone(), values);
    }
    CategoryCodes { columns }
}

/// Per categorical column of `frame`, the code of each interned id (NaN if unseen).
fn lookup(codes: &CategoryCodes, frame: &FeatureFrame) -> Vec<Vec<f32>> {
    frame
        .categorical
        .iter()
        .map(|col| {
            let map = codes.code_map(&col.name);
            col.dictionary
                .iter()
                .map(|v| map.get(v.as_str()).copied().unwrap_or(f32::NAN))
                .collect()
        })
        .collect()
}
/// Builds the column-major model input for `rows` of `frame`: numeric
/// features, then categorical codes.
pub fn model_matrix(frame: &FeatureFrame, rows: &[usize], codes: &CategoryCodes) -> ColumnMajor {
    let lookup = lookup(codes, frame);
    let cols = frame.numeric.len() + frame.categorical.len();
    let mut values = Vec::with_capacity(rows.len() * cols);
    for col in &frame.numeric {
        values.extend(rows.iter().map(|&r| col.values[r]));
    }
    for (col, table) in frame.categorical.iter().zip(&lookup) {
        values.extend(rows.iter().map(|&r| match col.ids[r] {
            MISSING_ID => f32::NAN,
            id => table[id as usize],
        }));
    }
    ColumnMajor {
        values,
        rows: rows.len(),
        cols,
    }
}

/// The training label of row `r`: its runtime in [`super::TARGET`] units.
pub fn label(frame: &FeatureFrame, r: usize) -> f64 {
    super::TARGET.label(frame.run_time_s[r])
}
