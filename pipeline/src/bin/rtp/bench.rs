//! `rtp bench`: the chain's stages, the native engine against LightGBM,
//! and the two servers under load, each on generated jobs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use rtp_bundle::BundleStore;
use rtp_pipeline::chain;
use rtp_pipeline::config::{PipelineConfig, RunInput};
use rtp_pipeline::evaluate::{eligible_rows, render_table};
use rtp_pipeline::generate::{GenerateOptions, generate};
use rtp_pipeline::ingest::{DEFAULT_BATCH_ROWS, IngestOptions, InputFormat, ingest};
use rtp_pipeline::job_table::read_job_table;
use rtp_pipeline::lgbm::{Booster, ColumnMajor};
use rtp_pipeline::stages::render_stage_table;
use rtp_pipeline::train::train;
use rtp_stack::JobReplay;
use rtp_stack::edge_bench::{EdgeBenchOptions, bench_edge, render_edge_table};
use rtp_stack::events_bench::{EventsBenchOptions, bench_events, render_events_bench};
use rtp_stack::flight_bench::{
    FlightBenchOptions, ReferenceModel, bench_flight, render_flight_table,
};
use rtp_stack::soak::{self, SoakOptions};

use crate::args::{
    BenchTarget, EdgeBenchArgs, EventsBenchArgs, FeaturesBenchArgs, FlightBenchArgs,
    InferenceBenchArgs, PipelineBenchArgs, SoakBenchArgs,
};
use crate::features_bench::{render_peer_table, run_both};
use crate::inference_bench::{BenchOptions, bench_inference, render_bench_table};
use crate::progress::with_spinner;
use crate::services::launcher;

/// Runs the benchmark `target` names.
pub fn run(
    target: BenchTarget,
    config: &PipelineConfig,
    runtime: &tokio::runtime::Runtime,
) -> Result<()> {
    match target {
        BenchTarget::Pipeline(args) => pipeline(args, config, runtime),
        BenchTarget::Features(args) => features(args, config, runtime),
        BenchTarget::Train(args) => crate::train_bench::bench_train(args, config, runtime),
        BenchTarget::Inference(args) => inference(args, config, runtime),
        BenchTarget::Flight(args) => flight(args, config, runtime),
        BenchTarget::Edge(args) => edge(args, config, runtime),
        BenchTarget::Soak(args) => soak(args, config, runtime),
        BenchTarget::Events(args) => events(args, config, runtime),
    }
}

fn pipeline(
    args: PipelineBenchArgs,
    config: &PipelineConfig,
    runtime: &tokio::runtime::Runtime,
) -> Result<()> {
    let PipelineBenchArgs {
        rows,
        seed,
        work_dir,
    } = args;
    let scratch = tempfile::tempdir().context("creating a work directory")?;
    let work_dir = work_dir.unwrap_or_else(|| scratch.path().to_owned());
    let mut bench_config = config.clone();
    bench_config.run.input = RunInput::Generate { rows, seed };
    bench_config.run.format = InputFormat::Eagle;
    bench_config.run.bundle_dir = work_dir.join("bundles");
    bench_config.run.work_dir = work_dir;
    let report = runtime.block_on(chain::run(&bench_config))?;
    println!("rtp bench pipeline --rows {rows} (seed {seed})");
    print!("{}", render_stage_table(&report.stages));
    print!("{}", render_table(&report.evaluation));
    Ok(())
}

fn features(
    args: FeaturesBenchArgs,
    config: &PipelineConfig,
    runtime: &tokio::runtime::Runtime,
) -> Result<()> {
    let FeaturesBenchArgs {
        rows,
        seed,
        threads,
        python,
        work_dir,
    } = args;
    let python = client_python(python, "DuckDB")?;
    let threads = threads.unwrap_or(config.features.target_partitions);
    let scratch = tempfile::tempdir().context("creating a work directory")?;
    let work = work_dir.unwrap_or_else(|| scratch.path().to_owned());
    let jobs = generated_jobs(&work, rows, seed)?;
    let run = with_spinner("running the feature SQL on both engines", || {
        runtime.block_on(run_both(&jobs, &work, &config.features, threads, &python))
    })?;
    println!(
        "rtp bench features --rows {rows} (seed {seed}): the same SQL files on DataFusion and on DuckDB, {threads} threads each, every table written to Parquet"
    );
    print!("{}", render_peer_table(&run));
    Ok(())
}

/// The Python a peer runs in: `given`, else the client environment's.
pub fn client_python(given: Option<PathBuf>, with: &str) -> Result<PathBuf> {
    given
        .or_else(|| std::env::var_os("RTP_CLIENT_PYTHON").map(PathBuf::from))
        .with_context(|| format!("no Python with {with}: pass --python or set RTP_CLIENT_PYTHON (scripts/setup-tests.sh creates one from clients/python/requirements.txt)"))
}

