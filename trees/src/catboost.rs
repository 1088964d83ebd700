//! CatBoost's JSON model format (`model.save_model(path, format="json")`).
//!
//! Oblivious trees: every level of a tree applies one split to all nodes, so
//! a tree is its split list and a leaf table indexed by the split outcomes
//! (split `j` sets bit `j`). Float splits test `x > border`; NaN takes the
//! feature's `nan_value_treatment`. One-hot splits test whether the
//! category's hash equals a stored value (see [`crate::cityhash`]). Counter
//! (CTR) features, text and embedding features and non-symmetric trees are
//! refused.

use serde_json::Value;

use crate::error::TreeModelError;
use crate::forest::{Body, Forest, ModelFormat, ObliviousSplit, ObliviousTree};

const FORMAT: ModelFormat = ModelFormat::CatBoost;

/// Text the CatBoost trainer gives a missing category.
pub const MISSING_CATEGORY_TEXT: &str = "-1";

/// Losses whose prediction is the raw formula value.
const IDENTITY_LOSSES: [&str; 7] = [
    "RMSE",
    "MAE",
    "Quantile",
    "MAPE",
    "Huber",
    "Expectile",
    "Lq",
];

fn parse_err(detail: impl Into<String>) -> TreeModelError {
    TreeModelError::parse(FORMAT, detail)
}

fn index(v: &Value, key: &str, what: &str) -> crate::Result<usize> {
    v.get(key)
        .and_then(Value::as_u64)
        .map(|n| n as usize)
        .ok_or_else(|| parse_err(format!("{what}: missing `{key}`")))
}

fn list<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

impl Forest {
    /// Loads a CatBoost JSON model.
    pub fn from_catboost_json(text: &str) -> crate::Result<Self> {
        let root: Value =
            serde_json::from_str(text).map_err(|e| parse_err(format!("not JSON: {e}")))?;
        if root
            .get("ctr_data")
            .is_some_and(|c| c.as_object().is_none_or(|o| !o.is_empty()))
        {
            return Err(TreeModelError::unsupported(FORMAT, "CTR features"));
        }
        if root.get("oblivious_trees").is_none() {
            return Err(TreeModelError::unsupported(
                FORMAT,
                "non-symmetric trees (grow_policy other than SymmetricTree)",
            ));
        }
        if let Some(loss) = root
            .pointer("/model_info/params/loss_function/type")
            .and_then(Value::as_str)
            && !IDENTITY_LOSSES.contains(&loss)
        {
            return Err(TreeModelError::unsupported(
                FORMAT,
                format!("loss {loss} (its prediction is not the raw formula value)"),
            ));
        }
        let info = root
            .get("features_info")
            .ok_or_else(|| parse_err("missing `features_info`"))?;
        for kind in ["text_features", "embedding_features"] {
            if !list(info, kind).is_empty() {
                return Err(TreeModelError::unsupported(FORMAT, kind.replace('_', " ")));
            }
        }
        let float_features = list(info, "float_features");
        let cat_features = list(info, "categorical_features");
        let mut num_features = 0;
        let mut float_inputs = Vec::with_capacity(float_features.len());
        let mut feature_names = Vec::new();
        for f in float_features {
            let flat = index(f, "flat_feature_index", "float feature")?;
            let nan_value = f.get("nan_value_treatment").and_then(Value::as_str) == Some("AsTrue");
            float_inputs.push((flat as u32, nan_value));
            num_features = num_features.max(flat + 1);
        }
        let mut cat_inputs = Vec::with_capacity(cat_features.len());
        for f in cat_features {
            let flat = index(f, "flat_feature_index", "categorical feature")?;
            cat_inputs.push(flat as u32);
            num_features = num_features.max(flat + 1);
        }
        let mut names: Vec<(usize, String)> = float_features
            .iter()
            .chain(cat_features)
            .filter_map(|f| {
                Some((
                    f.get("flat_feature_index")?.as_u64()? as usize,
                    f.get("feature_id")?.as_str()?.to_owned(),
                ))
            })
            .collect();
        names.sort();
        if names.len() == num_features {
            feature_names = names.into_iter().map(|(_, n)| n).collect();
        }

        let (scale, base) = scale_and_bias(root.get("scale_and_bias"))?;
        let mut trees = Vec::new();
        let mut splits = Vec::new();
        let mut leaves = Vec::new();
        for (t, tree) in list(&root, "oblivious_trees").iter().enumerate() {
            let first_split = splits.len() as u32;
            for split in list(tree, "splits") {
                splits.push(parse_split(split, t, &float_inputs, cat_inputs.len())?);
            }
            let depth = splits.len() as u32 - first_split;
            let values = list(tree, "leaf_values");
            if values.len() != 1usize << depth {
                return Err(TreeModelError::unsupported(
                    FORMAT,
                    format!(
                        "{} leaf values for depth {depth} in tree {t} (multi-dimensional output)",
                        values.len()
                    ),
                ));
            }
            let first_leaf = leaves.len() as u32;
            for v in values {
                leaves.push(
                    v.as_f64()
                        .ok_or_else(|| parse_err(format!("tree {t}: bad leaf value {v}")))?,
                );
            }
            trees.push(ObliviousTree {
                first_split,
                depth,
                first_leaf,
            });
        }
        Forest {
            format: FORMAT,
            num_features,
            feature_names,
            base,
            scale,
            body: Body::Oblivious {
                trees,
                splits,
                leaves,
                cat_inputs,
            },
        }
        .validated()
    }
}

