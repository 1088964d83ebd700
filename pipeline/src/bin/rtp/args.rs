//! Command-line arguments.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use rtp_bundle::MemberKind;
use rtp_pipeline::PipelineError;
use rtp_pipeline::config::StateFilter;
use rtp_pipeline::ingest::InputFormat;
use rtp_stack::Program;

/// Predict HPC job runtimes at submit time: ingest job records, build
/// features, train, evaluate and publish model bundles.
#[derive(Debug, Parser)]
#[command(name = "rtp", version)]
pub struct Cli {
    /// Configuration file laid over the built-in defaults (configs/pipeline.toml;
    /// for `rtp serve`, the service's own file under configs/).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Ensemble members, comma-separated (lightgbm, xgboost, catboost);
    /// overrides train.members. `--members lightgbm` needs no Python.
    #[arg(long, global = true, value_delimiter = ',', value_parser = member_kind)]
    pub members: Option<Vec<MemberKind>>,
    /// Log progress (RTP_LOG overrides, e.g. RTP_LOG=debug).
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read job records (Eagle CSV/Parquet, SWF, sacct) into a canonical job table.
    Ingest(IngestArgs),
    /// Build the feature table from a job table with the SQL in sql/.
    Features(FeaturesArgs),
    /// Train on every eligible job of a feature table and publish a bundle.
    Train(TrainArgs),
    /// Ingest, build features, train and evaluate against baselines in one go.
    Evaluate(EvaluateArgs),
    /// Schedule a trace's test period again on a simulated cluster (FCFS
    /// with EASY backfilling), with the users' requests, the model's
    /// suggestions and perfect knowledge as limits, and compare waits and
    /// slowdowns.
    Replay(ReplayArgs),
    /// Ask the edge how long a job will run, from its sbatch options or
    /// batch script, and suggest a --time (as the thin `rtp-suggest`).
    Suggest(Box<rtp_edge_api::suggest::SuggestArgs>),
    /// Write a synthetic Eagle-shaped job trace.
    Generate(GenerateArgs),
    /// Run the whole chain as configured: ingest, features, evaluate, train, publish.
    Run,
    /// Start the Flight server, the gRPC edge and the dashboard on this
    /// machine, serving run.bundle_dir (trained first with `rtp run` when it
    /// holds no bundle); Ctrl-C stops all three.
    Up,
    /// Run one service in the foreground, exactly as its own binary
    /// (rtp-flight-server, rtp-edge-api, rtp-dashboard) would: its
    /// settings from --config and its RTP_* environment variables.
    Serve(ServeArgs),
    /// Measure the pipeline.
    Bench {
        /// What to measure.
        #[command(subcommand)]
        target: BenchTarget,
    },
}

/// A member named on the command line.
fn member_kind(name: &str) -> Result<MemberKind, String> {
    MemberKind::from_name(name.trim()).ok_or_else(|| {
        let known: Vec<&str> = MemberKind::ALL.iter().map(|k| k.name()).collect();
        format!("unknown member {name:?}; known: {}", known.join(", "))
    })
}

/// Eligible states as the command line spells them.
fn state_filter(text: &str) -> Result<StateFilter, String> {
    StateFilter::parse(text).map_err(|e| match e {
        PipelineError::Config(message) => message,
        other => other.to_string(),
    })
}

/// Arguments of `ingest`.
#[derive(Debug, clap::Args)]
pub struct IngestArgs {
    /// Input files.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Input format (auto: decided per file from its name and first line).
    #[arg(long, value_enum, ignore_case = true, default_value_t = InputFormat::Auto)]
    pub format: InputFormat,
    /// Output Parquet file.
    #[arg(long)]
    pub out: PathBuf,
    /// Fail on the first bad row instead of quarantining it.
    #[arg(long)]
    pub strict: bool,
}

/// Arguments of `features`.
#[derive(Debug, clap::Args)]
pub struct FeaturesArgs {
    /// Canonical job table (a Parquet file or a directory of them).
    #[arg(long)]
    pub jobs: PathBuf,
    /// Output feature table (Parquet); the history state is written beside it.
    #[arg(long)]
    pub out: PathBuf,
    /// Run the SQL on a Ballista cluster (df://HOST:PORT), or on a
    /// scheduler and executor in this process (standalone); overrides
    /// features.ballista.
    #[arg(long)]
    pub ballista: Option<String>,
}

