//! The Flight server over loopback, driven by arrow-flight's own client.

use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::{Action, FlightDescriptor};
use datafusion::arrow::array::{Array, AsArray, Float64Array, RecordBatch};
use datafusion::arrow::compute::{cast, concat_batches};
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type};
use futures::{StreamExt, TryStreamExt};

use crate::common::{client, jobs, sample, scrape, server, with_column};

/// A far-future submit time: after any history the bundle has.
const SUBMIT: i64 = 1_900_000_000;

async fn exchange(
    client: &mut arrow_flight::FlightClient,
    batches: Vec<RecordBatch>,
) -> Result<Vec<RecordBatch>, FlightError> {
    let input =
        FlightDataEncoderBuilder::new().build(futures::stream::iter(batches.into_iter().map(Ok)));
    client.do_exchange(input).await?.try_collect().await
}

#[tokio::test(flavor = "multi_thread")]
async fn exchange_scores_every_row_and_bad_rows_alone() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let mut client = client(&server).await;

    let input = jobs(3000, SUBMIT);
    let batches: Vec<RecordBatch> = (0..3).map(|i| input.slice(i * 1000, 1000)).collect();
    let out = exchange(&mut client, batches).await.unwrap();
    let out = concat_batches(&out[0].schema(), &out).unwrap();
    assert_eq!(out.num_rows(), 3000);
    let keys = out
        .column_by_name("job_key")
        .unwrap()
        .as_primitive::<Int64Type>();
    assert!(keys.values().iter().copied().eq(0..3000));
    let p50 = out
        .column_by_name("pred_p50")
        .unwrap()
        .as_primitive::<Float64Type>();
    assert_eq!(p50.null_count(), 0);
    assert!(p50.values().iter().all(|&v| v > 0.0));
    assert_eq!(out.column_by_name("error").unwrap().null_count(), 3000);
    let version = server.live.current().version().to_owned();
    let versions = cast(
        out.column_by_name("model_version").unwrap(),
        &DataType::Utf8,
    )
    .unwrap();
    let versions = versions.as_string::<i32>();
    assert!(versions.iter().all(|v| v == Some(version.as_str())));

    // Bad values in two rows: those rows carry an error, the rest is scored.
    let nodes = input
        .column_by_name("nodes_req")
        .unwrap()
        .as_primitive::<Int64Type>();
    let mut nodes: Vec<Option<i64>> = nodes.iter().take(10).collect();
    nodes[2] = Some(-1);
    let mut request: Vec<Option<f64>> = vec![Some(3600.0); 10];
    request[5] = Some(f64::NAN);
    let small = input.slice(0, 10);
    let small = with_column(
        &small,
        "nodes_req",
        std::sync::Arc::new(datafusion::arrow::array::Int64Array::from(nodes)),
    );
    let small = with_column(
        &small,
        "wallclock_req_s",
        std::sync::Arc::new(Float64Array::from(request)),
    );
    let out = exchange(&mut client, vec![small]).await.unwrap();
    let errors = out[0].column_by_name("error").unwrap().as_string::<i32>();
    assert!(errors.value(2).contains("nodes_req"), "{}", errors.value(2));
    assert!(
        errors.value(5).contains("wallclock_req_s"),
        "{}",
        errors.value(5)
    );
    assert_eq!(errors.null_count(), 8);
    assert_eq!(out[0].column_by_name("pred_p50").unwrap().null_count(), 2);

    // A missing required column fails the request, naming the column; the
    // server keeps serving.
    let without = input.slice(0, 10).project(&[0, 1, 2, 3, 4, 5, 7]).unwrap();
    let err = exchange(&mut client, vec![without]).await.unwrap_err();
    let FlightError::Tonic(status) = &err else {
        panic!("{err}")
    };
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(
        status.message().contains("nodes_req"),
        "{}",
        status.message()
    );
    let again = exchange(&mut client, vec![input.slice(0, 5)])
        .await
        .unwrap();
    assert_eq!(again[0].num_rows(), 5);

    let metrics = scrape(&server).await;
    assert_eq!(sample(&metrics, "rtp_flight_rows_scored_total"), 3015.0);
    assert_eq!(sample(&metrics, "rtp_flight_row_errors_total"), 2.0);
    assert!(
        metrics.contains(&format!(
            "rtp_flight_model_version{{version=\"{version}\"}} 1"
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "rtp_flight_request_failures_total{method=\"DoExchange\",code=\"InvalidArgument\"} 1"
        ),
        "{metrics}"
    );
    for probe in ["/healthz", "/readyz"] {
        let answer = crate::common::http_get(server.metrics_addr, probe).await;
        assert!(answer.contains(&version), "{probe}: {answer}");
    }
    assert!(
        metrics.contains("rtp_flight_requests_total{method=\"DoExchange\"} "),
        "{metrics}"
    );
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn put_then_get_list_and_describe_a_table() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let mut client = client(&server).await;

    let input = jobs(2500, SUBMIT);
    let stream = FlightDataEncoderBuilder::new()
        .with_flight_descriptor(Some(FlightDescriptor::new_path(vec!["week".into()])))
        .build(futures::stream::iter([
            Ok(input.slice(0, 1200)),
            Ok(input.slice(1200, 1300)),
        ]));
    let results: Vec<_> = client
        .do_put(stream)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let summary: serde_json::Value = serde_json::from_slice(&results[0].app_metadata).unwrap();
    assert_eq!(summary["rows"], 2500);

    let info = client
        .get_flight_info(FlightDescriptor::new_path(vec!["week".into()]))
        .await
        .unwrap();
    assert_eq!(info.total_records, 2500);
    let listed: Vec<_> = client
        .list_flights(Vec::<u8>::new())
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    let ticket = info.endpoint[0].ticket.clone().unwrap();
    let fetched: Vec<RecordBatch> = client
        .do_get(ticket)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let fetched = concat_batches(&fetched[0].schema(), &fetched).unwrap();
    let streamed = exchange(&mut client, vec![input]).await.unwrap();
    let streamed = concat_batches(&streamed[0].schema(), &streamed).unwrap();
    assert_eq!(
        fetched, streamed,
        "a stored table equals the same rows streamed"
    );

    let missing = client
        .get_flight_info(FlightDescriptor::new_path(vec!["nope".into()]))
        .await
        .unwrap_err();
    assert!(missing.to_string().contains("nope"), "{missing}");

    let body = client
        .do_action(Action::new("model-info", ""))
        .await
        .unwrap()
        .next()
        .await
        .unwrap()
        .unwrap();
    let manifest: rtp_bundle::Manifest = serde_json::from_slice(&body).unwrap();
    assert_eq!(manifest.version, server.live.current().version());
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_is_scored_batch_by_batch_as_it_arrives() {
    // The first results come back before the client has finished sending:
    // the server does not buffer the table.
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let mut client = client(&server).await;
    let (tx, rx) = tokio::sync::mpsc::channel::<RecordBatch>(1);
    let input = FlightDataEncoderBuilder::new()
        .build(tokio_stream::wrappers::ReceiverStream::new(rx).map(Ok));
    let first = jobs(100, SUBMIT);
    tx.send(first.clone()).await.unwrap();
    let mut out: FlightRecordBatchStream = client.do_exchange(input).await.unwrap();
    let scored = out.next().await.unwrap().unwrap();
    assert_eq!(scored.num_rows(), 100);
    tx.send(first).await.unwrap();
    drop(tx);
    let rest: Vec<RecordBatch> = out.try_collect().await.unwrap();
    assert_eq!(rest.iter().map(RecordBatch::num_rows).sum::<usize>(), 100);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_exchange_answers_once_the_client_has_sent_everything() {
    // Arrow C++ clients (pyarrow) abort if the call ends while they are
    // still writing, so the error waits for the client's end of stream.
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let mut client = client(&server).await;
    let input = jobs(20, SUBMIT);
    let without = input.project(&[0, 1, 2, 3, 4, 5, 7]).unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel::<RecordBatch>(4);
    let stream = FlightDataEncoderBuilder::new()
        .build(tokio_stream::wrappers::ReceiverStream::new(rx).map(Ok));
    tx.send(without.slice(0, 10)).await.unwrap();
    let mut out: FlightRecordBatchStream = client.do_exchange(stream).await.unwrap();
    let early = tokio::time::timeout(std::time::Duration::from_millis(500), out.next()).await;
    assert!(
        early.is_err(),
        "answered before the client finished: {early:?}"
    );
    tx.send(without.slice(10, 10)).await.unwrap();
    drop(tx);
    let err = out.next().await.unwrap().unwrap_err();
    assert!(err.to_string().contains("nodes_req"), "{err}");
    assert!(out.next().await.is_none());
    server.shutdown().await.unwrap();
}
