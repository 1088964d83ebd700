//! `rtp bench edge`: closed-loop load on the gRPC edge over loopback, with
//! throughput and latency percentiles per call mode and concurrency, and
//! in-process scoring of the same jobs as the baseline of the same run.
//!
//! The edge runs as a child process (`rtp serve edge`). Each
//! worker has its own connection and sends its next call as soon as the
//! last one is answered (closed loop), like submit tooling would. Jobs are
//! generated Eagle-shaped jobs submitted after the bundle's history.

use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::RecordBatch;
use futures::StreamExt;
use rtp_bundle::BundleStore;
use rtp_edge_api::job_request::wire_from_job;
use rtp_jobs::Job;
use rtp_jobs::JobColumns;
use rtp_proto::v1::job_runtime_predictor_client::JobRuntimePredictorClient;
use rtp_proto::v1::{JobFeatures, PredictBatchRequest, PredictRequest};
use rtp_scoring::job_input::conform;
use rtp_scoring::{AdviceOptions, Overlay, Scorer};
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

use crate::client::connect;
use crate::error::{Result, StackError};
use crate::process::{Output, ServiceProcess};
use crate::program::{Launcher, Program};
use crate::replay::JobReplay;

/// What to measure.
#[derive(Debug, Clone)]
pub struct EdgeBenchOptions {
    /// Concurrent callers, one measurement per value.
    pub concurrency: Vec<usize>,
    /// Measured time per mode and concurrency.
    pub duration: Duration,
    /// Unmeasured time before each measurement (connections, caches).
    pub warmup: Duration,
    /// Jobs per PredictBatch call.
    pub batch_jobs: usize,
    /// The edge's worker threads (0 = one per core).
    pub server_threads: usize,
    /// The load generator's threads.
    pub client_threads: usize,
    /// Contributions per prediction, for the edge and the baseline.
    pub top_contributions: usize,
}

/// One measured mode at one concurrency.
#[derive(Debug, Clone)]
pub struct EdgeBenchRow {
    /// Call mode.
    pub mode: String,
    /// Concurrent callers.
    pub concurrency: usize,
    /// Calls answered in the measured time.
    pub calls: u64,
    /// Jobs predicted per second.
    pub predictions_per_s: f64,
    /// Latency percentiles of a call (or stream message), microseconds:
    /// p50, p90, p99, p99.9.
    pub latency_us: [f64; 4],
}

/// Jobs of the replay as the wire carries them, after the pool's span so
/// they follow the bundle's history.
pub fn wire_jobs(replay: &JobReplay, count: usize) -> Result<Vec<JobFeatures>> {
    let batch = replay.batch(0, count, replay.span_s());
    jobs_from_batch(&batch)
}

/// The wire messages of a batch of client columns: conformed to the job
/// schema, each row read as a job and written as the wire spells it.
fn jobs_from_batch(batch: &RecordBatch) -> Result<Vec<JobFeatures>> {
    let conformed = conform(batch, 0)?;
    if let Some((row, reason)) = conformed
        .errors
        .iter()
        .enumerate()
        .find_map(|(row, e)| e.as_ref().map(|e| (row, e)))
    {
        return Err(StackError::JobPool(format!(
            "holds a job the edge would refuse (row {row}): {reason}"
        )));
    }
    let columns = JobColumns::new(&conformed.batch)
        .map_err(|e| StackError::JobPool(format!("cannot be read as jobs: {e}")))?;
    Ok((0..conformed.batch.num_rows())
        .map(|row| wire_from_job(&columns.job(row)))
        .collect())
}

