//! LightGBM's text model format (`Booster::save_model`, `model_to_string`).
//!
//! A header of `key=value` lines, then one `Tree=N` block per tree. In each
//! block child indices are internal nodes when non-negative and `!leaf`
//! otherwise; `decision_type` packs the categorical flag (bit 0), the
//! default direction (bit 1) and the missing type (bits 2–3); a categorical
//! node's threshold indexes `cat_boundaries`, which delimit its bitset in
//! `cat_threshold`. Leaf values already include the shrinkage.

use std::collections::HashMap;
use std::str::FromStr;

use crate::error::TreeModelError;
use crate::forest::{BinaryBuilder, Child, Forest, ModelFormat, SplitSpec, flag};

const FORMAT: ModelFormat = ModelFormat::LightGbm;

/// Objectives whose prediction is the raw score.
const IDENTITY_OBJECTIVES: [&str; 6] = [
    "regression",
    "regression_l1",
    "quantile",
    "huber",
    "fair",
    "mape",
];

fn parse_err(detail: impl Into<String>) -> TreeModelError {
    TreeModelError::parse(FORMAT, detail)
}

fn list<T: FromStr>(block: &HashMap<&str, &str>, key: &str, tree: usize) -> crate::Result<Vec<T>> {
    let Some(text) = block.get(key) else {
        return Err(parse_err(format!("tree {tree}: missing `{key}`")));
    };
    text.split_whitespace()
        .map(|v| {
            v.parse()
                .map_err(|_| parse_err(format!("tree {tree}: bad value {v:?} in `{key}`")))
        })
        .collect()
}

fn scalar<T: FromStr>(block: &HashMap<&str, &str>, key: &str, tree: usize) -> crate::Result<T> {
    let text = block
        .get(key)
        .ok_or_else(|| parse_err(format!("tree {tree}: missing `{key}`")))?;
    text.trim()
        .parse()
        .map_err(|_| parse_err(format!("tree {tree}: bad `{key}` {text:?}")))
}

impl Forest {
    /// Loads a LightGBM text model.
    pub fn from_lightgbm_text(text: &str) -> crate::Result<Self> {
        let mut lines = text.lines();
        let mut header: HashMap<&str, &str> = HashMap::new();
        let mut flags = Vec::new();
        let mut first_tree = None;
        let mut ended = false;
        for line in lines.by_ref() {
            if line.starts_with("Tree=") {
                first_tree = Some(line);
                break;
            }
            if line == "end of trees" {
                ended = true;
                break;
            }
            match line.split_once('=') {
                Some((k, v)) => {
                    header.insert(k, v);
                }
                None if !line.trim().is_empty() => flags.push(line.trim()),
                None => {}
            }
        }
        if !header.contains_key("version") && first_tree.is_none() {
            return Err(parse_err("not a LightGBM text model (no header, no trees)"));
        }
        for key in ["num_class", "num_tree_per_iteration"] {
            if let Some(v) = header.get(key)
                && v.trim() != "1"
            {
                return Err(TreeModelError::unsupported(FORMAT, format!("{key}={v}")));
            }
        }
        if flags.contains(&"average_output") {
            return Err(TreeModelError::unsupported(
                FORMAT,
                "average_output (random forest mode)",
            ));
        }
        let objective = header
            .get("objective")
            .and_then(|o| o.split_whitespace().next())
            .ok_or_else(|| parse_err("missing `objective`"))?;
        if !IDENTITY_OBJECTIVES.contains(&objective) {
            return Err(TreeModelError::unsupported(
                FORMAT,
                format!("objective {objective} (its prediction is not the raw score)"),
            ));
        }
        let max_feature_idx: usize = header
            .get("max_feature_idx")
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| parse_err("missing or bad `max_feature_idx`"))?;
        let feature_names = header
            .get("feature_names")
            .map(|v| v.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default();

        let mut builder = BinaryBuilder::default();
        let mut tree = 0;
        let mut block: HashMap<&str, &str> = HashMap::new();
        let mut in_tree = first_tree.is_some();
        let mut finish = |block: &mut HashMap<&str, &str>| -> crate::Result<()> {
            append_tree(block, tree, &mut builder)?;
            tree += 1;
            block.clear();
            Ok(())
        };
        // The header loop stops at the end marker when there are no trees.
        if !ended {
            for line in lines {
                if line.starts_with("Tree=") || line == "end of trees" {
                    if in_tree {
                        finish(&mut block)?;
                    }
                    in_tree = line.starts_with("Tree=");
                    if !in_tree {
                        ended = true;
                        break;
                    }
                } else if in_tree && let Some((k, v)) = line.split_once('=') {
                    block.insert(k, v);
                }
            }
        }
        // LightGBM always writes the end marker, so a text without it was cut
        // short; its last trees are gone and its predictions would be wrong.
        if in_tree {
            return Err(parse_err(
                "model text ends inside a tree (no `end of trees`): the file is truncated",
            ));
        }
        if !ended {
            return Err(parse_err(format!(
                "model text ends after {tree} trees without `end of trees`: the file is truncated"
            )));
        }
        if let Some(sizes) = header.get("tree_sizes") {
            let listed = sizes.split_whitespace().count();
            if listed != tree {
                return Err(parse_err(format!(
                    "the header's `tree_sizes` lists {listed} trees, the text holds {tree}"
                )));
            }
        }
        Forest {
            format: FORMAT,
            num_features: max_feature_idx.saturating_add(1),
            feature_names,
            base: 0.0,
            scale: 1.0,
            body: builder.finish(),
        }
        .validated()
    }
}

