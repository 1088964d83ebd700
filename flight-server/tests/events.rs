//! Job events in bulk: DoPut to `["events"]` folds a job table into the
//! live state; refused rows are named; two replicas fed the same events in
//! different orders and chunks score alike.

use arrow_flight::FlightDescriptor;
use arrow_flight::encode::FlightDataEncoderBuilder;
use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::Float64Type;
use futures::TryStreamExt;
use rtp_flight_server::RunningServer;
use rtp_jobs::{Job, jobs_batch};
use rtp_scoring::Value;
use rtp_scoring::live::HistoryStat;

use crate::common::{client, jobs, sample, scrape, server};

/// After the bundle's history.
const SUBMIT: i64 = 1_900_000_000;

/// Job `i`, ended: users and runtimes vary.
fn ended(i: usize) -> Job {
    let submit = SUBMIT + 60 * i as i64;
    Job {
        job_id: format!("ev{i}"),
        user: Some(format!("user{:04}", i % 17)),
        partition: Some(["short", "standard", "long"][i % 3].into()),
        wallclock_req_s: Some(14_400.0),
        nodes_req: Some(1 + (i % 4) as i64),
        processors_req: Some(36),
        submit_time: Some(submit),
        start_time: Some(submit + 20),
        end_time: Some(submit + 20 + 90 * (1 + (i % 40) as i64)),
        state: Some(
            if i.is_multiple_of(9) {
                "TIMEOUT"
            } else {
                "COMPLETED"
            }
            .into(),
        ),
        ..Job::default()
    }
}

fn table(jobs: &[Job]) -> RecordBatch {
    jobs_batch(jobs.iter().map(Job::as_borrowed)).unwrap()
}

/// Uploads `batches` as events; the server's summary.
async fn put_events(server: &RunningServer, batches: Vec<RecordBatch>) -> serde_json::Value {
    let mut client = client(server).await;
    let stream = FlightDataEncoderBuilder::new()
        .with_flight_descriptor(Some(FlightDescriptor::new_path(vec!["events".into()])))
        .build(futures::stream::iter(batches.into_iter().map(Ok)));
    let results: Vec<_> = client
        .do_put(stream)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    serde_json::from_slice(&results[0].app_metadata).unwrap()
}

/// The p50 of every job of a probe batch, scored over DoExchange.
async fn probe(server: &RunningServer) -> Vec<f64> {
    let mut client = client(server).await;
    let input = FlightDataEncoderBuilder::new()
        .build(futures::stream::iter([Ok(jobs(40, SUBMIT + 60 * 1_000))]));
    let scored: Vec<RecordBatch> = client
        .do_exchange(input)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    scored
        .iter()
        .flat_map(|b| {
            b.column_by_name("pred_p50")
                .unwrap()
                .as_primitive::<Float64Type>()
                .values()
                .to_vec()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn uploaded_events_are_applied_once_and_bad_rows_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let before = probe(&server).await;
    let mut events: Vec<Job> = (0..200).map(ended).collect();
    events[7].state = Some("EXPLODED".into());
    events[11].end_time = Some(SUBMIT - 100);
    let summary = put_events(&server, vec![table(&events[..120]), table(&events[120..])]).await;
    assert_eq!(summary["events"], 200, "{summary}");
    assert_eq!(summary["applied"], 198, "{summary}");
    assert_eq!(summary["refused"], 2, "{summary}");
    let errors: Vec<&str> = summary["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert!(
        errors[0].starts_with("row 7: state: unknown state"),
        "{errors:?}"
    );
    assert!(errors[1].starts_with("row 11: end_time"), "{errors:?}");

    let scorer = server.live.current();
    {
        let state = scorer.live_state();
        let user = state
            .layout()
            .kinds
            .iter()
            .position(|k| k == "user")
            .unwrap();
        // user0003 ended jobs 3, 20, 37, …: 12 of the 200, none refused.
        let history = state.history(user, "user0003").unwrap();
        assert!(matches!(history.stat(HistoryStat::NEnded), Value::Int(n) if n >= 12));
    }
    let after = probe(&server).await;
    assert_ne!(before, after, "the events must reach the features");

    // The same table again is all duplicates and changes nothing.
    let summary = put_events(&server, vec![table(&events)]).await;
    assert_eq!(
        (summary["applied"].as_u64(), summary["duplicated"].as_u64()),
        (Some(0), Some(198))
    );
    assert_eq!(probe(&server).await, after);
    let metrics = scrape(&server).await;
    assert_eq!(
        sample(
            &metrics,
            r#"rtp_flight_job_events_total{source="flight",outcome="applied"}"#
        ),
        198.0
    );
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn replicas_fed_the_same_events_in_any_order_converge() {
    let dir = tempfile::tempdir().unwrap();
    let a = server(&dir.path().join("a")).await;
    let b = server(&dir.path().join("b")).await;
    // Each job as three events (submitted, started, ended).
    let mut events: Vec<Job> = Vec::new();
    for i in 0..300 {
        let job = ended(i);
        events.push(Job {
            start_time: None,
            end_time: None,
            state: Some("PENDING".into()),
            ..job.clone()
        });
        events.push(Job {
            end_time: None,
            state: Some("RUNNING".into()),
            ..job.clone()
        });
        events.push(job);
    }
    // A: in time order, one table. B: ends first, reversed, in small
    // chunks, with every tenth event sent twice.
    put_events(&a, vec![table(&events)]).await;
    let mut shuffled: Vec<Job> = events.iter().rev().cloned().collect();
    shuffled.extend(events.iter().step_by(10).cloned());
    let chunks = shuffled.chunks(37).map(table).collect();
    let summary = put_events(&b, chunks).await;
    assert_eq!(summary["refused"], 0, "{summary}");
    assert_eq!(probe(&a).await, probe(&b).await);
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}