/// Runs every mode at every concurrency against an edge serving the
/// store's latest bundle, and the in-process baseline.
pub async fn bench_edge(
    launcher: &Launcher,
    store: &BundleStore,
    replay: &JobReplay,
    count: usize,
    options: &EdgeBenchOptions,
) -> Result<(Vec<EdgeBenchRow>, String)> {
    let jobs = Arc::new(wire_jobs(replay, count)?);
    let mut rows = Vec::new();
    for top in [options.top_contributions, 0] {
        for form in [InProcess::OneRowBatch, InProcess::RowForm] {
            rows.push(in_process(store, replay, count, top, form, options).await?);
        }
    }
    let top = options.top_contributions.to_string();
    let server_threads = options.server_threads.to_string();
    let server = ServiceProcess::start(
        launcher,
        Program::Edge,
        &[
            ("RTP_EDGE_LISTEN", "127.0.0.1:0".as_ref()),
            ("RTP_EDGE_METRICS_LISTEN", "127.0.0.1:0".as_ref()),
            ("RTP_BUNDLE_DIR", store.root().as_os_str()),
            ("RTP_EDGE_TOP_CONTRIBUTIONS", top.as_ref()),
            ("RTP_EDGE_WORKER_THREADS", server_threads.as_ref()),
        ],
        Output::Quiet,
    )?;
    let endpoint = format!("http://{}", server.authority("grpc")?);
    let modes = [
        Mode::Floor,
        Mode::Unary(true),
        Mode::Unary(false),
        Mode::Stream,
        Mode::Batch(options.batch_jobs.max(1), true),
        Mode::Batch(options.batch_jobs.max(1), false),
    ];
    for mode in modes {
        for &c in &options.concurrency {
            let load = measure(&endpoint, mode, c.max(1), &jobs, options);
            rows.push(on_load_runtime(options.client_threads, load)??);
        }
    }
    let cpu = server.cpu_seconds();
    let summary = format!(
        "rtp bench edge: {} distinct jobs, top {} contributions; {} server thread(s), {} load thread(s); {:.1} s per line after {:.1} s warm-up, {} threads available; server CPU {cpu:.1} s in total",
        jobs.len(),
        options.top_contributions,
        options.server_threads,
        options.client_threads,
        options.duration.as_secs_f64(),
        options.warmup.as_secs_f64(),
        std::thread::available_parallelism().map_or(1, |n| n.get()),
    );
    Ok((rows, summary))
}

/// Runs `load` on a runtime of its own with `threads` workers (1: a
/// single-threaded runtime), so the load generator's share of the machine
/// is chosen, not whatever the caller's runtime has.
fn on_load_runtime<T: Send>(
    threads: usize,
    load: impl std::future::Future<Output = T> + Send,
) -> Result<T> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let runtime = if threads <= 1 {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                } else {
                    tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(threads)
                        .enable_all()
                        .build()
                };
                runtime
                    .map(|r| r.block_on(load))
                    .map_err(StackError::io("the load generator's runtime"))
            })
            .join()
            .map_err(|_| StackError::Panicked("load generator"))?
    })
}

#[derive(Debug, Clone, Copy)]
enum Mode {
    /// The standard health Check on the same connections: what a call
    /// costs with no scoring at all, the floor under every Predict.
    Floor,
    /// Predict, with or without contributions.
    Unary(bool),
    Stream,
    /// PredictBatch of this many jobs, with or without contributions.
    Batch(usize, bool),
}

impl Mode {
    fn name(self) -> String {
        match self {
            Self::Floor => "grpc.health.v1 Check (no scoring)".into(),
            Self::Unary(true) => "Predict".into(),
            Self::Unary(false) => "Predict, explain=false".into(),
            Self::Stream => "PredictStream (1 in flight per stream)".into(),
            Self::Batch(n, true) => format!("PredictBatch ({n} jobs per call)"),
            Self::Batch(n, false) => format!("PredictBatch ({n} jobs), explain=false"),
        }
    }

    fn jobs_per_call(self) -> usize {
        match self {
            Self::Batch(n, _) => n,
            _ => 1,
        }
    }
}

/// How the in-process baseline scores a single job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InProcess {
    /// `Scorer::score_explained` on a one-row batch (the vectorised path).
    OneRowBatch,
    /// `Scorer::score_job`, the feature SQL in row form (what Predict does).
    RowForm,
}

