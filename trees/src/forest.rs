//! The flat representation every loader produces, and its evaluation.
//!
//! Binary trees (LightGBM, XGBoost) live in one node array; each tree is a
//! root index into it. Oblivious trees (CatBoost) are a split list per tree
//! plus a leaf table indexed by the split outcomes. Batches are evaluated
//! tree-outer over blocks of rows so a tree's nodes stay in cache while the
//! block is walked through it; per row, trees are summed in model order.

use std::fmt;

use crate::bitvector::BitForest;
use crate::cityhash::catboost_category_hash;
use crate::error::TreeModelError;
use crate::workers::Helpers;

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

/// Bits of [`Node::flags`].
pub(crate) mod flag {
    /// A categorical split on the node's category bitset.
    pub const CATEGORICAL: u32 = 1;
    /// Missing values go left.
    pub const DEFAULT_LEFT: u32 = 2;
    /// NaN is compared as 0 instead of going the default way (LightGBM
    /// missing type "none").
    pub const NAN_AS_ZERO: u32 = 4;
    /// Zero (and NaN) go the default way (LightGBM missing type "zero").
    pub const ZERO_IS_MISSING: u32 = 8;
    /// Categories in the set go right, the others left (XGBoost); without
    /// this bit, categories in the set go left (LightGBM).
    pub const SET_GOES_RIGHT: u32 = 16;
    /// A missing category goes the default way (XGBoost); without this bit
    /// it goes right (LightGBM).
    pub const CAT_NAN_DEFAULT: u32 = 32;
    /// Set by the builder: the node is a leaf (both children point to it,
    /// its value is in `threshold`).
    pub const LEAF: u32 = 64;
    /// Set by the builder: where NaN goes, resolved from the default
    /// direction, the NaN-as-zero rule and the categorical NaN rule.
    pub const NAN_LEFT: u32 = 128;
}

/// One node of a binary tree: `x <= threshold` goes to `children[0]`,
/// otherwise to `children[1]`, unless the flags say otherwise; a
/// categorical node tests `x` against the bitset
/// `cat_words[cat_start..cat_start + cat_len]` instead. A leaf points to
/// itself both ways and keeps its value in `threshold`, so a walk may run
/// past a leaf: rows can take a tree's full depth in lockstep.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Node {
    pub threshold: f64,
    pub feature: u32,
    pub flags: u32,
    pub children: [u32; 2],
    pub cat_start: u32,
    /// At least 1 (numeric nodes and leaves point to a zero word), so the
    /// bitset can be read without a branch.
    pub cat_len: u32,
}

/// A child reference within one tree, as loaders describe it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Child {
    Split(usize),
    Leaf(usize),
}

/// A split as loaders describe it, before it is placed in the flat arrays.
#[derive(Debug, Clone)]
pub(crate) struct SplitSpec {
    pub feature: u32,
    /// Numeric threshold (`x <= threshold` goes left); unused for categoricals.
    pub threshold: f64,
    pub flags: u32,
    /// Category bitset words of a categorical split.
    pub categories: Vec<u32>,
    pub left: Child,
    pub right: Child,
}

/// Collects binary trees into flat arrays.
#[derive(Debug, Default)]
pub(crate) struct BinaryBuilder {
    roots: Vec<u32>,
    depths: Vec<u32>,
    nodes: Vec<Node>,
    cat_words: Vec<u32>,
    /// Training rows reaching each node, while every tree has supplied them.
    covers: Option<Vec<f64>>,
}

