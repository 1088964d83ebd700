//! `rtp bench flight`: end-to-end throughput of bulk scoring through the
//! Flight server, against scoring the same rows in-process and against
//! LightGBM's own batch predictor on the same rows, in the same run.
//!
//! The server runs as a child process (`rtp serve flight`), so its CPU
//! time and memory are its own. Jobs are a pool of generated
//! Eagle-shaped jobs, replayed with submit times moved forward so that the
//! stream stays one submission sequence of any length.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::TimestampSecondType;
use rtp_bundle::{BundleStore, MemberKind};
use rtp_scoring::{AdviceOptions, Overlay, Scorer};

use crate::client::connect;
use crate::error::{Result, StackError};
use crate::process::{Output, ServiceProcess};
use crate::program::{Launcher, Program};
use crate::replay::JobReplay;

/// A second predictor of the bundle's LightGBM p50 model (LightGBM's own
/// batch predictor), timed beside the native engine on the same inputs.
pub trait ReferenceModel {
    /// Predicts `rows` rows from `values`: the feature columns in the
    /// model's order, one after another.
    fn predict(&self, values: Vec<f32>, rows: usize) -> std::result::Result<(), String>;
}

/// Builds a [`ReferenceModel`] from a LightGBM model's text.
pub type ReferenceLoader<'a> =
    &'a dyn Fn(&str) -> std::result::Result<Box<dyn ReferenceModel>, String>;

/// One measured path.
#[derive(Debug, Clone)]
pub struct FlightBenchRow {
    /// What was measured.
    pub path: String,
    /// Rows per second.
    pub rows_per_s: f64,
    /// Relative to in-process scoring of the same rows.
    pub vs_in_process: f64,
    /// The server's CPU seconds and where the stream's time went, when a
    /// server was involved.
    pub server: Option<ServerCost>,
}

/// What a stream cost the server. A stream's batches go one after another
/// through decoding, features, the model and encoding, so the feature and
/// model seconds (wall time; the model runs on every core) are shares of
/// the stream's wall time, and the rest is transport and waiting.
#[derive(Debug, Clone, Copy)]
pub struct ServerCost {
    /// Wall seconds of the stream.
    pub wall_s: f64,
    /// CPU seconds (user + system) of the server process.
    pub cpu_s: f64,
    /// Seconds computing features.
    pub features_s: f64,
    /// Seconds in the model.
    pub model_s: f64,
    /// Resident memory when the run started, bytes.
    pub rss_start: u64,
    /// Peak resident memory at the end, bytes.
    pub rss_peak: u64,
}

/// What `rtp bench flight` measures.
#[derive(Debug, Clone)]
pub struct FlightBenchOptions {
    /// Rows streamed per path.
    pub rows: u64,
    /// Rows per batch.
    pub batch_rows: usize,
    /// Python interpreter with pyarrow, for the pyarrow client line.
    pub python: Option<PathBuf>,
    /// The pyarrow benchmark script.
    pub python_script: PathBuf,
}

