//! Job events over `ReportJobs`: folded into the live state the next
//! prediction is made from, repeated without effect, refused by field, and
//! stored durably: across a restart, a SIGKILL mid-stream and a new bundle.

use std::io::BufReader;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rtp_edge_api::{RunningServer, start};
use rtp_proto::v1::job_runtime_predictor_client::JobRuntimePredictorClient;
use rtp_proto::v1::{JobEvent, PredictRequest, ReportJobsReply};
use rtp_scoring::Value;
use rtp_scoring::live::HistoryStat;
use rtp_service_support::Ready;
use tonic::transport::Channel;

use crate::common::{self, SUBMIT};

/// Job `i` of user `user`, ended after `runtime_s`.
fn ended(i: usize, user: &str, runtime_s: i64) -> JobEvent {
    let mut job = common::job(i);
    job.user = user.into();
    job.job_id = format!("ev{i}");
    let start = job.submit_time + 30;
    JobEvent {
        job: Some(job),
        start_time: start,
        end_time: start + runtime_s,
        run_time_seconds: None,
        state: "COMPLETED".into(),
        cluster: String::new(),
    }
}

/// Events of `n` jobs of a few users, in time order.
fn workload(n: usize) -> Vec<JobEvent> {
    (0..n)
        .map(|i| ended(i, &format!("evuser{}", i % 7), 120 + 37 * (i as i64 % 50)))
        .collect()
}

async fn report(
    client: &mut JobRuntimePredictorClient<Channel>,
    events: Vec<JobEvent>,
) -> ReportJobsReply {
    client
        .report_jobs(tokio_stream::iter(events))
        .await
        .unwrap()
        .into_inner()
}

/// (jobs ended, last runtime) of `user` in the server's live state.
fn user_history(server: &RunningServer, user: &str) -> (Value, Value) {
    let scorer = server.live.current();
    let state = scorer.live_state();
    let kind = state
        .layout()
        .kinds
        .iter()
        .position(|k| k == "user")
        .expect("a user entity kind");
    let history = state.history(kind, user).expect("the user has history");
    (
        history.stat(HistoryStat::NEnded),
        history.stat(HistoryStat::LastRt),
    )
}

/// The p50 of the next job of `user`, after the workload.
async fn next_p50(client: &mut JobRuntimePredictorClient<Channel>, i: usize, user: &str) -> f64 {
    let mut job = common::job(i);
    job.user = user.into();
    job.submit_time = SUBMIT + 60 * 10_000;
    let request = PredictRequest {
        features: Some(job),
        explain: Some(false),
        ..Default::default()
    };
    client
        .predict(request)
        .await
        .unwrap()
        .into_inner()
        .p50_seconds
}

