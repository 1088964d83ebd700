//! Where each part of a bundle lives inside its directory: the one layout
//! the writer ([`StagedBundle`](crate::StagedBundle) and the pipeline's
//! publish step) and the readers share. The manifest records every name, so
//! a reader follows the manifest; these are the names a writer gives.

use crate::manifest::MemberKind;

/// The manifest.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The category codes of categorical features.
pub const CATEGORIES_FILE: &str = "categories.json";
/// The history state the servers start from.
pub const HISTORY_FILE: &str = "history_state.parquet";
/// The queue state the servers start from.
pub const QUEUE_FILE: &str = "queue_state.parquet";
/// The feature SQL the bundle was trained with.
pub const SQL_DIR: &str = "sql";
/// Rows and library predictions a loader replays.
pub const PARITY_FILE: &str = "parity_sample.json";

/// The file of `kind`'s model for `quantile`, e.g. `lightgbm_p50.txt`.
pub fn model_file(kind: MemberKind, quantile: f64) -> String {
    let extension = match kind {
        MemberKind::Lightgbm => "txt",
        MemberKind::Xgboost | MemberKind::Catboost => "json",
    };
    format!(
        "{}_p{:02}.{extension}",
        kind.name(),
        (quantile * 100.0).round() as u32
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_files_are_named_by_member_and_quantile() {
        assert_eq!(model_file(MemberKind::Lightgbm, 0.5), "lightgbm_p50.txt");
        assert_eq!(model_file(MemberKind::Xgboost, 0.1), "xgboost_p10.json");
    }
}
