//! Online/offline parity of the live state: a bundle's state built from the
//! first part of a log, then the rest of the log fed as job events (submit,
//! start, end), gives every later job the features the batch SQL computes
//! over the whole log; shuffled and repeated events end in the same state.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::array_value_to_string;
use datafusion::parquet::arrow::ArrowWriter;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rtp_bundle::feature_sql::load_sql_files;
use rtp_jobs::{Job, JobColumns, jobs_batch};
use rtp_pipeline::ingest::{IngestOptions, ingest};
use rtp_scoring::Overlay;
use rtp_scoring::feature_program::FeatureProgram;
use rtp_scoring::job_input::conform;
use rtp_scoring::live::{
    EventFolder, HistoryStat, LiveState, QueueCount, StateSchema, job_events, known_at,
};
use rtp_scoring::row_value::Value;

use crate::util::{feature_options, features, generated_jobs, read_batches, read_jobs};

/// The jobs of a table, with their keys.
fn jobs_of(path: &Path) -> Vec<Job> {
    let mut jobs = Vec::new();
    for batch in read_jobs(path) {
        let columns = JobColumns::new(&batch).unwrap();
        jobs.extend((0..batch.num_rows()).map(|r| columns.job(r).to_owned_job()));
    }
    jobs
}

/// Each job's events after `cut`, in time order.
fn events_after(jobs: &[Job], cut: i64) -> Vec<(i64, Job)> {
    let mut events: Vec<(i64, Job)> = jobs
        .iter()
        .flat_map(job_events)
        .filter(|(t, _)| *t > cut)
        .collect();
    events.sort_by_key(|(t, j)| (*t, j.job_key));
    events
}

fn write_table(path: &Path, jobs: &[Job]) {
    let batch = jobs_batch(jobs).unwrap();
    let mut w =
        ArrowWriter::try_new(std::fs::File::create(path).unwrap(), batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

/// The batch SQL's feature rows, by job key, each column rendered.
fn sql_features(path: &Path) -> BTreeMap<i64, Vec<(String, String)>> {
    let mut out = BTreeMap::new();
    for batch in read_batches(path) {
        let keys = batch.column_by_name("job_key").unwrap().clone();
        let keys = datafusion::arrow::compute::cast(&keys, &DataType::Int64).unwrap();
        let keys = keys.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        for row in 0..batch.num_rows() {
            out.insert(keys.value(row), rendered_row(&batch, row));
        }
    }
    out
}

fn rendered_row(batch: &RecordBatch, row: usize) -> Vec<(String, String)> {
    batch
        .schema()
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(f, c)| {
            let text = if c.is_null(row) {
                "NULL".to_owned()
            } else {
                array_value_to_string(c, row).unwrap()
            };
            (f.name().clone(), text)
        })
        .collect()
}

/// Equal, floats to 1e-9 relative (sums folded in another order).
fn same_value(a: &str, b: &str) -> bool {
    a == b
        || match (a.parse::<f64>(), b.parse::<f64>()) {
            (Ok(x), Ok(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0),
            _ => false,
        }
}

fn same_stat(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0),
        _ => a == b,
    }
}

/// Every entity and queue of `a` has the statistics of `b`'s.
fn assert_same_state(a: &LiveState, b: &LiveState, what: &str) {
    let kinds = &a.layout().kinds;
    for (k, kind) in kinds.iter().enumerate() {
        let keys: HashSet<&str> = a.entity_keys(k).chain(b.entity_keys(k)).collect();
        for key in keys {
            let (x, y) = (a.history(k, key), b.history(k, key));
            let (Some(x), Some(y)) = (x, y) else {
                panic!("{what}: {kind} `{key}` known to one state only");
            };
            for (stat, name, _) in HistoryStat::ALL {
                assert!(
                    same_stat(&x.stat(stat), &y.stat(stat)),
                    "{what}: {kind} `{key}` {name}: {:?} vs {:?}",
                    x.stat(stat),
                    y.stat(stat)
                );
            }
        }
        let queues: HashSet<&str> = a.queue_keys(k).chain(b.queue_keys(k)).collect();
        for key in queues {
            for (count, name) in QueueCount::ALL {
                let get = |s: &LiveState| s.queue(k, key).map_or(Value::Int(0), |q| q.value(count));
                assert_eq!(get(a), get(b), "{what}: {kind} queue `{key}` {name}");
            }
        }
    }
}

struct Tables {
    program: FeatureProgram,
    state: LiveState,
}

async fn state_tables(jobs_path: &Path, dir: &Path, name: &str) -> (Tables, std::path::PathBuf) {
    let tables = features(jobs_path, dir, name, &feature_options(2, 8192)).await;
    let schema = StateSchema::read(&tables.history_state, &tables.queue_state).unwrap();
    let files = load_sql_files(&test_support::sql_dir()).unwrap();
    let program = FeatureProgram::compile(&files, &schema).await.unwrap();
    let state = LiveState::read(
        program.layout().clone(),
        &tables.history_state,
        &tables.queue_state,
    )
    .unwrap();
    (Tables { program, state }, tables.features)
}

