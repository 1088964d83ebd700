//! Per-prediction feature contributions by TreeSHAP (Lundberg, Erion and
//! Lee, "Consistent individualized feature attribution for tree
//! ensembles", 2018, algorithm 2), the method behind LightGBM's
//! `predict_contrib`.
//!
//! A row's contributions are one value per input plus the expected value
//! of the model over its training data; they sum to the raw score. Paths
//! are weighted by the training cover of each node (LightGBM's
//! `internal_count`/`leaf_count`), so models without covers are refused.

use crate::error::TreeModelError;
use crate::forest::{BinaryView, Body, Forest, Node, flag};

/// One feature on the path from the root: the share of cover that flows
/// down the path ignoring the feature (`zero`), whether the row follows the
/// path (`one`), and the permutation weight of subsets of its size.
#[derive(Debug, Clone, Copy)]
struct PathElement {
    feature: Option<u32>,
    zero: f64,
    one: f64,
    weight: f64,
}

/// Adds element `last` (a feature, or the root) to the path `path[..last]`,
/// updating the subset weights.
fn extend(path: &mut [PathElement], last: usize, zero: f64, one: f64, feature: Option<u32>) {
    path[last] = PathElement {
        feature,
        zero,
        one,
        weight: if last == 0 { 1.0 } else { 0.0 },
    };
    let n = (last + 1) as f64;
    for i in (0..last).rev() {
        path[i + 1].weight += one * path[i].weight * (i + 1) as f64 / n;
        path[i].weight = zero * path[i].weight * (last - i) as f64 / n;
    }
}

/// Removes element `at` from the path `path[..=last]`, undoing its
/// [`extend`]; the path then ends at `last - 1`.
fn unwind(path: &mut [PathElement], last: usize, at: usize) {
    let PathElement { zero, one, .. } = path[at];
    let n = (last + 1) as f64;
    let mut next = path[last].weight;
    for j in (0..last).rev() {
        if one != 0.0 {
            let kept = path[j].weight;
            path[j].weight = next * n / ((j + 1) as f64 * one);
            next = kept - path[j].weight * zero * (last - j) as f64 / n;
        } else {
            path[j].weight = path[j].weight * n / (zero * (last - j) as f64);
        }
    }
    for j in at..last {
        path[j].feature = path[j + 1].feature;
        path[j].zero = path[j + 1].zero;
        path[j].one = path[j + 1].one;
    }
}

/// The total weight the path `path[..=last]` would have with element `at`
/// unwound.
fn unwound_sum(path: &[PathElement], last: usize, at: usize) -> f64 {
    let PathElement { zero, one, .. } = path[at];
    let n = (last + 1) as f64;
    let mut next = path[last].weight;
    let mut total = 0.0;
    for j in (0..last).rev() {
        if one != 0.0 {
            let w = next * n / ((j + 1) as f64 * one);
            total += w;
            next = path[j].weight - w * zero * (last - j) as f64 / n;
        } else {
            total += path[j].weight / zero * n / (last - j) as f64;
        }
    }
    total
}

/// One tree's walk, with its arrays borrowed.
struct TreeWalk<'a> {
    view: BinaryView<'a>,
    covers: &'a [f64],
    row: &'a [f32],
}

