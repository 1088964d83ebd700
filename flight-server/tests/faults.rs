//! Clients that die mid-exchange, at each point a real client can: before
//! sending anything, after sending without reading, after reading part of
//! the answer, and while the server drains a refused stream. After each,
//! the server scores the next client's stream in full, and it still shuts
//! down promptly (no task left spinning or waiting on the dead client).

use std::time::Duration;

use arrow_flight::encode::FlightDataEncoderBuilder;
use datafusion::arrow::array::RecordBatch;
use futures::{StreamExt, TryStreamExt};
use rtp_flight_server::start;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::common::{client, config, http_get, jobs, store_copy};

const SUBMIT: i64 = 1_900_000_000;

/// Long enough for any honest answer on a loaded machine; a hang fails.
const PATIENCE: Duration = Duration::from_secs(60);

/// Where the client dies.
#[derive(Debug, Clone, Copy)]
enum Death {
    /// The call is open; nothing was sent.
    BeforeSending,
    /// Two batches were sent; no answer was read; more was promised.
    AfterSendingUnread,
    /// Two batches were sent and one answer read; more was promised.
    AfterReadingOne,
    /// A batch the server refuses (no `submit_time`) was sent, so it drains what the
    /// client still sends; the client dies during the drain.
    DuringTheDrain,
}

async fn die_mid_exchange(server: &rtp_flight_server::RunningServer, death: Death) {
    let mut client = client(server).await;
    let (tx, rx) = mpsc::channel::<RecordBatch>(4);
    let input = FlightDataEncoderBuilder::new().build(ReceiverStream::new(rx).map(Ok));
    let mut answers = client.do_exchange(input).await.unwrap();
    match death {
        Death::BeforeSending => {}
        Death::AfterSendingUnread => {
            for k in 0..2 {
                tx.send(jobs(500, SUBMIT + k * 60_000)).await.unwrap();
            }
        }
        Death::AfterReadingOne => {
            for k in 0..2 {
                tx.send(jobs(500, SUBMIT + k * 60_000)).await.unwrap();
            }
            let first = tokio::time::timeout(PATIENCE, answers.try_next())
                .await
                .expect("an answer")
                .unwrap()
                .unwrap();
            assert_eq!(first.num_rows(), 500);
        }
        Death::DuringTheDrain => {
            let one = jobs(3, SUBMIT);
            let kept: Vec<usize> = (0..one.num_columns())
                .filter(|&i| one.schema().field(i).name() != "submit_time")
                .collect();
            let refused = one.project(&kept).unwrap();
            tx.send(refused).await.unwrap();
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    // The client dies: its stream, its answers and its connection go.
    drop(tx);
    drop(answers);
    drop(client);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_dies_mid_exchange_leaves_the_server_serving() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&config(&store_copy(dir.path()))).await.unwrap();
    for death in [
        Death::BeforeSending,
        Death::AfterSendingUnread,
        Death::AfterReadingOne,
        Death::DuringTheDrain,
    ] {
        die_mid_exchange(&server, death).await;
        let mut next = client(&server).await;
        let input =
            FlightDataEncoderBuilder::new().build(futures::stream::iter([Ok(jobs(300, SUBMIT))]));
        let scored: Vec<RecordBatch> = tokio::time::timeout(PATIENCE, async {
            next.do_exchange(input).await?.try_collect().await
        })
        .await
        .unwrap_or_else(|_| panic!("after {death:?}, the next exchange hung"))
        .unwrap_or_else(|e| panic!("after {death:?}: {e}"));
        assert_eq!(
            scored.iter().map(|b| b.num_rows()).sum::<usize>(),
            300,
            "after {death:?}"
        );
        assert!(
            http_get(server.metrics_addr, "/readyz")
                .await
                .contains("serving")
        );
    }
    tokio::time::timeout(Duration::from_secs(20), server.shutdown())
        .await
        .expect("the server did not shut down: a task is stuck on a dead client")
        .unwrap();
}
