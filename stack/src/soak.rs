//! `rtp bench soak`: the edge and the Flight server together, each its own
//! process, under mixed traffic for a set time: single predictions and
//! batches on the edge from several callers, streams of job batches and
//! actions (model info, reload) on Flight, and the bundle republished under
//! a new version every few seconds, so both servers swap models under load.
//! It counts every call and every error, samples both servers' resident
//! memory, then sends Flight a burst of concurrent streams and reads both
//! servers' memory a few seconds later: what the burst took must come back. A soak passes with
//! no error, both servers serving the last version published, and no server
//! whose memory grew by more than a tenth from the end of the warm-up (the
//! first half) to the end of the load.
//!
//! The servers serve a copy of the store's latest bundle in a scratch
//! store of the soak's own: the store given is only read.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::{Action, FlightClient};
use datafusion::arrow::array::RecordBatch;
use futures::TryStreamExt;
use rtp_bundle::{BundleStore, LoadedBundle};
use rtp_proto::v1::job_runtime_predictor_client::JobRuntimePredictorClient;
use rtp_proto::v1::{JobFeatures, PredictBatchRequest, PredictRequest};
use tonic::transport::Channel;

use crate::client::connect;
use crate::edge_bench::wire_jobs;
use crate::error::{Result, StackError};
use crate::process::{Output, ServiceProcess};
use crate::program::{Launcher, Program};
use crate::replay::JobReplay;

/// Largest growth of resident memory over the measured load.
pub const RSS_GROWTH_LIMIT: f64 = 1.10;

/// Growth below this is no evidence of a leak: the allocator's per-thread
/// arenas fill in steps of megabytes, and on a loaded machine a short
/// warm-up ends before they all have (a 60 s soak has seen a server settle
/// 13 MiB above its warm-up figure, where a 240 s one stayed within 1 MiB).
pub const RSS_GROWTH_SLACK_BYTES: u64 = 16 << 20;

/// Largest resident memory a few seconds after the burst, against the end
/// of the load: what the burst took must come back.
pub const AFTER_BURST_LIMIT: f64 = 1.25;

/// What the soak runs.
#[derive(Debug, Clone)]
pub struct SoakOptions {
    /// How long the load runs.
    pub duration: Duration,
    /// Concurrent edge callers.
    pub edge_callers: usize,
    /// Rows per Flight batch (each stream sends four).
    pub batch_rows: usize,
    /// Jobs per PredictBatch call (every tenth edge call is one).
    pub batch_jobs: usize,
    /// How often the bundle is republished under a new version.
    pub republish_every: Duration,
    /// Concurrent Flight streams of the burst after the load.
    pub burst_streams: usize,
    /// Rows each burst stream sends.
    pub burst_rows: usize,
}

/// One server's figures.
#[derive(Debug, Clone)]
pub struct SoakRow {
    /// The server.
    pub service: &'static str,
    /// Calls answered or failed.
    pub calls: u64,
    /// Jobs scored.
    pub jobs: u64,
    /// Calls that failed.
    pub errors: u64,
    /// The first failure, if any.
    pub first_error: Option<String>,
    /// Resident memory at the end of the warm-up (the first half), bytes.
    pub rss_first: u64,
    /// Resident memory at the end of the load, bytes.
    pub rss_last: u64,
    /// Peak resident memory over the whole run, bytes.
    pub rss_peak: u64,
    /// Resident memory a few seconds after the load stopped (for Flight,
    /// after the burst of concurrent streams that follows it), bytes.
    pub rss_after: u64,
    /// The bundle version it served at the end.
    pub serving: String,
}

impl SoakRow {
    /// The end of the load against the end of the warm-up.
    pub fn growth(&self) -> f64 {
        self.rss_last as f64 / self.rss_first.max(1) as f64
    }
}

/// What a soak found.
#[derive(Debug, Clone)]
pub struct SoakReport {
    /// Seconds the load ran.
    pub seconds: f64,
    /// The edge, then Flight.
    pub rows: Vec<SoakRow>,
    /// Versions published during the load.
    pub republished: u32,
    /// The last version published.
    pub last_version: String,
}

