//! Pipeline configuration: the raw form mirrors `configs/pipeline.toml`; the
//! validated form holds checked values and resolved types.
//!
//! Defaults are stated once, in `configs/pipeline.toml`, which is embedded:
//! a user's file is laid over it key by key, so it only names what it
//! changes.

use std::collections::BTreeMap;
use std::path::PathBuf;

use rtp_bundle::MemberKind;
use rtp_service_support::Settings;
use serde::Deserialize;

use crate::error::{PipelineError, Result};
use crate::features::{FeatureOptions, SqlEngine};
use crate::ingest::InputFormat;

/// The embedded default configuration.
pub const DEFAULT_CONFIG: &str = include_str!("../../configs/pipeline.toml");

/// Configuration as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// `[features]`
    pub features: RawFeatures,
    /// `[train]`
    pub train: RawTrain,
    /// `[evaluate]`
    pub evaluate: RawEvaluate,
    /// `[run]`
    pub run: RawRun,
}

/// `[features]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFeatures {
    /// SQL directory.
    pub sql_dir: PathBuf,
    /// DataFusion target partitions.
    pub target_partitions: usize,
    /// Rows per batch.
    pub batch_size: usize,
    /// Memory before spilling, MiB.
    pub memory_limit_mib: usize,
    /// Hash joins (faster, in memory) or sort-merge joins (spill).
    pub prefer_hash_join: bool,
    /// Window functions computed by folds (see `window_folds`).
    pub fold_windows: bool,
    /// `""` (local), `standalone`, or a Ballista scheduler `df://HOST:PORT`.
    #[serde(default)]
    pub ballista: String,
}

/// A list of states, or `"any"`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum RawStates {
    /// `"any"`
    Keyword(String),
    /// `["COMPLETED", ...]`
    List(Vec<String>),
}

/// `[train]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTrain {
    /// Eligible states.
    pub states: RawStates,
    /// Eligible states for SWF inputs.
    pub swf_states: RawStates,
    /// Validation share.
    pub validation_frac: f64,
    /// Interval coverage target.
    pub interval_coverage: f64,
    /// The likely runtime's weight on extra absolute error.
    pub likely_error_weight: f64,
    /// Max boosting rounds.
    pub num_iterations: u32,
    /// Early stopping patience.
    pub early_stopping_rounds: u32,
    /// Least share of the validation loss a LightGBM round must take off the
    /// best so far to count as an improvement.
    pub early_stopping_min_gain: f64,
    /// Most recent eligible jobs used for training, at most.
    pub max_train_rows: usize,
    /// Refit on training + validation rows after early stopping.
    pub refit_with_validation: bool,
    /// Ensemble members by name.
    pub members: Vec<String>,
    /// Threads every learner may use.
    pub threads: u32,
    /// Seed of every learner.
    pub seed: u64,
    /// Categorical features with more values than this reach XGBoost and
    /// CatBoost only through their history statistics.
    pub max_onehot_categories: usize,
    /// Identity features that reach XGBoost and CatBoost only through their
    /// history statistics, whatever their cardinality.
    pub history_only: Vec<String>,
    /// Training rows on which native and library predictions are compared.
    pub parity_rows: usize,
    /// The Python environment of the XGBoost and CatBoost trainers.
    pub python: RawPython,
    /// LightGBM parameters.
    pub lightgbm: BTreeMap<String, toml::Value>,
    /// XGBoost parameters.
    pub xgboost: BTreeMap<String, toml::Value>,
    /// CatBoost parameters.
    pub catboost: BTreeMap<String, toml::Value>,
}

/// `[train.python]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPython {
    /// Interpreter that creates the environment.
    pub interpreter: String,
    /// Where the environment lives; empty for the default cache directory.
    pub env_dir: String,
}

/// `[evaluate]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEvaluate {
    /// Test share.
    pub test_frac: f64,
    /// States the holdout's test jobs are also scored from, as served.
    pub serving: Vec<String>,
    /// Whether `rtp run` schedules the test period again with the model's
    /// suggestions (`rtp replay`'s defaults) and records it in the bundle.
    pub replay: bool,
}