impl TreeWalk<'_> {
    fn node(&self, index: u32) -> &Node {
        &self.view.nodes[index as usize]
    }

    /// Visits `index`, entered with `buf[..last]` as the path so far; the
    /// node's element goes at `last`, and its children build their paths
    /// after it in `buf`, so one buffer serves the whole walk.
    fn recurse(
        &self,
        index: u32,
        buf: &mut [PathElement],
        last: usize,
        (zero, one, feature): (f64, f64, Option<u32>),
        phi: &mut [f64],
    ) {
        extend(buf, last, zero, one, feature);
        let node = self.node(index);
        if node.flags & flag::LEAF != 0 {
            for i in 1..=last {
                let e = buf[i];
                let share = unwound_sum(buf, last, i) * (e.one - e.zero);
                let f = e.feature.expect("only the root element has no feature");
                phi[f as usize] += share * node.threshold;
            }
            return;
        }
        let left = self.view.goes_left(node, self.row[node.feature as usize]);
        let [hot, cold] = if left {
            node.children
        } else {
            [node.children[1], node.children[0]]
        };
        let repeated = (1..=last).find(|&k| buf[k].feature == Some(node.feature));
        let cover = self.covers[index as usize];
        let (path, rest) = buf.split_at_mut(last + 1);
        for (child, hot_side) in [(hot, true), (cold, false)] {
            rest[..=last].copy_from_slice(path);
            // A feature met again on the path replaces its earlier element.
            let (mut incoming_zero, mut incoming_one, mut child_last) = (1.0, 1.0, last + 1);
            if let Some(k) = repeated {
                incoming_zero = rest[k].zero;
                incoming_one = rest[k].one;
                unwind(rest, last, k);
                child_last = last;
            }
            let share = if cover > 0.0 {
                self.covers[child as usize] / cover
            } else {
                0.0
            };
            let one = if hot_side { incoming_one } else { 0.0 };
            self.recurse(
                child,
                rest,
                child_last,
                (incoming_zero * share, one, Some(node.feature)),
                phi,
            );
        }
    }

    /// The tree's mean output over its training rows.
    fn expected_value(&self, index: u32) -> f64 {
        let node = self.node(index);
        if node.flags & flag::LEAF != 0 {
            return node.threshold;
        }
        let cover = self.covers[index as usize];
        if cover <= 0.0 {
            return 0.0;
        }
        node.children
            .iter()
            .map(|&c| self.covers[c as usize] / cover * self.expected_value(c))
            .sum()
    }
}

/// Leaves with more distinct path features than this are explained by the
/// recursive walk.
const MAX_LEAF_FEATURES: usize = 32;

/// One tree decomposed into its root-to-leaf paths.
///
/// A leaf's share of every contribution depends on the row only through
/// which of its path's distinct features the row follows (TreeSHAP's `one`
/// fractions, 0 or 1); the `zero` fractions are fixed by the covers. With
/// `F` the followed features, `z` the zero fractions, `d` the path's
/// distinct features and `w(k) = k!(d-k-1)!/d!`, the leaf adds to
/// feature `i`
///
/// `v · (o_i − z_i) · Π_{j∉F, j≠i} z_j · Σ_m w(|G|−m) e_m(z_G)`,
///
/// where `G = F \ {i}` and `e_m` are the elementary symmetric polynomials.
/// That is TreeSHAP's sum over coalitions, evaluated with multiplications
/// only, per leaf, with nothing but the path kept in memory.
#[derive(Debug, Clone)]
struct PathTree {
    /// The tree's splits (global node indices), each evaluated once per row.
    splits: Vec<u32>,
    leaves: Vec<LeafPath>,
}

#[derive(Debug, Clone)]
struct LeafPath {
    value: f64,
    /// `value ×` every feature's share, for every set of followed features
    /// (`table[followed · d + slot]`), when the leaf is small enough to
    /// tabulate: a row then costs `d` additions instead of `O(d²)` work.
    table: Option<Box<[f64]>>,
    /// Distinct features on the path, and the share of training cover that
    /// follows the path through each one's splits.
    features: Vec<u32>,
    zeros: Vec<f64>,
    /// Per split on the path: its index in `splits`, whether the path goes
    /// left, and the slot of its feature in `features`.
    steps: Vec<(u16, bool, u8)>,
}

/// `w[d][k] = k!(d-k-1)!/d!`, the Shapley weight of a coalition of `k` of
/// `d` players, for `d` up to [`MAX_LEAF_FEATURES`].
fn shapley_weights() -> &'static [Vec<f64>] {
    static WEIGHTS: std::sync::OnceLock<Vec<Vec<f64>>> = std::sync::OnceLock::new();
    WEIGHTS.get_or_init(|| {
        (0..=MAX_LEAF_FEATURES)
            .map(|d| {
                (0..d)
                    .map(|k| {
                        // k!(d-k-1)!/d! = 1 / (d · C(d-1, k))
                        let mut choose = 1.0f64;
                        for j in 0..k {
                            choose = choose * (d - 1 - j) as f64 / (j + 1) as f64;
                        }
                        1.0 / (d as f64 * choose)
                    })
                    .collect()
            })
            .collect()
    })
}

