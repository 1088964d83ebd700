//! `rtp bench flight`: end-to-end throughput of bulk scoring through the
//! Flight server, against scoring the same rows in-process and against
//! LightGBM's own batch predictor on the same rows, in the same run.
//!
//! The server runs as its own process (`rtp-flight-server` beside `rtp`),
//! so its CPU time and memory are its own. Jobs are a pool of generated
//! Eagle-shaped jobs, replayed with submit times moved forward so that the
//! stream stays one submission sequence of any length.

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::{ArrayRef, AsArray, RecordBatch, TimestampSecondArray};
use datafusion::arrow::compute::{
    SortColumn, concat_batches, lexsort_to_indices, take_record_batch,
};
use datafusion::arrow::datatypes::TimestampSecondType;
use datafusion::parquet::arrow::ArrowWriter;
use rtp_bundle::{BundleStore, MemberKind};
use rtp_scoring::{AdviceOptions, Overlay, Scorer};

use rtp_service_support::Ready;

use crate::error::{PipelineError, Result};
use crate::lgbm::{Booster, ColumnMajor};

/// Columns a client sends: the job as known at submit.
const CLIENT_COLUMNS: [&str; 13] = [
    "job_key",
    "job_id",
    "user",
    "account",
    "partition",
    "qos",
    "submit_time",
    "wallclock_req_s",
    "nodes_req",
    "processors_req",
    "gpus_req",
    "mem_req_mb",
    "name",
];

/// Replays a pool of jobs as an endless submission sequence.
#[derive(Debug, Clone)]
pub struct JobReplay {
    pool: RecordBatch,
    span_s: i64,
}

impl JobReplay {
    /// The client columns of a canonical job table, in submission order.
    pub fn from_job_table(path: &Path) -> Result<Self> {
        let context = || format!("reading {}", path.display());
        let schema = rtp_jobs::job_schema();
        let batches = crate::job_table::read_job_table(path)?;
        let all = concat_batches(&schema, &batches).map_err(PipelineError::arrow(context()))?;
        let indices: Vec<usize> = CLIENT_COLUMNS
            .iter()
            .map(|c| schema.index_of(c))
            .collect::<std::result::Result<_, _>>()
            .map_err(PipelineError::arrow(context()))?;
        let all = all
            .project(&indices)
            .map_err(PipelineError::arrow(context()))?;
        let key = |name: &str| SortColumn {
            values: Arc::clone(all.column_by_name(name).expect("projected column")),
            options: None,
        };
        let order = lexsort_to_indices(&[key("submit_time"), key("job_key")], None)
            .map_err(PipelineError::arrow(context()))?;
        let pool = take_record_batch(&all, &order).map_err(PipelineError::arrow(context()))?;
        let submit = pool
            .column_by_name("submit_time")
            .expect("projected column")
            .as_primitive::<TimestampSecondType>();
        let span_s = submit.value(submit.len() - 1) - submit.value(0) + 60;
        Ok(Self { pool, span_s })
    }

    /// Writes the pool for other clients (the pyarrow benchmark).
    pub fn write_pool(&self, path: &Path) -> Result<()> {
        let file = std::fs::File::create(path).map_err(PipelineError::io(path))?;
        let mut w = ArrowWriter::try_new(file, self.pool.schema(), None)
            .map_err(PipelineError::arrow(format!("writing {}", path.display())))?;
        w.write(&self.pool)
            .and_then(|_| w.close().map(drop))
            .map_err(PipelineError::arrow(format!("writing {}", path.display())))
    }

    /// The pool's span, seconds: each replay cycle starts this much later.
    pub fn span_s(&self) -> i64 {
        self.span_s
    }

    /// Rows `start..start + len` of the endless replay, after `offset_s`.
    pub fn batch(&self, start: u64, len: usize, offset_s: i64) -> RecordBatch {
        let n = self.pool.num_rows() as u64;
        let mut parts = Vec::new();
        let mut at = start;
        let end = start + len as u64;
        while at < end {
            let cycle = at / n;
            let from = (at % n) as usize;
            let take = ((n - at % n).min(end - at)) as usize;
            let slice = self.pool.slice(from, take);
            parts.push(self.shifted(
                &slice,
                offset_s + cycle as i64 * self.span_s,
                at as i64 - from as i64,
            ));
            at += take as u64;
        }
        concat_batches(&self.pool.schema(), &parts).expect("same schema")
    }