#[tokio::test]
async fn reported_jobs_reach_the_next_prediction_and_repeats_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = common::server(dir.path()).await;
    let mut client = common::client(&server).await;
    let before = next_p50(&mut client, 3, "newcomer").await;
    let events: Vec<JobEvent> = (0..5)
        .map(|i| ended(i, "newcomer", 600 * (i as i64 + 1)))
        .collect();
    let reply = report(&mut client, events.clone()).await;
    assert_eq!(
        (reply.applied, reply.duplicated, reply.refused),
        (5, 0, 0),
        "{reply:?}"
    );
    assert_eq!(
        user_history(&server, "newcomer"),
        (Value::Int(5), Value::Float(3000.0))
    );
    let after = next_p50(&mut client, 3, "newcomer").await;
    assert_ne!(
        before, after,
        "the user's history must change their prediction"
    );

    // The same events again, shuffled: nothing changes.
    let mut again = events;
    again.reverse();
    let reply = report(&mut client, again).await;
    assert_eq!((reply.applied, reply.duplicated), (0, 5), "{reply:?}");
    assert_eq!(next_p50(&mut client, 3, "newcomer").await, after);

    let metrics = common::scrape(&server).await;
    let count = |outcome: &str| {
        common::sample(
            &metrics,
            &format!(r#"rtp_edge_job_events_total{{source="push",outcome="{outcome}"}}"#),
        )
    };
    assert_eq!(
        (count("applied"), count("duplicated"), count("refused")),
        (5.0, 5.0, 0.0)
    );
    // The newest time applied: the last job's end.
    assert_eq!(
        common::sample(&metrics, "rtp_edge_job_events_newest_timestamp_seconds"),
        (SUBMIT + 4 * 60 + 30 + 3000) as f64
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn malformed_events_are_refused_by_field_and_the_stream_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let server = common::server(dir.path()).await;
    let mut client = common::client(&server).await;
    let unknown_state = JobEvent {
        state: "EXPLODED".into(),
        ..ended(1, "u", 60)
    };
    let mut before_submit = ended(2, "u", 60);
    before_submit.end_time = before_submit.job.as_ref().unwrap().submit_time - 5;
    before_submit.start_time = 0;
    let negative = JobEvent {
        run_time_seconds: Some(-3.0),
        end_time: 0,
        ..ended(3, "u", 60)
    };
    let mut no_submit = ended(4, "u", 60);
    no_submit.job.as_mut().unwrap().submit_time = 0;
    let events = vec![
        ended(0, "u", 60),
        unknown_state,
        before_submit,
        negative,
        no_submit,
        ended(5, "u", 60),
    ];
    let reply = report(&mut client, events).await;
    assert_eq!((reply.applied, reply.refused), (2, 4), "{reply:?}");
    let fields: Vec<&str> = reply
        .errors
        .iter()
        .map(|e| e.split(':').next().unwrap())
        .collect();
    for field in [
        "events[1].state",
        "events[2].end_time",
        "events[3].run_time_seconds",
        "events[4].job.submit_time",
    ] {
        assert!(fields.contains(&field), "{field} not in {:?}", reply.errors);
    }
    let metrics = common::scrape(&server).await;
    assert_eq!(
        common::sample(
            &metrics,
            r#"rtp_edge_job_events_total{source="push",outcome="refused"}"#
        ),
        3.0,
        "refused by the state's rules (the missing submit is refused at the wire)"
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn stored_events_survive_a_restart_and_a_new_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::store_copy(dir.path());
    let mut config = common::config(&store);
    config.events.store = dir.path().join("state/events.redb");
    let server = start(&config).await.unwrap();
    let mut client = common::client(&server).await;
    let events = workload(60);
    assert_eq!(report(&mut client, events.clone()).await.applied, 60);
    let history = user_history(&server, "evuser3");
    let p50 = next_p50(&mut client, 3, "evuser3").await;
    drop(client);
    server.shutdown().await.unwrap();

    let server = restart(&config).await;
    let mut client = common::client(&server).await;
    assert_eq!(user_history(&server, "evuser3"), history);
    assert_eq!(next_p50(&mut client, 3, "evuser3").await, p50);
    let reply = report(&mut client, events).await;
    assert_eq!((reply.applied, reply.duplicated), (0, 60), "{reply:?}");

    // A new bundle whose data ends where this one's does: the events are
    // replayed into its state before it serves.
    let serving = server.live.current().version().to_owned();
    common::republish(&store, &serving, "20990101T000000Z-events1", |_| {});
    for _ in 0..600 {
        if server.live.current().version() != serving {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_ne!(
        server.live.current().version(),
        serving,
        "the new bundle was not swapped in"
    );
    assert_eq!(user_history(&server, "evuser3"), history);
    assert_eq!(next_p50(&mut client, 3, "evuser3").await, p50);
    server.shutdown().await.unwrap();
}

/// A new edge on `config`, once the stopped one has let go of its event
/// store (its last connection tasks end just after it stops).
async fn restart(config: &rtp_edge_api::EdgeConfig) -> RunningServer {
    for _ in 0..200 {
        match start(config).await {
            Ok(server) => return server,
            Err(e) if e.to_string().contains("already open") => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("{e}"),
        }
    }
    panic!("the event store stayed locked after the server stopped");
}

/// An edge process over `bundles`, storing events at `events`.
fn spawn_edge(bundles: &Path, events: &Path) -> (Child, Ready) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rtp-edge-api"))
        .env("RTP_BUNDLE_DIR", bundles)
        .env("RTP_EVENTS_STORE", events)
        .env("RTP_EDGE_LISTEN", "127.0.0.1:0")
        .env("RTP_EDGE_METRICS_LISTEN", "127.0.0.1:0")
        .env("RTP_EDGE_WORKER_THREADS", "2")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let ready = Ready::wait_for(&mut out, |_| {})
        .unwrap()
        .expect("the edge announced itself");
    // Keep reading stdout so the process never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    (child, ready)
}

async fn connect(ready: &Ready) -> JobRuntimePredictorClient<Channel> {
    let url = format!("http://{}", ready.authority("grpc").unwrap());
    JobRuntimePredictorClient::new(Channel::from_shared(url).unwrap().connect().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_stream_restarts_with_every_stored_event_and_none_twice() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::store_copy(dir.path());
    let events = workload(3000);

    // The uninterrupted run.
    let reference = common::server(dir.path()).await;
    let mut client = common::client(&reference).await;
    assert_eq!(report(&mut client, events.clone()).await.applied, 3000);
    let mut expected = Vec::new();
    for u in 0..7 {
        expected.push(next_p50(&mut client, u, &format!("evuser{u}")).await);
    }
    reference.shutdown().await.unwrap();

    // A stream that is still open when the server is killed.
    let event_store = dir.path().join("events.redb");
    let (mut child, ready) = spawn_edge(&store, &event_store);
    let mut client = connect(&ready).await;
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let call = tokio::spawn(async move {
        client
            .report_jobs(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
    });
    let metrics_at = ready.authority("metrics").unwrap().parse().unwrap();
    let mut sent = 0usize;
    let mut stored = 0.0;
    for event in events.iter().take(2000).cloned() {
        tx.send(event).await.unwrap();
        sent += 1;
        if sent.is_multiple_of(100) {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let metrics = common::http_get(metrics_at, "/metrics").await;
            stored = common::sample(
                &metrics,
                r#"rtp_edge_job_events_total{source="push",outcome="applied"}"#,
            );
            if stored >= 500.0 {
                break;
            }
        }
    }
    assert!(
        stored >= 500.0,
        "the server applied {stored} events of {sent}"
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    drop(tx);
    assert!(
        call.await.unwrap().is_err(),
        "a killed server acknowledges nothing"
    );

    // Restarted, it has what it stored; the client sends everything again.
    let (mut child, ready) = spawn_edge(&store, &event_store);
    let mut client = connect(&ready).await;
    let reply = report(&mut client, events).await;
    assert_eq!(reply.applied + reply.duplicated, 3000, "{reply:?}");
    assert!(
        reply.duplicated as f64 >= stored,
        "{} stored before the kill, {reply:?}",
        stored
    );
    let mut got = Vec::new();
    for u in 0..7 {
        got.push(next_p50(&mut client, u, &format!("evuser{u}")).await);
    }
    assert_eq!(got, expected);
    child.kill().unwrap();
    child.wait().unwrap();
}
