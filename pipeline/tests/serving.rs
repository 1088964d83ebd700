//! Train/serve parity: for jobs submitted after the training data ends, the
//! scoring core computes the same features and predictions as the batch
//! pipeline does for the same jobs with the same history.

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, RecordBatch, StringArray, TimestampSecondArray,
    new_null_array,
};
use datafusion::arrow::compute::{
    SortColumn, cast, concat_batches, lexsort_to_indices, take_record_batch,
};
use datafusion::arrow::datatypes::{DataType, Float64Type, TimestampSecondType};
use datafusion::arrow::util::display::array_value_to_string;
use datafusion::parquet::arrow::ArrowWriter;
use rtp_bundle::BundleStore;
use rtp_pipeline::chain::{self, TrainingData};
use rtp_pipeline::evaluate::{eligible_rows, served_predictions};
use rtp_pipeline::frame::FeatureFrame;
use rtp_pipeline::publish::{BundleSources, publish};
use rtp_pipeline::train::train;
use rtp_scoring::job_input::conform;
use rtp_scoring::{AdviceOptions, Job, Overlay, Scorer};

use crate::util::{config, feature_options, features, generated_jobs, read_batches, read_jobs};

const HISTORY_ROWS: usize = 3000;
const NEW_ROWS: usize = 300;

/// Rows in submission order (submit time, then job
/// key, as the SQL orders them).
fn in_submission_order(batches: Vec<RecordBatch>, submit: &str) -> RecordBatch {
    let all = concat_batches(&batches[0].schema(), &batches).unwrap();
    let key = |name: &str| SortColumn {
        values: Arc::clone(all.column_by_name(name).unwrap()),
        options: None,
    };
    let order = lexsort_to_indices(&[key(submit), key("job_key")], None).unwrap();
    take_record_batch(&all, &order).unwrap()
}

fn write(path: &Path, batches: &[&RecordBatch]) {
    let mut w = ArrowWriter::try_new(
        std::fs::File::create(path).unwrap(),
        batches[0].schema(),
        None,
    )
    .unwrap();
    for b in batches {
        w.write(b).unwrap();
    }
    w.close().unwrap();
}

fn replace(batch: &RecordBatch, name: &str, column: ArrayRef) -> RecordBatch {
    let i = batch.schema().index_of(name).unwrap();
    let mut columns = batch.columns().to_vec();
    columns[i] = column;
    RecordBatch::try_new(batch.schema(), columns).unwrap()
}

/// Jobs submitted after every event of `history`, as a submit tool sends
/// them: no outcome yet. Some come from a user the history never saw.
fn new_jobs(rows: &RecordBatch, history_end: i64) -> RecordBatch {
    let submit = rows
        .column_by_name("submit_time")
        .unwrap()
        .as_primitive::<TimestampSecondType>();
    let shift = history_end + 60 - submit.value(0);
    let shifted: TimestampSecondArray = submit.iter().map(|t| t.map(|t| t + shift)).collect();
    let users = rows.column_by_name("user").unwrap().as_string::<i32>();
    let users: StringArray = users
        .iter()
        .enumerate()
        .map(|(i, u)| if i % 50 == 7 { Some("newcomer") } else { u })
        .collect();
    let mut out = replace(rows, "submit_time", Arc::new(shifted));
    out = replace(&out, "user", Arc::new(users));
    for outcome in ["start_time", "end_time", "run_time_s"] {
        let ty = out.column_by_name(outcome).unwrap().data_type().clone();
        out = replace(&out, outcome, new_null_array(&ty, out.num_rows()));
    }
    replace(
        &out,
        "state",
        Arc::new(StringArray::from(vec!["PENDING"; out.num_rows()])),
    )
}

fn last_event(history: &RecordBatch) -> i64 {
    ["submit_time", "start_time", "end_time"]
        .iter()
        .flat_map(|c| {
            let a = history
                .column_by_name(c)
                .unwrap()
                .as_primitive::<TimestampSecondType>()
                .clone();
            a.iter().flatten().collect::<Vec<_>>()
        })
        .max()
        .unwrap()
}

fn rendered(column: &ArrayRef, row: usize) -> String {
    if column.is_null(row) {
        "NULL".into()
    } else {
        array_value_to_string(column, row).unwrap()
    }
}

/// Every column of `served` equals the batch pipeline's, value by value.
fn assert_same_features(served: &RecordBatch, batch_rows: &RecordBatch) {
    assert_eq!(served.num_rows(), NEW_ROWS);
    let mut compared = 0;
    for field in served.schema().fields() {
        let name = field.name();
        let ours = served.column_by_name(name).unwrap();
        let theirs = batch_rows
            .column_by_name(name)
            .unwrap_or_else(|| panic!("the batch table has no `{name}`"));
        let theirs = cast(theirs, ours.data_type()).unwrap();
        for row in 0..NEW_ROWS {
            assert_eq!(
                rendered(ours, row),
                rendered(&theirs, row),
                "feature `{name}` of new job {row} differs"
            );
        }
        compared += 1;
    }
    assert_eq!(compared, batch_rows.num_columns());
}

