//! Hot reload: a newly published bundle is swapped in while streams in
//! flight finish on the old one; a corrupt bundle is refused and the old
//! model keeps serving.

use std::time::Duration;

use arrow_flight::Action;
use arrow_flight::encode::FlightDataEncoderBuilder;
use datafusion::arrow::array::{AsArray, RecordBatch};
use futures::{StreamExt, TryStreamExt};

use crate::common::{client, jobs, republish, sample, scrape, server};

const SUBMIT: i64 = 1_900_000_000;

fn versions(batch: &RecordBatch) -> Vec<String> {
    let column = batch.column_by_name("model_version").unwrap();
    let column =
        datafusion::arrow::compute::cast(column, &datafusion::arrow::datatypes::DataType::Utf8)
            .unwrap();
    column
        .as_string::<i32>()
        .iter()
        .map(|v| v.unwrap().to_owned())
        .collect()
}

async fn wait_for_version(server: &rtp_flight_server::RunningServer, version: &str) {
    for _ in 0..300 {
        if server.live.current().version() == version {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{version} was not swapped in");
}

#[tokio::test(flavor = "multi_thread")]
async fn new_bundles_swap_in_and_streams_in_flight_finish_on_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let store = server.live.store().root().to_owned();
    let old = server.live.current().version().to_owned();
    let mut client = client(&server).await;

    // A stream opened on the old model...
    let (tx, rx) = tokio::sync::mpsc::channel::<RecordBatch>(1);
    let input = FlightDataEncoderBuilder::new()
        .build(tokio_stream::wrappers::ReceiverStream::new(rx).map(Ok));
    tx.send(jobs(10, SUBMIT)).await.unwrap();
    let mut open = client.do_exchange(input).await.unwrap();
    assert_eq!(
        versions(&open.next().await.unwrap().unwrap()),
        vec![old.clone(); 10]
    );

    // ...while a new bundle is published and picked up by the watcher.
    republish(&store, &old, "v-next", |_| {});
    wait_for_version(&server, "v-next").await;

    // The open stream finishes on the old model; a new one uses the new.
    tx.send(jobs(10, SUBMIT + 3600)).await.unwrap();
    drop(tx);
    let rest: Vec<RecordBatch> = open.try_collect().await.unwrap();
    assert_eq!(versions(&rest[0]), vec![old.clone(); 10]);
    let fresh = FlightDataEncoderBuilder::new().build(futures::stream::iter([Ok(jobs(5, SUBMIT))]));
    let fresh: Vec<RecordBatch> = client
        .do_exchange(fresh)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(versions(&fresh[0]), vec!["v-next".to_owned(); 5]);
    assert_eq!(
        sample(&scrape(&server).await, "rtp_flight_model_reloads_total"),
        1.0
    );
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrupt_bundle_is_refused_and_the_old_model_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = crate::common::config(&crate::common::store_copy(dir.path()));
    config.watch_interval_s = 3600.0; // reload only when asked
    let server = rtp_flight_server::start(&config).await.unwrap();
    let store = server.live.store().root().to_owned();
    let old = server.live.current().version().to_owned();
    let mut client = client(&server).await;

    // A model file cut short, as a crashed copy would leave it.
    republish(&store, &old, "v-broken", |dir| {
        let model = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "txt"))
            .unwrap();
        let text = std::fs::read_to_string(&model).unwrap();
        std::fs::write(&model, &text[..text.len() / 3]).unwrap();
    });
    let Err(err) = client.do_action(Action::new("reload", "")).await else {
        panic!("a corrupt bundle was accepted");
    };
    assert!(err.to_string().contains("refused"), "{err}");
    assert!(err.to_string().contains(&old), "{err}");
    assert_eq!(server.live.current().version(), old);

    // A bundle whose state table is missing is refused too.
    republish(&store, &old, "v-incomplete", |dir| {
        std::fs::remove_file(dir.join("history_state.parquet")).unwrap();
    });
    assert!(client.do_action(Action::new("reload", "")).await.is_err());

    let stream =
        FlightDataEncoderBuilder::new().build(futures::stream::iter([Ok(jobs(5, SUBMIT))]));
    let out: Vec<RecordBatch> = client
        .do_exchange(stream)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(versions(&out[0]), vec![old.clone(); 5]);
    let metrics = scrape(&server).await;
    assert_eq!(
        sample(&metrics, "rtp_flight_model_reload_failures_total"),
        2.0
    );
    assert_eq!(sample(&metrics, "rtp_flight_model_reloads_total"), 0.0);

    // A good bundle published after them is taken.
    republish(&store, &old, "v-good", |_| {});
    let body = client
        .do_action(Action::new("reload", ""))
        .await
        .unwrap()
        .next()
        .await
        .unwrap()
        .unwrap();
    let outcome: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(outcome["to"], "v-good");
    server.shutdown().await.unwrap();
}