/// `[run]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRun {
    /// Inputs or `["generate"]`.
    pub inputs: Vec<String>,
    /// Input format.
    pub format: String,
    /// Work directory.
    pub work_dir: PathBuf,
    /// Bundle store.
    pub bundle_dir: PathBuf,
    /// Synthetic data settings.
    pub generate: RawGenerate,
}

/// `[run.generate]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGenerate {
    /// Rows to generate.
    pub rows: u64,
    /// Seed.
    pub seed: u64,
}

/// Which final states make a job eligible for training and evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateFilter {
    /// Every state.
    Any,
    /// Only these.
    Only(Vec<String>),
}

impl StateFilter {
    /// Whether `state` passes.
    pub fn accepts(&self, state: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Only(list) => list.iter().any(|s| s == state),
        }
    }

    /// The states as a list (`["any"]` for any).
    pub fn names(&self) -> Vec<String> {
        match self {
            Self::Any => vec!["any".into()],
            Self::Only(list) => list.clone(),
        }
    }

    /// Parses `any` or a comma-separated list.
    pub fn parse(text: &str) -> Result<Self> {
        Self::try_from(RawStates::Keyword(text.to_owned())).or_else(|_| {
            Self::try_from(RawStates::List(
                text.split(',').map(|s| s.trim().to_owned()).collect(),
            ))
        })
    }
}

impl TryFrom<RawStates> for StateFilter {
    type Error = PipelineError;

    fn try_from(raw: RawStates) -> Result<Self> {
        match raw {
            RawStates::Keyword(k) if k.eq_ignore_ascii_case("any") => Ok(Self::Any),
            RawStates::Keyword(k) => Err(PipelineError::Config(format!(
                "states must be \"any\" or a list, not {k:?}"
            ))),
            RawStates::List(list) if list.is_empty() => {
                Err(PipelineError::Config("states list is empty".into()))
            }
            RawStates::List(list) => {
                let known = rtp_jobs::schema::KNOWN_STATES;
                let list: Vec<String> = list.iter().map(|s| s.to_ascii_uppercase()).collect();
                if let Some(bad) = list.iter().find(|s| !known.contains(&s.as_str())) {
                    return Err(PipelineError::Config(format!(
                        "unknown state {bad:?}; known: {}",
                        known.join(", ")
                    )));
                }
                Ok(Self::Only(list))
            }
        }
    }
}

/// Training settings, validated.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// Eligible states.
    pub states: StateFilter,
    /// Eligible states for SWF inputs.
    pub swf_states: StateFilter,
    /// Validation share in (0, 0.5].
    pub validation_frac: f64,
    /// Interval coverage target in (0, 1).
    pub interval_coverage: f64,
    /// How the likely runtime trades the chance of being within 2× against
    /// absolute error ([`rtp_bundle::likely::LikelyRule::error_weight`]).
    pub likely_error_weight: f64,
    /// Max boosting rounds.
    pub num_iterations: u32,
    /// Early stopping patience.
    pub early_stopping_rounds: u32,
    /// Least share of the validation loss a LightGBM round must take off the
    /// best so far to count as an improvement: rounds that buy less than
    /// that are not kept (0 keeps every improvement).
    pub early_stopping_min_gain: f64,
    /// Most recent eligible jobs used for training, at most.
    pub max_train_rows: usize,
    /// Refit on training + validation rows after early stopping.
    pub refit_with_validation: bool,
    /// Ensemble members, in blend order.
    pub members: Vec<MemberKind>,
    /// Threads every learner may use.
    pub threads: u32,
    /// Seed of every learner.
    pub seed: u64,
    /// Largest categorical cardinality given to XGBoost and CatBoost (≤ 255).
    pub max_onehot_categories: usize,
    /// Identity features XGBoost and CatBoost see only through history statistics.
    pub history_only: Vec<String>,
    /// Training rows on which native and library predictions are compared.
    pub parity_rows: usize,
    /// The Python trainers' environment.
    pub python: PythonOptions,
    /// LightGBM parameters as `key=value` strings.
    pub lightgbm: BTreeMap<String, String>,
    /// XGBoost parameters, passed to `xgboost.train` as they are.
    pub xgboost: BTreeMap<String, serde_json::Value>,
    /// CatBoost parameters, passed to `CatBoostRegressor` as they are.
    pub catboost: BTreeMap<String, serde_json::Value>,
}

