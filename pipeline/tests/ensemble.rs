//! The ensemble's members against the native engine: on 10,000 rows the
//! engine predicts what each library predicts (LightGBM here through its own
//! predictor, XGBoost and CatBoost through the predictions their trainer
//! writes beside the model), including categorical and one-hot splits.

use rtp_bundle::MemberKind;
use rtp_pipeline::lgbm::Booster;
use rtp_pipeline::train::{max_rel_diff, model_matrix};
use rtp_trees::Forest;

use crate::util::ensemble_config;

const PARITY_ROWS: usize = 10_000;

#[tokio::test]
async fn native_engine_matches_every_library_on_10k_rows() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = crate::util::generated_jobs(dir.path(), 16_000, 5);
    let mut config = ensemble_config();
    config.train.parity_rows = PARITY_ROWS;
    config.train.num_iterations = 200;
    let (prepared, model) = crate::util::prepare_and_train(
        &jobs.with_file_name("eagle.parquet"),
        &dir.path().join("w"),
        &config,
    )
    .await;
    let kinds: Vec<MemberKind> = model.members.iter().map(|m| m.fit.kind).collect();
    assert_eq!(kinds, MemberKind::ALL);

    // Every row of the feature table, trained on or not, eligible or not.
    let frame = &prepared.frame;
    assert!(frame.len() >= PARITY_ROWS);
    let rows: Vec<usize> = (frame.len() - PARITY_ROWS..frame.len()).collect();
    let x = model_matrix(frame, &rows, &model.codes);
    let lightgbm = &model.members[0].fit;
    for fitted in &lightgbm.models {
        let booster = Booster::from_model_string(&fitted.text).unwrap();
        let library = booster.predict(&x, -1).unwrap();
        let forest = Forest::from_lightgbm_text(&fitted.text).unwrap();
        let mut native = vec![0.0; rows.len()];
        forest.predict_columns(&x.columns(), &mut native).unwrap();
        let single: Vec<f64> = (0..rows.len())
            .map(|r| {
                let row: Vec<f32> = x.columns().iter().map(|c| c[r]).collect();
                forest.predict_row(&row).unwrap()
            })
            .collect();
        let diff = max_rel_diff(&native, &library);
        assert!(diff <= 1e-9, "lightgbm q{}: {diff:e}", fitted.quantile);
        assert_eq!(native, single, "batch and single-row evaluation differ");

        // Per-prediction contributions: the native TreeSHAP against
        // LightGBM's own `predict_contrib`, on the last 500 rows.
        let sample = x.row_range(x.rows - 500..x.rows);
        let library = booster.contributions(&sample, -1).unwrap();
        let width = sample.cols + 1;
        for r in 0..sample.rows {
            let row: Vec<f32> = sample.columns().iter().map(|c| c[r]).collect();
            let native = forest.contributions(&row).unwrap();
            let expected = &library[r * width..(r + 1) * width];
            for (f, (a, b)) in native.iter().zip(expected).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-9 * (1.0 + b.abs()),
                    "q{} row {r} feature {f}: native {a} vs LightGBM {b}",
                    fitted.quantile
                );
            }
        }
    }
    assert!(
        lightgbm.models.iter().any(|m| m
            .text
            .lines()
            .any(|l| l.starts_with("num_cat=") && l != "num_cat=0")),
        "no categorical split in the LightGBM models"
    );

    // XGBoost and CatBoost: the trainer's own predictions on the first
    // 10,000 training rows, checked by `train` before anything is returned.
    for member in &model.members[1..] {
        for (q, library) in member.fit.library_parity.iter().enumerate() {
            assert_eq!(library.len(), PARITY_ROWS, "{} q{q}", member.fit.kind);
        }
        assert!(
            member.parity_max_rel_diff <= 1e-5,
            "{}: {:e}",
            member.fit.kind,
            member.parity_max_rel_diff
        );
    }
    let xgboost = &model.members[1].fit;
    assert!(
        xgboost.models.iter().any(|m| {
            let json: serde_json::Value = serde_json::from_str(&m.text).unwrap();
            json.pointer("/learner/gradient_booster/model/trees")
                .and_then(|t| t.as_array())
                .unwrap()
                .iter()
                .any(|t| t["split_type"].as_array().unwrap().iter().any(|s| s == 1))
        }),
        "no categorical split in the XGBoost models"
    );
    let catboost = &model.members[2].fit;
    assert!(
        catboost
            .models
            .iter()
            .any(|m| m.text.contains("OneHotFeature")),
        "no one-hot split in the CatBoost models"
    );
    assert!(
        catboost
            .models
            .iter()
            .any(|m| m.text.contains("\"AsTrue\"") || m.text.contains("\"AsFalse\"")),
        "CatBoost models carry NaN treatment"
    );
}