/// Arguments of `train`.
#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// Feature table written by `rtp features`.
    #[arg(long)]
    pub features: PathBuf,
    /// Bundle store directory.
    #[arg(long)]
    pub bundle_dir: PathBuf,
    /// Eligible states: "any" or a comma-separated list (default from config).
    #[arg(long, value_parser = state_filter)]
    pub states: Option<StateFilter>,
}

/// Arguments of `evaluate`.
#[derive(Debug, clap::Args)]
pub struct EvaluateArgs {
    /// Input files.
    #[arg(long = "input", required = true, num_args = 1..)]
    pub inputs: Vec<PathBuf>,
    /// Input format (auto: decided per file from its name and first line).
    #[arg(long, value_enum, ignore_case = true, default_value_t = InputFormat::Auto)]
    pub format: InputFormat,
    /// Share of eligible jobs (the last submitted) used as the test set.
    #[arg(long)]
    pub test_frac: Option<f64>,
    /// Rolling protocol: training window (e.g. 100d).
    #[arg(long, requires = "rolling_step")]
    pub rolling_window: Option<String>,
    /// Rolling protocol: test step (e.g. 7d).
    #[arg(long, requires = "rolling_window")]
    pub rolling_step: Option<String>,
    /// Write the metrics as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Directory for intermediate tables (default: a temporary directory).
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// Also score the holdout's test jobs as served, from state followed by
    /// job events: live, frozen, `refresh:<duration>` (e.g. `refresh:1d`), or
    /// all (default: `evaluate.serving` of the config).
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    pub serving: Option<Vec<String>>,
    /// Also evaluate without each feature family in turn, and print what
    /// each is worth (one more training per family)
    #[arg(long)]
    pub ablation: bool,
}

/// Arguments of `replay`.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// Input files (any format `rtp ingest` reads).
    #[arg(long = "input", required = true, num_args = 1..)]
    pub inputs: Vec<PathBuf>,
    /// Input format (auto: decided per file from its name and first line).
    #[arg(long, value_enum, ignore_case = true, default_value_t = InputFormat::Auto)]
    pub format: InputFormat,
    /// Share of eligible jobs (the last submitted) replayed; the model is
    /// trained on the rest.
    #[arg(long)]
    pub test_frac: Option<f64>,
    /// Processors of the simulated cluster (default: the trace's header,
    /// else the most its own schedule had busy at once).
    #[arg(long)]
    pub processors: Option<u32>,
    /// Queue discipline.
    #[arg(long, value_enum, default_value_t = QueuePolicy::Easy)]
    pub policy: QueuePolicy,
    /// What a job does when it outlives its suggested limit: killed and
    /// resubmitted with the user's request, or left running while the
    /// scheduler expects the request.
    #[arg(long, value_enum, default_value_t = Underestimate::Kill)]
    pub underestimate: Underestimate,
    /// Write the replay as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Directory for intermediate tables (default: a temporary directory).
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
}

/// Queue discipline of the simulated cluster.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum QueuePolicy {
    /// FCFS with EASY backfilling.
    Easy,
    /// EASY backfilling trying the shortest estimates first.
    EasySjbf,
    /// Plain FCFS.
    Fcfs,
}

/// What an underestimated job does in the replay.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Underestimate {
    /// Killed at its limit, resubmitted at once with the user's request.
    Kill,
    /// Runs on; the scheduler then expects the user's request.
    Extend,
}

/// Arguments of `generate`.
#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// Rows to write.
    #[arg(long)]
    pub rows: u64,
    /// Seed; the same seed gives the same file.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Output Parquet file.
    #[arg(long)]
    pub out: PathBuf,
}

/// Arguments of `serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Which service.
    #[arg(value_enum)]
    pub service: Service,
}

/// Arguments of `bench pipeline`.
#[derive(Debug, clap::Args)]
pub struct PipelineBenchArgs {
    /// Rows to generate.
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: u64,
    /// Seed.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Directory for the data (default: a temporary directory).
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
}