impl SoakReport {
    /// Why the soak failed; empty when it passed.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for row in &self.rows {
            if row.errors > 0 {
                problems.push(format!(
                    "{}: {} of {} calls failed, the first with: {}",
                    row.service,
                    row.errors,
                    row.calls,
                    row.first_error.as_deref().unwrap_or("?")
                ));
            }
            if row.serving != self.last_version {
                problems.push(format!(
                    "{}: serves {} after the load, not the last version published, {}",
                    row.service, row.serving, self.last_version
                ));
            }
            if row.rss_after as f64 > row.rss_last as f64 * AFTER_BURST_LIMIT {
                problems.push(format!(
                    "{}: kept {} MiB a few seconds after the load, against {} MiB under it",
                    row.service,
                    row.rss_after >> 20,
                    row.rss_last >> 20
                ));
            }
            if row.growth() > RSS_GROWTH_LIMIT
                && row.rss_last > row.rss_first + RSS_GROWTH_SLACK_BYTES
            {
                problems.push(format!(
                    "{}: resident memory grew from {} to {} MiB under steady load",
                    row.service,
                    row.rss_first >> 20,
                    row.rss_last >> 20
                ));
            }
        }
        problems
    }
}

/// Counts of one kind of traffic, shared by its tasks.
#[derive(Debug, Default)]
struct Tally {
    calls: AtomicU64,
    jobs: AtomicU64,
    errors: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl Tally {
    fn record<T, E: std::fmt::Display>(&self, jobs: u64, result: std::result::Result<T, E>) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        match result {
            Ok(_) => {
                self.jobs.fetch_add(jobs, Ordering::Relaxed);
            }
            Err(e) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                self.first_error
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get_or_insert_with(|| e.to_string());
            }
        }
    }
}

/// Resident memory samples of one server.
#[derive(Debug, Default)]
struct Samples {
    first: u64,
    last: u64,
    peak: u64,
}

/// Runs the soak against servers started through `launcher`, serving a
/// copy of the store's latest bundle in `scratch`, with jobs from `replay`.
pub async fn soak(
    launcher: &Launcher,
    store: &BundleStore,
    replay: &JobReplay,
    options: &SoakOptions,
    scratch: &Path,
) -> Result<SoakReport> {
    let source = store.open_latest()?;
    let served = BundleStore::new(scratch.join("bundles"));
    republish(&served, &source, &source.manifest.version)?;
    let bundles = served.root().as_os_str();
    let edge = ServiceProcess::start(
        launcher,
        Program::Edge,
        &[
            ("RTP_EDGE_LISTEN", "127.0.0.1:0".as_ref()),
            ("RTP_EDGE_METRICS_LISTEN", "127.0.0.1:0".as_ref()),
            ("RTP_BUNDLE_DIR", bundles),
        ],
        Output::Quiet,
    )?;
    let flight = ServiceProcess::start(
        launcher,
        Program::Flight,
        &[
            ("RTP_FLIGHT_LISTEN", "127.0.0.1:0".as_ref()),
            ("RTP_FLIGHT_METRICS_LISTEN", "127.0.0.1:0".as_ref()),
            ("RTP_BUNDLE_DIR", bundles),
        ],
        Output::Quiet,
    )?;
    let edge_address = format!("http://{}", edge.authority("grpc")?);
    let flight_address = format!("http://{}", flight.authority("flight")?);
    let jobs = Arc::new(wire_jobs(replay, 2000)?);
    let (edge_tally, flight_tally) = (Arc::new(Tally::default()), Arc::new(Tally::default()));
    let started = Instant::now();
    let stop_at = started + options.duration;

    let mut tasks = Vec::new();
    for caller in 0..options.edge_callers.max(1) {
        let channel = connect(&edge_address).await?;
        tasks.push(tokio::spawn(edge_caller(
            JobRuntimePredictorClient::new(channel),
            Arc::clone(&jobs),
            caller,
            options.batch_jobs.max(1),
            stop_at,
            Arc::clone(&edge_tally),
        )));
    }
    let channel = connect(&flight_address).await?;
    tasks.push(tokio::spawn(flight_streams(
        FlightClient::new(channel.clone()),
        replay.clone(),
        options.batch_rows.max(1),
        stop_at,
        Arc::clone(&flight_tally),
    )));
    tasks.push(tokio::spawn(flight_actions(
        FlightClient::new(channel),
        stop_at,
        Arc::clone(&flight_tally),
    )));
    let republisher = tokio::task::spawn_blocking({
        let (served, source) = (served.clone(), source.clone());
        let every = options.republish_every;
        move || republish_until(&served, &source, every, stop_at)
    });

    // Memory, once a second. The first half is the warm-up: the servers'
    // memory rises over their first few model swaps (the allocator's high
    // water with two models alive) and is flat after; a leak keeps rising.
    let warm_until = started + options.duration / 2;
    let (mut edge_rss, mut flight_rss) = (Samples::default(), Samples::default());
    while Instant::now() < stop_at {
        tokio::time::sleep(Duration::from_secs(1).min(stop_at - Instant::now())).await;
        let warm = Instant::now() >= warm_until;
        for (samples, server) in [(&mut edge_rss, &edge), (&mut flight_rss, &flight)] {
            let (now, peak) = server.rss();
            samples.peak = samples.peak.max(peak);
            if warm && samples.first == 0 {
                samples.first = now;
            }
            samples.last = now;
        }
    }
    for task in tasks {
        task.await.map_err(|_| StackError::Panicked("soak load"))?;
    }
    let (republished, last_version) = republisher
        .await
        .map_err(|_| StackError::Panicked("republisher"))??;
    let seconds = started.elapsed().as_secs_f64();
    // A burst of concurrent streams, then what the servers give back; by
    // then both have had several watch intervals to pick up the last
    // version.
    let burst = burst(
        &flight_address,
        replay,
        options.burst_streams,
        options.burst_rows,
        options.batch_rows.max(1),
    )
    .await;
    flight_tally.record(
        options.burst_rows as u64 * options.burst_streams as u64,
        burst,
    );
    tokio::time::sleep(Duration::from_secs(6)).await;
    let edge_serving = serving_version(&edge).await?;
    let flight_serving = serving_version(&flight).await?;
    let row =
        |service, tally: &Tally, samples: &Samples, server: &ServiceProcess, serving| SoakRow {
            service,
            calls: tally.calls.load(Ordering::Relaxed),
            jobs: tally.jobs.load(Ordering::Relaxed),
            errors: tally.errors.load(Ordering::Relaxed),
            first_error: tally
                .first_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
            rss_first: samples.first,
            rss_last: samples.last,
            rss_peak: samples.peak,
            rss_after: server.rss().0,
            serving,
        };
    Ok(SoakReport {
        seconds,
        rows: vec![
            row(
                "edge (Predict, PredictBatch)",
                &edge_tally,
                &edge_rss,
                &edge,
                edge_serving,
            ),
            row(
                "Flight (DoExchange, DoAction)",
                &flight_tally,
                &flight_rss,
                &flight,
                flight_serving,
            ),
        ],
        republished,
        last_version,
    })
}

