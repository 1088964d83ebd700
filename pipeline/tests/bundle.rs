//! The whole chain on generated data: a complete bundle is published, and a
//! failed publish leaves the store as it was.

use rtp_bundle::{BundleStore, FeatureKind};
use rtp_pipeline::chain;
use rtp_pipeline::config::RunInput;
use rtp_pipeline::publish::{BundleSources, publish};

use crate::util::config;

#[tokio::test]
async fn run_publishes_a_complete_bundle_and_failures_publish_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config();
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
    assert_eq!(m.models.len(), 3);
    for model in &m.models {
        assert!(loaded.dir.join(&model.file).is_file());
        assert!(model.best_iteration >= 1);
    }
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

    // A publish that fails half-way (its history file is missing) leaves
    // neither a new version nor a moved `latest`.
    let (_, model) = crate::util::prepare_and_train(
        &config.run.work_dir.join("generated_eagle.parquet"),
        &dir.path().join("work2"),
        &config,
    )
    .await;
    let states = config.train.states.clone();
    let before = store.versions().unwrap();
    let err = publish(
        &store,
        BundleSources {
            model: &model,
            history_state: &dir.path().join("missing.parquet"),
            input_fingerprint: "f".repeat(64),
            sql_sha256: "0".repeat(64),
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
