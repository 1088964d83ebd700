//! XGBoost's JSON model format (`Booster.save_model("m.json")`).
//!
//! `learner.gradient_booster.model.trees` holds one tree per round, each as
//! parallel arrays over node ids (`left_children == -1` marks a leaf, whose
//! value is its `split_conditions` entry). Numeric splits send `x < cond`
//! left; categorical splits (`split_type == 1`) send the listed categories
//! right. The prediction is `base_score` plus the sum of leaves.

use serde_json::Value;

use crate::error::TreeModelError;
use crate::forest::{Body, Forest, ModelFormat, Node, Rule};

const FORMAT: ModelFormat = ModelFormat::XgBoost;

/// Objectives whose prediction is the raw margin.
const IDENTITY_OBJECTIVES: [&str; 5] = [
    "reg:squarederror",
    "reg:absoluteerror",
    "reg:quantileerror",
    "reg:pseudohubererror",
    "reg:linear",
];

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
        let mut roots = Vec::with_capacity(trees.len());
        let mut nodes = Vec::new();
        let mut cat_words = Vec::new();
        for (t, tree) in trees.iter().enumerate() {
            append_tree(tree, t, &mut roots, &mut nodes, &mut cat_words)?;
        }
        Forest {
            format: FORMAT,
            num_features,
            feature_names,
            base,
            scale: 1.0,
            body: Body::Binary {
                roots,
                nodes,
                cat_words,
            },
        }
        .validated()
    }
}

fn append_tree(
    tree: &Value,
    t: usize,
    roots: &mut Vec<u32>,
    nodes: &mut Vec<Node>,
    cat_words: &mut Vec<u32>,
) -> crate::Result<()> {
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
            let Some(values) = categories.get(start..start + size) else {
                return Err(parse_err(format!(
                    "tree {t}: category segment out of range"
                )));
            };
            if let Some(slot) = sets.get_mut(node as usize) {
                *slot = Some(values.iter().map(|&c| c as u32).collect());
            }
        }
    }
    let base = nodes.len() as u32;
    roots.push(base);
    let child = |c: f64| -> crate::Result<u32> {
        if c < 0.0 || c as usize >= n {
            return Err(parse_err(format!("tree {t}: child {c} out of range")));
        }
        Ok(base + c as u32)
    };
    for id in 0..n {
        if left[id] == -1.0 {
            nodes.push(Node::leaf(cond[id]));
            continue;
        }
        let mut node = Node {
            value: cond[id],
            feature: feature[id] as u32,
            left: child(left[id])?,
            right: child(right[id])?,
            cats: 0,
            cat_len: 0,
            rule: Rule::XgbNumeric,
            default_left: default_left[id] != 0.0,
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
                let start = cat_words.len();
                cat_words.resize(start + words, 0);
                for &c in categories {
                    cat_words[start + (c / 32) as usize] |= 1 << (c % 32);
                }
                node.rule = Rule::XgbCategorical;
                node.cats = start as u32;
                node.cat_len = words as u32;
            }
            other => {
                return Err(TreeModelError::unsupported(
                    FORMAT,
                    format!("split type {other} (tree {t}, node {id})"),
                ));
            }
        }
        nodes.push(node);
    }
    Ok(())
}
