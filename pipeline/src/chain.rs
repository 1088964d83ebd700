//! The whole chain, as `rtp evaluate`, `rtp run` and `rtp bench pipeline`
//! run it: (generate →) ingest → features → load → evaluate → train → publish,
//! with wall time and peak memory recorded per stage.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rtp_bundle::BundleStore;
use rtp_bundle::manifest::{EvaluationSummary, ServingQuality};
use rtp_jobs::JobTable;

use crate::config::{PipelineConfig, RunInput, StateFilter};
use crate::error::{PipelineError, Result};
use crate::evaluate::serving::{ReplayInputs, Serving, read_jobs, served_features};
use crate::evaluate::{
    Evaluation, Protocol, ServedLive, eligible_rows, evaluate, served_predictions, tested_quality,
};
use crate::features::{FeatureTables, build_features};
use crate::frame::FeatureFrame;
use crate::generate::{GenerateOptions, generate};
use crate::ingest::{
    DEFAULT_BATCH_ROWS, IngestOptions, IngestSummary, InputFormat, declared_processors, ingest,
};
use crate::publish::{BundleSources, fingerprint, publish};
use crate::replay::{Predicted, ReplayOptions, replay};
use crate::stages::{self, StageReport};
use crate::train::train;

/// Job records ingested and turned into features, loaded for modelling.
#[derive(Debug)]
pub struct Prepared {
    /// What ingest did.
    pub ingest: IngestSummary,
    /// The feature tables written.
    pub features: FeatureTables,
    /// The feature table in memory.
    pub frame: FeatureFrame,
    /// The input format (Eagle when inputs were mixed).
    pub format: InputFormat,
}

/// What a full run produced.
#[derive(Debug)]
pub struct ChainReport {
    /// What ingest did.
    pub ingest: IngestSummary,
    /// Held-out quality.
    pub evaluation: EvaluationSummary,
    /// The published bundle, if one was published.
    pub bundle: Option<PathBuf>,
    /// Per-stage measurements.
    pub stages: Vec<StageReport>,
}

/// Ingests `inputs` into `work_dir/jobs.parquet`, builds
/// `work_dir/features.parquet` and loads it.
pub async fn prepare(
    inputs: &[PathBuf],
    format: InputFormat,
    work_dir: &Path,
    config: &PipelineConfig,
    stages_out: &mut Vec<StageReport>,
) -> Result<Prepared> {
    std::fs::create_dir_all(work_dir).map_err(PipelineError::io(work_dir))?;
    let stage = stages::start("ingest");
    let jobs = work_dir.join("jobs.parquet");
    let summary = ingest(
        inputs,
        &jobs,
        &IngestOptions {
            format,
            strict: false,
            batch_rows: DEFAULT_BATCH_ROWS,
        },
    )?;
    stages_out.push(stage.finish(summary.kept()));

    let stage = stages::start("features");
    let tables =
        build_features(&jobs, &work_dir.join("features.parquet"), &config.features).await?;
    stages_out.push(stage.finish(tables.rows));
    stages::release_freed_memory();

    let frame = load_frame(&tables.features, "load features", stages_out)?;

    let formats: Vec<InputFormat> = summary.files.iter().map(|f| f.format).collect();
    let format = match formats.first() {
        Some(&first) if formats.iter().all(|&f| f == first) => first,
        _ => InputFormat::Eagle,
    };
    Ok(Prepared {
        ingest: summary,
        features: tables,
        frame,
        format,
    })
}

/// Reads the feature table at `path` as the stage `stage`.
fn load_frame(path: &Path, stage: &str, stages_out: &mut Vec<StageReport>) -> Result<FeatureFrame> {
    let stage = stages::start(stage);
    let frame = FeatureFrame::read(path)?;
    stages_out.push(stage.finish(frame.len() as u64));
    Ok(frame)
}

/// Evaluates under `protocol` and records the stage.
pub fn evaluate_stage(
    prepared: &Prepared,
    states: &StateFilter,
    protocol: Protocol,
    config: &PipelineConfig,
    stages_out: &mut Vec<StageReport>,
) -> Result<Evaluation> {
    let stage = stages::start("evaluate (train+test)");
    let evaluation = evaluate(&prepared.frame, states, protocol, &config.train)?;
    stages_out.push(stage.finish(evaluation.summary.n_test));
    Ok(evaluation)
}

