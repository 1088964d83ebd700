//! Command-line arguments.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use rtp_pipeline::ingest::InputFormat;

/// Predict HPC job runtimes at submit time: ingest job records, build
/// features, train, evaluate and publish model bundles.
#[derive(Debug, Parser)]
#[command(name = "rtp", version)]
pub struct Cli {
    /// Configuration file laid over the built-in defaults (configs/pipeline.toml).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Ensemble members, comma-separated (lightgbm, xgboost, catboost);
    /// overrides train.members. `--members lightgbm` needs no Python.
    #[arg(long, global = true)]
    pub members: Option<String>,
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
    Ingest {
        /// Input files.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// Input format (auto: decided per file from its name and first line).
        #[arg(long, value_enum, ignore_case = true, default_value_t = InputFormat::Auto)]
        format: InputFormat,
        /// Output Parquet file.
        #[arg(long)]
        out: PathBuf,
        /// Fail on the first bad row instead of quarantining it.
        #[arg(long)]
        strict: bool,
    },
    /// Build the feature table from a job table with the SQL in sql/.
    Features {
        /// Canonical job table (a Parquet file or a directory of them).
        #[arg(long)]
        jobs: PathBuf,
        /// Output feature table (Parquet); the history state is written beside it.
        #[arg(long)]
        out: PathBuf,
        /// Run the SQL on a Ballista cluster (df://HOST:PORT), or on a
        /// scheduler and executor in this process (standalone); overrides
        /// features.ballista.
        #[arg(long)]
        ballista: Option<String>,
    },
    /// Train on every eligible job of a feature table and publish a bundle.
    Train {
        /// Feature table written by `rtp features`.
        #[arg(long)]
        features: PathBuf,
        /// Bundle store directory.
        #[arg(long)]
        bundle_dir: PathBuf,
        /// Eligible states: "any" or a comma-separated list (default from config).
        #[arg(long)]
        states: Option<String>,
    },
    /// Ingest, build features, train and evaluate against baselines in one go.
    Evaluate {
        /// Input files.
        #[arg(long = "input", required = true, num_args = 1..)]
        inputs: Vec<PathBuf>,
        /// Input format (auto: decided per file from its name and first line).
        #[arg(long, value_enum, ignore_case = true, default_value_t = InputFormat::Auto)]
        format: InputFormat,
        /// Share of eligible jobs (the last submitted) used as the test set.
        #[arg(long)]
        test_frac: Option<f64>,
        /// Rolling protocol: training window (e.g. 100d).
        #[arg(long, requires = "rolling_step")]
        rolling_window: Option<String>,
        /// Rolling protocol: test step (e.g. 7d).
        #[arg(long, requires = "rolling_window")]
        rolling_step: Option<String>,
        /// Write the metrics as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Directory for intermediate tables (default: a temporary directory).
        #[arg(long)]
        work_dir: Option<PathBuf>,
    },
    /// Write a synthetic Eagle-shaped job trace.
    Generate {
        /// Rows to write.
        #[arg(long)]
        rows: u64,
        /// Seed; the same seed gives the same file.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Output Parquet file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Run the whole chain as configured: ingest, features, evaluate, train, publish.
    Run,
    /// Start the Flight server, the gRPC edge and the dashboard on this
    /// machine, serving run.bundle_dir (trained first with `rtp run` when it
    /// holds no bundle); Ctrl-C stops all three.
    Up,
    /// Measure the pipeline.
    Bench {
        /// What to measure.
        #[command(subcommand)]
        target: BenchTarget,
    },
}

/// Benchmarks.
#[derive(Debug, Subcommand)]
pub enum BenchTarget {
    /// Per-stage wall time, rows/s and peak RSS of the whole chain on generated data.
    Pipeline {
        /// Rows to generate.
        #[arg(long, default_value_t = 1_000_000)]
        rows: u64,
        /// Seed.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Directory for the data (default: a temporary directory).
        #[arg(long)]
        work_dir: Option<PathBuf>,
    },
    /// Rows/s and latency of the native tree engine against LightGBM's own
    /// predictor on the same model, and of the whole blend, after training
    /// on generated data.
    Inference {
        /// Generated jobs to train on.
        #[arg(long, default_value_t = 60_000)]
        rows: u64,
        /// Seed.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Rows per batch.
        #[arg(long, default_value_t = 10_000)]
        batch_rows: usize,
        /// Timed batch calls per engine.
        #[arg(long, default_value_t = 9)]
        batch_repeats: usize,
        /// Timed single-row calls per engine.
        #[arg(long, default_value_t = 3_000)]
        single_calls: usize,
    },
    /// End-to-end rows/s of bulk scoring through the Flight server (Rust and
    /// pyarrow clients), against in-process scoring and LightGBM's own batch
    /// predictor on the same rows, with the server's CPU split and memory.
    Flight {
        /// Rows streamed per client.
        #[arg(long, default_value_t = 1_000_000)]
        rows: u64,
        /// Rows per batch.
        #[arg(long, default_value_t = 65_536)]
        batch_rows: usize,
        /// Generated jobs replayed as the stream (and trained on when no
        /// bundle store is given).
        #[arg(long, default_value_t = 100_000)]
        pool_rows: u64,
        /// Seed.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Serve this bundle store's latest bundle instead of training one.
        #[arg(long)]
        bundle_dir: Option<PathBuf>,
        /// Python with pyarrow for the pyarrow client line (default:
        /// RTP_CLIENT_PYTHON, set by scripts/setup.sh).
        #[arg(long)]
        python: Option<PathBuf>,
    },
    /// Closed-loop load on the gRPC edge over loopback: predictions/s and
    /// p50/p90/p99/p99.9 latency of Predict, PredictStream and PredictBatch
    /// per concurrency, against in-process scoring of the same jobs.
    Edge {
        /// Concurrent callers (comma-separated), one line per value and mode.
        #[arg(long, value_delimiter = ',', default_values_t = [1usize, 2, 4, 8, 16])]
        concurrency: Vec<usize>,
        /// Measured seconds per line.
        #[arg(long, default_value_t = 5.0)]
        duration: f64,
        /// Unmeasured seconds before each line.
        #[arg(long, default_value_t = 1.0)]
        warmup: f64,
        /// Jobs per PredictBatch call.
        #[arg(long, default_value_t = 100)]
        batch_jobs: usize,
        /// The edge's worker threads (worker_threads in configs/edge-api.toml;
        /// 0 = one per core).
        #[arg(long, default_value_t = 1)]
        server_threads: usize,
        /// Threads of the load generator (1 = a single-threaded runtime).
        #[arg(long, default_value_t = 1)]
        client_threads: usize,
        /// Contributions per prediction (top_contributions; 0 = none).
        #[arg(long, default_value_t = 5)]
        top_contributions: usize,
        /// Generated jobs: the history trained on and the calls' jobs.
        #[arg(long, default_value_t = 20_000)]
        pool_rows: u64,
        /// Seed.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Serve this bundle store's latest bundle instead of training one.
        #[arg(long)]
        bundle_dir: Option<PathBuf>,
    },
}