impl BinaryBuilder {
    /// Appends a tree: its splits (root first, unless it has none) and leaves.
    /// `covers`, when the format records them, are the training rows (or
    /// hessian sums) reaching each split and then each leaf, in that order.
    pub fn add_tree(&mut self, splits: Vec<SplitSpec>, leaves: &[f64], covers: Option<Vec<f64>>) {
        if self.roots.is_empty() {
            self.covers = Some(Vec::new());
        }
        match (&mut self.covers, covers) {
            (Some(all), Some(c)) if c.len() == splits.len() + leaves.len() => all.extend(c),
            (all, _) => *all = None,
        }
        if self.cat_words.is_empty() {
            // word 0 is the empty set every non-categorical node points to
            self.cat_words.push(0);
        }
        let base = self.nodes.len();
        let n_splits = splits.len();
        let index = |c: Child| -> u32 {
            match c {
                Child::Split(i) => (base + i) as u32,
                Child::Leaf(l) => (base + n_splits + l) as u32,
            }
        };
        self.roots.push(base as u32);
        for split in splits {
            let flags = split.flags;
            let default_left = flags & flag::DEFAULT_LEFT != 0;
            let (nan_left, cat_start, cat_len) = if flags & flag::CATEGORICAL != 0 {
                let start = self.cat_words.len() as u32;
                self.cat_words.extend_from_slice(&split.categories);
                if split.categories.is_empty() {
                    self.cat_words.push(0);
                }
                let len = self.cat_words.len() as u32 - start;
                (
                    flags & flag::CAT_NAN_DEFAULT != 0 && default_left,
                    start,
                    len,
                )
            } else if flags & flag::NAN_AS_ZERO != 0 {
                (0.0 <= split.threshold, 0, 1)
            } else {
                (default_left, 0, 1)
            };
            self.nodes.push(Node {
                threshold: split.threshold,
                feature: split.feature,
                flags: if nan_left {
                    flags | flag::NAN_LEFT
                } else {
                    flags
                },
                children: [index(split.left), index(split.right)],
                cat_start,
                cat_len,
            });
        }
        for (l, &value) in leaves.iter().enumerate() {
            let me = (base + n_splits + l) as u32;
            self.nodes.push(Node {
                threshold: value,
                feature: 0,
                flags: flag::LEAF,
                children: [me, me],
                cat_start: 0,
                cat_len: 1,
            });
        }
        self.depths.push(self.depth_from(base as u32));
    }

    /// Longest root-to-leaf path (bounded by the node count, so malformed
    /// trees cannot loop; validation rejects them later).
    fn depth_from(&self, root: u32) -> u32 {
        let mut deepest = 0;
        let mut stack = vec![(root, 0u32)];
        while let Some((at, depth)) = stack.pop() {
            let Some(node) = self.nodes.get(at as usize) else {
                continue;
            };
            if node.flags & flag::LEAF != 0 || depth as usize > self.nodes.len() {
                deepest = deepest.max(depth);
                continue;
            }
            stack.push((node.children[0], depth + 1));
            stack.push((node.children[1], depth + 1));
        }
        deepest
    }

    pub fn finish(self) -> Body {
        Body::Binary {
            roots: self.roots,
            depths: self.depths,
            nodes: self.nodes,
            cat_words: self.cat_words,
            bits: None,
            covers: self.covers,
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
        /// Root node of each tree.
        roots: Vec<u32>,
        /// Longest path of each tree.
        depths: Vec<u32>,
        nodes: Vec<Node>,
        /// Category bitsets of the categorical nodes.
        cat_words: Vec<u32>,
        /// The same trees arranged for bit-vector evaluation, when every
        /// tree has at most 64 leaves (set by validation).
        bits: Option<Box<BitForest>>,
        /// Training cover of each node, when the format records it (for
        /// per-prediction contributions).
        covers: Option<Vec<f64>>,
    },
    Oblivious {
        trees: Vec<ObliviousTree>,
        splits: Vec<ObliviousSplit>,
        leaves: Vec<f64>,
        /// Input column of each hashed categorical slot.
        cat_inputs: Vec<u32>,
    },
}

/// Per-thread working memory of an evaluation.
#[derive(Debug, Default)]
struct Scratch {
    /// Bit-vector state, one mask per tree.
    state: Vec<u64>,
    /// CatBoost hashes of the row's categorical inputs.
    hashes: Vec<i32>,
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

/// The binary trees' arrays, borrowed for evaluation.
#[derive(Clone, Copy)]
pub(crate) struct BinaryView<'a> {
    pub nodes: &'a [Node],
    pub cat_words: &'a [u32],
}

impl BinaryView<'_> {
    /// LightGBM missing type "zero": NaN counts as 0, and 0 is missing.
    #[cold]
    fn zero_is_missing_goes_left(node: &Node, x: f32) -> bool {
        let v = if x.is_nan() { 0.0 } else { f64::from(x) };
        if (-1e-35_f32 as f64..=1e-35_f32 as f64).contains(&v) {
            node.flags & flag::DEFAULT_LEFT != 0
        } else {
            v <= node.threshold
        }
    }

