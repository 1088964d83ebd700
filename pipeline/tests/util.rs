//! Helpers for building small job tables and reading feature tables back.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::Int64Type;
use datafusion::arrow::util::display::array_value_to_string;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rtp_pipeline::chain::{self, Prepared};
use rtp_pipeline::config::PipelineConfig;
use rtp_pipeline::evaluate::{Evaluation, Protocol};
use rtp_pipeline::features::{FeatureOptions, FeatureTables, build_features};
use rtp_pipeline::generate::{GenerateOptions, generate};
use rtp_pipeline::ingest::{IngestOptions, InputFormat, JobTableWriter, ingest};
use rtp_pipeline::train::{TrainedModel, train};
use rtp_scoring::Job;

/// Feature options reading the repository's SQL, with pinned partitions.
pub fn feature_options(target_partitions: usize, batch_size: usize) -> FeatureOptions {
    FeatureOptions {
        sql_dir: test_support::sql_dir(),
        target_partitions,
        batch_size,
        memory_limit: 2 << 30,
        prefer_hash_join: false,
        fold_windows: true,
        engine: Default::default(),
    }
}

/// The default configuration with the repository's SQL directory, training
/// the LightGBM member only (no Python needed).
pub fn config() -> PipelineConfig {
    let mut config = ensemble_config();
    config.train.set_members("lightgbm").unwrap();
    config
}

/// The default configuration with the repository's SQL directory: the full
/// ensemble, with XGBoost and CatBoost trained in the project's Python
/// environment (created on first use).
pub fn ensemble_config() -> PipelineConfig {
    let mut config = PipelineConfig::default_config().unwrap();
    config.features.sql_dir = test_support::sql_dir();
    config
}

/// Writes `jobs` as a canonical job table.
pub fn write_jobs(path: &Path, jobs: &[Job]) {
    let mut writer = JobTableWriter::create(path, 1024).unwrap();
    for job in jobs {
        writer.push(job).unwrap();
    }
    writer.finish().unwrap();
}

/// Generates `rows` synthetic Eagle jobs and ingests them; returns the job table.
pub fn generated_jobs(dir: &Path, rows: u64, seed: u64) -> PathBuf {
    let raw = dir.join("eagle.parquet");
    generate(
        &raw,
        &GenerateOptions {
            rows,
            seed,
            batch_rows: 4096,
        },
    )
    .unwrap();
    let jobs = dir.join("jobs.parquet");
    let summary = ingest(&[raw], &jobs, &IngestOptions::default()).unwrap();
    assert_eq!(summary.kept(), rows);
    jobs
}

/// Builds features for `jobs` into `dir/name.parquet`.
pub async fn features(
    jobs: &Path,
    dir: &Path,
    name: &str,
    options: &FeatureOptions,
) -> FeatureTables {
    build_features(jobs, &dir.join(format!("{name}.parquet")), options)
        .await
        .unwrap()
}

/// Reads a job table written by ingest, times in seconds.
pub fn read_jobs(path: &Path) -> Vec<RecordBatch> {
    rtp_pipeline::job_table::read_job_table(path).unwrap()
}

/// Reads all batches of a Parquet file.
pub fn read_batches(path: &Path) -> Vec<RecordBatch> {
    ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap())
        .unwrap()
        .build()
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// One feature-table row rendered as text per column, keyed by job.
pub type RenderedRow = BTreeMap<String, String>;

/// The feature table as job_key → column → rendered value (f64 renders
/// round-trip exactly, so equal text means equal values).
pub fn feature_rows(path: &Path) -> BTreeMap<i64, RenderedRow> {
    let mut out = BTreeMap::new();
    for batch in read_batches(path) {
        let keys = batch
            .column_by_name("job_key")
            .unwrap()
            .as_primitive::<Int64Type>()
            .clone();
        for row in 0..batch.num_rows() {
            let mut rendered = RenderedRow::new();
            for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
                let value = if column.is_null(row) {
                    "NULL".to_owned()
                } else {
                    array_value_to_string(column, row).unwrap()
                };
                rendered.insert(field.name().clone(), value);
            }
            assert!(
                out.insert(keys.value(row), rendered).is_none(),
                "job_key repeats"
            );
        }
    }
    out
}

