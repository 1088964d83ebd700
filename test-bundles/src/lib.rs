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

/// Publishes, through the store, a copy of bundle `from` as `version`; its
/// files are changed by `damage` before publishing, so they are what the
/// manifest lists.
pub fn republish(store: &Path, from: &str, version: &str, damage: impl FnOnce(&Path)) {
    let store = rtp_bundle::BundleStore::new(store);
    let source = store.open(from).expect("opening the source bundle");
    let staged = store.stage(version).expect("staging the copy");
    staged
        .copy_from(&source.dir)
        .expect("copying the source's files");
    damage(staged.dir());
    let mut manifest = source.manifest.clone();
    manifest.version = version.into();
    staged.publish(&manifest).expect("publishing the copy");
}

/// Copies bundle `from` to `version` by hand, as `cp -r` would (manifest
/// included), lets `change` alter the copy, and points `latest` at it.
pub fn copy_by_hand(store: &Path, from: &str, version: &str, change: impl FnOnce(&Path)) {
    let dir = store.join(version);
    copy_dir(&store.join(from), &dir);
    change(&dir);
    std::fs::write(store.join("latest"), format!("{version}\n")).expect("moving latest");
}

/// Rewrites the manifest in bundle directory `dir` to name `version`, as a
/// user renaming a copied bundle would (its file digests stay as they were).
pub fn rename_manifest(dir: &Path, version: &str) {
    let path = dir.join(rtp_bundle::manifest::MANIFEST_FILE);
    let text = std::fs::read_to_string(&path).expect("reading the manifest");
    let mut manifest: serde_json::Value = serde_json::from_str(&text).expect("a JSON manifest");
    manifest["version"] = version.into();
    std::fs::write(&path, manifest.to_string()).expect("writing the manifest");
}

/// Cuts the file at `path` to its first `len` bytes, as a crashed copy leaves it.
pub fn truncate(path: &Path, len: u64) {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|f| f.set_len(len))
        .expect("truncating the file");
}
