//! Dispatch of the subcommands onto the library.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use rtp_bundle::BundleStore;
use rtp_pipeline::chain::{self, Prepared, TrainingData};
use rtp_pipeline::config::{PipelineConfig, RunInput, StateFilter};
use rtp_pipeline::edge_bench::{EdgeBenchOptions, bench_edge, render_edge_table};
use rtp_pipeline::evaluate::{Protocol, eligible_rows, parse_span, render_table};
use rtp_pipeline::features::{STATE_TABLES, SqlEngine, build_features, state_path_for};
use rtp_pipeline::flight_bench::{
    FlightBenchOptions, JobReplay, bench_flight, render_flight_table,
};
use rtp_pipeline::frame::FeatureFrame;
use rtp_pipeline::generate::{GenerateOptions, generate};
use rtp_pipeline::inference_bench::{BenchOptions, bench_inference, render_bench_table};
use rtp_pipeline::ingest::{DEFAULT_BATCH_ROWS, IngestOptions, InputFormat, ingest};
use rtp_pipeline::stack::{Stack, has_bundle};
use rtp_pipeline::stages::render_stage_table;
use rtp_pipeline::train::train;

use crate::args::{BenchTarget, Cli, Command};
use crate::progress::with_spinner;

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    let mut config = match &cli.config {
        Some(path) => PipelineConfig::load(path)?,
        None => PipelineConfig::default_config()?,
    };
    if let Some(members) = &cli.members {
        config.train.set_members(members)?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    match cli.command {
        Command::Ingest {
            inputs,
            format,
            out,
            strict,
        } => {
            let options = IngestOptions {
                format,
                strict,
                batch_rows: DEFAULT_BATCH_ROWS,
            };
            let summary = with_spinner("ingesting", || ingest(&inputs, &out, &options))?;
            for f in &summary.files {
                println!(
                    "{}: {} jobs kept, {} rows quarantined, {} non-job lines skipped ({})",
                    f.path.display(),
                    f.kept,
                    f.quarantined,
                    f.skipped,
                    f.format
                );
            }
            println!("wrote {} jobs to {}", summary.kept(), out.display());
            if let Some(q) = &summary.quarantine {
                println!(
                    "quarantined {} rows to {}",
                    summary.quarantined(),
                    q.display()
                );
            }
        }
        Command::Features {
            jobs,
            out,
            ballista,
        } => {
            let mut options = config.features.clone();
            if let Some(engine) = ballista {
                options.engine = SqlEngine::parse(&engine)?;
            }
            let started = std::time::Instant::now();
            let tables = with_spinner("building features", || {
                runtime.block_on(build_features(&jobs, &out, &options))
            })?;
            println!(
                "feature SQL on {}: {:.1} s",
                match &options.engine {
                    SqlEngine::Local => "DataFusion (local)".to_owned(),
                    SqlEngine::Ballista(url) => format!("Ballista at {url}"),
                    SqlEngine::BallistaStandalone => "Ballista (standalone, in-process)".to_owned(),
                },
                started.elapsed().as_secs_f64()
            );
            println!(
                "wrote {} feature rows to {}, history state to {}, queue state to {}",
                tables.rows,
                tables.features.display(),
                tables.history_state.display(),
                tables.queue_state.display()
            );
        }
        Command::Train {
            features,
            bundle_dir,
            states,
        } => {
            let states = match states {
                Some(s) => StateFilter::parse(&s)?,
                None => config.train.states.clone(),
            };
            let dir = with_spinner("training", || {
                train_from_features(&features, &bundle_dir, &states, &config)
            })?;
            println!("published bundle {}", dir.display());
        }
        Command::Evaluate {
            inputs,
            format,
            test_frac,
            rolling_window,
            rolling_step,
            json,
            work_dir,
        } => {
            let protocol = match (rolling_window, rolling_step) {
                (Some(w), Some(s)) => Protocol::Rolling {
                    window_s: parse_span(&w)?,
                    step_s: parse_span(&s)?,
                },
                _ => Protocol::Holdout {
                    test_frac: test_frac.unwrap_or(config.test_frac),
                },
            };
            let scratch = tempfile::tempdir().context("creating a work directory")?;
            let work_dir = work_dir.unwrap_or_else(|| scratch.path().to_owned());
            let mut stages = Vec::new();
            let prepared = with_spinner("ingesting and building features", || {
                runtime.block_on(chain::prepare(
                    &inputs,
                    format,
                    &work_dir,
                    &config,
                    &mut stages,
                ))
            })?;
            report_ingest(&prepared);
            let states = config.train.states_for(prepared.format).clone();
            let evaluation = with_spinner("training and evaluating", || {
                chain::evaluate_stage(&prepared, &states, protocol, &config, &mut stages)
            })?;
            print!("{}", render_table(&evaluation.summary));
            if let Some(path) = json {
                let text = serde_json::to_string_pretty(&evaluation.summary)?;
                std::fs::write(&path, text)
                    .with_context(|| format!("writing {}", path.display()))?;
                println!("metrics written to {}", path.display());
            }
        }
        Command::Generate { rows, seed, out } => {
            let written = with_spinner("generating", || {
                generate(
                    &out,
                    &GenerateOptions {
                        rows,
                        seed,
                        batch_rows: DEFAULT_BATCH_ROWS,
                    },
                )
            })?;
            println!("wrote {written} synthetic Eagle jobs to {}", out.display());
        }
        Command::Run => {
            let report = with_spinner("running the pipeline", || {
                runtime.block_on(chain::run(&config))
            })?;
            println!(
                "ingested {} jobs ({} quarantined)",
                report.ingest.kept(),
                report.ingest.quarantined()
            );
            print!("{}", render_table(&report.evaluation));
            print!("{}", render_stage_table(&report.stages));
            if let Some(dir) = report.bundle {
                println!("published bundle {}", dir.display());
            }
        }
        Command::Up => up(&config, &runtime)?,
        Command::Bench {
            target:
                BenchTarget::Pipeline {
                    rows,
                    seed,
                    work_dir,
                },
        } => {
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
        }
        Command::Bench {
            target:
                BenchTarget::Inference {
                    rows,
                    seed,
                    batch_rows,
                    batch_repeats,
                    single_calls,
                },
        } => {
            let work = tempfile::tempdir().context("creating a work directory")?;
            let jobs = work.path().join("eagle.parquet");
            let mut stages = Vec::new();
            let (prepared, model) =
                with_spinner("generating, building features, training", || {
                    generate(
                        &jobs,
                        &GenerateOptions {
                            rows,
                            seed,
                            batch_rows: DEFAULT_BATCH_ROWS,
                        },
                    )?;
                    let prepared = runtime.block_on(chain::prepare(
                        std::slice::from_ref(&jobs),
                        InputFormat::Eagle,
                        work.path(),
                        &config,
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
                        batch_rows,
                        batch_repeats,
                        single_calls,
                    },
                )
            })?;
            println!(
                "rtp bench inference: trained on {rows} generated jobs (seed {seed}), {} threads available",
                std::thread::available_parallelism().map_or(1, |n| n.get())
            );
            print!("{}", render_bench_table(&table));
        }
        Command::Bench {
            target:
                BenchTarget::Flight {
                    rows,
                    batch_rows,
                    pool_rows,
                    seed,
                    bundle_dir,
                    python,
                },
        } => {
            let work = tempfile::tempdir().context("creating a work directory")?;
            let (store_dir, replay) =
                bench_jobs(&config, &runtime, work.path(), pool_rows, seed, bundle_dir)?;
            let options = FlightBenchOptions {
                rows,
                batch_rows,
                python: python.or_else(|| std::env::var_os("RTP_CLIENT_PYTHON").map(PathBuf::from)),
                // Run from the repository root, as the README shows.
                python_script: PathBuf::from("clients/python/bench_flight.py"),
            };
            let (table, summary) = with_spinner("streaming", || {
                runtime.block_on(bench_flight(
                    &BundleStore::new(&store_dir),
                    &replay,
                    work.path(),
                    &options,
                ))
            })?;
            println!("{summary}");
            print!("{}", render_flight_table(&table));
            if options.python.is_none() {
                println!("(no pyarrow line: set RTP_CLIENT_PYTHON or pass --python)");
            }
        }
        Command::Bench {
            target:
                BenchTarget::Edge {
                    concurrency,
                    duration,
                    warmup,
                    batch_jobs,
                    server_threads,
                    client_threads,
                    top_contributions,
                    pool_rows,
                    seed,
                    bundle_dir,
                },
        } => {
            let work = tempfile::tempdir().context("creating a work directory")?;
            let (store_dir, replay) =
                bench_jobs(&config, &runtime, work.path(), pool_rows, seed, bundle_dir)?;
            let options = EdgeBenchOptions {
                concurrency,
                duration: Duration::from_secs_f64(duration),
                warmup: Duration::from_secs_f64(warmup),
                batch_jobs,
                server_threads,
                client_threads,
                top_contributions,
            };
            let count = (pool_rows as usize).min(20_000);
            let (table, summary) = with_spinner("calling the edge", || {
                runtime.block_on(bench_edge(
                    &BundleStore::new(&store_dir),
                    &replay,
                    count,
                    &options,
                ))
            })?;
            println!("{summary}");
            print!("{}", render_edge_table(&table));
        }
    }
    Ok(())
}

