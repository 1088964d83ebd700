//! Bit-vector evaluation of binary trees (the QuickScorer method, Lucchese
//! et al., SIGIR 2015), for forests whose trees have at most 64 leaves.
//!
//! Leaves of each tree are numbered left to right; a tree's state is a
//! 64-bit mask of the leaves still reachable. A node whose test is false
//! (the row goes right) rules out the leaves of its left subtree, so its
//! mask clears them. Once every false node has been applied, the exit leaf
//! is the lowest set bit. Numeric nodes are grouped by feature and sorted by
//! threshold: a row's false nodes on a feature are exactly the prefix with
//! `threshold < x`, found by a scan whose only unpredictable branch is its
//! end. Categorical nodes are tested one by one. This replaces a chain of
//! dependent, mispredicted branches per tree with a stream of independent
//! AND operations.

use crate::forest::{BinaryView, Node, flag};

/// Most leaves a tree may have for this method.
const MAX_LEAVES: usize = 64;

/// A categorical node, tested directly against its bitset.
#[derive(Debug, Clone, Copy)]
struct CategoricalNode {
    tree: u32,
    cat_start: u32,
    cat_len: u32,
    /// The set's members go right (XGBoost) rather than left (LightGBM).
    set_goes_right: bool,
    nan_left: bool,
    mask: u64,
}

/// Largest decision table built for one categorical feature, in words.
const MAX_TABLE_WORDS: usize = 1 << 20;

/// For one categorical feature, which of its nodes send each code right:
/// a row then visits only the nodes whose masks apply, instead of testing
/// every node.
#[derive(Debug, Clone)]
struct DecisionTable {
    /// Words per code (one bit per node of the group).
    words: usize,
    /// Codes `0..codes` have their own row of `words` words.
    codes: usize,
    rows: Vec<u64>,
    /// Nodes that send a code outside `0..codes` right.
    other: Vec<u64>,
    /// Nodes that send NaN right.
    nan: Vec<u64>,
}

impl DecisionTable {
    fn build(nodes: &[CategoricalNode], cat_words: &[u32]) -> Option<Self> {
        let words = nodes.len().div_ceil(64);
        let codes = nodes
            .iter()
            .map(|c| c.cat_len as usize * 32)
            .max()
            .unwrap_or(0);
        if codes.checked_mul(words)? > MAX_TABLE_WORDS {
            return None;
        }
        let mut table = DecisionTable {
            words,
            codes,
            rows: vec![0; codes * words],
            other: vec![0; words],
            nan: vec![0; words],
        };
        for (j, c) in nodes.iter().enumerate() {
            let (word, bit) = (j / 64, 1u64 << (j % 64));
            if !c.nan_left {
                table.nan[word] |= bit;
            }
            // a code beyond every set is in none: LightGBM sends it right
            if !c.set_goes_right {
                table.other[word] |= bit;
            }
            for code in 0..codes {
                let w = code / 32;
                let in_set = w < c.cat_len as usize
                    && (cat_words[c.cat_start as usize + w] >> (code % 32)) & 1 == 1;
                if in_set == c.set_goes_right {
                    table.rows[code * words + word] |= bit;
                }
            }
        }
        Some(table)
    }

    /// The right-going nodes of a row whose input is `x`.
    #[inline]
    fn right(&self, x: f32) -> &[u64] {
        if x.is_nan() {
            return &self.nan;
        }
        let code = x as i32;
        if code >= 0 && (code as usize) < self.codes {
            let at = code as usize * self.words;
            &self.rows[at..at + self.words]
        } else {
            &self.other
        }
    }
}

/// A node tested through the general rule (zero-is-missing numeric).
#[derive(Debug, Clone, Copy)]
struct OtherNode {
    node: u32,
    tree: u32,
    mask: u64,
}

