//! A loaded bundle, ready to score: its compiled feature program, its state
//! tables, its category codes and its ensemble.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, DictionaryArray, Float64Array, Int32Array, RecordBatch,
    StringArray,
};
use datafusion::arrow::compute::{cast, filter_record_batch};
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Schema, SchemaRef};
use datafusion::common::ScalarValue;
use rtp_bundle::feature_sql::{FEATURES_TABLE, load_sql_files};
use rtp_bundle::interval::calibrated_seconds;
use rtp_bundle::request_cap::PARTITION_FEATURE;
use rtp_bundle::{BundleStore, CategoryCodes, Ensemble, LoadedBundle, Manifest};
use rtp_jobs::Purpose;
use rtp_jobs::schema::col;

use crate::advice::AdviceOptions;
use crate::contributions::{Contribution, Explainer};
use crate::entity_state::Overlay;
use crate::error::{Result, ScoringError};
use crate::feature_program::FeatureProgram;
use crate::job_input::{conform_for, job_problems_for, job_values, row_values};
use crate::live::{EventFolder, EventKey, EventReport, LiveState, Prepared, StateSchema};
use crate::model_input::ModelInput;
use crate::row_projection::batch_of;
use crate::row_value::{Value, to_scalar};
use rtp_jobs::Job;

/// Output column: p10 in seconds.
pub const PRED_P10: &str = "pred_p10";
/// Output column: p50 in seconds.
pub const PRED_P50: &str = "pred_p50";
/// Output column: p90 in seconds.
pub const PRED_P90: &str = "pred_p90";
/// Output column: the likely runtime in seconds, the one value to tell a
/// user ([`rtp_bundle::likely`]).
pub const PRED_LIKELY: &str = "pred_likely";
/// Output column: suggested wallclock request in seconds.
pub const SUGGESTED_WALLCLOCK: &str = "suggested_wallclock";
/// Output column: whether the request exceeds the factor × p90.
pub const OVERESTIMATED: &str = "overestimated";
/// Output column: the bundle version that scored the row.
pub const MODEL_VERSION: &str = "model_version";
/// Output column: why the row was not scored (null when it was).
pub const ERROR: &str = "error";

/// A bundle loaded for scoring.
#[derive(Debug)]
pub struct Scorer {
    dir: PathBuf,
    manifest: Manifest,
    program: FeatureProgram,
    /// History and queues, followed by job events.
    state: RwLock<LiveState>,
    input: ModelInput,
    ensemble: Ensemble,
    explainer: Option<Explainer>,
    advice: AdviceOptions,
    /// For feature rows: where each model input, the request and the
    /// partition are.
    row_inputs: Vec<usize>,
    request_position: Option<usize>,
    partition_position: Option<usize>,
}

/// A prediction in seconds with the most a suggestion for the job may be.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Bounded {
    quantiles: [f64; 3],
    /// The likely runtime ([`rtp_bundle::likely`]), seconds.
    likely: f64,
    suggestion_ceiling_s: f64,
}

/// The prediction for one job (see [`Scorer::score_job`]).
#[derive(Debug, Clone, PartialEq)]
pub struct JobScore {
    /// Calibrated p10, seconds.
    pub p10: f64,
    /// Calibrated p50, seconds.
    pub p50: f64,
    /// Calibrated p90, seconds.
    pub p90: f64,
    /// The likely runtime, seconds: most likely within 2× of the actual.
    pub likely: f64,
    /// Suggested wallclock request, seconds.
    pub suggested_wallclock: f64,
    /// Whether the request exceeds the factor × p90.
    pub overestimated: bool,
    /// Its largest feature contributions, when asked for.
    pub contributions: Vec<Contribution>,
}

/// Predictions for one request batch.
#[derive(Debug)]
pub struct Scored {
    /// Key columns, predictions, suggestions and per-row errors.
    pub batch: RecordBatch,
    /// Rows that could not be scored.
    pub failed_rows: usize,
    /// Where the time went.
    pub timings: Timings,
    /// Per input row, its largest feature contributions (see
    /// [`Scorer::score_explained`]); empty when not asked for, when the row
    /// failed, or when the bundle has no LightGBM median model.
    pub contributions: Vec<Vec<Contribution>>,
}

