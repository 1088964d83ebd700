//! `rtp bench events`: what applying a job event costs, in memory and
//! stored durably, and whether predictions slow down while events flow.
//!
//! The events are every submit, start and end of the generated jobs,
//! moved after the bundle's data so that each one changes the state, and
//! applied in time order through the servers' own path
//! ([`EventFeed::apply`]). The serving half starts an edge with an event
//! store and measures single-caller `Predict` latency alone, then while a
//! `ReportJobs` stream delivers events at a steady rate.

use std::fmt::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use datafusion::arrow::array::RecordBatch;
use rtp_bundle::BundleStore;
use rtp_edge_api::job_request::wire_from_job;
use rtp_jobs::{Job, JobColumns};
use rtp_proto::v1::JobEvent;
use rtp_proto::v1::job_runtime_predictor_client::JobRuntimePredictorClient;
use rtp_scoring::live::job_events;
use rtp_scoring::{AdviceOptions, EventFeed, EventSource, Scorer};
use tokio_stream::wrappers::ReceiverStream;

use crate::client::connect;
use crate::edge_bench::{EdgeBenchRow, row, unary, wire_jobs};
use crate::error::{Result, StackError};
use crate::process::{Output, ServiceProcess};
use crate::program::{Launcher, Program};
use crate::replay::JobReplay;

/// What to measure.
#[derive(Debug, Clone)]
pub struct EventsBenchOptions {
    /// Events applied per in-process line (at most the jobs' events).
    pub events: usize,
    /// Events per second streamed to the edge while Predict is timed.
    pub events_per_s: u32,
    /// Measured Predict time per serving line.
    pub duration: Duration,
    /// Unmeasured time before each serving line.
    pub warmup: Duration,
}

/// One way of applying events.
#[derive(Debug, Clone)]
pub struct ApplyRow {
    /// How they were applied.
    pub mode: String,
    /// Events applied.
    pub events: u64,
    /// Cost per event, microseconds: p50 and p99 of the calls divided by
    /// the events per call, and the mean.
    pub per_event_us: [f64; 3],
    /// Events per second over the line.
    pub events_per_s: f64,
}

/// The measurements of one run.
#[derive(Debug, Clone)]
pub struct EventsBench {
    /// Applying events in process.
    pub apply: Vec<ApplyRow>,
    /// Predict on the edge without and with events flowing.
    pub predict: Vec<EdgeBenchRow>,
    /// Events the edge took during the serving lines with events.
    pub streamed: u64,
}

/// Runs every line: in process against the store's latest bundle, then
/// against an edge process storing its events under `work`.
pub async fn bench_events(
    launcher: &Launcher,
    store: &BundleStore,
    jobs: &[RecordBatch],
    replay: &JobReplay,
    work: &Path,
    options: &EventsBenchOptions,
) -> Result<EventsBench> {
    let events = events_after(jobs, replay.span_s() * 2, options.events)?;
    let mut apply = Vec::new();
    for (mode, per_call, durable) in [
        ("in memory, 1 event per apply", 1, false),
        ("in memory, 1024 events per apply", 1024, false),
        ("redb, 1024 events per commit", 1024, true),
        ("redb, 1 event per commit", 1, true),
    ] {
        // A commit per event costs a sync each: a sample is enough.
        let count = if durable && per_call == 1 {
            events.len().min(2_000)
        } else {
            events.len()
        };
        let path = work.join(format!("events-{}.redb", apply.len()));
        apply.push(
            apply_line(
                store,
                &events[..count],
                per_call,
                durable.then_some(path.as_path()),
                mode,
            )
            .await?,
        );
    }
    let (predict, streamed) =
        serving_lines(launcher, store, replay, &events, work, options).await?;
    Ok(EventsBench {
        apply,
        predict,
        streamed,
    })
}