impl PathTree {
    /// The paths of the tree at `root`, or `None` when it is too large.
    fn build(walk: &TreeWalk<'_>, root: u32) -> Option<Self> {
        let mut splits = Vec::new();
        let mut leaves = Vec::new();
        // (node, path so far as (split index, went left))
        let mut stack = vec![(root, Vec::<(u16, bool)>::new())];
        while let Some((index, path)) = stack.pop() {
            let node = walk.node(index);
            if node.flags & flag::LEAF != 0 {
                let mut features: Vec<u32> = Vec::new();
                let mut zeros: Vec<f64> = Vec::new();
                let mut steps = Vec::with_capacity(path.len());
                for &(split, left) in &path {
                    let split_node = walk.node(splits[split as usize]);
                    let child = split_node.children[usize::from(!left)];
                    let cover = walk.covers[splits[split as usize] as usize];
                    let share = if cover > 0.0 {
                        walk.covers[child as usize] / cover
                    } else {
                        0.0
                    };
                    let slot = match features.iter().position(|&f| f == split_node.feature) {
                        Some(slot) => {
                            zeros[slot] *= share;
                            slot
                        }
                        None => {
                            features.push(split_node.feature);
                            zeros.push(share);
                            features.len() - 1
                        }
                    };
                    steps.push((split, left, slot as u8));
                }
                if features.len() > MAX_LEAF_FEATURES {
                    return None;
                }
                leaves.push(LeafPath {
                    value: node.threshold,
                    table: None,
                    features,
                    zeros,
                    steps,
                });
                continue;
            }
            if splits.len() >= u16::MAX as usize {
                return None;
            }
            let split = splits.len() as u16;
            splits.push(index);
            for (child, left) in [(node.children[1], false), (node.children[0], true)] {
                let mut next = path.clone();
                next.push((split, left));
                stack.push((child, next));
            }
        }
        Some(Self { splits, leaves })
    }

    /// Adds the tree's contributions for `row` to `phi`.
    fn add(&self, view: &BinaryView<'_>, row: &[f32], decisions: &mut Vec<bool>, phi: &mut [f64]) {
        decisions.clear();
        decisions.extend(self.splits.iter().map(|&s| {
            let node = &view.nodes[s as usize];
            view.goes_left(node, row[node.feature as usize])
        }));
        let weights = shapley_weights();
        for leaf in &self.leaves {
            let d = leaf.features.len();
            let mut followed = u64::MAX >> (64 - d.max(1));
            for &(split, left, slot) in &leaf.steps {
                if decisions[split as usize] != left {
                    followed &= !(1u64 << slot);
                }
            }
            match &leaf.table {
                Some(table) => {
                    let shares = &table[followed as usize * d..][..d];
                    for (&f, &s) in leaf.features.iter().zip(shares) {
                        phi[f as usize] += s;
                    }
                }
                None => leaf.add(followed, &weights[d], phi),
            }
        }
    }

    /// Tabulates the leaves with at most [`MAX_TABLE_FEATURES`] features
    /// while `budget` (table entries) lasts.
    fn tabulate(&mut self, budget: &mut usize) {
        let weights = shapley_weights();
        for leaf in &mut self.leaves {
            let d = leaf.features.len();
            let size = (1usize << d) * d;
            if d > MAX_TABLE_FEATURES || size > *budget {
                continue;
            }
            *budget -= size;
            let mut table = vec![0.0; size];
            let mut phi = vec![0.0; d];
            for followed in 0..1u64 << d {
                phi.iter_mut().for_each(|p| *p = 0.0);
                leaf.add_slots(followed, &weights[d], &mut phi);
                table[followed as usize * d..][..d].copy_from_slice(&phi);
            }
            leaf.table = Some(table.into_boxed_slice());
        }
    }
}