/// Scores every job of a holdout's test period again under each of
/// `modes`, from state followed by job events (see
/// [`crate::evaluate::serving`]), and adds the test jobs' quality to the
/// evaluation. With `for_replay`, the live predictions of every job of the
/// period stay with it for the schedule replay, which then scores nothing
/// again. The rolling protocol trains one model per step, so it is not
/// replayed.
pub async fn serving_stage(
    prepared: &Prepared,
    evaluation: &mut Evaluation,
    protocol: Protocol,
    modes: &[Serving],
    for_replay: bool,
    sql_dir: &Path,
    stages_out: &mut Vec<StageReport>,
) -> Result<()> {
    if modes.is_empty() || !matches!(protocol, Protocol::Holdout { .. }) {
        return Ok(());
    }
    let stage = stages::start("evaluate as served");
    let jobs = read_jobs(&prepared.ingest.output)?;
    let period = test_period_keys(evaluation, &jobs)?;
    let frames = served_features(prepared.replay_inputs(&jobs, sql_dir), &period, modes).await?;
    // The replays ran on their own threads, whose allocator arenas keep what
    // they freed; the predictions below build model matrices of their own.
    stages::release_freed_memory();
    let row_of: HashMap<i64, usize> = period.iter().enumerate().map(|(i, &k)| (k, i)).collect();
    let test_rows: Vec<usize> = evaluation
        .test_jobs
        .job_key
        .iter()
        .map(|key| row_of[key])
        .collect();
    let mut test_of_row: Vec<Option<usize>> = vec![None; period.len()];
    for (i, &row) in test_rows.iter().enumerate() {
        test_of_row[row] = Some(i);
    }
    for (&mode, frame) in modes.iter().zip(frames) {
        // With the schedule replay to follow, every job of the period is
        // scored once, live: the test jobs' predictions are among them.
        let keep_for_replay = for_replay && mode == Serving::Live;
        let rows: Vec<usize> = if keep_for_replay {
            (0..frame.len()).collect()
        } else {
            test_rows.clone()
        };
        // A job's prediction depends on its row alone: test jobs served with
        // the inputs they were tested with (live, all of them when the state
        // follows the SQL) keep their test outputs.
        let (predictions, reused) = served_predictions(evaluation, &frame, &rows, &test_of_row)?;
        tracing::debug!(%mode, jobs = rows.len(), reused, "served predictions");
        let model = if keep_for_replay {
            let model = tested_quality(evaluation, &predictions.select(&test_rows));
            evaluation.served_live = Some(ServedLive {
                job_key: frame.job_key,
                predictions,
            });
            model
        } else {
            tested_quality(evaluation, &predictions)
        };
        evaluation.summary.serving.push(ServingQuality {
            mode: mode.to_string(),
            model,
        });
    }
    stages_out.push(stage.finish(test_rows.len() as u64 * modes.len() as u64));
    Ok(())
}

/// Where the test period starts: the first test job's submit.
fn test_from(evaluation: &Evaluation) -> Result<i64> {
    evaluation
        .test_jobs
        .first_submit_s()
        .ok_or_else(|| PipelineError::NotEnoughData("the evaluation has no test job".into()))
}

/// The keys of every job submitted in the test period, in key order.
fn test_period_keys(evaluation: &Evaluation, jobs: &JobTable) -> Result<Vec<i64>> {
    let test_from = test_from(evaluation)?;
    let mut keys: Vec<i64> = jobs
        .rows()
        .iter()
        .filter(|j| j.submit_time >= Some(test_from))
        .filter_map(|j| j.job_key)
        .collect();
    keys.sort_unstable();
    Ok(keys)
}

/// Schedules the holdout's test period again with the model's suggestions
/// (see [`crate::replay`]) and adds the replay to the evaluation. The
/// suggestions come from the test jobs' features as served live, so each
/// uses only what was known at its submit.
pub async fn replay_stage(
    prepared: &Prepared,
    evaluation: &mut Evaluation,
    options: ReplayOptions,
    sql_dir: &Path,
    stages_out: &mut Vec<StageReport>,
) -> Result<()> {
    let stage = stages::start("replay the schedule");
    let test_from = test_from(evaluation)?;
    let jobs = read_jobs(&prepared.ingest.output)?;
    let served = match evaluation.served_live.take() {
        Some(served) => served,
        None => {
            let keys = test_period_keys(evaluation, &jobs)?;
            let inputs = prepared.replay_inputs(&jobs, sql_dir);
            let frame = served_features(inputs, &keys, &[Serving::Live])
                .await?
                .remove(0);
            let rows: Vec<usize> = (0..frame.len()).collect();
            let predictions = evaluation.model.predict(&frame, &rows)?;
            ServedLive {
                job_key: frame.job_key,
                predictions,
            }
        }
    };
    let predicted: HashMap<i64, Predicted> = served
        .job_key
        .iter()
        .zip(served.predictions.p50.iter().zip(&served.predictions.p90))
        .map(|(&key, (&p50, &p90))| (key, Predicted { p50, p90 }))
        .collect();
    let declared = match prepared.ingest.files.first() {
        Some(file) if file.format == InputFormat::Swf => declared_processors(&file.path)?,
        _ => None,
    };
    let replayed = replay(&jobs, test_from, &predicted, declared, options)?;
    let simulated = replayed.runs.iter().map(|r| r.jobs).sum();
    evaluation.summary.replay = Some(replayed);
    stages_out.push(stage.finish(simulated));
    Ok(())
}

/// What a bundle is trained from: the feature table in memory and the files
/// that identify it.
#[derive(Debug)]
pub struct TrainingData<'a> {
    /// The feature table.
    pub frame: &'a FeatureFrame,
    /// The history state written beside it.
    pub history_state: &'a Path,
    /// The queue state written beside it.
    pub queue_state: &'a Path,
    /// The file whose fingerprint identifies the training input.
    pub source: &'a Path,
    /// The SQL that built the features.
    pub sql_dir: &'a Path,
}

