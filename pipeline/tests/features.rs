//! Feature SQL: history is as of submit (nothing from the future), queue
//! state counts only earlier events, and results do not depend on how the
//! job table is split into files or partitions.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, Float64Array, RecordBatch, TimestampSecondArray};
use datafusion::arrow::datatypes::{Float64Type, TimestampSecondType};
use datafusion::parquet::arrow::ArrowWriter;
use rand::{Rng, SeedableRng};
use rtp_jobs::schema::col;

use crate::util::{
    feature_options, feature_rows, features, generated_jobs, job, known_at_submit, read_batches,
    read_jobs, write_jobs,
};

#[tokio::test]
async fn history_counts_only_jobs_that_ended_before_submit() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = dir.path().join("jobs.parquet");
    write_jobs(
        &jobs,
        &[
            job("ann", "p", 0, 0, 100, 600.0),        // key 0: ends at 100
            job("ann", "p", 50, 60, 260, 600.0),      // key 1: submitted while 0 runs
            job("ann", "p", 100, 100, 400, 600.0),    // key 2: submitted as 0 ends (not before)
            job("ann", "p", 101, 300, 350, 600.0),    // key 3: after 0 ended
            job("bob", "p", 500, 500, 900, 3600.0),   // key 4: 0..3 ended before
            job("ann", "p", 1000, 1000, 1010, 600.0), // key 5: after all of ann's
        ],
    );
    let tables = features(&jobs, dir.path(), "features", &feature_options(2, 1024)).await;
    let rows = feature_rows(&tables.features);
    let get = |key: i64, column: &str| rows[&key][column].clone();

    assert_eq!(get(1, "f_user_n"), "0");
    assert_eq!(get(2, "f_user_n"), "0");
    assert_eq!(get(3, "f_user_n"), "1");
    assert_eq!(get(3, "f_user_last_rt"), "100.0");
    assert_eq!(get(3, "f_user_prev_rt"), "NULL");
    // ann's jobs ended at 100 (rt 100), 260 (200), 350 (50), 400 (300)
    assert_eq!(get(5, "f_user_n"), "4");
    assert_eq!(get(5, "f_user_last_rt"), "300.0");
    assert_eq!(get(5, "f_user_prev_rt"), "50.0");
    assert_eq!(get(5, "base_last2_s"), "175.0");
    // the user-request template: all of ann's jobs asked for 600 s
    assert_eq!(get(5, "f_user_req_n"), "4");
    // bob has no history: the last2 baseline falls back to the request
    assert_eq!(get(4, "f_user_n"), "0");
    assert_eq!(get(4, "base_last2_s"), "3600.0");
    // the partition saw ann's four jobs end before bob submitted
    assert_eq!(get(4, "f_partition_n"), "4");

    // Queue at submit, from events strictly before it.
    assert_eq!(get(0, "f_partition_pending"), "0.0");
    assert_eq!(get(0, "f_partition_running"), "0.0");
    assert_eq!(get(1, "f_partition_running"), "1.0"); // key 0 running
    // key 0 ends at this very second, which is not before the submit
    assert_eq!(get(2, "f_partition_running"), "2.0");
    assert_eq!(get(3, "f_partition_running"), "2.0"); // keys 1 and 2; key 0 has ended
    assert_eq!(get(4, "f_partition_pending"), "0.0");
    assert_eq!(get(4, "f_partition_running"), "0.0"); // all ended by 400
    assert_eq!(get(5, "f_user_running"), "0.0");

    // History state: what a job submitted after the data would see.
    let state = feature_rows_by_entity(&tables.history_state);
    assert_eq!(state[&("user".to_owned(), "ann".to_owned())], 5);
    assert_eq!(state[&("user".to_owned(), "bob".to_owned())], 1);
}

fn feature_rows_by_entity(
    path: &std::path::Path,
) -> std::collections::BTreeMap<(String, String), i64> {
    feature_rows_unkeyed(path)
        .into_iter()
        .map(|r| {
            (
                (r["entity_kind"].clone(), r["entity_key"].clone()),
                r["n_ended"].parse().unwrap(),
            )
        })
        .collect()
}

fn feature_rows_unkeyed(path: &std::path::Path) -> Vec<crate::util::RenderedRow> {
    let mut out = Vec::new();
    for batch in read_batches(path) {
        for row in 0..batch.num_rows() {
            out.push(
                batch
                    .schema()
                    .fields()
                    .iter()
                    .zip(batch.columns())
                    .map(|(f, c)| {
                        (
                            f.name().clone(),
                            datafusion::arrow::util::display::array_value_to_string(c, row)
                                .unwrap(),
                        )
                    })
                    .collect(),
            );
        }
    }
    out
}