/// Leaves with more distinct path features than this are not tabulated.
const MAX_TABLE_FEATURES: usize = 10;

/// Table entries (f64) one explained forest may use: 32 MiB.
const TABLE_BUDGET: usize = 4 << 20;

impl LeafPath {
    /// Adds the leaf's share to `phi` when the row follows the features in
    /// the bit set `followed`; `w` are the Shapley weights for `d` features.
    fn add(&self, followed: u64, w: &[f64], phi: &mut [f64]) {
        self.shares(followed, w, |slot, share| {
            phi[self.features[slot] as usize] += share;
        });
    }

    /// As [`LeafPath::add`], into `phi` indexed by the path's slots.
    fn add_slots(&self, followed: u64, w: &[f64], phi: &mut [f64]) {
        self.shares(followed, w, |slot, share| phi[slot] += share);
    }

    /// Calls `out(slot, value × share)` for every feature of the path.
    fn shares(&self, followed: u64, w: &[f64], mut out: impl FnMut(usize, f64)) {
        let d = self.features.len();
        // Elementary symmetric polynomials of the followed features' zeros,
        // and the product of the others' zeros.
        let mut e = [0.0f64; MAX_LEAF_FEATURES + 1];
        e[0] = 1.0;
        let mut p = 0;
        let mut others = 1.0;
        for (slot, &z) in self.zeros.iter().enumerate() {
            if followed >> slot & 1 == 1 {
                p += 1;
                for m in (1..=p).rev() {
                    e[m] += z * e[m - 1];
                }
            } else {
                others *= z;
            }
        }
        // Σ_m w(p − m) e_m: the coalition sum for a feature not followed
        // (there is none when every feature is followed).
        let all_followed: f64 = if p < d {
            (0..=p).map(|m| w[p - m] * e[m]).sum()
        } else {
            0.0
        };
        for (slot, &z) in self.zeros.iter().enumerate() {
            let share = if followed >> slot & 1 == 1 {
                // Take z out of the polynomials: e'_m = e_m − z e'_{m−1}.
                let mut previous = 1.0;
                let mut sum = w[p - 1];
                for m in 1..p {
                    previous = e[m] - z * previous;
                    sum += w[p - 1 - m] * previous;
                }
                (1.0 - z) * others * sum
            } else {
                // The other unfollowed zeros: a division, unless z is 0.
                let rest: f64 = if z > 0.0 {
                    others / z
                } else {
                    self.zeros
                        .iter()
                        .enumerate()
                        .filter(|&(j, _)| j != slot && followed >> j & 1 == 0)
                        .map(|(_, &zj)| zj)
                        .product()
                };
                -z * rest * all_followed
            };
            out(slot, self.value * share);
        }
    }
}

/// A forest made ready for TreeSHAP: its expected value and the path
/// buffer size are worked out once.
#[derive(Debug, Clone)]
pub struct TreeShap {
    forest: Forest,
    expected: f64,
    buffer: usize,
    /// Per tree, its leaf paths, or `None` for trees walked recursively.
    tables: Vec<Option<PathTree>>,
}

impl TreeShap {
    /// Prepares `forest`; models without node covers are refused.
    pub fn new(forest: Forest) -> crate::Result<Self> {
        let Body::Binary {
            roots,
            nodes,
            cat_words,
            depths,
            covers: Some(covers),
            ..
        } = &forest.body
        else {
            return Err(TreeModelError::unsupported(
                forest.format,
                "per-prediction contributions without node covers",
            ));
        };
        let walk = TreeWalk {
            view: BinaryView { nodes, cat_words },
            covers,
            row: &[],
        };
        let expected: f64 = roots.iter().map(|&r| walk.expected_value(r)).sum();
        // Each level keeps a copy of a path at most one longer than its own.
        let depth = depths.iter().copied().max().unwrap_or(0) as usize + 2;
        let buffer = depth * (depth + 1) / 2 + depth;
        let mut budget = TABLE_BUDGET;
        let tables = roots
            .iter()
            .map(|&r| {
                if walk.node(r).flags & flag::LEAF != 0 {
                    None
                } else {
                    let mut tree = PathTree::build(&walk, r)?;
                    tree.tabulate(&mut budget);
                    Some(tree)
                }
            })
            .collect();
        Ok(Self {
            expected: forest.base + forest.scale * expected,
            buffer,
            tables,
            forest,
        })
    }