/// Only the columns that a model or baseline sees (`f_*`, `cat_*`, `base_*`).
pub fn known_at_submit(row: &RenderedRow) -> RenderedRow {
    row.iter()
        .filter(|(k, _)| k.starts_with("f_") || k.starts_with("cat_") || k.starts_with("base_"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// A completed job of `user` in `partition`.
pub fn job(user: &str, partition: &str, submit: i64, start: i64, end: i64, limit: f64) -> Job {
    Job {
        job_key: None,
        job_id: format!("{submit}"),
        user: Some(user.into()),
        account: Some(format!("acct_{user}")),
        partition: Some(partition.into()),
        qos: Some("normal".into()),
        wallclock_req_s: Some(limit),
        nodes_req: Some(1),
        processors_req: Some(4),
        gpus_req: Some(0),
        mem_req_mb: None,
        submit_time: Some(submit),
        start_time: Some(start),
        end_time: Some(end),
        run_time_s: Some((end - start) as f64),
        state: Some("COMPLETED".into()),
        name: Some("job".into()),
        work_dir: None,
    }
}

/// Ingests `input` (any format) into `work`, builds features and evaluates
/// on the holdout's last 20 %, as `rtp evaluate` does.
pub async fn evaluate_holdout(
    input: &Path,
    work: &Path,
    config: &PipelineConfig,
) -> (Prepared, Evaluation) {
    let mut stages = Vec::new();
    let prepared = chain::prepare(
        &[input.to_owned()],
        InputFormat::Auto,
        work,
        config,
        &mut stages,
    )
    .await
    .unwrap();
    let states = config.train.states_for(prepared.format).clone();
    let evaluation = chain::evaluate_stage(
        &prepared,
        &states,
        Protocol::Holdout { test_frac: 0.2 },
        config,
        &mut stages,
    )
    .unwrap();
    eprintln!(
        "{}",
        rtp_pipeline::evaluate::render_table(&evaluation.summary)
    );
    (prepared, evaluation)
}

/// Ingests an Eagle file into `work`, builds features and trains on every
/// eligible job, as `rtp train` does.
pub async fn prepare_and_train(
    eagle: &Path,
    work: &Path,
    config: &PipelineConfig,
) -> (Prepared, TrainedModel) {
    let mut stages = Vec::new();
    let prepared = chain::prepare(
        &[eagle.to_owned()],
        InputFormat::Eagle,
        work,
        config,
        &mut stages,
    )
    .await
    .unwrap();
    let rows = rtp_pipeline::evaluate::eligible_rows(&prepared.frame, &config.train.states);
    let model = train(&prepared.frame, &rows, &config.train).unwrap();
    (prepared, model)
}

/// Field of an SWF job line holding the wait time (0-based).
pub const SWF_WAIT: usize = 2;
/// Field of an SWF job line holding the run time.
pub const SWF_RUN: usize = 3;
/// Field of an SWF job line holding the requested time.
pub const SWF_REQUESTED_TIME: usize = 8;

/// Copies the (gzipped) SWF log `src` to `dst` with `field` set to -1 on
/// every job line, as logs that do not record it write it; returns the
/// job lines' original fields.
pub fn blank_swf_field(src: &Path, dst: &Path, field: usize) -> Vec<Vec<String>> {
    rewrite_swf(src, dst, |fields| fields[field] = "-1".into())
}

/// Copies the (gzipped) SWF log `src` to `dst` with each job line's fields
/// passed through `edit`; returns the job lines' original fields.
pub fn rewrite_swf(
    src: &Path,
    dst: &Path,
    mut edit: impl FnMut(&mut Vec<String>),
) -> Vec<Vec<String>> {
    use std::io::{BufRead, Write};
    let mut out = std::io::BufWriter::new(File::create(dst).unwrap());
    let reader =
        std::io::BufReader::new(flate2::read::MultiGzDecoder::new(File::open(src).unwrap()));
    let mut jobs = Vec::new();
    for line in reader.lines() {
        let line = line.unwrap();
        let fields: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
        if line.trim_start().starts_with(';') || fields.len() != 18 {
            writeln!(out, "{line}").unwrap();
            continue;
        }
        let mut edited = fields.clone();
        edit(&mut edited);
        writeln!(out, "{}", edited.join(" ")).unwrap();
        jobs.push(fields);
    }
    out.flush().unwrap();
    jobs
}

/// Every value of `p` as its bits, to compare predictions exactly.
pub fn prediction_bits(p: &rtp_pipeline::train::Predictions) -> Vec<Vec<u64>> {
    [&p.p10, &p.p50, &p.p90, &p.likely, &p.suggestion_ceiling_s]
        .iter()
        .map(|v| v.iter().map(|x| x.to_bits()).collect())
        .collect()
}
