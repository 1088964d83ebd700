//! Hand-made models of each format, with outputs worked out by hand from
//! each library's documented split rules, and models the engine must refuse.

use rtp_trees::{Forest, TreeModelError, catboost_category_hash};

const NAN: f32 = f32::NAN;

fn check(forest: &Forest, cases: &[([f32; 2], f64)]) {
    let columns: Vec<Vec<f32>> = (0..2)
        .map(|f| cases.iter().map(|c| c.0[f]).collect())
        .collect();
    let slices: Vec<&[f32]> = columns.iter().map(Vec::as_slice).collect();
    let mut batch = vec![0.0; cases.len()];
    forest.predict_columns(&slices, &mut batch).unwrap();
    for (i, (row, want)) in cases.iter().enumerate() {
        assert_eq!(forest.predict_row(row).unwrap(), *want, "row {row:?}");
        assert_eq!(batch[i], *want, "batch row {row:?}");
    }
}

fn unsupported(result: Result<Forest, TreeModelError>, what: &str) {
    match result {
        Err(TreeModelError::Unsupported { what: w, .. }) => assert!(w.contains(what), "{w}"),
        other => panic!("expected {what} to be refused, got {other:?}"),
    }
}

const LIGHTGBM: &str = "tree
version=v4
num_class=1
num_tree_per_iteration=1
label_index=0
max_feature_idx=1
objective=quantile alpha:0.5
feature_names=a b
feature_infos=[0:3] 1:3
tree_sizes=1 1

Tree=0
num_leaves=3
num_cat=1
split_feature=0 1
split_gain=1 1
threshold=1.5 0
decision_type=10 1
left_child=1 -1
right_child=-2 -3
leaf_value=10 20 30
leaf_weight=1 1 1
leaf_count=1 1 1
internal_value=0 0
internal_weight=0 0
internal_count=2 1
cat_boundaries=0 1
cat_threshold=10
is_linear=0
shrinkage=1


Tree=1
num_leaves=1
num_cat=0
split_feature=
split_gain=
threshold=
decision_type=
left_child=
right_child=
leaf_value=0.5
leaf_weight=
leaf_count=
internal_value=
internal_weight=
internal_count=
is_linear=0
shrinkage=1


end of trees

parameters:
[objective: quantile]
end of parameters
";

#[test]
fn lightgbm_numeric_categorical_and_missing_rules() {
    let forest = Forest::from_lightgbm_text(LIGHTGBM).unwrap();
    assert_eq!(forest.num_features(), 2);
    assert_eq!(forest.feature_names(), ["a", "b"]);
    // node 0: a <= 1.5 left (NaN: missing type NaN, default left);
    // node 1: b in {1, 3} left (NaN, negative, unknown: right)
    check(
        &forest,
        &[
            ([1.0, 1.0], 10.5),
            ([1.5, 3.0], 10.5),
            ([1.0, 2.0], 30.5),
            ([2.0, 1.0], 20.5),
            ([NAN, 3.0], 10.5),
            ([1.0, NAN], 30.5),
            ([1.0, -1.0], 30.5),
            ([1.0, 40.0], 30.5),
        ],
    );
}

#[test]
fn lightgbm_features_it_cannot_evaluate_are_refused() {
    unsupported(
        Forest::from_lightgbm_text(&LIGHTGBM.replacen("is_linear=0", "is_linear=1", 1)),
        "linear trees",
    );
    unsupported(
        Forest::from_lightgbm_text(
            &LIGHTGBM.replace("objective=quantile alpha:0.5", "objective=binary sigmoid:1"),
        ),
        "objective binary",
    );
    unsupported(
        Forest::from_lightgbm_text(&LIGHTGBM.replace("num_class=1", "num_class=3")),
        "num_class",
    );
}

fn truncated(result: Result<Forest, TreeModelError>, what: &str) {
    match result {
        Err(e @ TreeModelError::Parse { .. }) => {
            assert!(e.to_string().contains(what), "{e}")
        }
        other => panic!("expected a parse error naming {what:?}, got {other:?}"),
    }
}