/// Single-job scoring on this thread, from the same jobs as Arrow rows (no
/// wire conversion).
async fn in_process(
    store: &BundleStore,
    replay: &JobReplay,
    count: usize,
    top: usize,
    form: InProcess,
    options: &EdgeBenchOptions,
) -> Result<EdgeBenchRow> {
    let scorer = Scorer::load_latest(store, AdviceOptions::default()).await?;
    let rows: Vec<RecordBatch> = (0..count.min(4096) as u64)
        .map(|i| replay.batch(i, 1, replay.span_s()))
        .collect();
    let conformed = rows
        .iter()
        .map(|r| conform(r, 0).map(|c| c.batch))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let jobs = conformed
        .iter()
        .map(|r| Job::from_batch(r, 0))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| StackError::JobPool(format!("holds a job that cannot be read: {e}")))?;
    let mut latencies = Vec::new();
    let warm_until = Instant::now() + options.warmup;
    let deadline = warm_until + options.duration;
    let mut i = 0;
    loop {
        let started = Instant::now();
        if started >= deadline {
            break;
        }
        match form {
            InProcess::OneRowBatch => {
                scorer.score_explained(&rows[i % rows.len()], &mut Overlay::default(), top)?;
            }
            InProcess::RowForm => {
                scorer.score_job(&jobs[i % jobs.len()], &mut Overlay::default(), top)?;
            }
        }
        if started >= warm_until {
            latencies.push(started.elapsed().as_nanos() as u64);
        }
        i += 1;
    }
    let how = match form {
        InProcess::OneRowBatch => "one-row batch",
        InProcess::RowForm => "row form",
    };
    let mode = format!("in-process, 1 job, {how}, top {top} contributions");
    Ok(row(mode, 1, 1, latencies, options.duration))
}