impl Scored {
    /// Row `row` as a [`JobScore`], or why it was not scored.
    pub fn job_score(&self, row: usize) -> std::result::Result<JobScore, String> {
        let b = &self.batch;
        let column = |name: &str| b.column_by_name(name).expect("scored batch column");
        let errors = column(ERROR).as_string::<i32>();
        if errors.is_valid(row) {
            return Err(errors.value(row).to_owned());
        }
        let value = |name: &str| column(name).as_primitive::<Float64Type>().value(row);
        let over = column(OVERESTIMATED).as_boolean();
        Ok(JobScore {
            p10: value(PRED_P10),
            p50: value(PRED_P50),
            p90: value(PRED_P90),
            likely: value(PRED_LIKELY),
            suggested_wallclock: value(SUGGESTED_WALLCLOCK),
            overestimated: over.is_valid(row) && over.value(row),
            contributions: self.contributions.get(row).cloned().unwrap_or_default(),
        })
    }
}

/// Time spent per scoring step.
#[derive(Debug, Default, Clone, Copy)]
pub struct Timings {
    /// Conforming input and computing features.
    pub features: Duration,
    /// Evaluating the ensemble and turning its output into seconds.
    pub model: Duration,
}

impl Scorer {
    /// Loads the bundle `latest` points at in `store`.
    pub async fn load_latest(store: &BundleStore, advice: AdviceOptions) -> Result<Self> {
        Self::load(store.open_latest()?, advice).await
    }

    /// Loads a bundle: compiles its SQL, reads its state, codes and models.
    pub async fn load(bundle: LoadedBundle, advice: AdviceOptions) -> Result<Self> {
        let LoadedBundle { dir, manifest } = bundle;
        let history_file = dir.join(&manifest.history_file);
        let queue_file = dir.join(&manifest.queue_file);
        let schema = StateSchema::read(&history_file, &queue_file)?;
        let files = load_sql_files(&dir.join(&manifest.sql_dir))?;
        let program = FeatureProgram::compile(&files, &schema).await?;
        let state = LiveState::read(program.layout().clone(), &history_file, &queue_file)?;
        let codes = CategoryCodes::read(&dir.join(&manifest.categories_file))?;
        let input = ModelInput::new(&manifest.features, &codes);
        let ensemble = Ensemble::load(&dir, &manifest)?;
        let explainer = Explainer::for_bundle(&ensemble, &manifest);
        let row_inputs = input.positions(program.output_names())?;
        let request_position = program
            .output_names()
            .iter()
            .position(|n| n == col::WALLCLOCK_REQ_S);
        let partition_position = program
            .output_names()
            .iter()
            .position(|n| n == PARTITION_FEATURE);
        if let Err(why) = program.row_form() {
            tracing::warn!(bundle = %manifest.version, %why, "single jobs are scored as one-row batches");
        }
        Ok(Self {
            dir,
            manifest,
            program,
            state: RwLock::new(state),
            input,
            ensemble,
            explainer,
            advice,
            row_inputs,
            request_position,
            partition_position,
        })
    }

    /// The rules a job must pass to be scored by this bundle: without a
    /// requested time only if the model learned from enough such jobs.
    pub fn purpose(&self) -> Purpose {
        if self.manifest.request_cap.requests_optional() {
            Purpose::ScoringWithoutRequest
        } else {
            Purpose::Scoring
        }
    }

    /// The live state, for reading.
    pub fn live_state(&self) -> RwLockReadGuard<'_, LiveState> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The compiled feature program.
    pub fn program(&self) -> &FeatureProgram {
        &self.program
    }

    /// Folds a prepared batch of events into the state (see
    /// [`EventFolder::commit`]).
    pub fn commit_events(&self, folder: &mut EventFolder, prepared: Prepared) -> EventReport {
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        folder.commit(&self.program, &mut state, prepared)
    }

    /// Folds every record of `folder` into the state (see
    /// [`EventFolder::replay`]); returns the records that do not fit.
    pub fn replay_records(&self, folder: &mut EventFolder) -> Vec<(EventKey, rtp_jobs::Problem)> {
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        folder.replay(&self.program, &mut state)
    }

    /// Whether single jobs are scored in row form (no Arrow batches), and
    /// if not, why.
    pub fn row_form(&self) -> std::result::Result<(), &str> {
        self.program.row_form()
    }

    /// The bundle version.
    pub fn version(&self) -> &str {
        &self.manifest.version
    }

    /// The bundle's manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The bundle's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The suggestion settings.
    pub fn advice(&self) -> &AdviceOptions {
        &self.advice
    }

