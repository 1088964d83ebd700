//! The flat representation every loader produces, and its evaluation.
//!
//! Binary trees (LightGBM, XGBoost) live in one node array; each tree is a
//! root index into it. Oblivious trees (CatBoost) are a split list per tree
//! plus a leaf table indexed by the split outcomes. Batches are evaluated
//! tree-outer over blocks of rows so a tree's nodes stay in cache while the
//! block is walked through it; per row, trees are summed in model order.

use std::fmt;

use crate::cityhash::catboost_category_hash;
use crate::error::TreeModelError;

/// Rows evaluated together against one tree.
const BLOCK_ROWS: usize = 64;
/// Batches smaller than this are evaluated on the calling thread.
const PARALLEL_MIN_ROWS: usize = 4096;

/// Where a model came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModelFormat {
    /// LightGBM's text model format.
    LightGbm,
    /// XGBoost's JSON model format.
    XgBoost,
    /// CatBoost's JSON model format.
    CatBoost,
}

impl fmt::Display for ModelFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::LightGbm => "LightGBM",
            Self::XgBoost => "XGBoost",
            Self::CatBoost => "CatBoost",
        })
    }
}

/// How LightGBM routes a missing numeric value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LgbMissing {
    /// NaN is treated as 0.
    None,
    /// Zero (and NaN) go the default way.
    Zero,
    /// NaN goes the default way.
    NaN,
}

/// The decision a node makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rule {
    /// A leaf; its value is in `Node::value`.
    Leaf,
    /// LightGBM numeric: `x <= threshold` goes left, in double precision.
    LgbNumeric(LgbMissing),
    /// LightGBM categorical: a category in the bitset goes left; NaN and
    /// negative values go right.
    LgbCategorical,
    /// XGBoost numeric: `x < threshold` goes left, in single precision; NaN
    /// goes the default way.
    XgbNumeric,
    /// XGBoost categorical: a category in the set goes right; NaN goes the
    /// default way.
    XgbCategorical,
}

/// One node of a binary tree.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Node {
    /// Split threshold, or the leaf value.
    pub value: f64,
    /// Input column the split reads.
    pub feature: u32,
    /// Child indices into the node array.
    pub left: u32,
    pub right: u32,
    /// Bitset words of a categorical split: `cat_words[cats..cats + cat_len]`.
    pub cats: u32,
    pub cat_len: u32,
    pub rule: Rule,
    pub default_left: bool,
}

impl Node {
    pub(crate) fn leaf(value: f64) -> Self {
        Self {
            value,
            feature: 0,
            left: 0,
            right: 0,
            cats: 0,
            cat_len: 0,
            rule: Rule::Leaf,
            default_left: false,
        }
    }
}

/// A split of an oblivious tree.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ObliviousSplit {
    /// `x > border` in single precision; NaN gives `nan_value`.
    Float {
        feature: u32,
        border: f32,
        nan_value: bool,
    },
    /// The category's hash equals `hash`; `slot` indexes the hashed
    /// categorical inputs.
    OneHot { slot: u32, hash: i32 },
}

/// An oblivious tree: `depth` splits from `first_split`, `2^depth` leaves
/// from `first_leaf`. Split `j` sets bit `j` of the leaf index.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ObliviousTree {
    pub first_split: u32,
    pub depth: u32,
    pub first_leaf: u32,
}

#[derive(Debug, Clone)]
pub(crate) enum Body {
    Binary {
        roots: Vec<u32>,
        nodes: Vec<Node>,
        cat_words: Vec<u32>,
    },
    Oblivious {
        trees: Vec<ObliviousTree>,
        splits: Vec<ObliviousSplit>,
        leaves: Vec<f64>,
        /// Input column of each hashed categorical slot.
        cat_inputs: Vec<u32>,
    },
}

/// A loaded tree ensemble: `base + scale * Σ trees`.
#[derive(Debug, Clone)]
pub struct Forest {
    pub(crate) format: ModelFormat,
    pub(crate) num_features: usize,
    pub(crate) feature_names: Vec<String>,
    pub(crate) base: f64,
    pub(crate) scale: f64,
    pub(crate) body: Body,
}

#[inline]
fn bit_is_set(words: &[u32], pos: u32) -> bool {
    let word = (pos / 32) as usize;
    word < words.len() && (words[word] >> (pos % 32)) & 1 == 1
}