#[tokio::test(flavor = "multi_thread")]
async fn served_features_and_predictions_equal_the_batch_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = in_submission_order(
        read_jobs(&generated_jobs(
            dir.path(),
            (HISTORY_ROWS + NEW_ROWS) as u64,
            21,
        )),
        "submit_time",
    );
    let history = jobs.slice(0, HISTORY_ROWS);
    let fresh = new_jobs(&jobs.slice(HISTORY_ROWS, NEW_ROWS), last_event(&history));
    let history_path = dir.path().join("history.parquet");
    let combined_path = dir.path().join("combined.parquet");
    write(&history_path, &[&history]);
    write(&combined_path, &[&history, &fresh]);

    // A bundle trained on the history alone.
    let config = config();
    let options = feature_options(2, 8192);
    let trained_on = features(&history_path, dir.path(), "history_features", &options).await;
    let frame = FeatureFrame::read(&trained_on.features).unwrap();
    let model = train(
        &frame,
        &eligible_rows(&frame, &config.train.states),
        &config.train,
    )
    .unwrap();
    let store = BundleStore::new(dir.path().join("bundles"));
    publish(
        &store,
        BundleSources {
            model: &model,
            history_state: &trained_on.history_state,
            queue_state: &trained_on.queue_state,
            sql_dir: &test_support::sql_dir(),
            input_fingerprint: "a".repeat(64),
            states: &config.train.states,
            history_until_s: frame.last_end_s(),
            evaluation: None,
        },
    )
    .unwrap();

    // The batch pipeline over history + new jobs.
    let batch = features(&combined_path, dir.path(), "combined_features", &options).await;
    let batch_rows = in_submission_order(read_batches(&batch.features), "submit_s")
        .slice(HISTORY_ROWS, NEW_ROWS);

    // The scoring core, fed the new jobs in three requests of one stream.
    let scorer = Scorer::load_latest(&store, AdviceOptions::default())
        .await
        .unwrap();
    let mut overlay = Overlay::default();
    let served: Vec<RecordBatch> = (0..3)
        .map(|i| {
            scorer
                .features(&fresh.slice(i * 100, 100), &mut overlay)
                .unwrap()
        })
        .collect();
    let served = concat_batches(&served[0].schema(), &served).unwrap();

    assert_same_features(&served, &batch_rows);

    // The same jobs in row form, one job at a time, in the same three requests.
    scorer.row_form().unwrap();
    let mut overlay = Overlay::default();
    let one_by_one: Vec<RecordBatch> = (0..3)
        .map(|i| {
            scorer
                .features_row_by_row(&fresh.slice(i * 100, 100), &mut overlay)
                .unwrap()
        })
        .collect();
    let one_by_one = concat_batches(&one_by_one[0].schema(), &one_by_one).unwrap();
    assert_same_features(&one_by_one, &batch_rows);

    // The history and queue really reached the new jobs.
    let user_n = served.column_by_name("f_user_n").unwrap();
    let user_n = cast(user_n, &DataType::Float64).unwrap();
    assert!(
        user_n
            .as_primitive::<Float64Type>()
            .values()
            .iter()
            .any(|&n| n > 10.0)
    );

    // Predictions: the pipeline's own model on the batch features vs the
    // served ensemble on raw rows.
    let combined_frame = FeatureFrame::read(&batch.features).unwrap();
    let mut rows: Vec<usize> = (0..combined_frame.len()).collect();
    rows.sort_by_key(|&r| (combined_frame.submit_s[r], combined_frame.job_key[r]));
    let new_rows = &rows[HISTORY_ROWS..];
    let expected = model.predict(&combined_frame, new_rows).unwrap();
    let mut overlay = Overlay::default();
    let scored = scorer.score(&fresh, &mut overlay).unwrap();
    assert_eq!(scored.failed_rows, 0);
    for (column, want) in [
        ("pred_p10", &expected.p10),
        ("pred_p50", &expected.p50),
        ("pred_p90", &expected.p90),
        ("pred_likely", &expected.likely),
    ] {
        let got = scored
            .batch
            .column_by_name(column)
            .unwrap()
            .as_primitive::<Float64Type>();
        for (i, w) in want.iter().enumerate() {
            let rel = (got.value(i) - w).abs() / w.abs().max(1e-12);
            assert!(
                rel <= 1e-9,
                "{column} of new job {i}: served {} vs batch {w}",
                got.value(i)
            );
        }
    }

    // Single jobs in row form, and as one-row batches: the predictions of
    // the batch, to rounding.
    let mut overlay = Overlay::default();
    let mut batched_overlay = Overlay::default();
    let conformed = conform(&fresh, 0).unwrap();
    for row in 0..NEW_ROWS {
        let job = Job::from_batch(&conformed.batch, row).unwrap();
        let one = scorer.score_job(&job, &mut overlay, 0).unwrap();
        let batched = scorer
            .score_job_in_batch(&job, &mut batched_overlay, 0)
            .unwrap();
        let column = |name: &str| {
            scored
                .batch
                .column_by_name(name)
                .unwrap()
                .as_primitive::<Float64Type>()
                .value(row)
        };
        for (name, got, in_batch) in [
            ("pred_p10", one.p10, batched.p10),
            ("pred_p50", one.p50, batched.p50),
            ("pred_p90", one.p90, batched.p90),
            ("pred_likely", one.likely, batched.likely),
            (
                "suggested_wallclock",
                one.suggested_wallclock,
                batched.suggested_wallclock,
            ),
        ] {
            let want = column(name);
            for (how, got) in [("in row form", got), ("as a one-row batch", in_batch)] {
                assert!(
                    (got - want).abs() <= 1e-12 * want.abs().max(1.0),
                    "{name} of new job {row}: one at a time {how} {got} vs batch {want}"
                );
            }
        }
        assert_eq!(batched.overestimated, one.overestimated);
        let over = scored
            .batch
            .column_by_name("overestimated")
            .unwrap()
            .as_boolean()
            .value(row);
        assert_eq!(one.overestimated, over, "new job {row}");
    }

    // Outcome columns sent along change nothing: the server never reads them.
    let with_outcomes = jobs.slice(HISTORY_ROWS, NEW_ROWS);
    let with_outcomes = replace(
        &with_outcomes,
        "submit_time",
        Arc::clone(fresh.column_by_name("submit_time").unwrap()),
    );
    let with_outcomes = replace(
        &with_outcomes,
        "user",
        Arc::clone(fresh.column_by_name("user").unwrap()),
    );
    let run_time: Float64Array = (0..NEW_ROWS).map(|i| Some(i as f64 * 1000.0)).collect();
    let with_outcomes = replace(&with_outcomes, "run_time_s", Arc::new(run_time));
    let again = scorer
        .score(&with_outcomes, &mut Overlay::default())
        .unwrap();
    assert_eq!(again.batch, scored.batch);
}