/// The version a server's metrics say it serves.
async fn serving_version(server: &ServiceProcess) -> Result<String> {
    let text = server.metrics_text().await?;
    text.lines()
        .filter(|l| l.contains("_model_version{"))
        .filter(|l| l.trim_end().ends_with(" 1"))
        .find_map(|l| l.split("version=\"").nth(1)?.split('"').next())
        .map(str::to_owned)
        .ok_or_else(|| StackError::Call {
            endpoint: server.program.binary().to_owned(),
            message: "its metrics name no serving model version".into(),
        })
}

/// Publishes `source` into `store` as `version`.
fn republish(store: &BundleStore, source: &LoadedBundle, version: &str) -> Result<()> {
    let staged = store.stage(version)?;
    staged.copy_from(&source.dir)?;
    let mut manifest = source.manifest.clone();
    manifest.version = version.to_owned();
    staged.publish(&manifest)?;
    Ok(())
}

/// Republishes `source` under a new version every `every` until `stop_at`;
/// returns how many were published and the last version.
fn republish_until(
    store: &BundleStore,
    source: &LoadedBundle,
    every: Duration,
    stop_at: Instant,
) -> Result<(u32, String)> {
    let mut published = 0;
    let mut last = source.manifest.version.clone();
    loop {
        let next = Instant::now() + every;
        if next >= stop_at {
            return Ok((published, last));
        }
        std::thread::sleep(next - Instant::now());
        published += 1;
        last = format!("{}-soak{published}", source.manifest.version);
        republish(store, source, &last)?;
    }
}