    /// Whether `node` sends `x` left.
    #[inline(always)]
    pub(crate) fn goes_left(&self, node: &Node, x: f32) -> bool {
        let flags = node.flags;
        if flags & flag::ZERO_IS_MISSING != 0 {
            return Self::zero_is_missing_goes_left(node, x);
        }
        if x.is_nan() {
            return flags & flag::NAN_LEFT != 0;
        }
        if flags & flag::CATEGORICAL == 0 {
            return f64::from(x) <= node.threshold;
        }
        let code = x as i32;
        let word = (code as u32) >> 5;
        let in_set = code >= 0
            && word < node.cat_len
            && (self.cat_words[(node.cat_start + word) as usize] >> (code as u32 & 31)) & 1 == 1;
        in_set != (flags & flag::SET_GOES_RIGHT != 0)
    }

    /// One row through one tree, stopping at the leaf.
    #[inline(always)]
    fn tree(&self, root: u32, row: &[f32]) -> f64 {
        let mut node = &self.nodes[root as usize];
        while node.flags & flag::LEAF == 0 {
            let left = self.goes_left(node, row[node.feature as usize]);
            node = &self.nodes[node.children[usize::from(!left)] as usize];
        }
        node.threshold
    }
}

#[inline(always)]
fn oblivious_tree(
    tree: &ObliviousTree,
    splits: &[ObliviousSplit],
    leaves: &[f64],
    row: &[f32],
    hashes: &[i32],
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
                let v = row[feature as usize];
                if v.is_nan() { nan_value } else { v > border }
            }
            ObliviousSplit::OneHot { slot, hash } => hashes[slot as usize] == hash,
        };
        index |= usize::from(on) << bit;
    }
    leaves[tree.first_leaf as usize + index]
}