    /// The schema of scored batches; `job_id` is included when requests carry it.
    pub fn output_schema(with_job_id: bool) -> SchemaRef {
        let mut fields = vec![Field::new(col::JOB_KEY, DataType::Int64, false)];
        if with_job_id {
            fields.push(Field::new(col::JOB_ID, DataType::Utf8, true));
        }
        fields.extend([
            Field::new(PRED_P10, DataType::Float64, true),
            Field::new(PRED_P50, DataType::Float64, true),
            Field::new(PRED_P90, DataType::Float64, true),
            Field::new(PRED_LIKELY, DataType::Float64, true),
            Field::new(SUGGESTED_WALLCLOCK, DataType::Float64, true),
            Field::new(OVERESTIMATED, DataType::Boolean, true),
            // One value per batch: a dictionary keeps it one string.
            Field::new(
                MODEL_VERSION,
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
                false,
            ),
            Field::new(ERROR, DataType::Utf8, true),
        ]);
        Arc::new(Schema::new(fields))
    }

    /// Feature rows for client job rows that are all valid, in row order,
    /// recording them in `overlay`.
    pub fn features(&self, jobs: &RecordBatch, overlay: &mut Overlay) -> Result<RecordBatch> {
        let rows = self.conform_valid(jobs, overlay)?;
        self.program.features(&rows, &self.live_state(), overlay)
    }

    /// Conformed job rows, numbered on from `overlay`; the first bad row
    /// fails them all.
    fn conform_valid(&self, jobs: &RecordBatch, overlay: &mut Overlay) -> Result<RecordBatch> {
        let rows = conform_for(jobs, overlay.rows_seen, self.purpose())?;
        overlay.rows_seen += jobs.num_rows() as i64;
        if let Some((row, e)) = rows
            .errors
            .iter()
            .enumerate()
            .find_map(|(i, e)| e.as_ref().map(|e| (i, e)))
        {
            return Err(ScoringError::column("row", format!("{row}: {e}")));
        }
        Ok(rows.batch)
    }

    /// The ensemble.
    pub fn ensemble(&self) -> &Ensemble {
        &self.ensemble
    }

    /// Column-major model inputs (bundle feature order) of feature rows.
    pub fn model_inputs(&self, features: &RecordBatch) -> Result<Vec<Vec<f32>>> {
        self.input.columns(features)
    }

    /// Calibrated p10/p50/p90 in seconds for feature rows.
    pub fn predict_features(&self, features: &RecordBatch) -> Result<Vec<[f64; 3]>> {
        let columns = self.input.columns(features)?;
        Ok(self
            .predict_columns(&columns, features)?
            .into_iter()
            .map(|b| b.quantiles)
            .collect())
    }

    /// Seconds from log quantiles for a job of `partition` with
    /// `request_s`: capped where the bundle learned the job's limit holds.
    fn bounded(&self, log_q: &[f64], partition: Option<&str>, request_s: f64) -> Bounded {
        let cap = &self.manifest.request_cap;
        let (quantiles, likely) = calibrated_seconds(
            self.manifest.target,
            self.ensemble.quantiles(),
            self.ensemble.interval_positions(),
            log_q,
            self.manifest.interval.margin,
            cap.cap_s(partition, request_s),
            self.manifest.likely.as_ref(),
        );
        Bounded {
            quantiles,
            likely,
            suggestion_ceiling_s: cap.suggestion_ceiling_s(partition, request_s),
        }
    }

    /// Whether [`Scorer::score_explained`] can give contributions.
    pub fn explains(&self) -> bool {
        self.explainer.is_some()
    }

    fn predict_columns(
        &self,
        columns: &[Vec<f32>],
        features: &RecordBatch,
    ) -> Result<Vec<Bounded>> {
        let refs: Vec<&[f32]> = columns.iter().map(Vec::as_slice).collect();
        let log_q = self.ensemble.log_quantiles(&refs)?;
        let request = features
            .column_by_name(col::WALLCLOCK_REQ_S)
            .map(|c| cast(c, &DataType::Float64))
            .transpose()
            .map_err(ScoringError::arrow("wallclock_req_s"))?;
        let request = request.as_ref().map(|r| r.as_primitive::<Float64Type>());
        let partition = features
            .column_by_name(PARTITION_FEATURE)
            .map(|c| cast(c, &DataType::Utf8))
            .transpose()
            .map_err(ScoringError::arrow(PARTITION_FEATURE))?;
        let partition = partition.as_ref().map(|p| p.as_string::<i32>());
        let mut row_q = vec![0.0; log_q.len()];
        Ok((0..features.num_rows())
            .map(|i| {
                let req = request
                    .filter(|r| r.is_valid(i))
                    .map_or(f64::NAN, |r| r.value(i));
                let partition = partition.filter(|p| p.is_valid(i)).map(|p| p.value(i));
                for (v, q) in row_q.iter_mut().zip(&log_q) {
                    *v = q[i];
                }
                self.bounded(&row_q, partition, req)
            })
            .collect())
    }

