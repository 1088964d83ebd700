//! Dispatch of the subcommands onto the library: one function per
//! subcommand, each reading its arguments and printing its report.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use rtp_pipeline::chain::{self, Prepared, TrainingData};
use rtp_pipeline::config::{PipelineConfig, StateFilter};
use rtp_pipeline::evaluate::serving::parse_modes;
use rtp_pipeline::evaluate::{
    Evaluation, Protocol, ablation, parse_span, render_ablation, render_table,
};
use rtp_pipeline::features::{STATE_TABLES, SqlEngine, build_features, state_path_for};
use rtp_pipeline::frame::FeatureFrame;
use rtp_pipeline::generate::{GenerateOptions, generate};
use rtp_pipeline::ingest::{DEFAULT_BATCH_ROWS, IngestOptions, InputFormat, ingest};
use rtp_pipeline::replay::{Overrun, Policy, ReplayOptions, render_replay};
use rtp_pipeline::stages::{StageReport, render_stage_table};
use rtp_service_support::Settings;

use crate::args::{
    Cli, Command, EvaluateArgs, FeaturesArgs, GenerateArgs, IngestArgs, QueuePolicy, ReplayArgs,
    TrainArgs, Underestimate,
};
use crate::progress::with_spinner;
use crate::{bench, services};