async fn measure(
    endpoint: &str,
    mode: Mode,
    concurrency: usize,
    jobs: &Arc<Vec<JobFeatures>>,
    options: &EdgeBenchOptions,
) -> Result<EdgeBenchRow> {
    let mut channels = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        channels.push(connect(endpoint).await?);
    }
    let warm_until = Instant::now() + options.warmup;
    let deadline = warm_until + options.duration;
    let workers: Vec<_> = channels
        .into_iter()
        .enumerate()
        .map(|(w, channel)| {
            let jobs = Arc::clone(jobs);
            let first = w * jobs.len() / concurrency;
            tokio::spawn(async move {
                let client = JobRuntimePredictorClient::new(channel.clone());
                match mode {
                    Mode::Floor => health(HealthClient::new(channel), warm_until, deadline).await,
                    Mode::Unary(explain) => {
                        unary(client, &jobs, first, explain, warm_until, deadline).await
                    }
                    Mode::Stream => stream(client, &jobs, first, warm_until, deadline).await,
                    Mode::Batch(n, explain) => {
                        batch(client, &jobs, first, n, explain, warm_until, deadline).await
                    }
                }
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for worker in workers {
        let part = worker
            .await
            .map_err(|_| StackError::Panicked("load worker"))?
            .map_err(|e| StackError::Call {
                endpoint: endpoint.to_owned(),
                message: format!("{}: {e}", mode.name()),
            })?;
        latencies.extend(part);
    }
    Ok(row(
        mode.name(),
        concurrency,
        mode.jobs_per_call(),
        latencies,
        options.duration,
    ))
}

pub(crate) type Latencies = std::result::Result<Vec<u64>, tonic::Status>;

pub(crate) async fn unary(
    mut client: JobRuntimePredictorClient<Channel>,
    jobs: &[JobFeatures],
    first: usize,
    explain: bool,
    warm_until: Instant,
    deadline: Instant,
) -> Latencies {
    let mut latencies = Vec::new();
    for i in first.. {
        let started = Instant::now();
        if started >= deadline {
            break;
        }
        let request = PredictRequest {
            features: Some(jobs[i % jobs.len()].clone()),
            request_id: i.to_string(),
            explain: Some(explain),
            ..Default::default()
        };
        client.predict(request).await?;
        if started >= warm_until {
            latencies.push(started.elapsed().as_nanos() as u64);
        }
    }
    Ok(latencies)
}

async fn health(
    mut client: HealthClient<Channel>,
    warm_until: Instant,
    deadline: Instant,
) -> Latencies {
    let mut latencies = Vec::new();
    loop {
        let started = Instant::now();
        if started >= deadline {
            break;
        }
        client.check(HealthCheckRequest::default()).await?;
        if started >= warm_until {
            latencies.push(started.elapsed().as_nanos() as u64);
        }
    }
    Ok(latencies)
}

async fn stream(
    mut client: JobRuntimePredictorClient<Channel>,
    jobs: &[JobFeatures],
    first: usize,
    warm_until: Instant,
    deadline: Instant,
) -> Latencies {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let mut responses = client
        .predict_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await?
        .into_inner();
    let mut latencies = Vec::new();
    for i in first.. {
        let started = Instant::now();
        if started >= deadline {
            break;
        }
        let request = PredictRequest {
            features: Some(jobs[i % jobs.len()].clone()),
            request_id: i.to_string(),
            ..Default::default()
        };
        if tx.send(request).await.is_err() {
            return Err(tonic::Status::unavailable("the stream closed"));
        }
        match responses.next().await {
            Some(answer) => {
                let answer = answer?;
                if !answer.error.is_empty() {
                    return Err(tonic::Status::invalid_argument(answer.error));
                }
            }
            None => return Err(tonic::Status::unavailable("the stream ended")),
        }
        if started >= warm_until {
            latencies.push(started.elapsed().as_nanos() as u64);
        }
    }
    Ok(latencies)
}

async fn batch(
    mut client: JobRuntimePredictorClient<Channel>,
    jobs: &[JobFeatures],
    first: usize,
    size: usize,
    explain: bool,
    warm_until: Instant,
    deadline: Instant,
) -> Latencies {
    let mut latencies = Vec::new();
    let mut at = first;
    loop {
        let started = Instant::now();
        if started >= deadline {
            break;
        }
        let request = PredictBatchRequest {
            jobs: (at..at + size)
                .map(|i| jobs[i % jobs.len()].clone())
                .collect(),
            batch_id: at.to_string(),
            max_parallel: 0,
            explain: Some(explain),
        };
        let answer = client.predict_batch(request).await?.into_inner();
        if answer.failed_predictions > 0 {
            return Err(tonic::Status::invalid_argument(answer.errors.join("; ")));
        }
        if started >= warm_until {
            latencies.push(started.elapsed().as_nanos() as u64);
        }
        at += size;
    }
    Ok(latencies)
}

pub(crate) fn row(
    mode: String,
    concurrency: usize,
    jobs_per_call: usize,
    mut latencies: Vec<u64>,
    duration: Duration,
) -> EdgeBenchRow {
    latencies.sort_unstable();
    let pct = |p: f64| {
        if latencies.is_empty() {
            return f64::NAN;
        }
        let rank = ((p * latencies.len() as f64).ceil() as usize).clamp(1, latencies.len());
        latencies[rank - 1] as f64 / 1e3
    };
    EdgeBenchRow {
        mode,
        concurrency,
        calls: latencies.len() as u64,
        predictions_per_s: (latencies.len() * jobs_per_call) as f64 / duration.as_secs_f64(),
        latency_us: [pct(0.5), pct(0.9), pct(0.99), pct(0.999)],
    }
}

/// The rows as a text table.
pub fn render_edge_table(rows: &[EdgeBenchRow]) -> String {
    let baseline = rows.first().map_or(f64::NAN, |r| r.predictions_per_s);
    let mut out = format!(
        "{:<40} {:>4} {:>9} {:>13} {:>8} {:>9} {:>9} {:>9} {:>9}\n",
        "mode",
        "conc",
        "calls",
        "predictions/s",
        "vs in-p",
        "p50 µs",
        "p90 µs",
        "p99 µs",
        "p99.9 µs"
    );
    for r in rows {
        let [p50, p90, p99, p999] = r.latency_us;
        out.push_str(&format!(
            "{:<40} {:>4} {:>9} {:>13.0} {:>8.2} {:>9.0} {:>9.0} {:>9.0} {:>9.0}\n",
            r.mode,
            r.concurrency,
            r.calls,
            r.predictions_per_s,
            r.predictions_per_s / baseline,
            p50,
            p90,
            p99,
            p999
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let r = row(
            "m".into(),
            1,
            2,
            (1..=1000).map(|i| i * 1000).collect(),
            Duration::from_secs(1),
        );
        assert_eq!(r.latency_us, [500.0, 900.0, 990.0, 999.0]);
        assert_eq!(r.predictions_per_s, 2000.0);
        assert_eq!(r.calls, 1000);
    }
}