/// The forest's nodes rearranged for bit-vector evaluation.
#[derive(Debug, Clone)]
pub(crate) struct BitForest {
    /// Per feature `f`, numeric nodes `offsets[f]..offsets[f + 1]` sorted by
    /// threshold. Thresholds are rounded down to `f32`: for an `f32` input
    /// `x`, `x > t` exactly when `x > t` rounded down.
    offsets: Vec<u32>,
    thresholds: Vec<f32>,
    trees: Vec<u32>,
    masks: Vec<u64>,
    /// Per feature, the numeric nodes that send NaN right.
    nan_offsets: Vec<u32>,
    nan_trees: Vec<u32>,
    nan_masks: Vec<u64>,
    /// Categorical nodes grouped by feature: (feature, first, end) into
    /// `categorical`, and the group's decision table when it is small enough.
    categorical_groups: Vec<(u32, u32, u32, Option<DecisionTable>)>,
    categorical: Vec<CategoricalNode>,
    other: Vec<OtherNode>,
    /// Leaf values of tree `t` by left-to-right position, from `leaf_offsets[t]`.
    leaf_offsets: Vec<u32>,
    leaf_values: Vec<f64>,
}

/// The largest `f32` not above `t`.
fn round_down_to_f32(t: f64) -> f32 {
    let r = t as f32;
    if f64::from(r) > t { r.next_down() } else { r }
}

/// Numbers the leaves under `at` left to right from `next`; returns how
/// many there are, recording each internal node's left-subtree leaf range.
fn number_leaves(
    nodes: &[Node],
    at: u32,
    next: &mut usize,
    leaves: &mut Vec<f64>,
    left_ranges: &mut Vec<(u32, usize, usize)>,
) -> usize {
    let node = &nodes[at as usize];
    if node.flags & flag::LEAF != 0 {
        leaves.push(node.threshold);
        *next += 1;
        return 1;
    }
    let first = *next;
    let left = number_leaves(nodes, node.children[0], next, leaves, left_ranges);
    left_ranges.push((at, first, left));
    left + number_leaves(nodes, node.children[1], next, leaves, left_ranges)
}

impl BitForest {
    /// Rearranges the trees, or `None` if a tree has more than 64 leaves.
    pub(crate) fn build(
        nodes: &[Node],
        cat_words: &[u32],
        roots: &[u32],
        num_features: usize,
    ) -> Option<Self> {
        let mut numeric: Vec<Vec<(f64, u32, u64)>> = vec![Vec::new(); num_features];
        let mut nan: Vec<Vec<(u32, u64)>> = vec![Vec::new(); num_features];
        let mut categorical = Vec::new();
        let mut other = Vec::new();
        let mut leaf_offsets = Vec::with_capacity(roots.len());
        let mut leaf_values = Vec::new();
        for (t, &root) in roots.iter().enumerate() {
            let mut leaves = Vec::new();
            let mut left_ranges = Vec::new();
            let mut next = 0;
            number_leaves(nodes, root, &mut next, &mut leaves, &mut left_ranges);
            if leaves.len() > MAX_LEAVES {
                return None;
            }
            leaf_offsets.push(leaf_values.len() as u32);
            leaf_values.extend_from_slice(&leaves);
            for (at, first, count) in left_ranges {
                let node = &nodes[at as usize];
                let range = if count == 64 {
                    u64::MAX
                } else {
                    ((1u64 << count) - 1) << first
                };
                let mask = !range;
                let tree = t as u32;
                if node.flags & flag::ZERO_IS_MISSING != 0 {
                    other.push(OtherNode {
                        node: at,
                        tree,
                        mask,
                    });
                } else if node.flags & flag::CATEGORICAL != 0 {
                    categorical.push((
                        node.feature,
                        CategoricalNode {
                            tree,
                            cat_start: node.cat_start,
                            cat_len: node.cat_len,
                            set_goes_right: node.flags & flag::SET_GOES_RIGHT != 0,
                            nan_left: node.flags & flag::NAN_LEFT != 0,
                            mask,
                        },
                    ));
                } else {
                    let f = node.feature as usize;
                    numeric[f].push((node.threshold, tree, mask));
                    if node.flags & flag::NAN_LEFT == 0 {
                        nan[f].push((tree, mask));
                    }
                }
            }
        }
        let mut out = BitForest {
            offsets: vec![0],
            thresholds: Vec::new(),
            trees: Vec::new(),
            masks: Vec::new(),
            nan_offsets: vec![0],
            nan_trees: Vec::new(),
            nan_masks: Vec::new(),
            categorical_groups: Vec::new(),
            categorical: Vec::new(),
            other,
            leaf_offsets,
            leaf_values,
        };
        for (mut list, nan_list) in numeric.into_iter().zip(nan) {
            list.sort_by(|a, b| a.0.total_cmp(&b.0));
            for (threshold, tree, mask) in list {
                out.thresholds.push(round_down_to_f32(threshold));
                out.trees.push(tree);
                out.masks.push(mask);
            }
            out.offsets.push(out.thresholds.len() as u32);
            for (tree, mask) in nan_list {
                out.nan_trees.push(tree);
                out.nan_masks.push(mask);
            }
            out.nan_offsets.push(out.nan_trees.len() as u32);
        }
        // nodes on one feature together: the input is decoded once per group
        categorical.sort_by_key(|(f, _)| *f);
        for (f, node) in categorical {
            match out.categorical_groups.last_mut() {
                Some((feature, _, end, _)) if *feature == f => *end += 1,
                _ => {
                    let at = out.categorical.len() as u32;
                    out.categorical_groups.push((f, at, at + 1, None));
                }
            }
            out.categorical.push(node);
        }
        for (_, first, end, table) in &mut out.categorical_groups {
            *table =
                DecisionTable::build(&out.categorical[*first as usize..*end as usize], cat_words);
        }
        Some(out)
    }