/// Runs the parsed command line (`rtp serve` aside: `main` runs it first).
pub fn run(cli: Cli) -> Result<()> {
    let mut config = PipelineConfig::load(cli.config.as_deref(), &[])?;
    if let Some(members) = &cli.members {
        config.train.set_member_kinds(members)?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    match cli.command {
        Command::Ingest(args) => ingest_jobs(args),
        Command::Features(args) => features(args, &config, &runtime),
        Command::Train(args) => train_bundle(args, &config),
        Command::Evaluate(args) => evaluate(args, &config, &runtime),
        Command::Replay(args) => replay(args, &config, &runtime),
        Command::Generate(args) => generate_jobs(args),
        Command::Run => run_chain(&config, &runtime),
        Command::Up => services::up(&config, &runtime),
        Command::Serve(_) => bail!("`rtp serve` runs before the pipeline's settings are read"),
        Command::Suggest(_) => bail!("`rtp suggest` runs before the pipeline's settings are read"),
        Command::Bench { target } => bench::run(target, &config, &runtime),
    }
}

fn ingest_jobs(args: IngestArgs) -> Result<()> {
    let options = IngestOptions {
        format: args.format,
        strict: args.strict,
        batch_rows: DEFAULT_BATCH_ROWS,
    };
    let out = &args.out;
    let summary = with_spinner("ingesting", || ingest(&args.inputs, out, &options))?;
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
    for f in summary.files.iter().filter(|f| f.assumed_start > 0) {
        println!(
            "{}: {}",
            f.path.display(),
            assumed_start_note(f.assumed_start)
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
    Ok(())
}

fn features(
    args: FeaturesArgs,
    config: &PipelineConfig,
    runtime: &tokio::runtime::Runtime,
) -> Result<()> {
    let mut options = config.features.clone();
    if let Some(engine) = &args.ballista {
        options.engine = SqlEngine::parse(engine)?;
    }
    let started = std::time::Instant::now();
    let tables = with_spinner("building features", || {
        runtime.block_on(build_features(&args.jobs, &args.out, &options))
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
    Ok(())
}

fn train_bundle(args: TrainArgs, config: &PipelineConfig) -> Result<()> {
    let states = args.states.unwrap_or_else(|| config.train.states.clone());
    let dir = with_spinner("training", || {
        train_from_features(&args.features, &args.bundle_dir, &states, config)
    })?;
    println!("published bundle {}", dir.display());
    Ok(())
}

/// Inputs ingested, turned into features and evaluated, with the scratch
/// directory holding their tables (removed when dropped).
struct Evaluated {
    prepared: Prepared,
    evaluation: Evaluation,
    scratch: tempfile::TempDir,
}

/// `evaluate`'s and `replay`'s common start: ingest, features, train and
/// test under `protocol`, in `work_dir` or a scratch directory.
fn ingest_and_evaluate(
    inputs: &[PathBuf],
    format: InputFormat,
    work_dir: Option<PathBuf>,
    protocol: Protocol,
    (config, runtime): (&PipelineConfig, &tokio::runtime::Runtime),
    stages: &mut Vec<StageReport>,
) -> Result<Evaluated> {
    let scratch = tempfile::tempdir().context("creating a work directory")?;
    let work_dir = work_dir.unwrap_or_else(|| scratch.path().to_owned());
    let prepared = with_spinner("ingesting and building features", || {
        runtime.block_on(chain::prepare(inputs, format, &work_dir, config, stages))
    })?;
    report_ingest(&prepared);
    let states = config.train.states_for(prepared.format).clone();
    let evaluation = with_spinner("training and evaluating", || {
        chain::evaluate_stage(&prepared, &states, protocol, config, stages)
    })?;
    Ok(Evaluated {
        prepared,
        evaluation,
        scratch,
    })
}

fn evaluate(
    args: EvaluateArgs,
    config: &PipelineConfig,
    runtime: &tokio::runtime::Runtime,
) -> Result<()> {
    let protocol = match (&args.rolling_window, &args.rolling_step) {
        (Some(w), Some(s)) => Protocol::Rolling {
            window_s: parse_span(w)?,
            step_s: parse_span(s)?,
        },
        _ => Protocol::Holdout {
            test_frac: args.test_frac.unwrap_or(config.test_frac),
        },
    };
    let mut stages = Vec::new();
    let Evaluated {
        prepared,
        mut evaluation,
        scratch: _scratch,
    } = ingest_and_evaluate(
        &args.inputs,
        args.format,
        args.work_dir,
        protocol,
        (config, runtime),
        &mut stages,
    )?;
    let modes = match &args.serving {
        Some(texts) => parse_modes(texts)?,
        None => config.serving.clone(),
    };
    with_spinner("replaying the test period as served", || {
        runtime.block_on(chain::serving_stage(
            &prepared,
            &mut evaluation,
            protocol,
            &modes,
            false,
            &config.features.sql_dir,
            &mut stages,
        ))
    })?;
    if args.ablation {
        let states = config.train.states_for(prepared.format).clone();
        evaluation.summary.ablation =
            with_spinner("evaluating without each feature family", || {
                ablation::ablation(&prepared.frame, &states, protocol, &config.train)
            })?;
    }
    print!("{}", render_table(&evaluation.summary));
    println!("{}", evaluation.model.request_cap.describe());
    if args.ablation {
        print!("{}", render_ablation(&evaluation.summary));
    }
    if let Some(path) = args.json {
        let text = serde_json::to_string_pretty(&evaluation.summary)?;
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        println!("metrics written to {}", path.display());
    }
    Ok(())
}

fn replay(
    args: ReplayArgs,
    config: &PipelineConfig,
    runtime: &tokio::runtime::Runtime,
) -> Result<()> {
    let protocol = Protocol::Holdout {
        test_frac: args.test_frac.unwrap_or(config.test_frac),
    };
    let options = ReplayOptions {
        policy: match args.policy {
            QueuePolicy::Easy => Policy::Easy,
            QueuePolicy::EasySjbf => Policy::EasyShortestFirst,
            QueuePolicy::Fcfs => Policy::Fcfs,
        },
        overrun: match args.underestimate {
            Underestimate::Kill => Overrun::KillAndResubmit,
            Underestimate::Extend => Overrun::Extend,
        },
        processors: args.processors,
    };
    let mut stages = Vec::new();
    let Evaluated {
        prepared,
        mut evaluation,
        scratch: _scratch,
    } = ingest_and_evaluate(
        &args.inputs,
        args.format,
        args.work_dir,
        protocol,
        (config, runtime),
        &mut stages,
    )?;
    with_spinner("scheduling the test period four times", || {
        runtime.block_on(chain::replay_stage(
            &prepared,
            &mut evaluation,
            options,
            &config.features.sql_dir,
            &mut stages,
        ))
    })?;
    let replayed = evaluation
        .summary
        .replay
        .as_ref()
        .context("the replay produced nothing")?;
    print!("{}", render_replay(replayed));
    if let Some(path) = args.json {
        let text = serde_json::to_string_pretty(replayed)?;
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        println!("replay written to {}", path.display());
    }
    Ok(())
}

fn generate_jobs(args: GenerateArgs) -> Result<()> {
    let written = with_spinner("generating", || {
        generate(
            &args.out,
            &GenerateOptions {
                rows: args.rows,
                seed: args.seed,
                batch_rows: DEFAULT_BATCH_ROWS,
            },
        )
    })?;
    println!(
        "wrote {written} synthetic Eagle jobs to {}",
        args.out.display()
    );
    Ok(())
}

fn run_chain(config: &PipelineConfig, runtime: &tokio::runtime::Runtime) -> Result<()> {
    let report = with_spinner("running the pipeline", || {
        runtime.block_on(chain::run(config))
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
    Ok(())
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
    if summary.assumed_start() > 0 {
        println!("{}", assumed_start_note(summary.assumed_start()));
    }
}

/// What ingest assumed for jobs whose start the input does not record.
fn assumed_start_note(jobs: u64) -> String {
    format!(
        "{jobs} jobs have a runtime but no recorded wait: each is taken to start at its submit, so it ends, and joins history, at the earliest time it could have"
    )
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