    /// The forest explained.
    pub fn forest(&self) -> &Forest {
        &self.forest
    }

    /// Contributions of one row: `num_features` values, then the expected
    /// value; they sum to [`Forest::predict_row`].
    pub fn contributions(&self, row: &[f32]) -> crate::Result<Vec<f64>> {
        let forest = &self.forest;
        if row.len() != forest.num_features {
            return Err(TreeModelError::Input(format!(
                "row has {} values, the model reads {}",
                row.len(),
                forest.num_features
            )));
        }
        let Body::Binary {
            roots,
            nodes,
            cat_words,
            covers: Some(covers),
            ..
        } = &forest.body
        else {
            unreachable!("checked by TreeShap::new");
        };
        let walk = TreeWalk {
            view: BinaryView { nodes, cat_words },
            covers,
            row,
        };
        let mut phi = vec![0.0; forest.num_features + 1];
        let empty = PathElement {
            feature: None,
            zero: 0.0,
            one: 0.0,
            weight: 0.0,
        };
        let mut buf = Vec::new();
        let mut decisions = Vec::new();
        for (&root, table) in roots.iter().zip(&self.tables) {
            if let Some(table) = table {
                table.add(&walk.view, row, &mut decisions, &mut phi);
            } else if walk.node(root).flags & flag::LEAF == 0 {
                if buf.is_empty() {
                    buf = vec![empty; self.buffer];
                }
                walk.recurse(root, &mut buf, 0, (1.0, 1.0, None), &mut phi);
            }
        }
        for value in &mut phi[..forest.num_features] {
            *value *= forest.scale;
        }
        phi[forest.num_features] = self.expected;
        Ok(phi)
    }
}

impl Forest {
    /// Whether the model records the node covers TreeSHAP needs.
    pub fn has_contributions(&self) -> bool {
        matches!(
            &self.body,
            Body::Binary {
                covers: Some(_),
                ..
            }
        )
    }