/// Arguments of `bench features`.
#[derive(Debug, clap::Args)]
pub struct FeaturesBenchArgs {
    /// Rows to generate.
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: u64,
    /// Seed.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Threads for each engine (default: features.target_partitions).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Python with DuckDB (default: RTP_CLIENT_PYTHON, set by
    /// scripts/setup-tests.sh).
    #[arg(long)]
    pub python: Option<PathBuf>,
    /// Directory for the data (default: a temporary directory).
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
}

/// Arguments of `bench train`.
#[derive(Debug, clap::Args)]
pub struct TrainBenchArgs {
    /// Rows to generate (training uses the most recent eligible ones, at
    /// most train.max_train_rows).
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: u64,
    /// Seed.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Python with LightGBM (default: RTP_CLIENT_PYTHON, set by
    /// scripts/setup-tests.sh).
    #[arg(long)]
    pub python: Option<PathBuf>,
    /// Directory for the data (default: a temporary directory).
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
}

/// Arguments of `bench inference`.
#[derive(Debug, clap::Args)]
pub struct InferenceBenchArgs {
    /// Generated jobs to train on.
    #[arg(long, default_value_t = 60_000)]
    pub rows: u64,
    /// Seed.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Rows per batch.
    #[arg(long, default_value_t = 10_000)]
    pub batch_rows: usize,
    /// Timed batch calls per engine.
    #[arg(long, default_value_t = 9)]
    pub batch_repeats: usize,
    /// Timed single-row calls per engine.
    #[arg(long, default_value_t = 3_000)]
    pub single_calls: usize,
}

/// Arguments of `bench flight`.
#[derive(Debug, clap::Args)]
pub struct FlightBenchArgs {
    /// Rows streamed per client.
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: u64,
    /// Rows per batch.
    #[arg(long, default_value_t = 65_536)]
    pub batch_rows: usize,
    /// Generated jobs replayed as the stream (and trained on when no
    /// bundle store is given).
    #[arg(long, default_value_t = 100_000)]
    pub pool_rows: u64,
    /// Seed.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Serve this bundle store's latest bundle instead of training one.
    #[arg(long)]
    pub bundle_dir: Option<PathBuf>,
    /// Python with pyarrow for the pyarrow client line (default:
    /// RTP_CLIENT_PYTHON, set by scripts/setup-tests.sh).
    #[arg(long)]
    pub python: Option<PathBuf>,
}

/// Arguments of `bench edge`.
#[derive(Debug, clap::Args)]
pub struct EdgeBenchArgs {
    /// Concurrent callers (comma-separated), one line per value and mode.
    #[arg(long, value_delimiter = ',', default_values_t = [1usize, 2, 4, 8, 16])]
    pub concurrency: Vec<usize>,
    /// Measured seconds per line.
    #[arg(long, default_value_t = 5.0)]
    pub duration: f64,
    /// Unmeasured seconds before each line.
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// Jobs per PredictBatch call.
    #[arg(long, default_value_t = 100)]
    pub batch_jobs: usize,
    /// The edge's worker threads (worker_threads in configs/edge-api.toml;
    /// 0 = one per core).
    #[arg(long, default_value_t = 1)]
    pub server_threads: usize,
    /// Threads of the load generator (1 = a single-threaded runtime).
    #[arg(long, default_value_t = 1)]
    pub client_threads: usize,
    /// Contributions per prediction (top_contributions; 0 = none).
    #[arg(long, default_value_t = 5)]
    pub top_contributions: usize,
    /// Generated jobs: the history trained on and the calls' jobs.
    #[arg(long, default_value_t = 20_000)]
    pub pool_rows: u64,
    /// Seed.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Serve this bundle store's latest bundle instead of training one.
    #[arg(long)]
    pub bundle_dir: Option<PathBuf>,
}