/// Where the Python trainers run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PythonOptions {
    /// Interpreter that creates the environment.
    pub interpreter: String,
    /// The environment's directory.
    pub env_dir: PathBuf,
}

/// The default home of the trainers' environment: `$RTP_CACHE/trainer-venv`,
/// `RTP_CACHE` defaulting to `~/.cache/rt-predictor`.
pub fn default_python_env_dir() -> PathBuf {
    let cache = std::env::var_os("RTP_CACHE")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("rt-predictor"))
        })
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/rt-predictor")))
        .unwrap_or_else(|| std::env::temp_dir().join("rt-predictor"));
    cache.join("trainer-venv")
}

impl TrainOptions {
    /// Replaces the members with a comma-separated list such as `lightgbm,catboost`.
    pub fn set_members(&mut self, list: &str) -> Result<()> {
        self.members = parse_members(&list.split(',').map(str::trim).collect::<Vec<_>>())?;
        Ok(())
    }

    /// Trains these members, each once, in the order given.
    pub fn set_member_kinds(&mut self, kinds: &[MemberKind]) -> Result<()> {
        self.members = parse_members(&kinds.iter().map(|k| k.name()).collect::<Vec<_>>())?;
        Ok(())
    }
}

fn parse_members<S: AsRef<str>>(names: &[S]) -> Result<Vec<MemberKind>> {
    let mut members = Vec::new();
    for name in names {
        let name = name.as_ref();
        let kind = MemberKind::from_name(name).ok_or_else(|| {
            PipelineError::Config(format!(
                "unknown member {name:?}; known: lightgbm, xgboost, catboost"
            ))
        })?;
        if !members.contains(&kind) {
            members.push(kind);
        }
    }
    if members.is_empty() {
        return Err(PipelineError::Config("train.members is empty".into()));
    }
    Ok(members)
}

fn json_params(
    section: &str,
    table: BTreeMap<String, toml::Value>,
    reserved: &[&str],
) -> Result<BTreeMap<String, serde_json::Value>> {
    if let Some(key) = reserved.iter().find(|k| table.contains_key(**k)) {
        return Err(PipelineError::Config(format!(
            "train.{section}.{key} is set by the pipeline; remove it"
        )));
    }
    table
        .into_iter()
        .map(|(k, v)| {
            let json = serde_json::to_value(&v)
                .map_err(|e| PipelineError::Config(format!("train.{section}.{k}: {e}")))?;
            Ok((k, json))
        })
        .collect()
}

impl TrainOptions {
    /// The state filter for inputs of `format`.
    pub fn states_for(&self, format: InputFormat) -> &StateFilter {
        match format {
            InputFormat::Swf => &self.swf_states,
            _ => &self.states,
        }
    }
}

/// Where the `run` command reads from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunInput {
    /// Synthetic Eagle-shaped jobs.
    Generate {
        /// Rows.
        rows: u64,
        /// Seed.
        seed: u64,
    },
    /// Job record files.
    Files(Vec<PathBuf>),
}

