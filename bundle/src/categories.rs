//! The category codes of a bundle: for each categorical feature, its
//! training values in code order. Every member and the native engine read
//! categoricals as these codes; a value unseen in training is missing.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::BundleError;

/// Per categorical feature, its values in code order (code = position).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CategoryCodes {
    /// Per categorical feature, its values in code order.
    pub columns: BTreeMap<String, Vec<String>>,
}

impl CategoryCodes {
    /// Reads a bundle's category file.
    pub fn read(path: &Path) -> Result<Self, BundleError> {
        crate::error::read_json(path)
    }

    /// Number of codes of a categorical feature.
    pub fn cardinality(&self, name: &str) -> usize {
        self.columns.get(name).map_or(0, Vec::len)
    }

    /// The codes of feature `name` by value, as model inputs.
    pub fn code_map(&self, name: &str) -> HashMap<&str, f32> {
        self.columns
            .get(name)
            .map(|values| {
                values
                    .iter()
                    .enumerate()
                    .map(|(code, v)| (v.as_str(), code as f32))
                    .collect()
            })
            .unwrap_or_default()
    }
}
