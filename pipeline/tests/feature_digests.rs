//! The feature tables pinned by digest: every column of the feature table and
//! of the two state tables, on 30,000 generated jobs and on KTH-SP2, hashed
//! and compared with the approved digests in `tests/digests/`. A change to
//! the SQL that is meant to compute the same features faster must leave them
//! all unchanged; one that changes a feature names each column it moved.
//! `RTP_UPDATE_DIGESTS=1` rewrites the approved copies.

use std::collections::BTreeMap;
use std::path::Path;

use datafusion::arrow::array::{Array, RecordBatch};
use datafusion::arrow::compute::{SortColumn, lexsort_to_indices, take_record_batch};
use datafusion::arrow::util::display::array_value_to_string;
use rtp_pipeline::ingest::{IngestOptions, ingest};
use sha2::{Digest, Sha256};

use crate::util::{feature_options, features, generated_jobs, read_batches};

/// Each output table with the columns that order its rows.
const TABLES: [(&str, &[&str]); 3] = [
    ("features", &["job_key"]),
    ("features.history_state", &["entity_kind", "entity_key"]),
    ("features.queue_state", &["scope_kind", "scope_key"]),
];

/// Per column, SHA-256 over its values rendered as text (f64 renders round
/// trip exactly) in the table's key order; lines are `table.column digest`.
fn column_digests(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (table, keys) in TABLES {
        let batches = read_batches(&dir.join(format!("{table}.parquet")));
        let schema = batches[0].schema();
        let batch = datafusion::arrow::compute::concat_batches(&schema, &batches).unwrap();
        let order: Vec<SortColumn> = keys
            .iter()
            .map(|k| SortColumn {
                values: batch.column_by_name(k).unwrap().clone(),
                options: None,
            })
            .collect();
        let sorted: RecordBatch =
            take_record_batch(&batch, &lexsort_to_indices(&order, None).unwrap()).unwrap();
        for (field, column) in schema.fields().iter().zip(sorted.columns()) {
            let mut hasher = Sha256::new();
            for row in 0..column.len() {
                if column.is_null(row) {
                    hasher.update(b"NULL");
                } else {
                    hasher.update(array_value_to_string(column, row).unwrap().as_bytes());
                }
                hasher.update(b"\n");
            }
            out.insert(
                format!("{table}.{}", field.name()),
                hex::encode(hasher.finalize()),
            );
        }
    }
    out
}

/// Builds the tables for `jobs` and checks their digests against
/// `tests/digests/<name>.txt`.
async fn check_digests(jobs: &Path, name: &str) {
    let dir = tempfile::tempdir().unwrap();
    features(jobs, dir.path(), "features", &feature_options(2, 8192)).await;
    let digests = column_digests(dir.path());
    let approved = test_support::repo_root()
        .join("pipeline/tests/digests")
        .join(format!("{name}.txt"));
    let rendered: String = digests
        .iter()
        .map(|(column, digest)| format!("{column} {digest}\n"))
        .collect();
    if std::env::var_os("RTP_UPDATE_DIGESTS").is_some() {
        std::fs::create_dir_all(approved.parent().unwrap()).unwrap();
        std::fs::write(&approved, rendered).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&approved).unwrap_or_else(|_| {
        panic!(
            "{} missing: run with RTP_UPDATE_DIGESTS=1",
            approved.display()
        )
    });
    let expected: BTreeMap<&str, &str> = expected
        .lines()
        .filter_map(|line| line.split_once(' '))
        .collect();
    let mut changed: Vec<String> = Vec::new();
    for (column, digest) in &digests {
        match expected.get(column.as_str()) {
            Some(old) if *old == digest => {}
            Some(_) => changed.push(format!("{column} changed")),
            None => changed.push(format!("{column} is new")),
        }
    }
    for column in expected.keys() {
        if !digests.contains_key(*column) {
            changed.push(format!("{column} is gone"));
        }
    }
    assert!(
        changed.is_empty(),
        "the {name} feature tables differ from their approved digests ({}):\n  {}\n\
         if the change is meant, review it and run with RTP_UPDATE_DIGESTS=1",
        approved.display(),
        changed.join("\n  ")
    );
}

#[tokio::test]
async fn generated_jobs_give_the_approved_feature_tables() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = generated_jobs(dir.path(), 30_000, 7);
    check_digests(&jobs, "generated_30k_seed7").await;
}

#[tokio::test]
async fn kth_sp2_gives_the_approved_feature_tables() {
    let Some(kth) = test_support::shared_data("KTH-SP2-1996-2.1-cln.swf.gz") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let jobs = dir.path().join("jobs.parquet");
    ingest(&[kth], &jobs, &IngestOptions::default()).unwrap();
    check_digests(&jobs, "kth_sp2").await;
}