/// Most features a model may read: far beyond any model of job features.
pub const MAX_FEATURES: usize = 1 << 20;

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

    fn binary_view(&self) -> Option<(BinaryView<'_>, &[u32], Option<&BitForest>)> {
        match &self.body {
            Body::Binary {
                roots,
                nodes,
                cat_words,
                bits,
                ..
            } => Some((BinaryView { nodes, cat_words }, roots, bits.as_deref())),
            Body::Oblivious { .. } => None,
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
        Ok(self.score(row, &mut Scratch::default()))
    }

    /// `base + scale * Σ trees` for one row of the right length.
    #[inline]
    fn score(&self, row: &[f32], scratch: &mut Scratch) -> f64 {
        let sum = match &self.body {
            Body::Binary { .. } => {
                let (view, roots, bits) = self.binary_view().expect("binary body");
                match bits {
                    Some(bits) => {
                        scratch.state.resize(bits.num_trees(), 0);
                        bits.sum_row(&view, row, &mut scratch.state)
                    }
                    None => roots.iter().map(|&root| view.tree(root, row)).sum(),
                }
            }
            Body::Oblivious {
                trees,
                splits,
                leaves,
                cat_inputs,
            } => {
                scratch.hashes.clear();
                scratch.hashes.extend(
                    cat_inputs
                        .iter()
                        .map(|&f| catboost_category_hash(row[f as usize])),
                );
                trees
                    .iter()
                    .map(|t| oblivious_tree(t, splits, leaves, row, &scratch.hashes))
                    .sum()
            }
        };
        self.base + self.scale * sum
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
        if out.len() < PARALLEL_MIN_ROWS {
            self.predict_range(columns, 0, out);
            return Ok(());
        }
        // Helpers shared by every batch of the process: concurrent streams
        // never run more tree threads than there are cores.
        let helpers = Helpers::borrow(out.len() / PARALLEL_MIN_ROWS);
        if helpers.count() == 0 {
            self.predict_range(columns, 0, out);
            return Ok(());
        }
        let threads = helpers.count() + 1;
        let chunk = out.len().div_ceil(threads).next_multiple_of(BLOCK_ROWS);
        std::thread::scope(|scope| {
            let mut parts = out.chunks_mut(chunk).enumerate();
            let own = parts.next();
            for (i, part) in parts {
                scope.spawn(move || self.predict_range(columns, i * chunk, part));
            }
            if let Some((i, part)) = own {
                self.predict_range(columns, i * chunk, part);
            }
        });
        Ok(())
    }

    /// Evaluates rows `start..start + out.len()`, copying each block of
    /// rows row-major into a small buffer first.
    fn predict_range(&self, columns: &[&[f32]], start: usize, out: &mut [f64]) {
        let nf = self.num_features;
        let mut block_rows = vec![0f32; BLOCK_ROWS * nf];
        let mut scratch = Scratch::default();
        for (b, block) in out.chunks_mut(BLOCK_ROWS).enumerate() {
            let first = start + b * BLOCK_ROWS;
            for (f, column) in columns.iter().enumerate() {
                for (i, &v) in column[first..first + block.len()].iter().enumerate() {
                    block_rows[i * nf + f] = v;
                }
            }
            for (i, value) in block.iter_mut().enumerate() {
                *value = self.score(&block_rows[i * nf..(i + 1) * nf], &mut scratch);
            }
        }
    }

    /// Checks a finished forest: references in range, every walk finite.
    pub(crate) fn validated(mut self) -> crate::Result<Self> {
        let bad = |detail: String| Err(TreeModelError::parse(self.format, detail));
        // Per-feature tables are built below; a header claiming more
        // features than any model has would only exhaust memory.
        if self.num_features > MAX_FEATURES {
            return bad(format!(
                "the model claims {} features, more than the {MAX_FEATURES} this engine takes",
                self.num_features
            ));
        }
        match &self.body {
            Body::Binary {
                roots,
                depths,
                nodes,
                cat_words,
                ..
            } => {
                let in_range = |c: u32| (c as usize) < nodes.len();
                if let Some(t) = roots.iter().position(|&r| !in_range(r)) {
                    return bad(format!("tree {t}: root out of range"));
                }
                for (i, n) in nodes.iter().enumerate() {
                    if !n.children.iter().all(|&c| in_range(c)) {
                        return bad(format!("node {i} has a child out of range"));
                    }
                    if n.feature as usize >= self.num_features.max(1) {
                        return bad(format!(
                            "node {i} splits on feature {} of {}",
                            n.feature, self.num_features
                        ));
                    }
                    if n.flags & flag::LEAF != 0 && n.children != [i as u32; 2] {
                        return bad(format!("leaf {i} does not point to itself"));
                    }
                    if n.cat_len == 0 || (n.cat_start + n.cat_len) as usize > cat_words.len() {
                        return bad(format!("node {i} has a category set out of range"));
                    }
                }
                // Every walk must reach a leaf within the tree's depth: then
                // the lockstep walk ends on a leaf too.
                for (t, (&root, &depth)) in roots.iter().zip(depths).enumerate() {
                    let mut stack = vec![(root, 0u32)];
                    while let Some((at, d)) = stack.pop() {
                        let n = &nodes[at as usize];
                        if n.flags & flag::LEAF != 0 {
                            continue;
                        }
                        if d >= depth {
                            return bad(format!(
                                "tree {t} has a cycle or a path deeper than {depth}"
                            ));
                        }
                        stack.extend(n.children.map(|c| (c, d + 1)));
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
                if let Some(&f) = cat_inputs
                    .iter()
                    .find(|&&f| f as usize >= self.num_features)
                {
                    return bad(format!("categorical input {f} out of range"));
                }
            }
        }
        if let Body::Binary {
            roots,
            nodes,
            cat_words,
            bits,
            ..
        } = &mut self.body
        {
            *bits = BitForest::build(nodes, cat_words, roots, self.num_features).map(Box::new);
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (64-bit LCG), enough for test data.
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 33
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// A random LightGBM text model: leaf-wise trees mixing numeric splits
    /// of every missing type and categorical splits, some trees beyond 64 leaves.
    fn random_lightgbm(rng: &mut Lcg, trees: usize) -> String {
        let mut text = String::from(
            "tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\nmax_feature_idx=2\nobjective=regression\n\n",
        );
        for t in 0..trees {
            let leaves = 1 + rng.below(if t % 5 == 0 { 90 } else { 30 }) as usize;
            // leaf l hangs under (node, side); splitting it adds a node there
            let mut parent: Vec<Option<(usize, usize)>> = vec![None];
            let mut children: Vec<[i64; 2]> = Vec::new();
            let (mut feature, mut threshold, mut decision) = (Vec::new(), Vec::new(), Vec::new());
            let (mut bounds, mut words) = (vec![0u32], Vec::new());
            for _ in 1..leaves {
                let l = rng.below(parent.len() as u64) as usize;
                let node = children.len();
                let new_leaf = parent.len();
                children.push([!(l as i64), !(new_leaf as i64)]);
                if let Some((p, side)) = parent[l] {
                    children[p][side] = node as i64;
                }
                parent[l] = Some((node, 0));
                parent.push(Some((node, 1)));
                feature.push(rng.below(3));
                if rng.below(4) == 0 {
                    decision.push(1 | (rng.below(2) << 1));
                    threshold.push((bounds.len() - 1) as f64);
                    let n = 1 + rng.below(2);
                    for _ in 0..n {
                        words.push(rng.next() as u32);
                    }
                    bounds.push(words.len() as u32);
                } else {
                    decision.push((rng.below(3) << 2) | (rng.below(2) << 1));
                    threshold.push(rng.below(40) as f64 / 4.0 - 2.0);
                }
            }
            let list = |v: Vec<String>| v.join(" ");
            text.push_str(&format!(
                "Tree={t}\nnum_leaves={leaves}\nnum_cat={}\n",
                bounds.len() - 1
            ));
            if leaves > 1 {
                text.push_str(&format!(
                    "split_feature={}\nthreshold={}\ndecision_type={}\nleft_child={}\nright_child={}\n",
                    list(feature.iter().map(u64::to_string).collect()),
                    list(threshold.iter().map(f64::to_string).collect()),
                    list(decision.iter().map(u64::to_string).collect()),
                    list(children.iter().map(|c| c[0].to_string()).collect()),
                    list(children.iter().map(|c| c[1].to_string()).collect()),
                ));
                if bounds.len() > 1 {
                    text.push_str(&format!(
                        "cat_boundaries={}\ncat_threshold={}\n",
                        list(bounds.iter().map(u32::to_string).collect()),
                        list(words.iter().map(u32::to_string).collect()),
                    ));
                }
            }
            let values: Vec<String> = (0..leaves)
                .map(|_| (rng.below(1000) as f64 / 7.0).to_string())
                .collect();
            text.push_str(&format!("leaf_value={}\nis_linear=0\n\n", list(values)));
        }
        text.push_str("end of trees\n");
        text
    }

    fn random_value(rng: &mut Lcg) -> f32 {
        match rng.below(8) {
            0 => f32::NAN,
            1 => 0.0,
            2 => -(rng.below(5) as f32),
            3 => rng.below(70) as f32,
            _ => rng.below(40) as f32 / 4.0 - 2.0 + 0.125,
        }
    }

    /// The plain walk, tree by tree.
    fn walk(forest: &Forest, row: &[f32]) -> f64 {
        let (view, roots, _) = forest.binary_view().unwrap();
        let mut sum = 0.0;
        for &root in roots {
            sum += view.tree(root, row);
        }
        sum
    }

    #[test]
    fn bit_vectors_and_batches_agree_with_the_walk() {
        let mut rng = Lcg(42);
        for trees in [1, 7, 40] {
            let forest = Forest::from_lightgbm_text(&random_lightgbm(&mut rng, trees)).unwrap();
            // Every fifth tree dropped; the end marker is kept.
            let small: String = random_lightgbm(&mut Lcg(7), trees)
                .replace("end of trees\n", "")
                .split("Tree=")
                .enumerate()
                .filter(|(i, _)| i % 5 != 1)
                .map(|(i, t)| {
                    if i == 0 {
                        t.to_owned()
                    } else {
                        format!("Tree={t}")
                    }
                })
                .chain(["end of trees\n".to_owned()])
                .collect();
            let rows: Vec<[f32; 3]> = (0..600)
                .map(|_| {
                    [
                        random_value(&mut rng),
                        random_value(&mut rng),
                        random_value(&mut rng),
                    ]
                })
                .collect();
            let small = Forest::from_lightgbm_text(&small).unwrap();
            assert!(
                small.binary_view().unwrap().2.is_some(),
                "bit vectors built"
            );
            for forest in [forest, small] {
                let columns: Vec<Vec<f32>> = (0..3)
                    .map(|f| rows.iter().map(|r| r[f]).collect())
                    .collect();
                let slices: Vec<&[f32]> = columns.iter().map(Vec::as_slice).collect();
                let mut batch = vec![0.0; rows.len()];
                forest.predict_columns(&slices, &mut batch).unwrap();
                for (row, b) in rows.iter().zip(&batch) {
                    let want = walk(&forest, row);
                    assert_eq!(forest.predict_row(row).unwrap(), want, "{row:?}");
                    assert_eq!(*b, want, "{row:?}");
                }
            }
        }
    }
}
