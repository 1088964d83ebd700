//! The bundle store: a directory with one immutable sub-directory per
//! version and a `latest` pointer file.
//!
//! Publishing is atomic for readers: files are written into a hidden staging
//! directory, synced, renamed to their version name in one step, and only then
//! is `latest` replaced (again by rename). A reader following `latest` never
//! sees a half-written bundle; a crashed writer leaves only a staging
//! directory, which is removed when the writer drops it or on the next publish.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::BundleError;
use crate::integrity;
use crate::manifest::{FORMAT_VERSION, MANIFEST_FILE, Manifest};

const LATEST_FILE: &str = "latest";
const STAGING_PREFIX: &str = ".staging-";

/// A directory of published bundles.
#[derive(Debug, Clone)]
pub struct BundleStore {
    root: PathBuf,
}

/// A bundle being written; published by [`StagedBundle::publish`], discarded on drop otherwise.
#[derive(Debug)]
pub struct StagedBundle {
    root: PathBuf,
    version: String,
    dir: PathBuf,
    published: bool,
}

/// A published bundle read back from the store.
#[derive(Debug, Clone)]
pub struct LoadedBundle {
    /// The bundle's directory.
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
}

impl BundleStore {
    /// A store rooted at `root` (created on first publish).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The store's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Starts a new bundle named `version`.
    pub fn stage(&self, version: &str) -> Result<StagedBundle, BundleError> {
        validate_version(version)?;
        if self.root.join(version).exists() {
            return Err(BundleError::VersionExists(version.to_owned()));
        }
        fs::create_dir_all(&self.root).map_err(BundleError::io(&self.root))?;
        let dir = self
            .root
            .join(format!("{STAGING_PREFIX}{version}-{}", std::process::id()));
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(BundleError::io(&dir))?;
        }
        fs::create_dir(&dir).map_err(BundleError::io(&dir))?;
        Ok(StagedBundle {
            root: self.root.clone(),
            version: version.to_owned(),
            dir,
            published: false,
        })
    }

    /// The version `latest` points at.
    pub fn latest_version(&self) -> Result<String, BundleError> {
        let path = self.root.join(LATEST_FILE);
        match fs::read_to_string(&path) {
            Ok(text) => Ok(text.trim().to_owned()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(BundleError::NoBundle(self.root.clone()))
            }
            Err(source) => Err(BundleError::Io { path, source }),
        }
    }

    /// Opens the bundle `latest` points at.
    pub fn open_latest(&self) -> Result<LoadedBundle, BundleError> {
        self.open(&self.latest_version()?)
    }

    /// Opens a published version.
    pub fn open(&self, version: &str) -> Result<LoadedBundle, BundleError> {
        validate_version(version)?;
        let dir = self.root.join(version);
        let path = dir.join(MANIFEST_FILE);
        let text = fs::read_to_string(&path).map_err(BundleError::io(&path))?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|source| BundleError::Manifest {
                path: path.clone(),
                source,
            })?;
        // Check the layout version first: an older layout fails to decode
        // with a less helpful message.
        let found = value.get("format_version").and_then(|v| v.as_u64());
        if found != Some(u64::from(FORMAT_VERSION)) {
            return Err(BundleError::FormatVersion {
                path,
                found,
                expected: FORMAT_VERSION,
            });
        }
        let manifest: Manifest =
            serde_json::from_value(value).map_err(|source| BundleError::Manifest {
                path: path.clone(),
                source,
            })?;
        // Servers tell bundles apart by the manifest's version, so a copy that
        // kept its source's version would be mistaken for the one serving.
        if manifest.version != version {
            return Err(BundleError::VersionMismatch {
                path,
                found: manifest.version,
                expected: version.to_owned(),
            });
        }
        integrity::verify(&dir, &manifest.files)?;
        Ok(LoadedBundle { dir, manifest })
    }

    /// Published versions, oldest name first.
    pub fn versions(&self) -> Result<Vec<String>, BundleError> {
        let mut out = Vec::new();
        let entries = match fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(source) => {
                return Err(BundleError::Io {
                    path: self.root.clone(),
                    source,
                });
            }
        };
        for entry in entries {
            let entry = entry.map_err(BundleError::io(&self.root))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.starts_with('.') && entry.path().join(MANIFEST_FILE).is_file() {
                out.push(name);
            }
        }
        out.sort();
        Ok(out)
    }
}

