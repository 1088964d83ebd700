//! XGBoost's JSON model format (`Booster.save_model("m.json")`).
//!
//! `learner.gradient_booster.model.trees` holds one tree per round, each as
//! parallel arrays over node ids (`left_children == -1` marks a leaf, whose
//! value is its `split_conditions` entry). Numeric splits send `x < cond`
//! left; categorical splits (`split_type == 1`) send the listed categories
//! right. The prediction is `base_score` plus the sum of leaves.

use serde_json::Value;

use crate::error::TreeModelError;
use crate::forest::{BinaryBuilder, Child, Forest, ModelFormat, SplitSpec, flag};

const FORMAT: ModelFormat = ModelFormat::XgBoost;

/// Objectives whose prediction is the raw margin.
const IDENTITY_OBJECTIVES: [&str; 5] = [
    "reg:squarederror",
    "reg:absoluteerror",
    "reg:quantileerror",
    "reg:pseudohubererror",
    "reg:linear",
];

/// Largest category code taken (XGBoost codes are small dense integers).
const MAX_CATEGORY: u32 = 1 << 24;

fn parse_err(detail: impl Into<String>) -> TreeModelError {
    TreeModelError::parse(FORMAT, detail)
}

fn at<'a>(v: &'a Value, path: &[&str]) -> crate::Result<&'a Value> {
    let mut cur = v;
    for key in path {
        cur = cur
            .get(key)
            .ok_or_else(|| parse_err(format!("missing `{}`", path.join("."))))?;
    }
    Ok(cur)
}

/// A number that XGBoost may write as a JSON number or as a string (the
/// model parameters are strings; `base_score` may be `"[5E-1]"`).
fn number(v: &Value, what: &str) -> crate::Result<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim_matches(|c| c == '[' || c == ']').parse().ok(),
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        _ => None,
    }
    .ok_or_else(|| parse_err(format!("`{what}` is not a number: {v}")))
}

fn numbers(tree: &Value, key: &str, t: usize) -> crate::Result<Vec<f64>> {
    tree.get(key)
        .and_then(Value::as_array)
        .ok_or_else(|| parse_err(format!("tree {t}: missing `{key}`")))?
        .iter()
        .map(|v| number(v, key))
        .collect()
}

impl Forest {
    /// Loads an XGBoost JSON model.
    pub fn from_xgboost_json(text: &str) -> crate::Result<Self> {
        let root: Value =
            serde_json::from_str(text).map_err(|e| parse_err(format!("not JSON: {e}")))?;
        let learner = at(&root, &["learner"])?;
        let booster = at(learner, &["gradient_booster"])?;
        let name = at(booster, &["name"])?.as_str().unwrap_or_default();
        if name != "gbtree" {
            return Err(TreeModelError::unsupported(
                FORMAT,
                format!("booster {name:?}"),
            ));
        }
        let objective = at(learner, &["objective", "name"])?
            .as_str()
            .unwrap_or_default();
        if !IDENTITY_OBJECTIVES.contains(&objective) {
            return Err(TreeModelError::unsupported(
                FORMAT,
                format!("objective {objective} (its prediction is not the raw margin)"),
            ));
        }
        let params = at(learner, &["learner_model_param"])?;
        for key in ["num_target", "num_class"] {
            if let Some(v) = params.get(key) {
                let n = number(v, key)?;
                if n > 1.0 {
                    return Err(TreeModelError::unsupported(FORMAT, format!("{key}={n}")));
                }
            }
        }
        let base_text = at(params, &["base_score"])?;
        if base_text.as_str().is_some_and(|s| s.contains(',')) {
            return Err(TreeModelError::unsupported(
                FORMAT,
                "a vector base_score (multi-output model)",
            ));
        }
        let base = number(base_text, "base_score")?;
        let num_features = number(at(params, &["num_feature"])?, "num_feature")? as usize;
        let feature_names = learner
            .get("feature_names")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();

        let model = at(booster, &["model"])?;
        if let Some(info) = model.get("tree_info").and_then(Value::as_array)
            && info.iter().any(|g| g.as_i64() != Some(0))
        {
            return Err(TreeModelError::unsupported(FORMAT, "several output groups"));
        }
        let trees = at(model, &["trees"])?
            .as_array()
            .ok_or_else(|| parse_err("`trees` is not a list"))?;
        let mut builder = BinaryBuilder::default();
        for (t, tree) in trees.iter().enumerate() {
            append_tree(tree, t, &mut builder)?;
        }
        Forest {
            format: FORMAT,
            num_features,
            feature_names,
            base,
            scale: 1.0,
            body: builder.finish(),
        }
        .validated()
    }
}