/// Generated jobs for a serving benchmark, and the bundle store to serve:
/// `bundle_dir` if given, else a bundle trained on the same jobs.
fn bench_jobs(
    config: &PipelineConfig,
    runtime: &tokio::runtime::Runtime,
    work: &Path,
    pool_rows: u64,
    seed: u64,
    bundle_dir: Option<PathBuf>,
) -> Result<(PathBuf, JobReplay)> {
    let raw = work.join("eagle.parquet");
    let jobs = work.join("jobs.parquet");
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
        train_config.run.work_dir = work.join("train");
        train_config.run.bundle_dir = work.join("bundles");
        runtime.block_on(chain::run(&train_config))?;
        anyhow::Ok(train_config.run.bundle_dir)
    })?;
    Ok((store_dir, JobReplay::from_job_table(&jobs)?))
}

fn report_ingest(prepared: &Prepared) {
    let summary = &prepared.ingest;
    println!(
        "ingested {} jobs ({} rows quarantined{})",
        summary.kept(),
        summary.quarantined(),
        summary
            .quarantine
            .as_ref()
            .map(|q| format!(" to {}", q.display()))
            .unwrap_or_default()
    );
}

fn train_from_features(
    features: &Path,
    bundle_dir: &Path,
    states: &StateFilter,
    config: &PipelineConfig,
) -> Result<PathBuf> {
    let [history, queue] = STATE_TABLES.map(|table| state_path_for(features, table));
    for state in [&history, &queue] {
        if !state.is_file() {
            bail!(
                "{} not found: train needs the state tables `rtp features` writes beside the feature table",
                state.display()
            );
        }
    }
    let frame = FeatureFrame::read(features)?;
    let data = TrainingData {
        frame: &frame,
        history_state: &history,
        queue_state: &queue,
        source: features,
        sql_dir: &config.features.sql_dir,
    };
    let mut stages = Vec::new();
    Ok(chain::train_and_publish(
        data,
        states,
        None,
        config,
        bundle_dir,
        &mut stages,
    )?)
}