/// Runs every path on the same rows; returns the table and a summary line.
pub async fn bench_flight(
    launcher: &Launcher,
    store: &BundleStore,
    replay: &JobReplay,
    work: &Path,
    options: &FlightBenchOptions,
    reference: Option<ReferenceLoader<'_>>,
) -> Result<(Vec<FlightBenchRow>, String)> {
    let bundle = store.open_latest()?;
    let offset_s = bundle.manifest.training.history_until_s - replay_start(replay) + 3600;
    let scorer = Scorer::load(bundle, AdviceOptions::default()).await?;
    let batches = options.rows.div_ceil(options.batch_rows as u64);
    let batch_at = |i: u64| {
        let len =
            (options.rows - i * options.batch_rows as u64).min(options.batch_rows as u64) as usize;
        replay.batch(i * options.batch_rows as u64, len, offset_s)
    };

    // In-process: the scoring core alone on the same batches.
    let mut overlay = Overlay::default();
    let started = Instant::now();
    let mut model_only = Duration::ZERO;
    for i in 0..batches {
        let batch = batch_at(i);
        let scored = scorer.score(&batch, &mut overlay)?;
        model_only += scored.timings.model;
    }
    let in_process = options.rows as f64 / started.elapsed().as_secs_f64();
    let mut rows = vec![FlightBenchRow {
        path: "in-process Scorer::score (features + model)".into(),
        rows_per_s: in_process,
        vs_in_process: 1.0,
        server: None,
    }];

    // References on the same rows: the LightGBM p50 model alone, natively
    // and through LightGBM's own batch predictor.
    let (native_p50, lightgbm3_p50) =
        p50_references(&scorer, &batch_at, batches, store, reference)?;
    for (path, secs) in [
        ("native engine, LightGBM p50 model only", native_p50),
        (
            "lightgbm3 batch predict, LightGBM p50 model only",
            lightgbm3_p50,
        ),
    ] {
        if let Some(secs) = secs {
            let r = options.rows as f64 / secs;
            rows.push(FlightBenchRow {
                path: path.into(),
                rows_per_s: r,
                vs_in_process: r / in_process,
                server: None,
            });
        }
    }

    let server = ServiceProcess::start(
        launcher,
        Program::Flight,
        &[
            ("RTP_FLIGHT_LISTEN", "127.0.0.1:0".as_ref()),
            ("RTP_FLIGHT_METRICS_LISTEN", "127.0.0.1:0".as_ref()),
            ("RTP_BUNDLE_DIR", store.root().as_os_str()),
        ],
        Output::Quiet,
    )?;
    let address = server.authority("flight")?.to_owned();
    // Rust client.
    let measured = measure(&server, || async {
        stream_rust(&address, batches, &batch_at).await
    })
    .await?;
    rows.push(FlightBenchRow {
        path: "Flight DoExchange, Rust client".into(),
        rows_per_s: options.rows as f64 / measured.0,
        vs_in_process: options.rows as f64 / measured.0 / in_process,
        server: Some(measured.1),
    });
    // pyarrow client.
    if let Some(python) = &options.python {
        let pool = work.join("bench_pool.parquet");
        replay.write_pool(&pool)?;
        let measured = measure(&server, || async {
            run_python(
                python,
                &options.python_script,
                &address,
                &pool,
                options,
                offset_s,
                replay.span_s(),
            )
        })
        .await?;
        rows.push(FlightBenchRow {
            path: "Flight DoExchange, pyarrow client".into(),
            rows_per_s: options.rows as f64 / measured.0,
            vs_in_process: options.rows as f64 / measured.0 / in_process,
            server: Some(measured.1),
        });
    }
    let members: Vec<&str> = scorer
        .manifest()
        .members
        .iter()
        .map(|m| m.kind.name())
        .collect();
    let summary = format!(
        "rtp bench flight: {} rows in batches of {}, bundle {} ({}; {} features), {} threads available; model-only time in-process {:.2} s",
        options.rows,
        options.batch_rows,
        scorer.version(),
        members.join("+"),
        scorer.manifest().features.len(),
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        model_only.as_secs_f64(),
    );
    Ok((rows, summary))
}

fn replay_start(replay: &JobReplay) -> i64 {
    replay
        .batch(0, 1, 0)
        .column_by_name("submit_time")
        .expect("client column")
        .as_primitive::<TimestampSecondType>()
        .value(0)
}

/// Seconds of the LightGBM p50 model alone on every batch: native engine,
/// and the reference (when the bundle has a LightGBM member).
fn p50_references(
    scorer: &Scorer,
    batch_at: &dyn Fn(u64) -> RecordBatch,
    batches: u64,
    store: &BundleStore,
    reference: Option<ReferenceLoader<'_>>,
) -> Result<(Option<f64>, Option<f64>)> {
    let manifest = scorer.manifest();
    let Some((m, spec)) = manifest
        .members
        .iter()
        .enumerate()
        .find(|(_, s)| s.kind == MemberKind::Lightgbm)
    else {
        return Ok((None, None));
    };
    let Some(q) = scorer.ensemble().quantiles().iter().position(|&q| q == 0.5) else {
        return Ok((None, None));
    };
    let member = &scorer.ensemble().members()[m];
    let forest = &member.forests[q];
    let file = &spec
        .models
        .iter()
        .find(|x| x.quantile == 0.5)
        .expect("p50 model")
        .file;
    let dir = store.root().join(&manifest.version);
    let booster = match reference {
        Some(load) => {
            let text =
                std::fs::read_to_string(dir.join(file)).map_err(StackError::io(dir.join(file)))?;
            Some(load(&text).map_err(StackError::Reference)?)
        }
        None => None,
    };
    let mut overlay = Overlay::default();
    let (mut native, mut lightgbm3) = (Duration::ZERO, Duration::ZERO);
    for i in 0..batches {
        let batch = batch_at(i);
        let features = scorer.features(&batch, &mut overlay)?;
        let columns = scorer.model_inputs(&features)?;
        let inputs: Vec<&[f32]> = member
            .inputs
            .iter()
            .map(|&j| columns[j].as_slice())
            .collect();
        let n = features.num_rows();
        let mut out = vec![0.0; n];
        let started = Instant::now();
        forest
            .predict_columns(&inputs, &mut out)
            .map_err(|e| StackError::Reference(format!("native engine: {e}")))?;
        native += started.elapsed();
        if let Some(booster) = &booster {
            let values = inputs.iter().flat_map(|c| c.iter().copied()).collect();
            let started = Instant::now();
            booster.predict(values, n).map_err(StackError::Reference)?;
            lightgbm3 += started.elapsed();
        }
    }
    Ok((
        Some(native.as_secs_f64()),
        booster.map(|_| lightgbm3.as_secs_f64()),
    ))
}