#[test]
fn lightgbm_text_cut_short_is_refused_wherever_it_ends() {
    let inside_a_tree = LIGHTGBM.split("end of trees").next().unwrap();
    truncated(Forest::from_lightgbm_text(inside_a_tree), "truncated");
    // Cut within the header: a file that parses, with no trees at all.
    let header_only = LIGHTGBM.split("Tree=0").next().unwrap();
    truncated(Forest::from_lightgbm_text(header_only), "truncated");
    // Cut at every line: no prefix short of the end marker loads.
    let end = LIGHTGBM.find("end of trees").unwrap();
    for (at, _) in LIGHTGBM[..end].match_indices('\n') {
        assert!(
            Forest::from_lightgbm_text(&LIGHTGBM[..at]).is_err(),
            "a prefix of {at} bytes loaded"
        );
    }
    let one_tree_dropped = LIGHTGBM.replace("tree_sizes=1 1", "tree_sizes=1 1 1");
    truncated(
        Forest::from_lightgbm_text(&one_tree_dropped),
        "`tree_sizes` lists 3 trees, the text holds 2",
    );
}

fn xgboost(booster: &str, objective: &str) -> String {
    format!(
        r#"{{"learner":{{"attributes":{{}},"feature_names":["a","b"],"feature_types":["float","c"],
 "gradient_booster":{{"model":{{"gbtree_model_param":{{"num_parallel_tree":"1","num_trees":"1"}},"iteration_indptr":[0,1],"tree_info":[0],
  "trees":[{{"base_weights":[0,0,0,0,0],"categories":[2,5],"categories_nodes":[1],"categories_segments":[0],"categories_sizes":[2],
    "default_left":[1,0,0,0,0],"id":0,"left_children":[1,3,-1,-1,-1],"loss_changes":[0,0,0,0,0],"parents":[2147483647,0,0,1,1],
    "right_children":[2,4,-1,-1,-1],"split_conditions":[0.5,0,7,1,2],"split_indices":[0,1,0,0,0],"split_type":[0,1,0,0,0],
    "sum_hessian":[1,1,1,1,1],"tree_param":{{"num_deleted":"0","num_feature":"2","num_nodes":"5","size_leaf_vector":"1"}}}}]}},
  "name":"{booster}"}},
 "learner_model_param":{{"base_score":"[1E2]","boost_from_average":"1","num_class":"0","num_feature":"2","num_target":"1"}},
 "objective":{{"name":"{objective}","quantile_loss_param":{{"quantile_alpha":"[0.5]"}}}}}},
 "version":[3,2,0]}}"#
    )
}

#[test]
fn xgboost_strict_thresholds_category_sets_and_default_directions() {
    let forest = Forest::from_xgboost_json(&xgboost("gbtree", "reg:quantileerror")).unwrap();
    // node 0: a < 0.5 left (NaN: default left); node 1: b in {2, 5} right
    // (NaN: default right); base score 100
    check(
        &forest,
        &[
            ([0.4, 2.0], 102.0),
            ([0.4, 3.0], 101.0),
            ([0.5, 2.0], 107.0),
            ([0.5f32.next_down(), 5.0], 102.0),
            ([NAN, 5.0], 102.0),
            ([0.4, NAN], 102.0),
            ([0.4, 64.0], 101.0),
        ],
    );
}

#[test]
fn xgboost_features_it_cannot_evaluate_are_refused() {
    unsupported(
        Forest::from_xgboost_json(&xgboost("dart", "reg:quantileerror")),
        "dart",
    );
    unsupported(
        Forest::from_xgboost_json(&xgboost("gbtree", "binary:logistic")),
        "binary:logistic",
    );
    assert!(matches!(
        Forest::from_xgboost_json("{\"learner\": {}}"),
        Err(TreeModelError::Parse { .. })
    ));
}

fn catboost(extra: &str, second_split: &str) -> String {
    let hash = catboost_category_hash(3.0);
    let second = if second_split.is_empty() {
        format!(
            r#"{{"cat_feature_index":0,"split_index":1,"split_type":"OneHotFeature","value":{hash}}}"#
        )
    } else {
        second_split.to_owned()
    };
    format!(
        r#"{{"features_info":{{"float_features":[{{"borders":[1.5],"feature_index":0,"flat_feature_index":0,"has_nans":true,"nan_value_treatment":"AsTrue","feature_id":"a"}}],
  "categorical_features":[{{"feature_index":0,"flat_feature_index":1,"values":[{hash}],"feature_id":"b"}}]}},
 "oblivious_trees":[{{"leaf_values":[1,2,3,4],"leaf_weights":[1,1,1,1],
   "splits":[{{"border":1.5,"float_feature_index":0,"split_index":0,"split_type":"FloatFeature"}},{second}]}}],
 "scale_and_bias":[2,[0.5]]{extra}}}"#
    )
}