/// Predict in a closed loop; every tenth call a PredictBatch.
async fn edge_caller(
    mut client: JobRuntimePredictorClient<Channel>,
    jobs: Arc<Vec<JobFeatures>>,
    caller: usize,
    batch_jobs: usize,
    stop_at: Instant,
    tally: Arc<Tally>,
) {
    let mut i = caller * 997;
    while Instant::now() < stop_at {
        i += 1;
        if i.is_multiple_of(10) {
            let request = PredictBatchRequest {
                jobs: (0..batch_jobs)
                    .map(|k| jobs[(i + k) % jobs.len()].clone())
                    .collect(),
                ..Default::default()
            };
            let result = client.predict_batch(request).await;
            tally.record(batch_jobs as u64, result);
        } else {
            let request = PredictRequest {
                features: Some(jobs[i % jobs.len()].clone()),
                ..Default::default()
            };
            let result = client.predict(request).await;
            tally.record(1, result);
        }
    }
}

/// DoExchange streams of four batches, one after another.
async fn flight_streams(
    mut client: FlightClient,
    replay: JobReplay,
    batch_rows: usize,
    stop_at: Instant,
    tally: Arc<Tally>,
) {
    let mut next_row = 0u64;
    while Instant::now() < stop_at {
        let batches: Vec<_> = (0..4)
            .map(|k| {
                replay.batch(
                    next_row + k * batch_rows as u64,
                    batch_rows,
                    replay.span_s(),
                )
            })
            .collect();
        next_row += 4 * batch_rows as u64;
        let result = exchange_whole(&mut client, batches).await;
        tally.record(4 * batch_rows as u64, result);
    }
}

/// `streams` DoExchange calls at once, each of `rows` rows; all must come
/// back whole.
async fn burst(
    address: &str,
    replay: &JobReplay,
    streams: usize,
    rows: usize,
    batch_rows: usize,
) -> std::result::Result<(), String> {
    let mut calls = Vec::new();
    for stream in 0..streams {
        let channel = connect(address).await.map_err(|e| e.to_string())?;
        let batches: Vec<_> = (0..rows.div_ceil(batch_rows))
            .map(|k| {
                let at = (stream * rows + k * batch_rows) as u64;
                replay.batch(at, batch_rows.min(rows - k * batch_rows), replay.span_s())
            })
            .collect();
        calls.push(tokio::spawn(async move {
            exchange_whole(&mut FlightClient::new(channel), batches).await
        }));
    }
    for call in calls {
        match call.await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(format!("a burst stream: {e}")),
            Err(_) => return Err("a burst stream panicked".into()),
        }
    }
    Ok(())
}

/// One DoExchange of `batches`; every row must come back.
async fn exchange_whole(
    client: &mut FlightClient,
    batches: Vec<RecordBatch>,
) -> std::result::Result<usize, String> {
    let sent: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let input =
        FlightDataEncoderBuilder::new().build(futures::stream::iter(batches.into_iter().map(Ok)));
    let scored: Vec<RecordBatch> = async { client.do_exchange(input).await?.try_collect().await }
        .await
        .map_err(|e: arrow_flight::error::FlightError| e.to_string())?;
    match scored.iter().map(RecordBatch::num_rows).sum() {
        rows if rows == sent => Ok(rows),
        rows => Err(format!("{rows} rows came back for {sent} sent")),
    }
}

/// The model's manifest and a reload, every half second.
async fn flight_actions(mut client: FlightClient, stop_at: Instant, tally: Arc<Tally>) {
    let mut k = 0u64;
    while Instant::now() < stop_at {
        k += 1;
        let kind = if k.is_multiple_of(2) {
            "reload"
        } else {
            "model-info"
        };
        let result = async {
            client
                .do_action(Action::new(kind, ""))
                .await?
                .try_collect::<Vec<_>>()
                .await
        }
        .await;
        tally.record(0, result);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The table `rtp bench soak` prints.
pub fn render_soak_table(report: &SoakReport) -> String {
    let mut out = format!(
        "{:<32} {:>9} {:>11} {:>7} {:>27} {:>10}  {}\n",
        "server", "calls", "jobs", "errors", "RSS MiB warm → last (peak)", "after", "serving"
    );
    for r in &report.rows {
        out.push_str(&format!(
            "{:<32} {:>9} {:>11} {:>7} {:>12} → {:>5} ({:>5}) {:>10}  {}\n",
            r.service,
            r.calls,
            r.jobs,
            r.errors,
            r.rss_first >> 20,
            r.rss_last >> 20,
            r.rss_peak >> 20,
            r.rss_after >> 20,
            r.serving,
        ));
    }
    out.push_str(&format!(
        "bundle republished {} times under load, the last as {}\n",
        report.republished, report.last_version
    ));
    out
}