/// The server's feature and model seconds, summed over every batch.
const SCORING_SECONDS: [&str; 2] = [
    "rtp_flight_feature_seconds_total",
    "rtp_flight_model_seconds_total",
];

/// Wall seconds of `run` and what the server spent meanwhile.
async fn measure<F, Fut>(server: &ServiceProcess, run: F) -> Result<(f64, ServerCost)>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let [features0, model0] = server.metric_values(SCORING_SECONDS).await?;
    let cpu0 = server.cpu_seconds();
    server.reset_peak();
    let (rss_start, _) = server.rss();
    let started = Instant::now();
    run().await?;
    let wall = started.elapsed().as_secs_f64();
    let [features1, model1] = server.metric_values(SCORING_SECONDS).await?;
    let (_, rss_peak) = server.rss();
    Ok((
        wall,
        ServerCost {
            wall_s: wall,
            cpu_s: server.cpu_seconds() - cpu0,
            features_s: features1 - features0,
            model_s: model1 - model0,
            rss_start,
            rss_peak,
        },
    ))
}

async fn stream_rust(
    address: &str,
    batches: u64,
    batch_at: &(dyn Fn(u64) -> RecordBatch + Sync),
) -> Result<()> {
    use futures::TryStreamExt;
    let mut client = arrow_flight::FlightClient::new(connect(&format!("http://{address}")).await?);
    // Batches are made a few ahead of the stream, as a client reading
    // them from disk would.
    let (tx, rx) = tokio::sync::mpsc::channel::<RecordBatch>(2);
    let produce = async move {
        for i in 0..batches {
            if tx.send(batch_at(i)).await.is_err() {
                break;
            }
        }
    };
    let input = arrow_flight::encode::FlightDataEncoderBuilder::new().build(
        futures::StreamExt::map(tokio_stream::wrappers::ReceiverStream::new(rx), Ok),
    );
    let consume = async {
        let mut out = client
            .do_exchange(input)
            .await
            .map_err(StackError::call(address))?;
        let mut rows = 0usize;
        while let Some(batch) = out.try_next().await.map_err(StackError::call(address))? {
            rows += batch.num_rows();
        }
        Ok::<usize, StackError>(rows)
    };
    let ((), rows) = futures::join!(produce, consume);
    if rows? == 0 {
        return Err(StackError::call(address)("the server returned no rows"));
    }
    Ok(())
}

fn run_python(
    python: &Path,
    script: &Path,
    address: &str,
    pool: &Path,
    options: &FlightBenchOptions,
    offset_s: i64,
    span_s: i64,
) -> Result<()> {
    let output = Command::new(python)
        .arg(script)
        .args(["--location", &format!("grpc://{address}")])
        .args(["--rows", &options.rows.to_string()])
        .args(["--batch-rows", &options.batch_rows.to_string()])
        .args(["--pool", &pool.display().to_string()])
        .args(["--offset-s", &offset_s.to_string()])
        .args(["--span-s", &span_s.to_string()])
        .output()
        .map_err(StackError::io(python))?;
    if !output.status.success() {
        return Err(StackError::Client {
            program: script.to_owned(),
            message: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    Ok(())
}

/// The table `rtp bench flight` prints. Features, model and transport (with
/// waiting on the client) are shares of each stream's wall time.
pub fn render_flight_table(rows: &[FlightBenchRow]) -> String {
    let mut out = format!(
        "{:<52} {:>12} {:>8} {:>10} {:>9} {:>7} {:>10} {:>17}\n",
        "path", "rows/s", "vs in-p", "server CPU", "features", "model", "transport", "server RSS"
    );
    for r in rows {
        out.push_str(&format!(
            "{:<52} {:>12.0} {:>8.2}",
            r.path, r.rows_per_s, r.vs_in_process
        ));
        if let Some(s) = r.server {
            let share = |x: f64| 100.0 * x / s.wall_s.max(1e-9);
            let transport = (s.wall_s - s.features_s - s.model_s).max(0.0);
            out.push_str(&format!(
                " {:>9.1}s {:>8.0}% {:>6.0}% {:>9.0}% {:>6} → {:>6} MiB",
                s.cpu_s,
                share(s.features_s),
                share(s.model_s),
                share(transport),
                s.rss_start >> 20,
                s.rss_peak >> 20
            ));
        }
        out.push('\n');
    }
    out
}