fn scale_and_bias(v: Option<&Value>) -> crate::Result<(f64, f64)> {
    let Some(v) = v else {
        return Ok((1.0, 0.0));
    };
    let bad = || parse_err(format!("bad `scale_and_bias` {v}"));
    let pair = v.as_array().filter(|a| a.len() == 2).ok_or_else(bad)?;
    let scale = pair[0].as_f64().ok_or_else(bad)?;
    let bias = match &pair[1] {
        Value::Array(b) if b.len() == 1 => b[0].as_f64().ok_or_else(bad)?,
        Value::Array(b) if b.is_empty() => 0.0,
        Value::Array(_) => {
            return Err(TreeModelError::unsupported(
                FORMAT,
                "a bias per dimension (multi-dimensional output)",
            ));
        }
        other => other.as_f64().ok_or_else(bad)?,
    };
    Ok((scale, bias))
}

fn parse_split(
    split: &Value,
    t: usize,
    float_inputs: &[(u32, bool)],
    cat_count: usize,
) -> crate::Result<ObliviousSplit> {
    let kind = split
        .get("split_type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match kind {
        "FloatFeature" => {
            let i = index(split, "float_feature_index", &format!("tree {t} split"))?;
            let &(feature, nan_value) = float_inputs
                .get(i)
                .ok_or_else(|| parse_err(format!("tree {t}: float feature {i} is not listed")))?;
            let border = split
                .get("border")
                .and_then(Value::as_f64)
                .ok_or_else(|| parse_err(format!("tree {t}: split without `border`")))?;
            Ok(ObliviousSplit::Float {
                feature,
                border: border as f32,
                nan_value,
            })
        }
        "OneHotFeature" => {
            let slot = index(split, "cat_feature_index", &format!("tree {t} split"))?;
            if slot >= cat_count {
                return Err(parse_err(format!(
                    "tree {t}: categorical feature {slot} is not listed"
                )));
            }
            let hash = split
                .get("value")
                .and_then(Value::as_i64)
                .ok_or_else(|| parse_err(format!("tree {t}: one-hot split without `value`")))?;
            Ok(ObliviousSplit::OneHot {
                slot: slot as u32,
                hash: hash as i32,
            })
        }
        other => Err(TreeModelError::unsupported(
            FORMAT,
            format!("{other} splits (tree {t})"),
        )),
    }
}