/// The whole-chain settings, validated.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Input.
    pub input: RunInput,
    /// Input format.
    pub format: InputFormat,
    /// Work directory.
    pub work_dir: PathBuf,
    /// Bundle store.
    pub bundle_dir: PathBuf,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// Feature SQL execution.
    pub features: FeatureOptions,
    /// Training.
    pub train: TrainOptions,
    /// Test share of the holdout protocol, in (0, 1).
    pub test_frac: f64,
    /// Serving modes the holdout is replayed under (see
    /// [`crate::evaluate::serving`]).
    pub serving: Vec<crate::evaluate::serving::Serving>,
    /// Whether `rtp run` replays the test period's schedule (see
    /// [`crate::replay`]) into the bundle's evaluation.
    pub replay: bool,
    /// The `run` command.
    pub run: RunOptions,
}

impl PipelineConfig {
    /// The embedded default.
    pub fn default_config() -> Result<Self> {
        Self::load(None, &[]).map_err(|e| PipelineError::Config(e.to_string()))
    }
}

impl Settings for PipelineConfig {
    type Raw = RawConfig;
    const DEFAULTS: &'static str = DEFAULT_CONFIG;

    fn validate(raw: RawConfig) -> std::result::Result<Self, String> {
        Self::try_from(raw).map_err(|e| match e {
            PipelineError::Config(message) => message,
            other => other.to_string(),
        })
    }
}

fn fraction(name: &str, value: f64, max: f64) -> Result<f64> {
    if value > 0.0 && value <= max {
        Ok(value)
    } else {
        Err(PipelineError::Config(format!(
            "{name} must be in (0, {max}], got {value}"
        )))
    }
}

impl TryFrom<RawConfig> for PipelineConfig {
    type Error = PipelineError;