    fn shifted(&self, slice: &RecordBatch, shift_s: i64, key_shift: i64) -> RecordBatch {
        let mut columns: Vec<ArrayRef> = slice.columns().to_vec();
        let schema = slice.schema();
        let submit = schema.index_of("submit_time").expect("client column");
        let t = columns[submit].as_primitive::<TimestampSecondType>();
        columns[submit] = Arc::new(TimestampSecondArray::from_iter(
            t.iter().map(|v| v.map(|v| v + shift_s)),
        ));
        let key = schema.index_of("job_key").expect("client column");
        let k = columns[key].as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        columns[key] = Arc::new(datafusion::arrow::array::Int64Array::from_iter(
            k.iter().map(|v| v.map(|v| v + key_shift)),
        ));
        RecordBatch::try_new(schema, columns).expect("same schema")
    }
}

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

/// A gRPC server (Flight or the edge) in a child process.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    /// Its gRPC address.
    pub grpc: String,
    /// Its metrics address.
    pub metrics: String,
}

impl ServerProcess {
    /// Starts `rtp-flight-server` (found beside this executable) on
    /// ephemeral loopback ports serving `bundle_dir`.
    pub fn start(bundle_dir: &Path) -> Result<Self> {
        Self::spawn(
            "rtp-flight-server",
            &[
                ("RTP_FLIGHT_LISTEN", "127.0.0.1:0".as_ref()),
                ("RTP_FLIGHT_METRICS_LISTEN", "127.0.0.1:0".as_ref()),
                ("RTP_BUNDLE_DIR", bundle_dir.as_os_str()),
            ],
        )
    }

    /// Starts server `binary` (found beside this executable) with `env`
    /// and waits for its ready line.
    pub fn spawn(binary: &str, env: &[(&str, &std::ffi::OsStr)]) -> Result<Self> {
        let exe = std::env::current_exe().map_err(PipelineError::io("current executable"))?;
        let server = exe.with_file_name(binary);
        let mut command = Command::new(&server);
        command.env("RTP_LOG", "warn").stdout(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().map_err(|e| {
            PipelineError::Config(format!(
                "starting {}: {e} (build it with `cargo build --workspace`)",
                server.display()
            ))
        })?;
        let stdout = child.stdout.take().expect("piped stdout");
        let mut output = BufReader::new(stdout);
        let mut printed = Vec::new();
        let ready = Ready::wait_for(&mut output, |line| printed.push(line.to_owned()))
            .map_err(PipelineError::io(&server))?;
        // The server's primary endpoint is its only gRPC one.
        let grpc = ready
            .as_ref()
            .and_then(|r| r.authority("flight").or_else(|| r.authority("grpc")));
        let metrics = ready.as_ref().and_then(|r| r.authority("metrics"));
        match (grpc, metrics) {
            (Some(grpc), Some(metrics)) => Ok(Self {
                grpc: grpc.to_owned(),
                metrics: metrics.to_owned(),
                child,
            }),
            _ => {
                let _ = child.kill();
                Err(PipelineError::Config(format!(
                    "{} did not start: {printed:?}",
                    server.display()
                )))
            }
        }
    }

    /// CPU seconds used so far (Linux `/proc`).
    pub fn cpu_seconds(&self) -> f64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // Fields after the command name, which is in parentheses.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map_or("", |(_, r)| r)
            .split_whitespace()
            .collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        (ticks(11) + ticks(12)) / 100.0 // utime, stime; USER_HZ is 100 on Linux
    }

