//! The whole chain on generated data: a complete bundle of the full ensemble
//! is published, it loads into the same predictions, and a failed publish
//! leaves the store as it was.

use rtp_bundle::{BundleStore, Ensemble, FeatureKind, MemberKind};
use rtp_pipeline::chain;
use rtp_pipeline::config::RunInput;
use rtp_pipeline::publish::{BundleSources, publish};
use rtp_pipeline::train::model_matrix;

use crate::util::ensemble_config;

#[tokio::test]
async fn run_publishes_a_complete_bundle_and_failures_publish_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ensemble_config();
    config.run.input = RunInput::Generate {
        rows: 12_000,
        seed: 4,
    };
    config.run.work_dir = dir.path().join("work");
    config.run.bundle_dir = dir.path().join("bundles");
    let report = chain::run(&config).await.unwrap();
    let bundle_dir = report.bundle.unwrap();

    let store = BundleStore::new(&config.run.bundle_dir);
    let loaded = store.open_latest().unwrap();
    assert_eq!(loaded.dir, bundle_dir);
    let m = &loaded.manifest;
    let kinds: Vec<MemberKind> = m.members.iter().map(|s| s.kind).collect();
    assert_eq!(kinds, MemberKind::ALL);
    assert!(m.likely.is_some(), "the likely runtime's rule is recorded");
    for member in &m.members {
        assert_eq!(member.models.len(), 5);
        for model in &member.models {
            assert!(loaded.dir.join(&model.file).is_file());
            assert!(model.best_iteration >= 1);
        }
        assert!(member.parity_max_rel_diff <= 1e-5, "{member:?}");
        assert!(!member.library_version.is_empty());
    }
    // user and account reach XGBoost and CatBoost only through their history
    let xgboost = &m.members[1];
    assert!(
        !xgboost
            .inputs
            .iter()
            .any(|i| i == "cat_user" || i == "cat_account")
    );
    assert!(xgboost.inputs.iter().any(|i| i == "cat_partition"));
    assert_eq!(m.blend.len(), 5);
    for blend in &m.blend {
        let total: f64 = blend.weights.values().sum();
        assert!((total - 1.0).abs() < 1e-9, "{blend:?}");
        assert!(blend.weights.values().all(|&w| w >= 0.0));
    }
    let evaluation = m.evaluation.as_ref().unwrap();
    assert_eq!(
        evaluation.members.keys().collect::<Vec<_>>(),
        ["catboost", "lightgbm", "xgboost"]
    );
    Ensemble::load(&loaded.dir, m).expect("the published ensemble loads");
    assert!(loaded.dir.join(&m.history_file).is_file());
    assert!(loaded.dir.join(&m.categories_file).is_file());
    assert_eq!(m.input_fingerprint.len(), 64);
    assert_eq!(m.sql_sha256.len(), 64);
    assert!(
        m.features
            .iter()
            .any(|f| f.name == "cat_user" && f.kind == FeatureKind::Categorical)
    );
    assert!(
        m.features
            .iter()
            .all(|f| !["run_time_s", "end_s", "state"].contains(&f.name.as_str()))
    );
    let evaluation = m.evaluation.as_ref().unwrap();
    assert_eq!(evaluation.n_test, report.evaluation.n_test);
    assert!(m.training.rows > 0 && m.training.validation_rows > 0);
    // The validation slice's quality is recorded; its interval was
    // calibrated on that very slice, so it covers about the nominal share.
    let validation = m.training.validation.as_ref().unwrap();
    assert!(
        validation.mae_h > 0.0 && validation.mape_pct > 0.0,
        "{validation:?}"
    );
    let coverage = validation.coverage_p10_p90.unwrap();
    assert!((0.75..=0.9).contains(&coverage), "{validation:?}");
    assert!(evaluation.model.mape_pct.is_finite() && evaluation.model.mape_pct > 0.0);

    // A bundle loads into exactly the predictions of the model it was
    // published from.
    let lightgbm_config = crate::util::config();
    let (prepared, model) = crate::util::prepare_and_train(
        &config.run.work_dir.join("generated_eagle.parquet"),
        &dir.path().join("work2"),
        &lightgbm_config,
    )
    .await;
    let other_store = BundleStore::new(dir.path().join("bundles2"));
    let published = publish(
        &other_store,
        BundleSources {
            model: &model,
            history_state: &prepared.features.history_state,
            queue_state: &prepared.features.queue_state,
            sql_dir: &test_support::sql_dir(),
            input_fingerprint: "e".repeat(64),
            states: &lightgbm_config.train.states,
            history_until_s: 0,
            evaluation: None,
        },
    )
    .unwrap();
    let reloaded = other_store.open_latest().unwrap();
    assert_eq!(reloaded.dir, published);
    let ensemble = Ensemble::load(&reloaded.dir, &reloaded.manifest).unwrap();
    let rows: Vec<usize> = (0..prepared.frame.len()).collect();
    let x = model_matrix(&prepared.frame, &rows, &model.codes);
    assert_eq!(
        ensemble.log_quantiles(&x.columns()).unwrap(),
        model.predict_log(&prepared.frame, &rows).unwrap()
    );

    // A publish that fails half-way (its history file is missing) leaves
    // neither a new version nor a moved `latest`.
    let states = config.train.states.clone();
    let before = store.versions().unwrap();
    let err = publish(
        &store,
        BundleSources {
            model: &model,
            history_state: &dir.path().join("missing.parquet"),
            queue_state: &prepared.features.queue_state,
            sql_dir: &test_support::sql_dir(),
            input_fingerprint: "f".repeat(64),
            states: &states,
            history_until_s: 0,
            evaluation: None,
        },
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("missing.parquet") || err.to_string().contains("history"),
        "{err}"
    );
    assert_eq!(store.versions().unwrap(), before);
    assert_eq!(store.latest_version().unwrap(), m.version);
    let leftovers: Vec<_> = std::fs::read_dir(store.root())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".staging"))
        .collect();
    assert!(leftovers.is_empty(), "staging directories left behind");
}