/// A bundle trained where no job records a requested time scores jobs
/// without one (the request is a missing feature it learned with); a bundle
/// trained with requests still refuses them, naming the field.
#[tokio::test]
async fn a_bundle_that_learned_without_requests_scores_jobs_without_one() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = in_submission_order(
        read_jobs(&generated_jobs(dir.path(), 2_100, 5)),
        "submit_time",
    );
    let no_request = |b: &RecordBatch| {
        let ty = b
            .column_by_name("wallclock_req_s")
            .unwrap()
            .data_type()
            .clone();
        replace(b, "wallclock_req_s", new_null_array(&ty, b.num_rows()))
    };
    let history = jobs.slice(0, 2_000);
    let fresh = new_jobs(&jobs.slice(2_000, 100), last_event(&history));
    let config = config();
    let options = feature_options(2, 8192);
    for (name, blank) in [("without", true), ("with", false)] {
        let history = if blank {
            no_request(&history)
        } else {
            history.clone()
        };
        let path = dir.path().join(format!("{name}.parquet"));
        write(&path, &[&history]);
        let tables = features(&path, dir.path(), &format!("{name}_features"), &options).await;
        let frame = FeatureFrame::read(&tables.features).unwrap();
        let bundles = dir.path().join(format!("{name}_bundles"));
        chain::train_and_publish(
            TrainingData {
                frame: &frame,
                history_state: &tables.history_state,
                queue_state: &tables.queue_state,
                source: &path,
                sql_dir: &test_support::sql_dir(),
            },
            &config.train.states,
            None,
            &config,
            &bundles,
            &mut Vec::new(),
        )
        .unwrap();
        let store = BundleStore::new(bundles);
        let scorer = Scorer::load_latest(&store, AdviceOptions::default())
            .await
            .unwrap();
        assert_eq!(scorer.manifest().request_cap.requests_optional(), blank);
        let scored = scorer
            .score(&no_request(&fresh), &mut Overlay::default())
            .unwrap();
        if blank {
            assert_eq!(scored.failed_rows, 0);
            for row in 0..fresh.num_rows() {
                let score = scored.job_score(row).unwrap();
                assert!(
                    score.p10 <= score.p50 && score.p50 <= score.p90,
                    "{score:?}"
                );
                assert!(score.p50.is_finite() && score.p50 > 0.0, "{score:?}");
            }
        } else {
            assert_eq!(scored.failed_rows, fresh.num_rows());
            let why = scored.job_score(0).unwrap_err();
            assert!(why.contains("wallclock_req_s: missing"), "{why}");
        }
    }
}

