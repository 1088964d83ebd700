//! Regression tests named after the defects they pin down.

use std::sync::Arc;
use std::time::Duration;

use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use datafusion::arrow::array::{
    Array, AsArray, Float64Array, Int64Array, RecordBatch, StringArray,
};
use futures::TryStreamExt;
use rtp_flight_server::start;

use crate::common::{
    client, config, copy_by_hand, http_get, jobs, rename_manifest, republish, sample, scrape,
    store_copy, truncate, with_column,
};

/// A far-future submit time: after any history the bundle has.
const SUBMIT: i64 = 1_900_000_000;

/// Long enough for any honest answer on a loaded machine; a hang fails.
const PATIENCE: Duration = Duration::from_secs(60);

/// Exchanges `batch` as one Flight message, however large.
async fn exchange_unsplit(
    client: &mut arrow_flight::FlightClient,
    batch: RecordBatch,
) -> Result<Vec<RecordBatch>, FlightError> {
    let input = FlightDataEncoderBuilder::new()
        .with_max_flight_data_size(usize::MAX)
        .build(futures::stream::iter([Ok(batch)]));
    client.do_exchange(input).await?.try_collect().await
}

#[tokio::test(flavor = "multi_thread")]
async fn an_oversized_exchange_message_is_refused_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&store_copy(dir.path()));
    config.max_message_mib = 1;
    let server = start(&config).await.unwrap();

    // One row whose job id alone is over the 1 MiB message limit: it cannot
    // be split, so it reaches the server as one oversized message.
    let one = jobs(1, SUBMIT);
    let huge = with_column(
        &one,
        "job_id",
        Arc::new(StringArray::from(vec!["x".repeat(3 << 20)])),
    );
    let mut refused_client = client(&server).await;
    let answer = tokio::time::timeout(PATIENCE, exchange_unsplit(&mut refused_client, huge))
        .await
        .expect("the oversized exchange hung instead of being refused");
    let err = answer.unwrap_err();
    let FlightError::Tonic(status) = &err else {
        panic!("{err}")
    };
    assert_eq!(status.code(), tonic::Code::OutOfRange, "{status}");

    // The same for a whole batch of ordinary rows sent as one message.
    let big = jobs(40_000, SUBMIT);
    let answer = tokio::time::timeout(PATIENCE, exchange_unsplit(&mut refused_client, big))
        .await
        .expect("the oversized batch hung instead of being refused");
    assert!(answer.is_err());

    // The server still answers probes and exchanges, and stops when told.
    let health = tokio::time::timeout(PATIENCE, http_get(server.metrics_addr, "/healthz"))
        .await
        .expect("/healthz hung after an oversized message");
    assert!(health.contains(server.live.current().version()), "{health}");
    let mut fresh = client(&server).await;
    let scored = tokio::time::timeout(PATIENCE, exchange_unsplit(&mut fresh, jobs(10, SUBMIT)))
        .await
        .expect("a later exchange hung")
        .unwrap();
    assert_eq!(scored.iter().map(RecordBatch::num_rows).sum::<usize>(), 10);
    tokio::time::timeout(PATIENCE, server.shutdown())
        .await
        .expect("the server did not stop after an oversized message")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn nulls_in_required_columns_fail_their_row_instead_of_being_scored() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&config(&store_copy(dir.path()))).await.unwrap();
    let mut client = client(&server).await;
    let input = jobs(6, SUBMIT);
    let input = with_column(
        &input,
        "wallclock_req_s",
        Arc::new(Float64Array::from(vec![
            None,
            Some(3600.0),
            Some(3600.0),
            None,
            Some(3600.0),
            Some(3600.0),
        ])),
    );
    let input = with_column(
        &input,
        "nodes_req",
        Arc::new(Int64Array::from(vec![
            None,
            Some(1),
            None,
            None,
            Some(2),
            Some(1),
        ])),
    );
    let input = with_column(
        &input,
        "processors_req",
        Arc::new(Int64Array::from(vec![
            Some(36),
            Some(36),
            Some(36),
            Some(36),
            None,
            Some(36),
        ])),
    );
    let out = exchange_unsplit(&mut client, input).await.unwrap();
    let out = &out[0];
    let errors = out.column_by_name("error").unwrap().as_string::<i32>();
    let p50 = out.column_by_name("pred_p50").unwrap();
    for (row, fields) in [
        (0, &["wallclock_req_s", "nodes_req"][..]),
        (2, &["nodes_req"][..]),
        (3, &["wallclock_req_s", "nodes_req"][..]),
        (4, &["processors_req"][..]),
    ] {
        assert!(errors.is_valid(row), "row {row} was scored with nulls");
        for field in fields {
            assert!(
                errors.value(row).contains(&format!("{field}: missing")),
                "row {row}: {}",
                errors.value(row)
            );
        }
        assert!(p50.is_null(row), "row {row} has a prediction");
    }
    for row in [1, 5] {
        assert!(errors.is_null(row), "row {row}: {}", errors.value(row));
        assert!(p50.is_valid(row));
    }
    server.shutdown().await.unwrap();
}