/// Rewrites a job table, changing the end time and runtime of every job that
/// ends after `cutoff` (to other values after `cutoff`). Returns how many changed.
fn perturb_future(src: &std::path::Path, dst: &std::path::Path, cutoff: i64, seed: u64) -> usize {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let batches = read_jobs(src);
    let schema = batches[0].schema();
    let mut writer =
        ArrowWriter::try_new(std::fs::File::create(dst).unwrap(), schema.clone(), None).unwrap();
    let mut changed = 0;
    for batch in batches {
        let start = batch
            .column_by_name(col::START_TIME)
            .unwrap()
            .as_primitive::<TimestampSecondType>()
            .clone();
        let end = batch
            .column_by_name(col::END_TIME)
            .unwrap()
            .as_primitive::<TimestampSecondType>()
            .clone();
        let run = batch
            .column_by_name(col::RUN_TIME_S)
            .unwrap()
            .as_primitive::<Float64Type>()
            .clone();
        let mut new_end = Vec::with_capacity(batch.num_rows());
        let mut new_run = Vec::with_capacity(batch.num_rows());
        for i in 0..batch.num_rows() {
            let e = (!end.is_null(i)).then(|| end.value(i));
            let s = (!start.is_null(i)).then(|| start.value(i));
            match e {
                Some(e) if e > cutoff => {
                    let floor = s.unwrap_or(cutoff).max(cutoff) + 1;
                    let e2 = floor + rng.random_range(0..200_000);
                    changed += 1;
                    new_end.push(Some(e2));
                    new_run.push(s.map(|s| (e2 - s) as f64));
                }
                _ => {
                    new_end.push(e);
                    new_run.push((!run.is_null(i)).then(|| run.value(i)));
                }
            }
        }
        let mut columns = batch.columns().to_vec();
        columns[schema.index_of(col::END_TIME).unwrap()] =
            Arc::new(TimestampSecondArray::from(new_end));
        columns[schema.index_of(col::RUN_TIME_S).unwrap()] = Arc::new(Float64Array::from(new_run));
        writer
            .write(&RecordBatch::try_new(schema.clone(), columns).unwrap())
            .unwrap();
    }
    writer.close().unwrap();
    changed
}

/// Leak-freedom: changing the runtimes and end times of jobs that end after T
/// changes no feature of any job submitted at or before T.
#[tokio::test]
async fn no_feature_sees_jobs_ending_after_submit() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = generated_jobs(dir.path(), 6_000, 11);
    let original = feature_rows(
        &features(&jobs, dir.path(), "orig", &feature_options(2, 4096))
            .await
            .features,
    );
    let mut submits: Vec<i64> = original.values().map(submit_s).collect();
    submits.sort();
    for (i, fraction) in [0.3, 0.6].into_iter().enumerate() {
        let cutoff = submits[(submits.len() as f64 * fraction) as usize];
        let perturbed_jobs = dir.path().join(format!("perturbed{i}.parquet"));
        let changed = perturb_future(&jobs, &perturbed_jobs, cutoff, 99 + i as u64);
        assert!(
            changed > 100,
            "the perturbation must touch many jobs ({changed})"
        );
        let perturbed = feature_rows(
            &features(
                &perturbed_jobs,
                dir.path(),
                &format!("pert{i}"),
                &feature_options(2, 4096),
            )
            .await
            .features,
        );
        let mut later_differ = 0;
        for (key, row) in &original {
            let before = known_at_submit(row);
            let after = known_at_submit(&perturbed[key]);
            if submit_s(row) <= cutoff {
                assert_eq!(
                    before, after,
                    "job {key} submitted at or before T={cutoff} saw the future"
                );
            } else if before != after {
                later_differ += 1;
            }
        }
        // The check has teeth: jobs submitted after T do see the changed history.
        assert!(later_differ > 100, "only {later_differ} later jobs changed");
    }
}

fn submit_s(row: &crate::util::RenderedRow) -> i64 {
    row["submit_s"].parse().unwrap()
}

/// The same table, whole or split into many files and read with different
/// partition counts and batch sizes, gives identical features.
#[tokio::test]
async fn features_do_not_depend_on_files_partitions_or_batches() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = generated_jobs(dir.path(), 5_000, 5);
    let whole = feature_rows(
        &features(&jobs, dir.path(), "whole", &feature_options(1, 8192))
            .await
            .features,
    );

    let split_dir = dir.path().join("split");
    std::fs::create_dir(&split_dir).unwrap();
    let batches = read_jobs(&jobs);
    let all = datafusion::arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
    let chunk = all.num_rows().div_ceil(7);
    // Write the chunks in reverse so file order differs from row order.
    for (i, offset) in (0..all.num_rows()).step_by(chunk).enumerate() {
        let part = all.slice(offset, chunk.min(all.num_rows() - offset));
        let path = split_dir.join(format!("part-{:02}.parquet", 10 - i));
        let mut w = ArrowWriter::try_new(std::fs::File::create(path).unwrap(), part.schema(), None)
            .unwrap();
        w.write(&part).unwrap();
        w.close().unwrap();
    }
    for (partitions, batch) in [(3, 1024), (4, 8192)] {
        let split = feature_rows(
            &features(
                &split_dir,
                dir.path(),
                &format!("split{partitions}"),
                &feature_options(partitions, batch),
            )
            .await
            .features,
        );
        assert_eq!(split.len(), whole.len());
        for (key, row) in &whole {
            assert_eq!(
                row, &split[key],
                "job {key} differs with {partitions} partitions"
            );
        }
    }
}