/// The evaluation's replay (`evaluate as served`) gives each test job,
/// served live, exactly the features the SQL gave it: over more test jobs
/// than one score block and more events than one replay chunk. Served from
/// the state frozen at the cut, they differ.
#[tokio::test(flavor = "multi_thread")]
async fn the_evaluation_replay_serves_live_the_features_the_sql_computed() {
    use rtp_pipeline::evaluate::serving::{Serving, read_jobs as read_job_table, served_features};
    use rtp_pipeline::generate::{GenerateOptions, generate};

    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("eagle.parquet");
    let options = GenerateOptions {
        rows: 30_000,
        seed: 11,
        batch_rows: 4096,
    };
    generate(&raw, &options).unwrap();
    let config = config();
    let work = dir.path().join("work");
    let (prepared, evaluation) = crate::util::evaluate_holdout(&raw, &work, &config).await;
    let rows = &evaluation.test_rows;
    let keys: Vec<i64> = rows.iter().map(|&r| prepared.frame.job_key[r]).collect();
    let jobs = read_job_table(&prepared.ingest.output).unwrap();
    assert!(keys.len() > 4_096 && jobs.len() * 3 > 65_536);

    let modes = [Serving::Live, Serving::Frozen];
    let inputs = prepared.replay_inputs(&jobs, &config.features.sql_dir);
    let served = served_features(inputs, &keys, &modes).await.unwrap();
    let sql = prepared.frame.select(rows);
    let differing = |frame: &FeatureFrame| -> Vec<String> {
        assert_eq!(frame.job_key, sql.job_key);
        let numeric = sql.numeric.iter().zip(&frame.numeric).filter(|(a, b)| {
            assert_eq!(a.name, b.name);
            a.values.iter().zip(&b.values).any(|(x, y)| {
                !(x.is_nan() && y.is_nan() || (x - y).abs() <= 1e-6 * x.abs().max(1.0))
            })
        });
        let categorical = sql
            .categorical
            .iter()
            .zip(&frame.categorical)
            .filter(|(a, b)| {
                assert_eq!(a.name, b.name);
                let text = |c: &rtp_pipeline::frame::CategoricalColumn, i: usize| {
                    c.dictionary.get(c.ids[i] as usize).cloned()
                };
                (0..a.ids.len()).any(|i| text(a, i) != text(b, i))
            });
        numeric
            .map(|(a, _)| a.name.clone())
            .chain(categorical.map(|(a, _)| a.name.clone()))
            .collect()
    };
    assert_eq!(differing(&served[0]), Vec::<String>::new(), "served live");
    let frozen = differing(&served[1]);
    assert!(
        frozen.iter().any(|c| c == "f_user_n"),
        "frozen state differs in history: {frozen:?}"
    );

    // Served predictions reuse the test outputs of jobs whose model inputs
    // are unchanged and score the rest: the same values as scoring all.
    let bits = crate::util::prediction_bits;
    let all: Vec<usize> = (0..keys.len()).collect();
    let in_test_order: Vec<Option<usize>> = all.iter().copied().map(Some).collect();
    let mut reused_by_mode = Vec::new();
    for frame in &served {
        let (reusing, reused) =
            served_predictions(&evaluation, frame, &all, &in_test_order).unwrap();
        assert_eq!(
            bits(&reusing),
            bits(&evaluation.model.predict(frame, &all).unwrap())
        );
        reused_by_mode.push(reused);
    }
    eprintln!(
        "reused (live, frozen) of {}: {reused_by_mode:?}",
        keys.len()
    );
    let [live, frozen] = reused_by_mode[..] else {
        unreachable!()
    };
    assert!(live * 10 >= keys.len() * 9, "live reused {live}");
    assert!(frozen < live, "frozen reused {frozen}, live {live}");
    // Named as another test job, a job keeps that job's outputs only where
    // their model inputs are the same.
    let shifted: Vec<Option<usize>> = all.iter().map(|&i| Some((i + 1) % all.len())).collect();
    let (reusing, reused) = served_predictions(&evaluation, &served[0], &all, &shifted).unwrap();
    eprintln!("reused as the next job: {reused}");
    assert_eq!(
        bits(&reusing),
        bits(&evaluation.model.predict(&served[0], &all).unwrap())
    );
}