#[test]
fn catboost_oblivious_float_and_one_hot_splits() {
    let forest = Forest::from_catboost_json(&catboost("", "")).unwrap();
    assert_eq!(forest.feature_names(), ["a", "b"]);
    // bit 0: a > 1.5 (NaN counts as true); bit 1: b is category 3;
    // output = 2 * leaf + 0.5
    check(
        &forest,
        &[
            ([1.0, 3.0], 6.5),
            ([2.0, 3.0], 8.5),
            ([2.0, 1.0], 4.5),
            ([NAN, NAN], 4.5),
            ([1.0, 0.0], 2.5),
            ([1.5, 30.0], 2.5),
        ],
    );
}

#[test]
fn catboost_features_it_cannot_evaluate_are_refused() {
    unsupported(
        Forest::from_catboost_json(&catboost(r#","ctr_data":{"a":{}}"#, "")),
        "CTR",
    );
    unsupported(
        Forest::from_catboost_json(&catboost(
            "",
            r#"{"ctr_target_border_idx":0,"split_index":1,"split_type":"OnlineCtr","border":0.5}"#,
        )),
        "OnlineCtr",
    );
}

#[test]
fn inputs_of_the_wrong_shape_are_errors() {
    let forest = Forest::from_lightgbm_text(LIGHTGBM).unwrap();
    assert!(matches!(
        forest.predict_row(&[1.0]),
        Err(TreeModelError::Input(_))
    ));
    let a = [1.0f32, 2.0];
    let b = [1.0f32];
    let mut out = [0.0; 2];
    assert!(forest.predict_columns(&[&a, &b], &mut out).is_err());
}

/// Evaluates a loaded model on a few awkward rows; small models only, since
/// a mutated header may claim any number of features.
fn evaluate_if_small(forest: &Forest) {
    let n = forest.num_features();
    if n > 64 {
        return;
    }
    let values = [0.0, NAN, -1.0, 1e30, f32::MIN_POSITIVE, 7.0];
    let columns: Vec<Vec<f32>> = (0..n)
        .map(|f| {
            (0..values.len())
                .map(|r| values[(r + f) % values.len()])
                .collect()
        })
        .collect();
    let columns: Vec<&[f32]> = columns.iter().map(Vec::as_slice).collect();
    let mut out = vec![0.0; values.len()];
    // An input error is an answer; only a panic fails.
    let _ = forest.predict_columns(&columns, &mut out);
}

#[test]
fn fuzz_model_loaders_refuse_or_load_but_never_panic() {
    let iterations = test_support::fuzz_iterations(1500);
    type Loader = fn(&str) -> Result<Forest, TreeModelError>;
    let targets: [(&str, String, Loader); 3] = [
        ("lightgbm", LIGHTGBM.to_owned(), Forest::from_lightgbm_text),
        (
            "xgboost",
            xgboost("gbtree", "reg:quantileerror"),
            Forest::from_xgboost_json,
        ),
        ("catboost", catboost("", ""), Forest::from_catboost_json),
    ];
    for (name, seed, load) in targets {
        test_support::fuzz(name, &[seed.into_bytes()], iterations, |input| {
            if let Ok(forest) = load(&String::from_utf8_lossy(input)) {
                evaluate_if_small(&forest);
            }
        });
    }
}

/// Inputs the fuzz target found that once panicked.
#[test]
fn fuzz_findings_are_refused_with_a_reason() {
    let base = xgboost("gbtree", "reg:quantileerror");
    let short_split_type = base.replace(r#""split_type":[0,1,0,0,0]"#, r#""split_type":[0]"#);
    let huge_feature_count = base.replace(
        r#""num_feature":"2","num_target""#,
        r#""num_feature":"999999999999999999992","num_target""#,
    );
    let huge_category = base.replace(r#""categories":[2,5]"#, r#""categories":[2,5e12]"#);
    for (text, reason) in [
        (short_split_type, "`split_type` has 1 values for 5 nodes"),
        (
            huge_feature_count,
            "more than the 1048576 this engine takes",
        ),
        (huge_category, "out of range"),
    ] {
        assert_ne!(
            text, base,
            "the fixture no longer holds the pattern for {reason}"
        );
        match Forest::from_xgboost_json(&text) {
            Err(e) => assert!(e.to_string().contains(reason), "{e}"),
            Ok(_) => panic!("loaded a model that should say {reason:?}"),
        }
    }
    let lightgbm = LIGHTGBM.replace("max_feature_idx=1", "max_feature_idx=18446744073709551615");
    assert!(Forest::from_lightgbm_text(&lightgbm).is_err());
}