/// The same SQL files on a Ballista cluster (a scheduler and an executor
/// started in-process) give the local features and state tables row for row.
#[tokio::test(flavor = "multi_thread")]
async fn ballista_gives_the_local_features_row_for_row() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = generated_jobs(dir.path(), 3_000, 9);
    let local = features(&jobs, dir.path(), "local", &feature_options(2, 8192)).await;
    let mut options = feature_options(2, 8192);
    options.engine = rtp_pipeline::features::SqlEngine::BallistaStandalone;
    let distributed = features(&jobs, dir.path(), "ballista", &options).await;

    let (expected, got) = (
        feature_rows(&local.features),
        feature_rows(&distributed.features),
    );
    assert_eq!(local.rows, 3_000);
    assert_eq!(got.len(), expected.len());
    for (key, row) in &expected {
        assert_eq!(row, &got[key], "job {key} differs on Ballista");
    }
    for (local_state, remote_state) in [
        (&local.history_state, &distributed.history_state),
        (&local.queue_state, &distributed.queue_state),
    ] {
        let mut a = feature_rows_unkeyed(local_state);
        let mut b = feature_rows_unkeyed(remote_state);
        assert!(!a.is_empty());
        a.sort();
        b.sort();
        assert_eq!(a, b, "{} differs on Ballista", local_state.display());
    }
}

/// The job table as pandas and DuckDB users meet it: times read as times,
/// and a table rewritten by pandas (datetime64 times, a categorical column,
/// pandas' own strings) gives `rtp features` the very same features. The
/// feature and state tables work with pyarrow's plain kernels.
#[tokio::test(flavor = "multi_thread")]
async fn a_job_table_rewritten_by_pandas_gives_the_same_features() {
    let python = std::env::var("RTP_CLIENT_PYTHON").unwrap_or_else(|_| {
        panic!("RTP_CLIENT_PYTHON is not set: run `. scripts/setup-tests.sh`, which creates the Python client environment")
    });
    let dir = tempfile::tempdir().unwrap();
    let jobs = generated_jobs(dir.path(), 3000, 23);
    let options = feature_options(2, 8192);
    let ours = features(&jobs, dir.path(), "ours", &options).await;
    let rewritten = dir.path().join("pandas.parquet");
    let script = test_support::repo_root().join("clients/python/tests/tables.py");
    let output = std::process::Command::new(&python)
        .arg(&script)
        .arg("--jobs")
        .arg(&jobs)
        .arg("--rewrite")
        .arg(&rewritten)
        .arg("--features")
        .arg(&ours.features)
        .arg("--state")
        .arg(&ours.history_state)
        .arg("--state")
        .arg(&ours.queue_state)
        .output()
        .unwrap_or_else(|e| panic!("running {python}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("all checks passed"),
        "tables.py failed\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let theirs = features(&rewritten, dir.path(), "theirs", &options).await;
    let (ours, theirs) = (feature_rows(&ours.features), feature_rows(&theirs.features));
    assert_eq!(ours.len(), 3000);
    assert!(
        ours == theirs,
        "features differ for a pandas-written job table"
    );
}

/// A job table whose columns cannot mean what the job schema says is
/// refused before the SQL runs, with the column named.
#[tokio::test]
async fn a_job_table_of_the_wrong_types_is_refused_with_the_column_named() {
    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    let dir = tempfile::tempdir().unwrap();
    let jobs = dir.path().join("jobs.parquet");
    let schema = Arc::new(Schema::new(vec![
        Field::new("job_key", DataType::Int64, false),
        Field::new("job_id", DataType::Utf8, false),
        Field::new("submit_time", DataType::Utf8, false),
        Field::new("state", DataType::Utf8, false),
    ]));
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(Int64Array::from(vec![0])),
            Arc::new(StringArray::from(vec!["1"])),
            Arc::new(StringArray::from(vec!["yesterday"])),
            Arc::new(StringArray::from(vec!["COMPLETED"])),
        ],
    )
    .unwrap();
    let mut writer =
        ArrowWriter::try_new(std::fs::File::create(&jobs).unwrap(), schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    let err = rtp_pipeline::features::build_features(
        &jobs,
        &dir.path().join("features.parquet"),
        &feature_options(2, 8192),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains(
            "column `submit_time` has type Utf8, expected a timestamp or integer Unix seconds"
        ),
        "{err}"
    );
}