/// The jobs' events, `offset_s` later, in time order, at most `limit`.
fn events_after(jobs: &[RecordBatch], offset_s: i64, limit: usize) -> Result<Vec<Job>> {
    let mut timed: Vec<(i64, Job)> = Vec::new();
    for batch in jobs {
        let columns = JobColumns::new(batch)
            .map_err(|e| StackError::JobPool(format!("cannot be read as jobs: {e}")))?;
        for row in 0..batch.num_rows() {
            let mut job = columns.job(row).to_owned_job();
            let shift = |t: Option<i64>| t.map(|t| t + offset_s);
            job.submit_time = shift(job.submit_time);
            job.start_time = shift(job.start_time);
            job.end_time = shift(job.end_time);
            timed.extend(job_events(&job));
        }
    }
    timed.sort_by_key(|(t, _)| *t);
    Ok(timed.into_iter().take(limit).map(|(_, e)| e).collect())
}

async fn apply_line(
    store: &BundleStore,
    events: &[Job],
    per_call: usize,
    durable: Option<&Path>,
    mode: &str,
) -> Result<ApplyRow> {
    let scorer = Scorer::load_latest(store, AdviceOptions::default()).await?;
    let feed = match durable {
        Some(path) => EventFeed::open(path)?,
        None => EventFeed::in_memory(),
    };
    let mut per_event = Vec::with_capacity(events.len() / per_call + 1);
    let started = Instant::now();
    let mut applied = 0;
    for chunk in events.chunks(per_call) {
        let call = Instant::now();
        let report = feed.apply(&scorer, EventSource::Push, "bench", chunk)?;
        per_event.push(call.elapsed().as_secs_f64() * 1e6 / chunk.len() as f64);
        applied += report.applied;
        if !report.refused.is_empty() {
            return Err(StackError::JobPool(format!(
                "holds events the feed refuses: {:?}",
                report.refused.first()
            )));
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    per_event.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        per_event[((p * per_event.len() as f64).ceil() as usize).clamp(1, per_event.len()) - 1]
    };
    Ok(ApplyRow {
        mode: mode.to_owned(),
        events: applied,
        per_event_us: [pct(0.5), pct(0.99), elapsed * 1e6 / events.len() as f64],
        events_per_s: events.len() as f64 / elapsed,
    })
}

/// Predict latency on an edge with an event store, alone and while
/// events stream in at the configured rate: one at a time (a trickle, as
/// jobcomp pushes would be) and in bursts every 100 ms (as a forwarder
/// batching them would send).
async fn serving_lines(
    launcher: &Launcher,
    store: &BundleStore,
    replay: &JobReplay,
    events: &[Job],
    work: &Path,
    options: &EventsBenchOptions,
) -> Result<(Vec<EdgeBenchRow>, u64)> {
    let event_store = work.join("edge-events.redb");
    let server = ServiceProcess::start(
        launcher,
        Program::Edge,
        &[
            ("RTP_EDGE_LISTEN", "127.0.0.1:0".as_ref()),
            ("RTP_EDGE_METRICS_LISTEN", "127.0.0.1:0".as_ref()),
            ("RTP_BUNDLE_DIR", store.root().as_os_str()),
            ("RTP_EDGE_WORKER_THREADS", "1".as_ref()),
            ("RTP_EVENTS_STORE", event_store.as_os_str()),
        ],
        Output::Quiet,
    )?;
    let endpoint = format!("http://{}", server.authority("grpc")?);
    let jobs = wire_jobs(replay, 2_000)?;
    let mut rows = Vec::new();
    let timed = |label: String| {
        let endpoint = endpoint.clone();
        let jobs = &jobs;
        async move {
            let client = JobRuntimePredictorClient::new(connect(&endpoint).await?);
            let warm_until = Instant::now() + options.warmup;
            let deadline = warm_until + options.duration;
            let latencies = unary(client, jobs, 0, false, warm_until, deadline)
                .await
                .map_err(|e| StackError::Call {
                    endpoint: endpoint.clone(),
                    message: format!("Predict: {e}"),
                })?;
            Ok::<_, StackError>(row(label, 1, 1, latencies, options.duration))
        }
    };
    rows.push(timed("Predict, no events".into()).await?);

    let mut streamed = 0;
    let halves = [&events[..events.len() / 2], &events[events.len() / 2..]];
    for (burst_ms, part) in [1u64, 100].into_iter().zip(halves) {
        let per_burst = (u64::from(options.events_per_s) * burst_ms / 1000).max(1) as usize;
        let label = format!(
            "Predict, {} events/s ({per_burst} per {burst_ms} ms)",
            options.events_per_s
        );
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = tokio::sync::mpsc::channel(4096);
        let producer = {
            let stop = Arc::clone(&stop);
            let messages: Vec<JobEvent> = part.iter().map(event_message).collect();
            tokio::spawn(async move {
                let mut ticker = tokio::time::interval(Duration::from_millis(burst_ms));
                for burst in messages.chunks(per_burst) {
                    ticker.tick().await;
                    for message in burst {
                        if stop.load(Ordering::Relaxed) || tx.send(message.clone()).await.is_err() {
                            return;
                        }
                    }
                }
            })
        };
        let feeder = {
            let mut client = JobRuntimePredictorClient::new(connect(&endpoint).await?);
            tokio::spawn(async move { client.report_jobs(ReceiverStream::new(rx)).await })
        };
        let with_events = timed(label).await;
        stop.store(true, Ordering::Relaxed);
        producer
            .await
            .map_err(|_| StackError::Panicked("event producer"))?;
        let reply = feeder
            .await
            .map_err(|_| StackError::Panicked("event feeder"))?
            .map_err(|e| StackError::Call {
                endpoint: endpoint.clone(),
                message: format!("ReportJobs: {e}"),
            })?
            .into_inner();
        rows.push(with_events?);
        if reply.refused > 0 {
            return Err(StackError::Call {
                endpoint,
                message: format!("ReportJobs refused events: {:?}", reply.errors.first()),
            });
        }
        streamed += (reply.applied + reply.duplicated) as u64;
    }
    drop(server);
    Ok((rows, streamed))
}

/// The wire message of an event. The generated array tasks share their
/// job id, as in the Eagle data; on the wire each task needs its own (as
/// Slurm's `JOBID_TASK`), so the table's key is appended.
fn event_message(job: &Job) -> JobEvent {
    let mut wire = wire_from_job(job);
    if let Some(key) = job.job_key {
        wire.job_id = format!("{}_{key}", wire.job_id);
    }
    JobEvent {
        job: Some(wire),
        start_time: job.start_time.unwrap_or(0),
        end_time: job.end_time.unwrap_or(0),
        run_time_seconds: job.run_time_s,
        state: job.state.clone().unwrap_or_default(),
        cluster: String::new(),
    }
}

/// The measurements as text tables.
pub fn render_events_bench(bench: &EventsBench) -> String {
    let mut out = format!(
        "{:<36} {:>9} {:>11} {:>11} {:>11} {:>12}\n",
        "apply", "events", "p50 µs/ev", "p99 µs/ev", "mean µs/ev", "events/s"
    );
    for r in &bench.apply {
        let _ = writeln!(
            out,
            "{:<36} {:>9} {:>11.2} {:>11.2} {:>11.2} {:>12.0}",
            r.mode,
            r.events,
            r.per_event_us[0],
            r.per_event_us[1],
            r.per_event_us[2],
            r.events_per_s
        );
    }
    let base = bench.predict.first().map_or(f64::NAN, |r| r.latency_us[0]);
    let _ = writeln!(
        out,
        "\n{:<44} {:>7} {:>9} {:>9} {:>9} {:>8}",
        "edge: 1 worker thread, 1 caller, explain=false",
        "calls",
        "p50 µs",
        "p90 µs",
        "p99 µs",
        "p50 vs"
    );
    for r in &bench.predict {
        let _ = writeln!(
            out,
            "{:<46} {:>7} {:>9.0} {:>9.0} {:>9.0} {:>8.2}",
            r.mode,
            r.calls,
            r.latency_us[0],
            r.latency_us[1],
            r.latency_us[2],
            r.latency_us[0] / base
        );
    }
    let _ = writeln!(
        out,
        "events the edge took while Predict was timed: {}",
        bench.streamed
    );
    out
}