    /// (current, peak) resident memory, bytes.
    pub fn rss(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let kib = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
                .unwrap_or(0)
                * 1024
        };
        (kib("VmRSS:"), kib("VmHWM:"))
    }

    /// Resets the peak-RSS mark.
    pub fn reset_peak(&self) {
        let _ = std::fs::write(format!("/proc/{}/clear_refs", self.child.id()), "5");
    }

    /// The feature and model seconds the server has counted.
    pub async fn scoring_seconds(&self) -> Result<(f64, f64)> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(&self.metrics)
            .await
            .map_err(PipelineError::io("metrics endpoint"))?;
        let request = format!(
            "GET /metrics HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.metrics
        );
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(PipelineError::io("metrics endpoint"))?;
        let mut body = String::new();
        stream
            .read_to_string(&mut body)
            .await
            .map_err(PipelineError::io("metrics endpoint"))?;
        let sample = |name: &str| {
            body.lines()
                .find_map(|l| {
                    l.strip_prefix(name)?
                        .strip_prefix(' ')?
                        .trim()
                        .parse::<f64>()
                        .ok()
                })
                .unwrap_or(0.0)
        };
        Ok((
            sample("rtp_flight_feature_seconds_total"),
            sample("rtp_flight_model_seconds_total"),
        ))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
    store: &BundleStore,
    replay: &JobReplay,
    work: &Path,
    options: &FlightBenchOptions,
) -> Result<(Vec<FlightBenchRow>, String)> {
    let bundle = store.open_latest()?;
    let offset_s = bundle.manifest.training.history_until_s - replay_start(replay) + 3600;
    let scorer = Scorer::load(bundle, AdviceOptions::default())
        .await
        .map_err(|e| PipelineError::Config(e.to_string()))?;
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
        let scored = scorer
            .score(&batch, &mut overlay)
            .map_err(|e| PipelineError::Config(e.to_string()))?;
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
    let (native_p50, lightgbm3_p50) = p50_references(&scorer, &batch_at, batches, store)?;
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

    let server = ServerProcess::start(store.root())?;
    // Rust client.
    let measured = measure(&server, || async {
        stream_rust(&server.grpc, batches, &batch_at).await
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
                &server.grpc,
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
/// and lightgbm3 (when the bundle has a LightGBM member).
fn p50_references(
    scorer: &Scorer,
    batch_at: &dyn Fn(u64) -> RecordBatch,
    batches: u64,
    store: &BundleStore,
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
    let text =
        std::fs::read_to_string(dir.join(file)).map_err(PipelineError::io(dir.join(file)))?;
    let booster = Booster::from_model_string(&text)?;
    let mut overlay = Overlay::default();
    let (mut native, mut lightgbm3) = (Duration::ZERO, Duration::ZERO);
    for i in 0..batches {
        let batch = batch_at(i);
        let features = scorer
            .features(&batch, &mut overlay)
            .map_err(|e| PipelineError::Config(e.to_string()))?;
        let columns = scorer
            .model_inputs(&features)
            .map_err(|e| PipelineError::Config(e.to_string()))?;
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
            .map_err(PipelineError::model(MemberKind::Lightgbm.name()))?;
        native += started.elapsed();
        let matrix = ColumnMajor {
            values: inputs.iter().flat_map(|c| c.iter().copied()).collect(),
            rows: n,
            cols: inputs.len(),
        };
        let started = Instant::now();
        let _ = booster.predict(&matrix, -1)?;
        lightgbm3 += started.elapsed();
    }
    Ok((Some(native.as_secs_f64()), Some(lightgbm3.as_secs_f64())))
}

/// Wall seconds of `run` and what the server spent meanwhile.
async fn measure<F, Fut>(server: &ServerProcess, run: F) -> Result<(f64, ServerCost)>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let (features0, model0) = server.scoring_seconds().await?;
    let cpu0 = server.cpu_seconds();
    server.reset_peak();
    let (rss_start, _) = server.rss();
    let started = Instant::now();
    run().await?;
    let wall = started.elapsed().as_secs_f64();
    let (features1, model1) = server.scoring_seconds().await?;
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
    let channel = tonic::transport::Channel::from_shared(format!("http://{address}"))
        .map_err(|e| PipelineError::Config(e.to_string()))?
        .connect()
        .await
        .map_err(|e| PipelineError::Config(format!("connecting to {address}: {e}")))?;
    let mut client = arrow_flight::FlightClient::new(channel);
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
            .map_err(|e| PipelineError::Config(e.to_string()))?;
        let mut rows = 0usize;
        while let Some(batch) = out
            .try_next()
            .await
            .map_err(|e| PipelineError::Config(e.to_string()))?
        {
            rows += batch.num_rows();
        }
        Ok::<usize, PipelineError>(rows)
    };
    let ((), rows) = futures::join!(produce, consume);
    if rows? == 0 {
        return Err(PipelineError::Config("the server returned no rows".into()));
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
        .map_err(PipelineError::io(python))?;
    if !output.status.success() {
        return Err(PipelineError::Config(format!(
            "{} failed: {}",
            script.display(),
            String::from_utf8_lossy(&output.stderr)
        )));
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