    fn try_from(raw: RawConfig) -> Result<Self> {
        let f = raw.features;
        if f.target_partitions == 0 || f.batch_size == 0 || f.memory_limit_mib == 0 {
            return Err(PipelineError::Config(
                "features.target_partitions, batch_size and memory_limit_mib must be positive"
                    .into(),
            ));
        }
        let t = raw.train;
        let lightgbm = t
            .lightgbm
            .into_iter()
            .map(|(k, v)| {
                let text = match v {
                    toml::Value::String(s) => s,
                    other => other.to_string(),
                };
                (k, text)
            })
            .collect::<BTreeMap<_, _>>();
        for reserved in [
            "objective",
            "alpha",
            "metric",
            "num_iterations",
            "categorical_feature",
            "num_threads",
            "seed",
        ] {
            if lightgbm.contains_key(reserved) {
                return Err(PipelineError::Config(format!(
                    "train.lightgbm.{reserved} is set by the pipeline; remove it"
                )));
            }
        }
        let input = match raw.run.inputs.as_slice() {
            [one] if one == "generate" => RunInput::Generate {
                rows: raw.run.generate.rows,
                seed: raw.run.generate.seed,
            },
            [] => return Err(PipelineError::Config("run.inputs is empty".into())),
            files => RunInput::Files(files.iter().map(PathBuf::from).collect()),
        };
        Ok(Self {
            features: FeatureOptions {
                sql_dir: f.sql_dir,
                target_partitions: f.target_partitions,
                batch_size: f.batch_size,
                memory_limit: f.memory_limit_mib << 20,
                prefer_hash_join: f.prefer_hash_join,
                fold_windows: f.fold_windows,
                engine: SqlEngine::parse(&f.ballista)?,
            },
            train: TrainOptions {
                states: t.states.try_into()?,
                swf_states: t.swf_states.try_into()?,
                validation_frac: fraction("train.validation_frac", t.validation_frac, 0.5)?,
                interval_coverage: fraction("train.interval_coverage", t.interval_coverage, 0.999)?,
                likely_error_weight: match t.likely_error_weight {
                    w if w >= 0.0 && w.is_finite() => w,
                    w => {
                        return Err(PipelineError::Config(format!(
                            "train.likely_error_weight must be a finite number ≥ 0, got {w}"
                        )));
                    }
                },
                num_iterations: t.num_iterations.max(1),
                early_stopping_rounds: t.early_stopping_rounds.max(1),
                early_stopping_min_gain: match t.early_stopping_min_gain {
                    g if (0.0..1.0).contains(&g) => g,
                    g => {
                        return Err(PipelineError::Config(format!(
                            "train.early_stopping_min_gain must be a share in [0, 1), got {g}"
                        )));
                    }
                },
                max_train_rows: t.max_train_rows.max(100),
                refit_with_validation: t.refit_with_validation,
                members: parse_members(&t.members)?,
                threads: t.threads.max(1),
                seed: t.seed,
                max_onehot_categories: match t.max_onehot_categories {
                    n @ 1..=255 => n,
                    n => {
                        return Err(PipelineError::Config(format!(
                            "train.max_onehot_categories must be in 1..=255 (CatBoost's one-hot limit), got {n}"
                        )));
                    }
                },
                history_only: t.history_only,
                parity_rows: t.parity_rows.max(1),
                python: PythonOptions {
                    interpreter: t.python.interpreter,
                    env_dir: if t.python.env_dir.is_empty() {
                        default_python_env_dir()
                    } else {
                        PathBuf::from(t.python.env_dir)
                    },
                },
                lightgbm,
                xgboost: json_params(
                    "xgboost",
                    t.xgboost,
                    &[
                        "objective",
                        "quantile_alpha",
                        "nthread",
                        "seed",
                        "num_boost_round",
                    ],
                )?,
                catboost: json_params(
                    "catboost",
                    t.catboost,
                    &[
                        "loss_function",
                        "iterations",
                        "one_hot_max_size",
                        "thread_count",
                        "random_seed",
                        "cat_features",
                    ],
                )?,
            },
            test_frac: fraction("evaluate.test_frac", raw.evaluate.test_frac, 0.9)?,
            serving: crate::evaluate::serving::parse_modes(&raw.evaluate.serving)
                .map_err(|e| PipelineError::Config(format!("evaluate.serving: {e}")))?,
            replay: raw.evaluate.replay,
            run: RunOptions {
                input,
                format: raw.run.format.parse().map_err(PipelineError::Config)?,
                work_dir: raw.run.work_dir,
                bundle_dir: raw.run.bundle_dir,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use rtp_service_support::{ConfigError, Layer};

    use super::*;

    #[test]
    fn embedded_default_is_valid() {
        let c = PipelineConfig::default_config().unwrap();
        assert_eq!(
            c.train.states,
            StateFilter::Only(vec!["COMPLETED".into(), "TIMEOUT".into()])
        );
        assert_eq!(c.train.swf_states, StateFilter::Any);
        assert_eq!(c.train.lightgbm["num_leaves"], "15");
        assert!(c.train.refit_with_validation);
    }

    fn over_defaults(text: &str) -> std::result::Result<PipelineConfig, ConfigError> {
        let layer = Layer {
            origin: "test.toml".into(),
            text: text.into(),
        };
        PipelineConfig::from_layer(Some(layer), &[])
    }

    #[test]
    fn a_layer_overrides_only_its_keys() {
        let c = over_defaults("[train.lightgbm]\nnum_leaves = 7\n").unwrap();
        assert_eq!(c.train.lightgbm["num_leaves"], "7");
        assert_eq!(c.train.lightgbm["learning_rate"], "0.05");
    }

    #[test]
    fn bad_values_are_named() {
        let err = over_defaults("[evaluate]\ntest_frac = 1.5\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("evaluate.test_frac"), "{err}");
        for gain in ["-0.1", "1.0", "nan"] {
            let err = over_defaults(&format!("[train]\nearly_stopping_min_gain = {gain}\n"))
                .unwrap_err()
                .to_string();
            assert!(err.contains("train.early_stopping_min_gain"), "{err}");
        }
        let c = over_defaults("[train]\nearly_stopping_min_gain = 0.001\n").unwrap();
        assert_eq!(c.train.early_stopping_min_gain, 0.001);
        let err = over_defaults("[train]\nstates = [\"DONE\"]\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("DONE"), "{err}");
        let err = over_defaults("[train.lightgbm]\nobjective = \"l2\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("objective"), "{err}");
    }
}