    /// TreeSHAP contributions of one row (see [`TreeShap::contributions`]);
    /// prepare a [`TreeShap`] once to explain many rows.
    pub fn contributions(&self, row: &[f32]) -> crate::Result<Vec<f64>> {
        TreeShap::new(self.clone())?.contributions(row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two features, one tree: x0 <= 0.5 ? (x1 <= 0.5 ? 1 : 2) : 3, with
    /// covers 10 / 6 / 4 / 2 / 4 … enough to check against exact Shapley
    /// values computed by hand over the 2 subsets.
    fn small_model() -> Forest {
        let text = "tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\n\
            max_feature_idx=1\nobjective=regression\nfeature_names=a b\n\n\
            Tree=0\nnum_leaves=3\nnum_cat=0\nsplit_feature=0 1\n\
            threshold=0.5 0.5\ndecision_type=2 2\nleft_child=1 -1\n\
            right_child=-3 -2\nleaf_value=1 2 3\nleaf_count=2 4 4\n\
            internal_value=0 0\ninternal_count=10 6\nshrinkage=1\n\n\
            end of trees\n";
        Forest::from_lightgbm_text(text).unwrap()
    }

    /// Exact Shapley values by enumerating subsets, with the conditional
    /// expectation over covers (the definition TreeSHAP computes).
    fn brute_force(row: &[f32]) -> [f64; 3] {
        // E[f | S]: average over the leaves reachable when the features in
        // S follow the row and the others follow the covers.
        let value = |s0: bool, s1: bool| -> f64 {
            let left_share = if s0 {
                f64::from(u8::from(row[0] <= 0.5))
            } else {
                0.6
            };
            let inner = if s1 {
                if row[1] <= 0.5 { 1.0 } else { 2.0 }
            } else {
                (2.0 * 1.0 + 4.0 * 2.0) / 6.0
            };
            left_share * inner + (1.0 - left_share) * 3.0
        };
        let base = value(false, false);
        let phi0 =
            0.5 * (value(true, false) - base) + 0.5 * (value(true, true) - value(false, true));
        let phi1 =
            0.5 * (value(false, true) - base) + 0.5 * (value(true, true) - value(true, false));
        [phi0, phi1, base]
    }

    #[test]
    fn contributions_match_exact_shapley_values_and_sum_to_the_prediction() {
        let forest = small_model();
        assert!(forest.has_contributions());
        for row in [[0.0f32, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]] {
            let phi = forest.contributions(&row).unwrap();
            let expected = brute_force(&row);
            for (got, want) in phi.iter().zip(expected) {
                assert!(
                    (got - want).abs() < 1e-12,
                    "{row:?}: {phi:?} vs {expected:?}"
                );
            }
            let total: f64 = phi.iter().sum();
            assert!((total - forest.predict_row(&row).unwrap()).abs() < 1e-12);
        }
    }

    #[test]
    fn leaf_paths_agree_with_the_recursive_walk() {
        // Feature 0 is split on twice on one path, so duplicates merge.
        let text = "tree\nversion=v4\nmax_feature_idx=1\nobjective=regression\n\n\
            Tree=0\nnum_leaves=4\nsplit_feature=0 1 0\nthreshold=0.5 0.5 0.25\n\
            decision_type=2 2 2\nleft_child=1 2 -1\nright_child=-4 -3 -2\n\
            leaf_value=1 2 3 4\nleaf_count=3 2 4 1\ninternal_count=10 9 5\n\
            shrinkage=1\n\nend of trees\n";
        let shap = TreeShap::new(Forest::from_lightgbm_text(text).unwrap()).unwrap();
        assert!(shap.tables.iter().all(Option::is_some));
        let mut walked = shap.clone();
        walked.tables.iter_mut().for_each(|t| *t = None);
        // Leaves are tabulated; the same leaves computed per row agree.
        assert!(
            shap.tables
                .iter()
                .flatten()
                .all(|t| t.leaves.iter().all(|l| l.table.is_some()))
        );
        let mut computed = shap.clone();
        for tree in computed.tables.iter_mut().flatten() {
            tree.leaves.iter_mut().for_each(|l| l.table = None);
        }
        for row in [
            [0.1f32, 0.1],
            [0.3, 0.1],
            [0.3, 0.9],
            [0.9, 0.9],
            [f32::NAN, 0.2],
        ] {
            let a = shap.contributions(&row).unwrap();
            let b = walked.contributions(&row).unwrap();
            let c = computed.contributions(&row).unwrap();
            for ((x, y), z) in a.iter().zip(&b).zip(&c) {
                assert!((x - y).abs() < 1e-12, "{row:?}: {a:?} vs {b:?}");
                assert!((x - z).abs() < 1e-12, "{row:?}: {a:?} vs {c:?}");
            }
            let total: f64 = a.iter().sum();
            let predicted = shap.forest().predict_row(&row).unwrap();
            assert!((total - predicted).abs() < 1e-12, "{row:?}");
        }
    }

    #[test]
    fn a_model_without_covers_is_refused() {
        let text = "tree\nversion=v4\nmax_feature_idx=0\nobjective=regression\n\n\
            Tree=0\nnum_leaves=2\nsplit_feature=0\nthreshold=0.5\ndecision_type=2\n\
            left_child=-1\nright_child=-2\nleaf_value=1 2\nshrinkage=1\n\nend of trees\n";
        let forest = Forest::from_lightgbm_text(text).unwrap();
        assert!(!forest.has_contributions());
        let err = forest.contributions(&[0.0]).unwrap_err().to_string();
        assert!(err.contains("covers"), "{err}");
    }
}