    /// Number of trees.
    pub(crate) fn num_trees(&self) -> usize {
        self.leaf_offsets.len()
    }

    /// The sum of the trees' leaf values for `row`; `state` is scratch space
    /// of one mask per tree.
    #[inline]
    pub(crate) fn sum_row(&self, view: &BinaryView<'_>, row: &[f32], state: &mut [u64]) -> f64 {
        state.fill(u64::MAX);
        for (f, &x) in row.iter().enumerate() {
            if x.is_nan() {
                let (start, end) = (
                    self.nan_offsets[f] as usize,
                    self.nan_offsets[f + 1] as usize,
                );
                for (&tree, &mask) in self.nan_trees[start..end]
                    .iter()
                    .zip(&self.nan_masks[start..end])
                {
                    state[tree as usize] &= mask;
                }
                continue;
            }
            let (start, end) = (self.offsets[f] as usize, self.offsets[f + 1] as usize);
            let thresholds = &self.thresholds[start..end];
            let trees = &self.trees[start..end];
            let masks = &self.masks[start..end];
            for i in 0..thresholds.len() {
                if thresholds[i] >= x {
                    break;
                }
                state[trees[i] as usize] &= masks[i];
            }
        }
        for (f, first, end, table) in &self.categorical_groups {
            let nodes = &self.categorical[*first as usize..*end as usize];
            let x = row[*f as usize];
            if let Some(table) = table {
                for (w, &word) in table.right(x).iter().enumerate() {
                    let mut bits = word;
                    while bits != 0 {
                        let c = &nodes[w * 64 + bits.trailing_zeros() as usize];
                        state[c.tree as usize] &= c.mask;
                        bits &= bits - 1;
                    }
                }
                continue;
            }
            if x.is_nan() {
                for c in nodes {
                    if !c.nan_left {
                        state[c.tree as usize] &= c.mask;
                    }
                }
                continue;
            }
            let code = x as i32;
            let word = (code as u32) >> 5;
            let bit = code as u32 & 31;
            let valid = code >= 0;
            for c in nodes {
                let in_range = valid & (word < c.cat_len);
                let bits = view.cat_words[(c.cat_start + word.min(c.cat_len - 1)) as usize];
                let in_set = in_range & ((bits >> bit) & 1 == 1);
                let left = in_set ^ c.set_goes_right;
                // all ones when the row goes left: no branch on the outcome
                state[c.tree as usize] &= c.mask | u64::from(left).wrapping_neg();
            }
        }
        for o in &self.other {
            let node = &view.nodes[o.node as usize];
            if !view.goes_left(node, row[node.feature as usize]) {
                state[o.tree as usize] &= o.mask;
            }
        }
        let mut sum = 0.0;
        for (&offset, &mask) in self.leaf_offsets.iter().zip(state.iter()) {
            sum += self.leaf_values[offset as usize + mask.trailing_zeros() as usize];
        }
        sum
    }
}