    /// Scores one job, continuing `overlay`, with its `top` contributions:
    /// the same prediction [`Scorer::score`] gives for a one-row batch, at
    /// a fraction of its cost (the features are evaluated in row form).
    /// A job that cannot be scored is refused with the reason.
    pub fn score_job(
        &self,
        job: &Job<&str>,
        overlay: &mut Overlay,
        top: usize,
    ) -> Result<JobScore> {
        if self.program.row_form().is_err() {
            return self.score_job_in_batch(job, overlay, top);
        }
        if let Some(problem) = job_problems_for(job, self.purpose()) {
            return Err(ScoringError::column("row", problem));
        }
        let values = job_values(job, overlay.rows_seen);
        overlay.rows_seen += 1;
        let features = self
            .program
            .features_row(&values, &self.live_state(), overlay)?;
        let inputs = self.input.row(&self.row_inputs, &features);
        let log_q = self.ensemble.log_quantiles_row(&inputs)?;
        let request = self
            .request_position
            .and_then(|i| match &features[i] {
                Value::Float(f) => Some(*f),
                Value::Int(v) => Some(*v as f64),
                _ => None,
            })
            .unwrap_or(f64::NAN);
        let partition = self.partition_position.and_then(|i| match &features[i] {
            Value::Str(p) => Some(p.as_ref()),
            _ => None,
        });
        let bounded = self.bounded(&log_q, partition, request);
        let [p10, p50, p90] = bounded.quantiles;
        let contributions = match (&self.explainer, top) {
            (Some(explainer), 1..) => explainer.top_of_row(&inputs, top)?,
            _ => Vec::new(),
        };
        let req = job.wallclock_req_s.unwrap_or(f64::NAN);
        Ok(JobScore {
            p10,
            p50,
            p90,
            likely: bounded.likely,
            suggested_wallclock: self
                .advice
                .suggested_wallclock(p90, bounded.suggestion_ceiling_s),
            overestimated: self.advice.overestimated(p90, req),
            contributions,
        })
    }

    /// [`Scorer::score_job`] through the vectorised path, as a one-row
    /// batch: what single jobs take when the SQL has no row form.
    pub fn score_job_in_batch(
        &self,
        job: &Job<&str>,
        overlay: &mut Overlay,
        top: usize,
    ) -> Result<JobScore> {
        // Conforming numbers a keyless job from the overlay, as the row form does.
        let batch = rtp_jobs::jobs_batch([*job]).map_err(ScoringError::jobs)?;
        let scored = self.score_explained(&batch, overlay, top)?;
        scored
            .job_score(0)
            .map_err(|e| ScoringError::column("row", e))
    }

    /// As [`Scorer::features`], but evaluating each row in row form; for
    /// checking that both forms agree.
    pub fn features_row_by_row(
        &self,
        jobs: &RecordBatch,
        overlay: &mut Overlay,
    ) -> Result<RecordBatch> {
        let rows = self.conform_valid(jobs, overlay)?;
        let mut out = Vec::with_capacity(jobs.num_rows());
        for row in 0..jobs.num_rows() {
            let values = row_values(&rows, row)?;
            out.push(
                self.program
                    .features_row(&values, &self.live_state(), overlay)?,
            );
        }
        let types = self.program.output_types();
        let columns = (0..types.len())
            .map(|c| {
                let scalars = out.iter().map(|row| to_scalar(&row[c], &types[c]));
                ScalarValue::iter_to_array(scalars)
                    .map_err(|e| ScoringError::arrow("assembling feature rows")(e.into()))
            })
            .collect::<Result<Vec<_>>>()?;
        batch_of(
            self.program.output_names().iter().map(String::as_str),
            columns,
            jobs.num_rows(),
            FEATURES_TABLE,
        )
    }