impl StagedBundle {
    /// The staging directory to write the bundle's files into.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The version this bundle will be published as.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Copies the files of the published bundle at `source` (all but its
    /// manifest, which [`Self::publish`] writes) into the staging
    /// directory: a bundle republished under a new version.
    pub fn copy_from(&self, source: &Path) -> Result<(), BundleError> {
        copy_tree(source, &self.dir, Some(MANIFEST_FILE))
    }

    /// Writes the manifest, makes the bundle durable and visible, then moves
    /// `latest` to it. Returns the published directory.
    pub fn publish(mut self, manifest: &Manifest) -> Result<PathBuf, BundleError> {
        if manifest.version != self.version {
            return Err(BundleError::Inconsistent(format!(
                "manifest of version {:?} staged as {:?}",
                manifest.version, self.version
            )));
        }
        let manifest_path = self.dir.join(MANIFEST_FILE);
        let manifest = Manifest {
            files: integrity::file_digests(&self.dir)?,
            ..manifest.clone()
        };
        let json =
            serde_json::to_vec_pretty(&manifest).map_err(|source| BundleError::Manifest {
                path: manifest_path.clone(),
                source,
            })?;
        write_synced(&manifest_path, &json)?;
        sync_tree(&self.dir)?;

        let target = self.root.join(&self.version);
        if target.exists() {
            return Err(BundleError::VersionExists(self.version.clone()));
        }
        fs::rename(&self.dir, &target).map_err(BundleError::io(&target))?;
        self.published = true;
        sync_dir(&self.root)?;

        let tmp = self.root.join(format!(".{LATEST_FILE}.tmp"));
        write_synced(&tmp, format!("{}\n", self.version).as_bytes())?;
        let latest = self.root.join(LATEST_FILE);
        fs::rename(&tmp, &latest).map_err(BundleError::io(&latest))?;
        sync_dir(&self.root)?;
        Ok(target)
    }
}