/// The p50 column of an exchange's answers.
fn p50s(batches: &[RecordBatch]) -> Vec<f64> {
    batches
        .iter()
        .flat_map(|b| {
            b.column_by_name("pred_p50")
                .unwrap()
                .as_primitive::<datafusion::arrow::datatypes::Float64Type>()
                .values()
                .to_vec()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bundle_changed_after_publishing_is_refused_and_the_old_model_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_copy(dir.path());
    let mut config = config(&store);
    config.watch_interval_s = 3600.0; // reload only when asked, to read the refusal
    let server = start(&config).await.unwrap();
    let serving = server.live.current().version().to_owned();
    let mut client = client(&server).await;
    let before = p50s(
        &exchange_unsplit(&mut client, jobs(20, SUBMIT))
            .await
            .unwrap(),
    );
    let reload = async |client: &mut arrow_flight::FlightClient| {
        let action = arrow_flight::Action::new("reload", "");
        match client.do_action(action).await {
            Ok(_) => panic!("a bundle changed after publishing was loaded"),
            Err(e) => e.to_string(),
        }
    };

    // Copied by hand and renamed, with the p50 model cut to 1,000 bytes.
    copy_by_hand(&store, &serving, "v-truncated", |dir| {
        rename_manifest(dir, "v-truncated");
        truncate(&dir.join("lightgbm_p50.txt"), 1000);
    });
    let err = reload(&mut client).await;
    assert!(
        err.contains("lightgbm_p50.txt (1000 bytes) differs"),
        "{err}"
    );

    // Copied by hand and left with the source's version in its manifest.
    copy_by_hand(&store, &serving, "v-copied", |_| {});
    let err = reload(&mut client).await;
    assert!(err.contains("names version"), "{err}");

    // Published through the store, so every digest matches, but with every
    // leaf of the p50 model moved: it parses, and its parity sample fails.
    republish(&store, &serving, "v-edited", |dir| {
        let path = dir.join("lightgbm_p50.txt");
        let text = std::fs::read_to_string(&path).unwrap();
        let edited: Vec<String> = text
            .lines()
            .map(|line| match line.strip_prefix("leaf_value=") {
                Some(values) => {
                    let moved: Vec<String> = values
                        .split_whitespace()
                        .map(|v| (v.parse::<f64>().unwrap() + 0.5).to_string())
                        .collect();
                    format!("leaf_value={}", moved.join(" "))
                }
                None => line.to_owned(),
            })
            .collect();
        std::fs::write(&path, edited.join("\n") + "\n").unwrap();
    });
    let err = reload(&mut client).await;
    assert!(err.contains("lightgbm p0.5 model predicts"), "{err}");

    assert_eq!(server.live.current().version(), serving);
    let after = p50s(
        &exchange_unsplit(&mut client, jobs(20, SUBMIT))
            .await
            .unwrap(),
    );
    assert_eq!(after, before);
    let metrics = scrape(&server).await;
    assert_eq!(
        sample(&metrics, "rtp_flight_model_reload_failures_total"),
        3.0
    );
    assert_eq!(sample(&metrics, "rtp_flight_model_reloads_total"), 0.0);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bundle_store_that_disappears_is_reported_and_the_model_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_copy(dir.path());
    let server = start(&config(&store)).await.unwrap();
    let mut client = client(&server).await;
    // Generous: the watcher polls every 200 ms, but CI machines stall.
    let readable_becomes = async |want: f64| {
        let mut seen = f64::NAN;
        for _ in 0..1200 {
            seen = sample(&scrape(&server).await, "rtp_flight_model_store_readable");
            if seen == want {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        seen
    };
    assert_eq!(readable_becomes(1.0).await, 1.0);

    let moved = dir.path().join("moved");
    std::fs::rename(&store, &moved).unwrap();
    assert_eq!(
        readable_becomes(0.0).await,
        0.0,
        "the store's loss went unnoticed"
    );
    let scored = exchange_unsplit(&mut client, jobs(10, SUBMIT))
        .await
        .unwrap();
    assert_eq!(scored.iter().map(RecordBatch::num_rows).sum::<usize>(), 10);

    std::fs::rename(&moved, &store).unwrap();
    assert_eq!(
        readable_becomes(1.0).await,
        1.0,
        "the store's return went unnoticed"
    );
    server.shutdown().await.unwrap();
}