fn append_tree(tree: &Value, t: usize, builder: &mut BinaryBuilder) -> crate::Result<()> {
    if let Some(size) = tree.pointer("/tree_param/size_leaf_vector") {
        let size = number(size, "size_leaf_vector")?;
        if size > 1.0 {
            return Err(TreeModelError::unsupported(
                FORMAT,
                format!("vector leaves (tree {t})"),
            ));
        }
    }
    let left = numbers(tree, "left_children", t)?;
    let right = numbers(tree, "right_children", t)?;
    let cond = numbers(tree, "split_conditions", t)?;
    let feature = numbers(tree, "split_indices", t)?;
    let default_left = numbers(tree, "default_left", t)?;
    let n = left.len();
    if [right.len(), cond.len(), feature.len(), default_left.len()]
        .iter()
        .any(|&len| len != n)
        || n == 0
    {
        return Err(parse_err(format!("tree {t}: node arrays differ in length")));
    }
    let split_type = match tree.get("split_type") {
        Some(_) => numbers(tree, "split_type", t)?,
        None => vec![0.0; n],
    };
    if split_type.len() != n {
        return Err(parse_err(format!(
            "tree {t}: `split_type` has {} values for {n} nodes",
            split_type.len()
        )));
    }
    // category sets, by node id
    let mut sets: Vec<Option<Vec<u32>>> = vec![None; n];
    if split_type.iter().any(|&s| s != 0.0) {
        let cat_nodes = numbers(tree, "categories_nodes", t)?;
        let segments = numbers(tree, "categories_segments", t)?;
        let sizes = numbers(tree, "categories_sizes", t)?;
        let categories = numbers(tree, "categories", t)?;
        for (k, &node) in cat_nodes.iter().enumerate() {
            let (Some(&start), Some(&size)) = (segments.get(k), sizes.get(k)) else {
                return Err(parse_err(format!(
                    "tree {t}: category arrays differ in length"
                )));
            };
            let (start, size) = (start as usize, size as usize);
            let Some(values) = start
                .checked_add(size)
                .and_then(|end| categories.get(start..end))
            else {
                return Err(parse_err(format!(
                    "tree {t}: category segment out of range"
                )));
            };
            // Category codes index a bitset: a code past any real category
            // count would only allocate.
            if let Some(&bad) = values
                .iter()
                .find(|&&c| !(0.0..=f64::from(MAX_CATEGORY)).contains(&c))
            {
                return Err(parse_err(format!(
                    "tree {t}: category {bad} out of range (0..={MAX_CATEGORY})"
                )));
            }
            if let Some(slot) = sets.get_mut(node as usize) {
                *slot = Some(values.iter().map(|&c| c as u32).collect());
            }
        }
    }
    // Node ids become split indices (in id order) and leaf indices.
    let mut split_index = vec![usize::MAX; n];
    let mut leaf_index = vec![usize::MAX; n];
    let mut leaves = Vec::new();
    let mut n_splits = 0;
    for id in 0..n {
        if left[id] == -1.0 {
            leaf_index[id] = leaves.len();
            leaves.push(cond[id]);
        } else {
            split_index[id] = n_splits;
            n_splits += 1;
        }
    }
    let child = |c: f64| -> crate::Result<Child> {
        if c < 0.0 || c as usize >= n {
            return Err(parse_err(format!("tree {t}: child {c} out of range")));
        }
        let id = c as usize;
        Ok(if left[id] == -1.0 {
            Child::Leaf(leaf_index[id])
        } else {
            Child::Split(split_index[id])
        })
    };
    if n_splits > 0 && left[0] == -1.0 {
        return Err(parse_err(format!(
            "tree {t}: root is a leaf but the tree has splits"
        )));
    }
    let mut splits = Vec::with_capacity(n_splits);
    for id in 0..n {
        if left[id] == -1.0 {
            continue;
        }
        let mut spec = SplitSpec {
            feature: feature[id] as u32,
            // XGBoost sends x < c left in single precision; for an f32 x that
            // is x <= the largest f32 below c.
            threshold: f64::from((cond[id] as f32).next_down()),
            flags: if default_left[id] != 0.0 {
                flag::DEFAULT_LEFT
            } else {
                0
            },
            categories: Vec::new(),
            left: child(left[id])?,
            right: child(right[id])?,
        };
        match split_type[id] {
            0.0 => {}
            1.0 => {
                let Some(categories) = sets[id].as_ref() else {
                    return Err(parse_err(format!(
                        "tree {t}: categorical node {id} has no category set"
                    )));
                };
                let words = categories.iter().max().map_or(0, |&m| m / 32 + 1) as usize;
                let mut bits = vec![0u32; words];
                for &c in categories {
                    bits[(c / 32) as usize] |= 1 << (c % 32);
                }
                spec.flags |= flag::CATEGORICAL | flag::SET_GOES_RIGHT | flag::CAT_NAN_DEFAULT;
                spec.categories = bits;
            }
            other => {
                return Err(TreeModelError::unsupported(
                    FORMAT,
                    format!("split type {other} (tree {t}, node {id})"),
                ));
            }
        }
        splits.push(spec);
    }
    builder.add_tree(splits, &leaves, None);
    Ok(())
}