/// `rtp up`: a bundle (trained when missing), then the three services until
/// Ctrl-C, SIGTERM, or one of them exits.
fn up(config: &PipelineConfig, runtime: &tokio::runtime::Runtime) -> Result<()> {
    let bundle_dir = &config.run.bundle_dir;
    if !has_bundle(bundle_dir) {
        println!(
            "no bundle in {}: training a demo bundle first (as `rtp run`)",
            bundle_dir.display()
        );
        let report = with_spinner("running the pipeline", || {
            runtime.block_on(chain::run(config))
        })?;
        if let Some(dir) = report.bundle {
            println!("published bundle {}", dir.display());
        }
    }
    let mut stack = Stack::start(bundle_dir)?;
    println!(
        "rt-predictor is up: open {}/ (Ctrl-C stops all three)",
        stack.dashboard_url
    );
    let failure = runtime.block_on(async {
        let signal = rtp_service_support::shutdown_signal();
        tokio::pin!(signal);
        loop {
            tokio::select! {
                _ = &mut signal => return None,
                _ = tokio::time::sleep(Duration::from_millis(250)) => {
                    if let Some(failed) = stack.failed() {
                        return Some(failed);
                    }
                }
            }
        }
    });
    let stopped = stack.stop();
    for (name, status) in &stopped {
        match status {
            Some(status) => println!("{name} stopped ({status})"),
            None => println!("{name} could not be waited for"),
        }
    }
    if let Some((name, status)) = failure {
        bail!("{name} exited on its own ({status}); the others were stopped");
    }
    println!("rt-predictor is down");
    Ok(())
}