/// Follows the log after its first `base_share` of submits and checks every
/// later job's features and the final state against the SQL's.
async fn parity(jobs_path: &Path, dir: &Path, base_share: f64) {
    let jobs = jobs_of(jobs_path);
    let mut submits: Vec<i64> = jobs.iter().filter_map(|j| j.submit_time).collect();
    submits.sort_unstable();
    let cut = submits[((submits.len() as f64) * base_share) as usize];

    // The bundle's state: the log as it was known at the cut.
    let base: Vec<Job> = jobs
        .iter()
        .filter(|j| j.submit_time.unwrap() <= cut)
        .map(|j| known_at(j, cut))
        .collect();
    let base_path = dir.join("base_jobs.parquet");
    write_table(&base_path, &base);
    let (
        Tables {
            program,
            state: base_state,
        },
        _,
    ) = state_tables(&base_path, dir, "base").await;
    let (whole, whole_features) = state_tables(jobs_path, dir, "whole").await;
    let expected = sql_features(&whole_features);

    // Events in time order; each second's submits are scored before any of
    // its events is applied, as one request in job-key order (the SQL
    // orders a second's submits by key and counts a queue strictly before).
    let events = events_after(&jobs, cut);
    let mut state = base_state.clone();
    let mut folder = EventFolder::default();
    let mut compared = 0;
    let mut start = 0;
    while start < events.len() {
        let t = events[start].0;
        let end = start + events[start..].iter().take_while(|(u, _)| *u == t).count();
        let mut submitted: Vec<&Job> = events[start..end]
            .iter()
            .map(|(_, j)| j)
            .filter(|j| j.submit_time == Some(t))
            .collect();
        submitted.sort_by_key(|j| j.job_key);
        if !submitted.is_empty() {
            let batch = conform(&jobs_batch(submitted.iter().copied()).unwrap(), 0)
                .unwrap()
                .batch;
            let served = program
                .features(&batch, &state, &mut Overlay::default())
                .unwrap();
            for (row, job) in submitted.iter().enumerate() {
                let want = &expected[&job.job_key.unwrap()];
                // Features and baselines; the other columns are the job's
                // identity and outcome, unknown at its submit.
                let known = |n: &str| ["f_", "cat_", "base_"].iter().any(|p| n.starts_with(p));
                for (name, got) in rendered_row(&served, row)
                    .into_iter()
                    .filter(|(n, _)| known(n))
                {
                    let (_, w) = want.iter().find(|(n, _)| *n == name).unwrap();
                    assert!(
                        same_value(&got, w),
                        "job {} at {t}: `{name}` followed {got} vs SQL {w}",
                        job.job_key.unwrap()
                    );
                }
                compared += 1;
            }
        }
        let report = folder.apply(
            &program,
            &mut state,
            "test",
            events[start..end].iter().map(|(_, j)| j.as_borrowed()),
        );
        assert!(report.refused.is_empty(), "{:?}", report.refused);
        start = end;
    }
    let later = jobs.iter().filter(|j| j.submit_time.unwrap() > cut).count();
    assert_eq!(compared, later, "every job after the cut is compared");
    assert!(later > 100, "{later} jobs after the cut");
    assert_same_state(&state, &whole.state, "in order vs SQL over the whole log");

    // Shuffled, with every tenth event sent twice: the same state.
    let mut shuffled: Vec<&Job> = events.iter().map(|(_, j)| j).collect();
    let repeats: Vec<&Job> = shuffled.iter().step_by(10).copied().collect();
    shuffled.extend(repeats);
    shuffled.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(5));
    let mut again = base_state.clone();
    let report = EventFolder::default().apply(
        &program,
        &mut again,
        "test",
        shuffled.iter().map(|j| j.as_borrowed()),
    );
    assert!(report.refused.is_empty(), "{:?}", report.refused);
    assert!(report.duplicated as usize >= events.len() / 10);
    assert_same_state(&again, &whole.state, "shuffled with repeats vs SQL");

    // Each later job once, as last known (a restarted server's fold, the
    // evaluation's fold to its cut), keeping only unfinished records.
    let last_known: Vec<Job> = jobs
        .iter()
        .filter_map(|j| job_events(j).pop().filter(|(t, _)| *t > cut))
        .map(|(_, j)| j)
        .collect();
    let unfinished = last_known.iter().filter(|j| j.end_time.is_none()).count();
    let mut folded = base_state.clone();
    let mut keeping = EventFolder::default();
    let report = keeping.apply_keeping_unfinished(&program, &mut folded, "test", last_known);
    assert!(report.refused.is_empty(), "{:?}", report.refused);
    assert_eq!(
        keeping.records().len(),
        unfinished,
        "only unfinished jobs kept"
    );
    assert_same_state(
        &folded,
        &whole.state,
        "folded once, unfinished kept, vs SQL",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn followed_events_give_the_sql_features_on_generated_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = generated_jobs(dir.path(), 3000, 17);
    parity(&jobs, dir.path(), 0.7).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn followed_events_give_the_sql_features_on_kth_sp2() {
    let Some(kth) = test_support::shared_data("KTH-SP2-1996-2.1-cln.swf.gz") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let jobs = dir.path().join("jobs.parquet");
    ingest(&[kth], &jobs, &IngestOptions::default()).unwrap();
    parity(&jobs, dir.path(), 0.8).await;
}