impl Prepared {
    /// What the online state code replays: `jobs` (this data's job table,
    /// read once by the caller) and the state tables its features wrote.
    pub fn replay_inputs<'a>(&'a self, jobs: &'a JobTable, sql_dir: &'a Path) -> ReplayInputs<'a> {
        ReplayInputs {
            jobs,
            history_state: &self.features.history_state,
            queue_state: &self.features.queue_state,
            sql_dir,
        }
    }

    /// Lets the feature table in memory go while stages that do not read
    /// it run (the replays hold their own state and features), and reads
    /// it again before training: at 11M jobs it is 5 GiB.
    pub fn release_frame(&mut self) {
        self.frame = FeatureFrame::default();
        stages::release_freed_memory();
    }

    /// Reads the feature table again after [`Prepared::release_frame`].
    pub fn reload_frame(&mut self, stages_out: &mut Vec<StageReport>) -> Result<()> {
        self.frame = load_frame(&self.features.features, "reload features", stages_out)?;
        Ok(())
    }

    /// The prepared data as training input; `sql_dir` holds the SQL that
    /// built its features.
    pub fn training_data<'a>(&'a self, sql_dir: &'a Path) -> TrainingData<'a> {
        TrainingData {
            frame: &self.frame,
            history_state: &self.features.history_state,
            queue_state: &self.features.queue_state,
            source: &self.ingest.output,
            sql_dir,
        }
    }
}

/// Trains on every eligible job and publishes a bundle carrying `evaluation`.
pub fn train_and_publish(
    data: TrainingData<'_>,
    states: &StateFilter,
    evaluation: Option<EvaluationSummary>,
    config: &PipelineConfig,
    bundle_dir: &Path,
    stages_out: &mut Vec<StageReport>,
) -> Result<PathBuf> {
    let stage = stages::start("train (all jobs)");
    let rows = eligible_rows(data.frame, states);
    let model = train(data.frame, &rows, &config.train)?;
    stages_out.push(stage.finish(rows.len().min(config.train.max_train_rows) as u64));

    let stage = stages::start("publish");
    let dir = publish(
        &BundleStore::new(bundle_dir),
        BundleSources {
            model: &model,
            history_state: data.history_state,
            queue_state: data.queue_state,
            sql_dir: data.sql_dir,
            input_fingerprint: fingerprint(data.source)?,
            states,
            history_until_s: data.frame.last_end_s(),
            evaluation,
        },
    )?;
    stages_out.push(stage.finish(1));
    Ok(dir)
}

/// Runs the configured chain end to end: evaluate on a holdout, then train
/// on everything and publish.
pub async fn run(config: &PipelineConfig) -> Result<ChainReport> {
    let mut stages_out = Vec::new();
    let work_dir = &config.run.work_dir;
    std::fs::create_dir_all(work_dir).map_err(PipelineError::io(work_dir))?;
    let inputs = match &config.run.input {
        RunInput::Files(files) => files.clone(),
        RunInput::Generate { rows, seed } => {
            let stage = stages::start("generate");
            let path = work_dir.join("generated_eagle.parquet");
            let written = generate(
                &path,
                &GenerateOptions {
                    rows: *rows,
                    seed: *seed,
                    batch_rows: DEFAULT_BATCH_ROWS,
                },
            )?;
            stages_out.push(stage.finish(written));
            vec![path]
        }
    };
    let mut prepared = prepare(
        &inputs,
        config.run.format,
        work_dir,
        config,
        &mut stages_out,
    )
    .await?;
    let states = config.train.states_for(prepared.format).clone();
    let protocol = Protocol::Holdout {
        test_frac: config.test_frac,
    };
    let mut evaluation = evaluate_stage(&prepared, &states, protocol, config, &mut stages_out)?;
    let replays = !config.serving.is_empty() || config.replay;
    if replays {
        prepared.release_frame();
    }
    serving_stage(
        &prepared,
        &mut evaluation,
        protocol,
        &config.serving,
        config.replay,
        &config.features.sql_dir,
        &mut stages_out,
    )
    .await?;
    // Only the serving replays reuse the test outputs.
    evaluation.test_scored = None;
    if config.replay {
        replay_stage(
            &prepared,
            &mut evaluation,
            ReplayOptions::default(),
            &config.features.sql_dir,
            &mut stages_out,
        )
        .await?;
    }
    // Only the schedule replay reads the served features, not training.
    evaluation.served_live = None;
    if replays {
        prepared.reload_frame(&mut stages_out)?;
    }
    let bundle = train_and_publish(
        prepared.training_data(&config.features.sql_dir),
        &states,
        Some(evaluation.summary.clone()),
        config,
        &config.run.bundle_dir,
        &mut stages_out,
    )?;
    Ok(ChainReport {
        ingest: prepared.ingest,
        evaluation: evaluation.summary,
        bundle: Some(bundle),
        stages: stages_out,
    })
}
