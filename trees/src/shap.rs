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

/// Adds a feature to the path, updating the subset weights.
fn extend(path: &mut Vec<PathElement>, zero: f64, one: f64, feature: Option<u32>) {
    let depth = path.len();
    path.push(PathElement {
        feature,
        zero,
        one,
        weight: if depth == 0 { 1.0 } else { 0.0 },
    });
    let n = (depth + 1) as f64;
    for i in (0..depth).rev() {
        path[i + 1].weight += one * path[i].weight * (i + 1) as f64 / n;
        path[i].weight = zero * path[i].weight * (depth - i) as f64 / n;
    }
}

/// Removes element `at` from the path, undoing its [`extend`].
fn unwind(path: &mut Vec<PathElement>, at: usize) {
    let depth = path.len() - 1;
    let PathElement { zero, one, .. } = path[at];
    let n = (depth + 1) as f64;
    let mut next = path[depth].weight;
    for j in (0..depth).rev() {
        if one != 0.0 {
            let kept = path[j].weight;
            path[j].weight = next * n / ((j + 1) as f64 * one);
            next = kept - path[j].weight * zero * (depth - j) as f64 / n;
        } else {
            path[j].weight = path[j].weight * n / (zero * (depth - j) as f64);
        }
    }
    for j in at..depth {
        path[j].feature = path[j + 1].feature;
        path[j].zero = path[j + 1].zero;
        path[j].one = path[j + 1].one;
    }
    path.pop();
}

/// The total weight the path would have with element `at` unwound.
fn unwound_sum(path: &[PathElement], at: usize) -> f64 {
    let depth = path.len() - 1;
    let PathElement { zero, one, .. } = path[at];
    let n = (depth + 1) as f64;
    let mut next = path[depth].weight;
    let mut total = 0.0;
    for j in (0..depth).rev() {
        if one != 0.0 {
            let w = next * n / ((j + 1) as f64 * one);
            total += w;
            next = path[j].weight - w * zero * (depth - j) as f64 / n;
        } else {
            total += path[j].weight / zero * n / (depth - j) as f64;
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

    fn recurse(
        &self,
        index: u32,
        mut path: Vec<PathElement>,
        (zero, one, feature): (f64, f64, Option<u32>),
        phi: &mut [f64],
    ) {
        extend(&mut path, zero, one, feature);
        let node = self.node(index);
        if node.flags & flag::LEAF != 0 {
            for i in 1..path.len() {
                let share = unwound_sum(&path, i) * (path[i].one - path[i].zero);
                let f = path[i].feature.expect("only the root element has no feature");
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
        let (mut incoming_zero, mut incoming_one) = (1.0, 1.0);
        if let Some(k) = (1..path.len()).find(|&k| path[k].feature == Some(node.feature)) {
            incoming_zero = path[k].zero;
            incoming_one = path[k].one;
            unwind(&mut path, k);
        }
        let cover = self.covers[index as usize];
        let share = |child: u32| {
            if cover > 0.0 {
                self.covers[child as usize] / cover
            } else {
                0.0
            }
        };
        let f = Some(node.feature);
        self.recurse(
            hot,
            path.clone(),
            (incoming_zero * share(hot), incoming_one, f),
            phi,
        );
        self.recurse(cold, path, (incoming_zero * share(cold), 0.0, f), phi);
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

impl Forest {
    /// Whether [`Forest::contributions`] is available for this model.
    pub fn has_contributions(&self) -> bool {
        matches!(&self.body, Body::Binary { covers: Some(_), .. })
    }

    /// TreeSHAP contributions of one row: `num_features` values, then the
    /// expected value; they sum to [`Forest::predict_row`].
    pub fn contributions(&self, row: &[f32]) -> crate::Result<Vec<f64>> {
        if row.len() != self.num_features {
            return Err(TreeModelError::Input(format!(
                "row has {} values, the model reads {}",
                row.len(),
                self.num_features
            )));
        }
        let Body::Binary {
            roots,
            nodes,
            cat_words,
            covers: Some(covers),
            ..
        } = &self.body
        else {
            return Err(TreeModelError::unsupported(
                self.format,
                "per-prediction contributions without node covers",
            ));
        };
        let walk = TreeWalk {
            view: BinaryView { nodes, cat_words },
            covers,
            row,
        };
        let mut phi = vec![0.0; self.num_features + 1];
        let mut expected = 0.0;
        let max_depth = self.max_depth() + 2;
        for &root in roots {
            expected += walk.expected_value(root);
            if walk.node(root).flags & flag::LEAF == 0 {
                walk.recurse(
                    root,
                    Vec::with_capacity(max_depth),
                    (1.0, 1.0, None),
                    &mut phi,
                );
            }
        }
        for value in &mut phi[..self.num_features] {
            *value *= self.scale;
        }
        phi[self.num_features] = self.base + self.scale * expected;
        Ok(phi)
    }

    fn max_depth(&self) -> usize {
        match &self.body {
            Body::Binary { depths, .. } => depths.iter().copied().max().unwrap_or(0) as usize,
            Body::Oblivious { .. } => 0,
        }
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
        let phi0 = 0.5 * (value(true, false) - base) + 0.5 * (value(true, true) - value(false, true));
        let phi1 = 0.5 * (value(false, true) - base) + 0.5 * (value(true, true) - value(true, false));
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
                assert!((got - want).abs() < 1e-12, "{row:?}: {phi:?} vs {expected:?}");
            }
            let total: f64 = phi.iter().sum();
            assert!((total - forest.predict_row(&row).unwrap()).abs() < 1e-12);
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