impl Drop for StagedBundle {
    fn drop(&mut self) {
        if !self.published {
            // Best effort: an abandoned staging directory is never read.
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

fn validate_version(version: &str) -> Result<(), BundleError> {
    let ok = !version.is_empty()
        && !version.starts_with('.')
        && version != LATEST_FILE
        && version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(BundleError::InvalidVersion(version.to_owned()))
    }
}

/// Copies the tree at `from` into `to`, leaving out the top-level file
/// named `skip`.
fn copy_tree(from: &Path, to: &Path, skip: Option<&str>) -> Result<(), BundleError> {
    fs::create_dir_all(to).map_err(BundleError::io(to))?;
    for entry in fs::read_dir(from).map_err(BundleError::io(from))? {
        let entry = entry.map_err(BundleError::io(from))?;
        if skip.is_some_and(|name| entry.file_name() == name) {
            continue;
        }
        let (path, target) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type().map_err(BundleError::io(&path))?.is_dir() {
            copy_tree(&path, &target, None)?;
        } else {
            fs::copy(&path, &target).map_err(BundleError::io(&path))?;
        }
    }
    Ok(())
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), BundleError> {
    let mut file = File::create(path).map_err(BundleError::io(path))?;
    file.write_all(bytes).map_err(BundleError::io(path))?;
    file.sync_all().map_err(BundleError::io(path))
}

fn sync_tree(dir: &Path) -> Result<(), BundleError> {
    for entry in fs::read_dir(dir).map_err(BundleError::io(dir))? {
        let path = entry.map_err(BundleError::io(dir))?.path();
        if path.is_dir() {
            sync_tree(&path)?;
        } else {
            File::open(&path)
                .and_then(|f| f.sync_all())
                .map_err(BundleError::io(&path))?;
        }
    }
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> Result<(), BundleError> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(BundleError::io(dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::*;

    fn manifest(version: &str) -> Manifest {
        Manifest {
            format_version: FORMAT_VERSION,
            version: version.into(),
            created: "2026-01-01T00:00:00Z".into(),
            input_fingerprint: "ab".into(),
            sql_sha256: "cd".into(),
            target: crate::Target::Log1pRunTime,
            features: vec![FeatureSpec {
                name: "f_nodes".into(),
                kind: FeatureKind::Numeric,
            }],
            members: vec![],
            blend: vec![],
            interval: IntervalCalibration {
                nominal_coverage: 0.8,
                margin: 0.1,
                raw_validation_coverage: 0.7,
            },
            request_cap: Default::default(),
            likely: None,
            categories_file: "categories.json".into(),
            history_file: "history_state.parquet".into(),
            queue_file: "queue_state.parquet".into(),
            sql_dir: "sql".into(),
            parity_file: "parity_sample.json".into(),
            training: TrainingSummary {
                rows: 10,
                validation_rows: 2,
                validation: None,
                states: vec!["COMPLETED".into()],
                first_submit_s: 0,
                last_submit_s: 1,
                history_until_s: 2,
            },
            evaluation: None,
            feature_importance: Default::default(),
            files: Default::default(),
        }
    }

    #[test]
    fn publish_moves_latest_only_after_the_bundle_is_complete() {
        let tmp = tempfile::tempdir().unwrap();
        let store = BundleStore::new(tmp.path().join("bundles"));
        assert!(matches!(store.open_latest(), Err(BundleError::NoBundle(_))));

        let staged = store.stage("v1").unwrap();
        fs::write(staged.dir().join("model.txt"), "trees").unwrap();
        // Not visible before publish.
        assert!(store.versions().unwrap().is_empty());
        staged.publish(&manifest("v1")).unwrap();
        assert_eq!(store.latest_version().unwrap(), "v1");

        let staged = store.stage("v2").unwrap();
        drop(staged); // abandoned: nothing published, nothing left behind
        assert_eq!(store.versions().unwrap(), vec!["v1".to_string()]);
        assert_eq!(fs::read_dir(store.root()).unwrap().count(), 2); // v1 + latest

        let loaded = store.open_latest().unwrap();
        assert_eq!(
            loaded.manifest.files.keys().collect::<Vec<_>>(),
            ["model.txt"]
        );
        assert_eq!(
            loaded.manifest,
            Manifest {
                files: loaded.manifest.files.clone(),
                ..manifest("v1")
            }
        );
        assert!(loaded.dir.join("model.txt").is_file());
    }

    #[test]
    fn a_bundle_republished_under_a_new_version_opens() {
        let tmp = tempfile::tempdir().unwrap();
        let store = BundleStore::new(tmp.path());
        let staged = store.stage("v1").unwrap();
        fs::create_dir(staged.dir().join("sql")).unwrap();
        fs::write(staged.dir().join("sql/01_a.sql"), "SELECT 1").unwrap();
        fs::write(staged.dir().join("model.txt"), "trees\nend of trees\n").unwrap();
        staged.publish(&manifest("v1")).unwrap();
        let source = store.open("v1").unwrap();

        let copy = store.stage("v2").unwrap();
        copy.copy_from(&source.dir).unwrap();
        assert!(
            !copy.dir().join(MANIFEST_FILE).exists(),
            "publish writes it"
        );
        copy.publish(&Manifest {
            version: "v2".into(),
            ..source.manifest.clone()
        })
        .unwrap();
        let loaded = store.open_latest().unwrap();
        assert_eq!(loaded.manifest.version, "v2");
        assert_eq!(
            fs::read_to_string(loaded.dir.join("sql/01_a.sql")).unwrap(),
            "SELECT 1"
        );
    }

    #[test]
    fn a_bundle_changed_or_copied_after_publishing_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let store = BundleStore::new(tmp.path());
        let staged = store.stage("v1").unwrap();
        fs::write(staged.dir().join("model.txt"), "trees\nend of trees\n").unwrap();
        staged.publish(&manifest("v1")).unwrap();

        // A copy keeps its source's version in its manifest.
        fs::create_dir(tmp.path().join("v2")).unwrap();
        for name in ["model.txt", MANIFEST_FILE] {
            fs::copy(
                tmp.path().join("v1").join(name),
                tmp.path().join("v2").join(name),
            )
            .unwrap();
        }
        let err = store.open("v2").unwrap_err();
        assert!(matches!(err, BundleError::VersionMismatch { .. }), "{err}");

        // A file cut short after publishing.
        fs::write(tmp.path().join("v1/model.txt"), "trees\n").unwrap();
        let err = store.open("v1").unwrap_err();
        assert!(
            err.to_string().contains("model.txt (6 bytes) differs"),
            "{err}"
        );

        // A manifest for another version cannot be published under this one.
        let staged = store.stage("v3").unwrap();
        assert!(matches!(
            staged.publish(&manifest("v1")),
            Err(BundleError::Inconsistent(_))
        ));
    }

    #[test]
    fn versions_are_immutable_and_names_checked() {
        let tmp = tempfile::tempdir().unwrap();
        let store = BundleStore::new(tmp.path());
        store.stage("v1").unwrap().publish(&manifest("v1")).unwrap();
        assert!(matches!(
            store.stage("v1"),
            Err(BundleError::VersionExists(_))
        ));
        for bad in ["", "../x", ".hidden", "latest", "a/b"] {
            assert!(
                matches!(store.stage(bad), Err(BundleError::InvalidVersion(_))),
                "{bad}"
            );
        }
    }
}
