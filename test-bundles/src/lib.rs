//! A bundle store holding one bundle trained on generated jobs (LightGBM
//! only, evaluated, from the repository's `sql/`), made once per test
//! binary: the edge, Flight and dashboard tests serve it.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rtp_pipeline::config::{PipelineConfig, RunInput};

/// Generated jobs the bundle is trained on.
const ROWS: u64 = 6000;

/// The directory holding `bundles/` (the store) and `work/`. Trained on
/// the first call with `seed`; later calls get the same store.
pub fn trained_store(seed: u64) -> &'static Path {
    static STORE: OnceLock<tempfile::TempDir> = OnceLock::new();
    STORE
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("creating a temporary directory");
            let root = dir.path().to_owned();
            // chain::run is async, and callers may be inside a runtime:
            // train on a thread with a runtime of its own.
            std::thread::spawn(move || {
                let mut config = PipelineConfig::default_config().expect("built-in config");
                config.features.sql_dir = test_support::sql_dir();
                config
                    .train
                    .set_members("lightgbm")
                    .expect("a known member");
                config.run.input = RunInput::Generate { rows: ROWS, seed };
                config.run.work_dir = root.join("work");
                config.run.bundle_dir = root.join("bundles");
                tokio::runtime::Runtime::new()
                    .expect("a runtime")
                    .block_on(rtp_pipeline::chain::run(&config))
                    .expect("training the test bundle");
            })
            .join()
            .expect("the training thread");
            dir
        })
        .path()
}

/// A copy of the trained bundle store in `dir/bundles`, for tests that
/// change it.
pub fn store_copy(seed: u64, dir: &Path) -> PathBuf {
    let to = dir.join("bundles");
    copy_dir(&trained_store(seed).join("bundles"), &to);
    to
}

/// Copies a directory tree.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("creating the copy");
    for entry in std::fs::read_dir(from).expect("reading the store") {
        let entry = entry.expect("a directory entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("a file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copying a file");
        }
    }
}