/// Generates `rows` Eagle jobs into `work` (created if need be) and
/// ingests them; returns the job table.
pub fn generated_jobs(work: &Path, rows: u64, seed: u64) -> Result<PathBuf> {
    std::fs::create_dir_all(work).with_context(|| format!("creating {}", work.display()))?;
    with_spinner("generating and ingesting jobs", || -> Result<PathBuf> {
        let raw = work.join("eagle.parquet");
        generate(
            &raw,
            &GenerateOptions {
                rows,
                seed,
                batch_rows: DEFAULT_BATCH_ROWS,
            },
        )?;
        let jobs = work.join("jobs.parquet");
        ingest(&[raw], &jobs, &IngestOptions::default())?;
        Ok(jobs)
    })
}

fn inference(
    args: InferenceBenchArgs,
    config: &PipelineConfig,
    runtime: &tokio::runtime::Runtime,
) -> Result<()> {
    let work = tempfile::tempdir().context("creating a work directory")?;
    let jobs = work.path().join("eagle.parquet");
    let mut stages = Vec::new();
    let (prepared, model) = with_spinner("generating, building features, training", || {
        generate(
            &jobs,
            &GenerateOptions {
                rows: args.rows,
                seed: args.seed,
                batch_rows: DEFAULT_BATCH_ROWS,
            },
        )?;
        let prepared = runtime.block_on(chain::prepare(
            std::slice::from_ref(&jobs),
            InputFormat::Eagle,
            work.path(),
            config,
            &mut stages,
        ))?;
        let eligible = eligible_rows(&prepared.frame, &config.train.states);
        let model = train(&prepared.frame, &eligible, &config.train)?;
        anyhow::Ok((prepared, model))
    })?;
    let all_rows: Vec<usize> = (0..prepared.frame.len()).rev().collect();
    let table = with_spinner("measuring", || {
        bench_inference(
            &model,
            &prepared.frame,
            &all_rows,
            BenchOptions {
                batch_rows: args.batch_rows,
                batch_repeats: args.batch_repeats,
                single_calls: args.single_calls,
            },
        )
    })?;
    println!(
        "rtp bench inference: trained on {} generated jobs (seed {}), {} threads available",
        args.rows,
        args.seed,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    print!("{}", render_bench_table(&table));
    Ok(())
}

fn flight(
    args: FlightBenchArgs,
    config: &PipelineConfig,
    runtime: &tokio::runtime::Runtime,
) -> Result<()> {
    let served = ServedJobs::prepare(config, runtime, args.pool_rows, args.seed, args.bundle_dir)?;
    let options = FlightBenchOptions {
        rows: args.rows,
        batch_rows: args.batch_rows,
        python: args
            .python
            .or_else(|| std::env::var_os("RTP_CLIENT_PYTHON").map(PathBuf::from)),
        // Run from the repository root, as the README shows.
        python_script: PathBuf::from("clients/python/bench_flight.py"),
    };
    let launcher = launcher()?;
    let (table, summary) = with_spinner("streaming", || {
        runtime.block_on(bench_flight(
            &launcher,
            &BundleStore::new(&served.store_dir),
            &served.replay,
            served.work.path(),
            &options,
            Some(&lightgbm_reference),
        ))
    })?;
    println!("{summary}");
    print!("{}", render_flight_table(&table));
    if options.python.is_none() {
        println!("(no pyarrow line: set RTP_CLIENT_PYTHON or pass --python)");
    }
    Ok(())
}

fn edge(
    args: EdgeBenchArgs,
    config: &PipelineConfig,
    runtime: &tokio::runtime::Runtime,
) -> Result<()> {
    let served = ServedJobs::prepare(config, runtime, args.pool_rows, args.seed, args.bundle_dir)?;
    let options = EdgeBenchOptions {
        concurrency: args.concurrency,
        duration: Duration::from_secs_f64(args.duration),
        warmup: Duration::from_secs_f64(args.warmup),
        batch_jobs: args.batch_jobs,
        server_threads: args.server_threads,
        client_threads: args.client_threads,
        top_contributions: args.top_contributions,
    };
    let count = (args.pool_rows as usize).min(20_000);
    let launcher = launcher()?;
    let (table, summary) = with_spinner("calling the edge", || {
        runtime.block_on(bench_edge(
            &launcher,
            &BundleStore::new(&served.store_dir),
            &served.replay,
            count,
            &options,
        ))
    })?;
    println!("{summary}");
    print!("{}", render_edge_table(&table));
    Ok(())
}

fn soak(
    args: SoakBenchArgs,
    config: &PipelineConfig,
    runtime: &tokio::runtime::Runtime,
) -> Result<()> {
    let served = ServedJobs::prepare(config, runtime, args.pool_rows, args.seed, args.bundle_dir)?;
    let options = SoakOptions {
        duration: Duration::from_secs_f64(args.seconds),
        edge_callers: args.edge_callers,
        batch_rows: args.batch_rows,
        batch_jobs: args.batch_jobs,
        republish_every: Duration::from_secs_f64(args.republish_every),
        burst_streams: args.burst_streams,
        burst_rows: args.burst_rows,
    };
    let launcher = launcher()?;
    let report = with_spinner("soaking", || {
        runtime.block_on(soak::soak(
            &launcher,
            &BundleStore::new(&served.store_dir),
            &served.replay,
            &options,
            &served.work.path().join("soak"),
        ))
    })?;
    println!(
        "rtp bench soak: {:.0} s of load, {} edge callers, Flight streams of 4 × {} rows, then a burst of {} Flight streams of {} rows; memory may grow {:.0} % (or {} MiB) from the end of the warm-up (the first half), and be back within {:.0} % of the end of the load a few seconds after the burst",
        report.seconds,
        args.edge_callers,
        args.batch_rows,
        args.burst_streams,
        args.burst_rows,
        (soak::RSS_GROWTH_LIMIT - 1.0) * 100.0,
        soak::RSS_GROWTH_SLACK_BYTES >> 20,
        (soak::AFTER_BURST_LIMIT - 1.0) * 100.0
    );
    print!("{}", soak::render_soak_table(&report));
    let problems = report.problems();
    if !problems.is_empty() {
        bail!("the soak failed: {}", problems.join("; "));
    }
    println!("passed: no errors, the last version served, memory flat and given back");
    Ok(())
}

fn events(
    args: EventsBenchArgs,
    config: &PipelineConfig,
    runtime: &tokio::runtime::Runtime,
) -> Result<()> {
    let served = ServedJobs::prepare(config, runtime, args.pool_rows, args.seed, args.bundle_dir)?;
    let jobs = read_job_table(&served.work.path().join("jobs.parquet"))?;
    let options = EventsBenchOptions {
        events: args.events,
        events_per_s: args.events_per_s,
        duration: Duration::from_secs_f64(args.duration),
        warmup: Duration::from_secs_f64(args.warmup),
    };
    let launcher = launcher()?;
    let bench = with_spinner("applying events", || {
        runtime.block_on(bench_events(
            &launcher,
            &BundleStore::new(&served.store_dir),
            &jobs,
            &served.replay,
            served.work.path(),
            &options,
        ))
    })?;
    println!(
        "rtp bench events: events of {} generated jobs (seed {}) after the bundle's data, in time order; {} threads available",
        args.pool_rows,
        args.seed,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    print!("{}", render_events_bench(&bench));
    Ok(())
}

/// What a serving benchmark serves and sends: generated jobs replayed as
/// the stream, and the bundle store to serve (`bundle_dir` if given, else a
/// bundle trained on the same jobs), in a work directory of its own.
struct ServedJobs {
    work: tempfile::TempDir,
    store_dir: PathBuf,
    replay: JobReplay,
}

impl ServedJobs {
    fn prepare(
        config: &PipelineConfig,
        runtime: &tokio::runtime::Runtime,
        pool_rows: u64,
        seed: u64,
        bundle_dir: Option<PathBuf>,
    ) -> Result<Self> {
        let work = tempfile::tempdir().context("creating a work directory")?;
        let raw = work.path().join("eagle.parquet");
        let jobs = work.path().join("jobs.parquet");
        let store_dir = with_spinner("generating jobs (and training a bundle)", || {
            generate(
                &raw,
                &GenerateOptions {
                    rows: pool_rows,
                    seed,
                    batch_rows: DEFAULT_BATCH_ROWS,
                },
            )?;
            ingest(std::slice::from_ref(&raw), &jobs, &IngestOptions::default())?;
            if let Some(dir) = &bundle_dir {
                return anyhow::Ok(dir.clone());
            }
            let mut train_config = config.clone();
            train_config.run.input = RunInput::Files(vec![raw.clone()]);
            train_config.run.format = InputFormat::Eagle;
            train_config.run.work_dir = work.path().join("train");
            train_config.run.bundle_dir = work.path().join("bundles");
            runtime.block_on(chain::run(&train_config))?;
            anyhow::Ok(train_config.run.bundle_dir)
        })?;
        let replay = JobReplay::from_jobs(&read_job_table(&jobs)?)
            .with_context(|| format!("replaying {}", jobs.display()))?;
        Ok(Self {
            work,
            store_dir,
            replay,
        })
    }
}

/// LightGBM's own predictor, timed beside the native engine.
struct LightgbmReference(Booster);

impl ReferenceModel for LightgbmReference {
    fn predict(&self, values: Vec<f32>, rows: usize) -> std::result::Result<(), String> {
        let cols = values.len().checked_div(rows).unwrap_or(0);
        let matrix = ColumnMajor { values, rows, cols };
        self.0
            .predict(&matrix, -1)
            .map(drop)
            .map_err(|e| e.to_string())
    }
}

fn lightgbm_reference(text: &str) -> std::result::Result<Box<dyn ReferenceModel>, String> {
    let booster = Booster::from_model_string(text).map_err(|e| e.to_string())?;
    Ok(Box::new(LightgbmReference(booster)))
}