fn append_tree(
    block: &HashMap<&str, &str>,
    tree: usize,
    builder: &mut BinaryBuilder,
) -> crate::Result<()> {
    if block.get("is_linear").is_some_and(|v| v.trim() != "0") {
        return Err(TreeModelError::unsupported(
            FORMAT,
            format!("linear trees (tree {tree})"),
        ));
    }
    let num_leaves: usize = scalar(block, "num_leaves", tree)?;
    let leaf_value: Vec<f64> = list(block, "leaf_value", tree)?;
    if num_leaves == 0 || leaf_value.len() != num_leaves {
        return Err(parse_err(format!(
            "tree {tree}: {} leaf values for {num_leaves} leaves",
            leaf_value.len()
        )));
    }
    // Training rows per node, which TreeSHAP weighs paths by; older or
    // hand-written models may lack them.
    let leaf_count: Option<Vec<f64>> = list(block, "leaf_count", tree).ok();
    if num_leaves == 1 {
        builder.add_tree(Vec::new(), &leaf_value, leaf_count);
        return Ok(());
    }
    let internal = num_leaves - 1;
    let split_feature: Vec<u32> = list(block, "split_feature", tree)?;
    let threshold: Vec<f64> = list(block, "threshold", tree)?;
    let decision_type: Vec<u8> = list(block, "decision_type", tree)?;
    let left_child: Vec<i64> = list(block, "left_child", tree)?;
    let right_child: Vec<i64> = list(block, "right_child", tree)?;
    for (key, len) in [
        ("split_feature", split_feature.len()),
        ("threshold", threshold.len()),
        ("decision_type", decision_type.len()),
        ("left_child", left_child.len()),
        ("right_child", right_child.len()),
    ] {
        if len != internal {
            return Err(parse_err(format!(
                "tree {tree}: `{key}` has {len} values for {internal} splits"
            )));
        }
    }
    let num_cat: usize = block
        .get("num_cat")
        .map_or(Ok(0), |_| scalar(block, "num_cat", tree))?;
    let (boundaries, words): (Vec<u32>, Vec<u32>) = if num_cat > 0 {
        (
            list(block, "cat_boundaries", tree)?,
            list(block, "cat_threshold", tree)?,
        )
    } else {
        (Vec::new(), Vec::new())
    };
    let child = |c: i64| -> crate::Result<Child> {
        if c >= 0 && (c as usize) < internal {
            Ok(Child::Split(c as usize))
        } else if c < 0 && ((!c) as usize) < num_leaves {
            Ok(Child::Leaf((!c) as usize))
        } else {
            Err(parse_err(format!("tree {tree}: child {c} out of range")))
        }
    };
    let mut splits = Vec::with_capacity(internal);
    for i in 0..internal {
        let dt = decision_type[i];
        let mut flags = if dt & 2 == 2 { flag::DEFAULT_LEFT } else { 0 };
        let mut categories = Vec::new();
        if dt & 1 == 1 {
            let idx = threshold[i] as usize;
            let (Some(&lo), Some(&hi)) = (boundaries.get(idx), boundaries.get(idx + 1)) else {
                return Err(parse_err(format!(
                    "tree {tree}: categorical split {i} refers to set {idx} of {num_cat}"
                )));
            };
            let Some(set) = words.get(lo as usize..hi as usize) else {
                return Err(parse_err(format!("tree {tree}: bad cat_boundaries")));
            };
            flags |= flag::CATEGORICAL;
            categories = set.to_vec();
        } else {
            flags |= match (dt >> 2) & 3 {
                0 => flag::NAN_AS_ZERO,
                1 => flag::ZERO_IS_MISSING,
                2 => 0,
                other => {
                    return Err(parse_err(format!(
                        "tree {tree}: unknown missing type {other} in decision_type {dt}"
                    )));
                }
            };
        }
        splits.push(SplitSpec {
            feature: split_feature[i],
            threshold: threshold[i],
            flags,
            categories,
            left: child(left_child[i])?,
            right: child(right_child[i])?,
        });
    }
    let covers = list::<f64>(block, "internal_count", tree)
        .ok()
        .zip(leaf_count)
        .map(|(mut internal, leaves)| {
            internal.extend(leaves);
            internal
        });
    builder.add_tree(splits, &leaf_value, covers);
    Ok(())
}
