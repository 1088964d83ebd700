//! The SHA-256 of every file of a bundle, taken when it is published and
//! checked whenever it is opened.
//!
//! A bundle's files are only ever read, so any difference from the digests in
//! its manifest (a model cut short by a crashed copy, a file edited or added
//! after publishing) means the bundle is not the one that was evaluated, and
//! it is refused rather than served.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::BundleError;
use crate::manifest::MANIFEST_FILE;

/// Digest of each file under `dir` by its path relative to `dir` (with `/`
/// separators), except the manifest itself.
pub fn file_digests(dir: &Path) -> Result<BTreeMap<String, String>, BundleError> {
    let mut out = BTreeMap::new();
    collect(dir, "", &mut out)?;
    Ok(out)
}

/// Checks that `dir` holds exactly the files of `expected`, each with its digest.
pub fn verify(dir: &Path, expected: &BTreeMap<String, String>) -> Result<(), BundleError> {
    let refuse = |detail: String| BundleError::Integrity {
        dir: dir.to_owned(),
        detail,
    };
    let found = file_digests(dir)?;
    for (name, digest) in expected {
        match found.get(name) {
            None => return Err(refuse(format!("{name} is missing"))),
            Some(actual) if actual != digest => {
                let size = fs::metadata(dir.join(name)).map_or(0, |m| m.len());
                return Err(refuse(format!(
                    "{name} ({size} bytes) differs from the file that was published \
                     (SHA-256 {actual}, the manifest has {digest})"
                )));
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = found.keys().find(|name| !expected.contains_key(*name)) {
        return Err(refuse(format!(
            "{extra} was added after publishing (the manifest does not list it)"
        )));
    }
    Ok(())
}

fn collect(
    dir: &Path,
    prefix: &str,
    out: &mut BTreeMap<String, String>,
) -> Result<(), BundleError> {
    for entry in fs::read_dir(dir).map_err(BundleError::io(dir))? {
        let entry = entry.map_err(BundleError::io(dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let relative = format!("{prefix}{name}");
        let path = entry.path();
        if path.is_dir() {
            collect(&path, &format!("{relative}/"), out)?;
        } else if relative != MANIFEST_FILE {
            out.insert(relative, digest(&path)?);
        }
    }
    Ok(())
}

fn digest(path: &Path) -> Result<String, BundleError> {
    let mut hasher = Sha256::new();
    hash_file(&mut hasher, path).map_err(BundleError::io(path))?;
    Ok(hex::encode(hasher.finalize()))
}

/// Feeds the file at `path` to `hasher`, a megabyte at a time.
pub fn hash_file(hasher: &mut Sha256, path: &Path) -> std::io::Result<()> {
    let mut file = File::open(path)?;
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            return Ok(());
        }
        hasher.update(&buffer[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("model.txt"), "trees\nend of trees\n").unwrap();
        fs::write(dir.path().join(MANIFEST_FILE), "{}").unwrap();
        fs::create_dir(dir.path().join("sql")).unwrap();
        fs::write(dir.path().join("sql/01_a.sql"), "SELECT 1").unwrap();
        dir
    }

    #[test]
    fn digests_cover_nested_files_but_not_the_manifest() {
        let dir = bundle_dir();
        let digests = file_digests(dir.path()).unwrap();
        assert_eq!(
            digests.keys().collect::<Vec<_>>(),
            ["model.txt", "sql/01_a.sql"]
        );
        assert_eq!(digests["sql/01_a.sql"].len(), 64);
        // The manifest can change (it is written after the digests are taken).
        fs::write(dir.path().join(MANIFEST_FILE), "{\"x\":1}").unwrap();
        verify(dir.path(), &digests).unwrap();
    }

    #[test]
    fn a_changed_missing_or_added_file_is_refused_by_name() {
        type Damage = fn(&Path);
        let cases: [(&str, Damage); 4] = [
            ("model.txt (5 bytes) differs", |d| {
                fs::write(d.join("model.txt"), "trees").unwrap()
            }),
            ("sql/01_a.sql is missing", |d| {
                fs::remove_file(d.join("sql/01_a.sql")).unwrap()
            }),
            ("sql/02_b.sql was added", |d| {
                fs::write(d.join("sql/02_b.sql"), "SELECT 2").unwrap()
            }),
            ("model.txt (19 bytes) differs", |d| {
                fs::write(d.join("model.txt"), "trees\nend of treez\n").unwrap()
            }),
        ];
        for (expected, damage) in cases {
            let dir = bundle_dir();
            let digests = file_digests(dir.path()).unwrap();
            damage(dir.path());
            let err = verify(dir.path(), &digests).unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
        }
    }
}
