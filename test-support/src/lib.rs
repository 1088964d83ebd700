//! Helpers shared by rt-predictor's integration tests: where the repository,
//! its fixtures and the shared real-data directory are.
#![deny(missing_docs)]

use std::path::{Path, PathBuf};

/// The repository root (the workspace directory). Read at run time from the
/// manifest directory cargo gives the test binary (every crate sits one level
/// below the root), so a build cached from another checkout cannot point
/// tests at that checkout's files.
pub fn repo_root() -> PathBuf {
    let crate_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    Path::new(&crate_dir)
        .parent()
        .expect("crates live one level below the root")
        .to_owned()
}

/// A committed fixture under `data/fixtures/`.
pub fn fixture(name: &str) -> PathBuf {
    let path = repo_root().join("data/fixtures").join(name);
    assert!(path.is_file(), "fixture {} is missing", path.display());
    path
}

/// The feature SQL directory.
pub fn sql_dir() -> PathBuf {
    repo_root().join("sql")
}

/// A file of the shared real-data directory (`../shared/data` beside the
/// repository root). Returns None, after saying on stderr that the test is
/// skipped and why, when it is absent.
pub fn shared_data(name: &str) -> Option<PathBuf> {
    let path = repo_root().join("../shared/data").join(name);
    if path.is_file() {
        Some(path)
    } else {
        eprintln!(
            "SKIPPED: {} not found (shared real data lives in ../shared/data beside the repository)",
            path.display()
        );
        None
    }
}
