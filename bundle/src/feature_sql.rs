//! The feature SQL: the `*.sql` files that define every feature, shared by
//! the pipeline (which runs them over a job table) and the servers (which
//! compile their row-level parts for new jobs). A bundle carries a copy of
//! the files its models were trained with.
//!
//! Files run in file-name order. A file whose statement is `CREATE VIEW`
//! defines a view; any other file is a query whose result is a table named
//! after the file without its numeric prefix (`05_entity_asof.sql` →
//! `entity_asof`).

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::BundleError;

/// The canonical job table the SQL reads.
pub const JOBS_TABLE: &str = "jobs";
/// The view with a job's own columns in their working units.
pub const JOB_BASE_VIEW: &str = "job_base";
/// The view with each job's `<kind>_key` entity keys.
pub const JOB_ENTITIES_VIEW: &str = "job_entities";
/// The view with everything known about a job at submit, one row per job.
pub const JOB_CONTEXT_VIEW: &str = "job_context";
/// Per-job entity history, pivoted (`<kind>_<stat>` columns).
pub const HISTORY_WIDE_TABLE: &str = "history_wide";
/// Per-job queue counts, pivoted (`<scope>_<count>` columns).
pub const QUEUE_WIDE_TABLE: &str = "queue_wide";
/// The feature table: one row per job.
pub const FEATURES_TABLE: &str = "features";
/// Per-entity history as of the end of the data.
pub const HISTORY_STATE_TABLE: &str = "history_state";
/// Per-queue counts as of the end of the data.
pub const QUEUE_STATE_TABLE: &str = "queue_state";
/// The tables a bundle publishes for servers, besides its models.
pub const STATE_TABLES: [&str; 2] = [HISTORY_STATE_TABLE, QUEUE_STATE_TABLE];
/// Suffix of the entity key columns of [`JOB_ENTITIES_VIEW`].
pub const ENTITY_KEY_SUFFIX: &str = "_key";

/// One SQL file of the feature definition.
#[derive(Debug, Clone)]
pub struct SqlFile {
    /// File path.
    pub path: PathBuf,
    /// Table or view it defines.
    pub table: String,
    /// The SQL text.
    pub sql: String,
    /// Whether it defines a view (else its result is a table).
    pub is_view: bool,
}

/// Reads the SQL files of `dir` in name order.
pub fn load_sql_files(dir: &Path) -> Result<Vec<SqlFile>, BundleError> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(BundleError::io(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(BundleError::NoSql(dir.to_owned()));
    }
    paths
        .into_iter()
        .map(|path| {
            let sql = std::fs::read_to_string(&path).map_err(BundleError::io(&path))?;
            Ok(SqlFile::new(path, sql))
        })
        .collect()
}

impl SqlFile {
    /// The file at `path` holding `sql`; the table it defines is named after
    /// the file.
    pub fn new(path: PathBuf, sql: String) -> Self {
        let stem = path.file_stem().unwrap_or_default().to_string_lossy();
        let table = stem
            .split_once('_')
            .filter(|(prefix, _)| prefix.chars().all(|c| c.is_ascii_digit()))
            .map_or(stem.as_ref(), |(_, rest)| rest)
            .to_owned();
        let is_view = first_keywords(&sql).starts_with("CREATE VIEW");
        Self {
            path,
            table,
            sql,
            is_view,
        }
    }
}

/// The first two words of the SQL after comments, upper-cased.
fn first_keywords(sql: &str) -> String {
    sql.lines()
        .map(|l| l.split("--").next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .flat_map(str::split_whitespace)
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_uppercase()
}

/// SHA-256 over the files' names and contents, in order.
pub fn sql_fingerprint(files: &[SqlFile]) -> String {
    let mut hasher = Sha256::new();
    for f in files {
        hasher.update(f.path.file_name().unwrap_or_default().as_encoded_bytes());
        hasher.update([0]);
        hasher.update(f.sql.as_bytes());
        hasher.update([0]);
    }
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_detection_skips_comments() {
        assert_eq!(
            first_keywords("-- x\n-- y\nCREATE VIEW a AS SELECT 1"),
            "CREATE VIEW"
        );
        assert_eq!(first_keywords("-- CREATE VIEW\nSELECT 1"), "SELECT 1");
    }

    #[test]
    fn tables_are_named_after_files_without_their_prefix() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("02_b.sql"), "SELECT 2").unwrap();
        std::fs::write(dir.path().join("01_a_b.sql"), "CREATE VIEW a_b AS SELECT 1").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "x").unwrap();
        let files = load_sql_files(dir.path()).unwrap();
        let names: Vec<_> = files
            .iter()
            .map(|f| (f.table.as_str(), f.is_view))
            .collect();
        assert_eq!(names, [("a_b", true), ("b", false)]);
        assert!(matches!(
            load_sql_files(&dir.path().join("missing")),
            Err(BundleError::Io { .. })
        ));
    }
}