    /// Scores client job rows, taken as a submission sequence continuing
    /// `overlay`. Rows with bad values get an `error` and no prediction.
    pub fn score(&self, jobs: &RecordBatch, overlay: &mut Overlay) -> Result<Scored> {
        self.score_explained(jobs, overlay, 0)
    }

    /// As [`Scorer::score`], and for each scored row the `top` feature
    /// contributions of largest magnitude to its p50.
    pub fn score_explained(
        &self,
        jobs: &RecordBatch,
        overlay: &mut Overlay,
        top: usize,
    ) -> Result<Scored> {
        let started = Instant::now();
        let n = jobs.num_rows();
        let rows = conform_for(jobs, overlay.rows_seen, self.purpose())?;
        overlay.rows_seen += n as i64;
        let valid: BooleanArray = rows.errors.iter().map(|e| Some(e.is_none())).collect();
        let failed_rows = n - valid.true_count();
        let scored_jobs = if failed_rows == 0 {
            rows.batch.clone()
        } else {
            filter_record_batch(&rows.batch, &valid)
                .map_err(ScoringError::arrow("dropping bad rows"))?
        };
        let features = self
            .program
            .features(&scored_jobs, &self.live_state(), overlay)?;
        let features_done = Instant::now();
        let model_columns = self.input.columns(&features)?;
        let predictions = self.predict_columns(&model_columns, &features)?;
        let mut explained = Vec::new();
        if let (Some(explainer), true) = (&self.explainer, top > 0) {
            explained = (0..features.num_rows())
                .map(|r| explainer.top(&model_columns, r, top))
                .collect::<Result<Vec<_>>>()?;
        }
        let mut explained = explained.into_iter();
        let request = rows
            .batch
            .column_by_name(col::WALLCLOCK_REQ_S)
            .expect("conformed column")
            .as_primitive::<Float64Type>()
            .clone();

        let mut p10 = Vec::with_capacity(n);
        let mut p50 = Vec::with_capacity(n);
        let mut p90 = Vec::with_capacity(n);
        let mut likely = Vec::with_capacity(n);
        let mut suggested = Vec::with_capacity(n);
        let mut over = Vec::with_capacity(n);
        let mut contributions = Vec::with_capacity(if top > 0 { n } else { 0 });
        let mut next = predictions.iter();
        for (i, error) in rows.errors.iter().enumerate() {
            let p = if error.is_none() { next.next() } else { None };
            if top > 0 {
                let row = if error.is_none() {
                    explained.next()
                } else {
                    None
                };
                contributions.push(row.unwrap_or_default());
            }
            let req = if request.is_valid(i) {
                request.value(i)
            } else {
                f64::NAN
            };
            p10.push(p.map(|p| p.quantiles[0]));
            p50.push(p.map(|p| p.quantiles[1]));
            p90.push(p.map(|p| p.quantiles[2]));
            likely.push(p.map(|p| p.likely));
            suggested.push(p.map(|p| {
                self.advice
                    .suggested_wallclock(p.quantiles[2], p.suggestion_ceiling_s)
            }));
            over.push(p.map(|p| self.advice.overestimated(p.quantiles[2], req)));
        }
        let job_id = jobs.column_by_name(col::JOB_ID).is_some();
        let mut columns: Vec<ArrayRef> = vec![Arc::clone(
            rows.batch
                .column_by_name(col::JOB_KEY)
                .expect("conformed column"),
        )];
        if job_id {
            columns.push(Arc::clone(
                rows.batch
                    .column_by_name(col::JOB_ID)
                    .expect("conformed column"),
            ));
        }
        columns.extend([
            Arc::new(Float64Array::from(p10)) as ArrayRef,
            Arc::new(Float64Array::from(p50)),
            Arc::new(Float64Array::from(p90)),
            Arc::new(Float64Array::from(likely)),
            Arc::new(Float64Array::from(suggested)),
            Arc::new(BooleanArray::from(over)),
            Arc::new(DictionaryArray::new(
                Int32Array::from(vec![0; n]),
                Arc::new(StringArray::from(vec![self.version()])),
            )),
            Arc::new(StringArray::from(rows.errors.clone())),
        ]);
        let batch = RecordBatch::try_new(Self::output_schema(job_id), columns)
            .map_err(ScoringError::arrow("building the scored batch"))?;
        Ok(Scored {
            batch,
            failed_rows,
            timings: Timings {
                features: features_done - started,
                model: features_done.elapsed(),
            },
            contributions,
        })
    }
}