/// Arguments of `bench events`.
#[derive(Debug, clap::Args)]
pub struct EventsBenchArgs {
    /// Events applied per in-process line (submits, starts and ends of the
    /// generated jobs).
    #[arg(long, default_value_t = 50_000)]
    pub events: usize,
    /// Events per second streamed to the edge during the second serving line.
    #[arg(long, default_value_t = 1_000)]
    pub events_per_s: u32,
    /// Measured seconds per serving line.
    #[arg(long, default_value_t = 5.0)]
    pub duration: f64,
    /// Unmeasured seconds before each serving line.
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// Generated jobs: the history trained on and the events' jobs.
    #[arg(long, default_value_t = 20_000)]
    pub pool_rows: u64,
    /// Seed.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Serve this bundle store's latest bundle instead of training one.
    #[arg(long)]
    pub bundle_dir: Option<PathBuf>,
}

/// Arguments of `bench soak`.
#[derive(Debug, clap::Args)]
pub struct SoakBenchArgs {
    /// Seconds of load.
    #[arg(long, default_value_t = 60.0)]
    pub seconds: f64,
    /// Concurrent edge callers.
    #[arg(long, default_value_t = 4)]
    pub edge_callers: usize,
    /// Rows per Flight batch (four per stream).
    #[arg(long, default_value_t = 5_000)]
    pub batch_rows: usize,
    /// Jobs per PredictBatch call.
    #[arg(long, default_value_t = 50)]
    pub batch_jobs: usize,
    /// Seconds between republishing the bundle under a new version (the
    /// servers swap models under load).
    #[arg(long, default_value_t = 4.0)]
    pub republish_every: f64,
    /// Concurrent Flight streams of the burst after the load.
    #[arg(long, default_value_t = 16)]
    pub burst_streams: usize,
    /// Rows each burst stream sends.
    #[arg(long, default_value_t = 100_000)]
    pub burst_rows: usize,
    /// Generated jobs: the history trained on and the calls' jobs.
    #[arg(long, default_value_t = 20_000)]
    pub pool_rows: u64,
    /// Seed.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Serve this bundle store's latest bundle instead of training one.
    #[arg(long)]
    pub bundle_dir: Option<PathBuf>,
}

/// The services `rtp serve` runs.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Service {
    /// The Arrow Flight bulk-scoring server.
    Flight,
    /// The gRPC prediction edge.
    Edge,
    /// The web dashboard.
    Dashboard,
}

impl From<Service> for Program {
    fn from(service: Service) -> Self {
        match service {
            Service::Flight => Program::Flight,
            Service::Edge => Program::Edge,
            Service::Dashboard => Program::Dashboard,
        }
    }
}

/// Benchmarks.
#[derive(Debug, Subcommand)]
pub enum BenchTarget {
    /// Per-stage wall time, rows/s and peak RSS of the whole chain on generated data.
    Pipeline(PipelineBenchArgs),
    /// The feature SQL on DataFusion and on DuckDB (a peer engine, same SQL
    /// files, same job table, same threads), step by step, with the ratio.
    Features(FeaturesBenchArgs),
    /// Training the LightGBM member in rtp and with Python's LightGBM (same
    /// library version, matrix, parameters and procedure), phase by phase,
    /// with the ratio and a check that both trained the same models.
    Train(TrainBenchArgs),
    /// Rows/s and latency of the native tree engine against LightGBM's own
    /// predictor on the same model, and of the whole blend, after training
    /// on generated data.
    Inference(InferenceBenchArgs),
    /// End-to-end rows/s of bulk scoring through the Flight server (Rust and
    /// pyarrow clients), against in-process scoring and LightGBM's own batch
    /// predictor on the same rows, with the server's CPU split and memory.
    Flight(FlightBenchArgs),
    /// Closed-loop load on the gRPC edge over loopback: predictions/s and
    /// p50/p90/p99/p99.9 latency of Predict, PredictStream and PredictBatch
    /// per concurrency, against in-process scoring of the same jobs.
    Edge(EdgeBenchArgs),
    /// The edge and the Flight server together under mixed traffic for a
    /// while (Predict and PredictBatch from several callers, DoExchange
    /// streams, model-info and reload actions, the bundle republished under
    /// new versions): calls, errors and each server's memory; fails on any
    /// error, a server not on the last version, or memory that keeps growing.
    Soak(SoakBenchArgs),
    /// Job events: the cost of applying one (in memory and stored in redb,
    /// one per call and in chunks), and single-caller Predict latency on an
    /// edge alone and while a ReportJobs stream delivers events.
    Events(EventsBenchArgs),
}