#[inline]
fn goes_left(node: &Node, x: f32, cat_words: &[u32]) -> bool {
    match node.rule {
        Rule::LgbNumeric(missing) => {
            let mut v = f64::from(x);
            if v.is_nan() && missing != LgbMissing::NaN {
                v = 0.0;
            }
            let is_missing = match missing {
                LgbMissing::Zero => (-1e-35_f32 as f64..=1e-35_f32 as f64).contains(&v),
                LgbMissing::NaN => v.is_nan(),
                LgbMissing::None => false,
            };
            if is_missing {
                node.default_left
            } else {
                v <= node.value
            }
        }
        Rule::LgbCategorical => {
            if x.is_nan() {
                return false;
            }
            let code = x as i32;
            code >= 0 && {
                let start = node.cats as usize;
                bit_is_set(
                    &cat_words[start..start + node.cat_len as usize],
                    code as u32,
                )
            }
        }
        Rule::XgbNumeric => {
            if x.is_nan() {
                node.default_left
            } else {
                x < node.value as f32
            }
        }
        Rule::XgbCategorical => {
            if x.is_nan() {
                return node.default_left;
            }
            let code = x as i32;
            let start = node.cats as usize;
            let chosen = code >= 0
                && bit_is_set(
                    &cat_words[start..start + node.cat_len as usize],
                    code as u32,
                );
            !chosen
        }
        Rule::Leaf => unreachable!("leaves make no decision"),
    }
}

#[inline]
fn binary_tree<F: Fn(u32) -> f32>(nodes: &[Node], cat_words: &[u32], root: u32, x: F) -> f64 {
    let mut node = &nodes[root as usize];
    while node.rule != Rule::Leaf {
        let next = if goes_left(node, x(node.feature), cat_words) {
            node.left
        } else {
            node.right
        };
        node = &nodes[next as usize];
    }
    node.value
}

#[inline]
fn oblivious_tree<F: Fn(u32) -> f32, H: Fn(u32) -> i32>(
    tree: &ObliviousTree,
    splits: &[ObliviousSplit],
    leaves: &[f64],
    x: F,
    hash: H,
) -> f64 {
    let mut index = 0usize;
    let first = tree.first_split as usize;
    for (bit, split) in splits[first..first + tree.depth as usize]
        .iter()
        .enumerate()
    {
        let on = match *split {
            ObliviousSplit::Float {
                feature,
                border,
                nan_value,
            } => {
                let v = x(feature);
                if v.is_nan() { nan_value } else { v > border }
            }
            ObliviousSplit::OneHot { slot, hash: h } => hash(slot) == h,
        };
        index |= usize::from(on) << bit;
    }
    leaves[tree.first_leaf as usize + index]
}

impl Forest {
    /// The format the model was loaded from.
    pub fn format(&self) -> ModelFormat {
        self.format
    }

    /// Number of input columns the model reads.
    pub fn num_features(&self) -> usize {
        self.num_features
    }

    /// Input names stored in the model file (empty when it stores none).
    pub fn feature_names(&self) -> &[String] {
        &self.feature_names
    }

    /// Number of trees.
    pub fn num_trees(&self) -> usize {
        match &self.body {
            Body::Binary { roots, .. } => roots.len(),
            Body::Oblivious { trees, .. } => trees.len(),
        }
    }

    /// The raw score of one row (`row[i]` is input column `i`).
    pub fn predict_row(&self, row: &[f32]) -> crate::Result<f64> {
        if row.len() != self.num_features {
            return Err(TreeModelError::Input(format!(
                "row has {} values, the model reads {}",
                row.len(),
                self.num_features
            )));
        }
        let x = |f: u32| row[f as usize];
        let sum = match &self.body {
            Body::Binary {
                roots,
                nodes,
                cat_words,
            } => roots
                .iter()
                .map(|&root| binary_tree(nodes, cat_words, root, x))
                .fold(0.0, |acc, v| acc + v),
            Body::Oblivious {
                trees,
                splits,
                leaves,
                cat_inputs,
            } => {
                let hashes: Vec<i32> = cat_inputs
                    .iter()
                    .map(|&f| catboost_category_hash(row[f as usize]))
                    .collect();
                trees
                    .iter()
                    .map(|t| oblivious_tree(t, splits, leaves, x, |s| hashes[s as usize]))
                    .fold(0.0, |acc, v| acc + v)
            }
        };
        Ok(self.base + self.scale * sum)
    }

    /// Raw scores of a column-major batch: `columns[i]` is input column `i`,
    /// all of `out.len()` rows. Large batches use every available core.
    pub fn predict_columns(&self, columns: &[&[f32]], out: &mut [f64]) -> crate::Result<()> {
        if columns.len() != self.num_features {
            return Err(TreeModelError::Input(format!(
                "{} columns given, the model reads {}",
                columns.len(),
                self.num_features
            )));
        }
        if let Some((i, c)) = columns
            .iter()
            .enumerate()
            .find(|(_, c)| c.len() != out.len())
        {
            return Err(TreeModelError::Input(format!(
                "column {i} has {} rows, expected {}",
                c.len(),
                out.len()
            )));
        }
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        if out.len() < PARALLEL_MIN_ROWS || threads == 1 {
            self.predict_range(columns, 0, out);
            return Ok(());
        }
        let chunk = out.len().div_ceil(threads).next_multiple_of(BLOCK_ROWS);
        std::thread::scope(|scope| {
            for (i, part) in out.chunks_mut(chunk).enumerate() {
                scope.spawn(move || self.predict_range(columns, i * chunk, part));
            }
        });
        Ok(())
    }

    /// Evaluates rows `start..start + out.len()` block by block.
    fn predict_range(&self, columns: &[&[f32]], start: usize, out: &mut [f64]) {
        for (b, block) in out.chunks_mut(BLOCK_ROWS).enumerate() {
            let first = start + b * BLOCK_ROWS;
            block.fill(0.0);
            match &self.body {
                Body::Binary {
                    roots,
                    nodes,
                    cat_words,
                } => {
                    for &root in roots {
                        for (i, sum) in block.iter_mut().enumerate() {
                            let r = first + i;
                            *sum += binary_tree(nodes, cat_words, root, |f| columns[f as usize][r]);
                        }
                    }
                }
                Body::Oblivious {
                    trees,
                    splits,
                    leaves,
                    cat_inputs,
                } => {
                    let n = block.len();
                    let hashes: Vec<i32> = cat_inputs
                        .iter()
                        .flat_map(|&f| {
                            columns[f as usize][first..first + n]
                                .iter()
                                .map(|&v| catboost_category_hash(v))
                        })
                        .collect();
                    for tree in trees {
                        for (i, sum) in block.iter_mut().enumerate() {
                            let r = first + i;
                            *sum += oblivious_tree(
                                tree,
                                splits,
                                leaves,
                                |f| columns[f as usize][r],
                                |s| hashes[s as usize * n + i],
                            );
                        }
                    }
                }
            }
            for sum in block.iter_mut() {
                *sum = self.base + self.scale * *sum;
            }
        }
    }

    /// Checks a finished forest: children, features and bitsets in range.
    pub(crate) fn validated(self) -> crate::Result<Self> {
        let bad = |detail: String| Err(TreeModelError::parse(self.format, detail));
        match &self.body {
            Body::Binary {
                roots,
                nodes,
                cat_words,
            } => {
                for &root in roots {
                    if root as usize >= nodes.len() {
                        return bad(format!("tree root {root} out of range"));
                    }
                }
                for (i, n) in nodes.iter().enumerate() {
                    if n.rule == Rule::Leaf {
                        continue;
                    }
                    if n.left as usize >= nodes.len() || n.right as usize >= nodes.len() {
                        return bad(format!("node {i} has a child out of range"));
                    }
                    if n.feature as usize >= self.num_features {
                        return bad(format!(
                            "node {i} splits on feature {} of {}",
                            n.feature, self.num_features
                        ));
                    }
                    if (n.cats + n.cat_len) as usize > cat_words.len() {
                        return bad(format!("node {i} has a category set out of range"));
                    }
                }
                // every walk must end: a tree visits each node at most once
                for (t, &root) in roots.iter().enumerate() {
                    let mut stack = vec![root];
                    let mut visited = 0usize;
                    while let Some(i) = stack.pop() {
                        visited += 1;
                        if visited > nodes.len() {
                            return bad(format!("tree {t} has a cycle"));
                        }
                        let n = &nodes[i as usize];
                        if n.rule != Rule::Leaf {
                            stack.extend([n.left, n.right]);
                        }
                    }
                }
            }
            Body::Oblivious {
                trees,
                splits,
                leaves,
                cat_inputs,
            } => {
                for (t, tree) in trees.iter().enumerate() {
                    if (tree.first_split + tree.depth) as usize > splits.len()
                        || tree.first_leaf as usize + (1usize << tree.depth) > leaves.len()
                    {
                        return bad(format!("tree {t} is out of range"));
                    }
                }
                for split in splits {
                    match *split {
                        ObliviousSplit::Float { feature, .. }
                            if feature as usize >= self.num_features =>
                        {
                            return bad(format!("split on feature {feature} out of range"));
                        }
                        ObliviousSplit::OneHot { slot, .. }
                            if slot as usize >= cat_inputs.len() =>
                        {
                            return bad(format!("one-hot split on slot {slot} out of range"));
                        }
                        _ => {}
                    }
                }
            }
        }
        Ok(self)
    }
}
