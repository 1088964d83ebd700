//! The XGBoost and CatBoost members, trained by `python/train_members.py`
//! in the project's Python environment over the same model matrix the
//! LightGBM member sees (written to Parquet).

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, AsArray, BooleanArray, Float32Array, Float64Array, RecordBatch,
};
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Schema};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rtp_bundle::MemberKind;
use serde::Deserialize;
use serde_json::json;

use super::member::{FittedModel, MemberFit};
use super::python_env::{self, TRAINER_SCRIPT};
use super::{ModelInput, QUANTILES, quantile_tag};
use crate::config::TrainOptions;
use crate::error::{PipelineError, Result};

#[derive(Debug, Deserialize)]
struct TrainerResult {
    members: BTreeMap<String, TrainerMember>,
}

#[derive(Debug, Deserialize)]
struct TrainerMember {
    library_version: String,
    models: Vec<TrainerModel>,
    params: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
struct TrainerModel {
    quantile: f64,
    file: String,
    best_iteration: u32,
}

/// Writes the member inputs, labels and the validation flag.
pub fn write_matrix(path: &Path, m: &ModelInput, inputs: &[usize]) -> Result<()> {
    let mut fields: Vec<Field> = inputs
        .iter()
        .map(|&j| Field::new(&m.feature_names[j], DataType::Float32, false))
        .collect();
    fields.push(Field::new("label", DataType::Float64, false));
    fields.push(Field::new("is_valid", DataType::Boolean, false));
    let schema = Arc::new(Schema::new(fields));
    let mut columns: Vec<Arc<dyn Array>> = inputs
        .iter()
        .map(|&j| Arc::new(Float32Array::from(m.x.column(j).to_vec())) as Arc<dyn Array>)
        .collect();
    columns.push(Arc::new(Float64Array::from(m.y.to_vec())));
    columns.push(Arc::new(BooleanArray::from(
        (0..m.y.len()).map(|r| r >= m.n_fit).collect::<Vec<_>>(),
    )));
    let batch = RecordBatch::try_new(schema.clone(), columns)
        .map_err(PipelineError::arrow("building the model matrix"))?;
    let file = File::create(path).map_err(PipelineError::io(path))?;
    let mut writer = ArrowWriter::try_new(file, schema, None)
        .map_err(PipelineError::arrow(format!("writing {}", path.display())))?;
    writer
        .write(&batch)
        .map_err(PipelineError::arrow(format!("writing {}", path.display())))?;
    writer
        .close()
        .map_err(PipelineError::arrow(format!("writing {}", path.display())))?;
    Ok(())
}

/// Reads the named Float64 columns of a Parquet file written by the trainer.
pub fn read_predictions(path: &Path) -> Result<BTreeMap<String, Vec<f64>>> {
    let file = File::open(path).map_err(PipelineError::io(path))?;
    let context = || format!("reading {}", path.display());
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(PipelineError::arrow(context()))?
        .build()
        .map_err(PipelineError::arrow(context()))?;
    let mut out: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for batch in reader {
        let batch = batch.map_err(PipelineError::arrow(context()))?;
        for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
            let values = column.as_primitive_opt::<Float64Type>().ok_or_else(|| {
                PipelineError::Python(format!(
                    "{}: column {} is not float64",
                    path.display(),
                    field.name()
                ))
            })?;
            out.entry(field.name().clone())
                .or_default()
                .extend(values.values().iter());
        }
    }
    Ok(out)
}

/// Trains `members` (XGBoost and/or CatBoost) on the columns `inputs` of
/// the matrix.
pub fn fit_python_members(
    m: &ModelInput,
    inputs: &[usize],
    members: &[MemberKind],
    options: &TrainOptions,
) -> Result<Vec<MemberFit>> {
    let env = python_env::ensure(&options.python)?;
    let work = tempfile::Builder::new()
        .prefix("rtp-members-")
        .tempdir()
        .map_err(PipelineError::io(std::env::temp_dir()))?;
    let dir = work.path();
    let matrix = dir.join("matrix.parquet");
    write_matrix(&matrix, m, inputs)?;
    let spec = json!({
        "members": members.iter().map(|k| k.name()).collect::<Vec<_>>(),
        "quantiles": QUANTILES,
        "features": inputs.iter().map(|&j| json!({
            "name": m.feature_names[j],
            "categorical": m.categorical[j],
        })).collect::<Vec<_>>(),
        "num_iterations": options.num_iterations,
        "early_stopping_rounds": options.early_stopping_rounds,
        "refit": options.refit_with_validation,
        "threads": options.threads,
        "seed": options.seed,
        "parity_rows": m.parity_rows,
        "params": {"xgboost": options.xgboost, "catboost": options.catboost},
    });
    let spec_path = dir.join("spec.json");
    std::fs::write(&spec_path, spec.to_string()).map_err(PipelineError::io(&spec_path))?;
    let script = dir.join("train_members.py");
    std::fs::write(&script, TRAINER_SCRIPT).map_err(PipelineError::io(&script))?;
    let out = dir.join("out");

    tracing::info!(members = ?members, rows = m.y.len(), "training Python members");
    let output = Command::new(&env.python)
        .arg(&script)
        .arg("--matrix")
        .arg(&matrix)
        .arg("--spec")
        .arg(&spec_path)
        .arg("--out")
        .arg(&out)
        .output()
        .map_err(|e| {
            PipelineError::Python(format!("cannot start {}: {e}", env.python.display()))
        })?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        let tail: Vec<&str> = stderr.lines().rev().take(20).collect();
        return Err(PipelineError::Python(format!(
            "train_members.py failed ({}):\n{}",
            output.status,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        )));
    }
    for line in stderr.lines() {
        tracing::info!("{line}");
    }

    let result_path = out.join("result.json");
    let text = std::fs::read_to_string(&result_path).map_err(PipelineError::io(&result_path))?;
    let result: TrainerResult = serde_json::from_str(&text)
        .map_err(|e| PipelineError::Python(format!("{}: {e}", result_path.display())))?;
    let validation = read_predictions(&out.join("validation_predictions.parquet"))?;
    let parity = read_predictions(&out.join("parity_predictions.parquet"))?;
    let column = |table: &BTreeMap<String, Vec<f64>>, key: &str| {
        table
            .get(key)
            .cloned()
            .ok_or_else(|| PipelineError::Python(format!("trainer wrote no predictions `{key}`")))
    };

    let mut fits = Vec::with_capacity(members.len());
    for &kind in members {
        let member = result
            .members
            .get(kind.name())
            .ok_or_else(|| PipelineError::Python(format!("trainer reported no {kind} member")))?;
        let mut models = Vec::new();
        let mut member_validation = Vec::new();
        let mut member_parity = Vec::new();
        for q in QUANTILES {
            let model = member
                .models
                .iter()
                .find(|mm| mm.quantile == q)
                .ok_or_else(|| {
                    PipelineError::Python(format!("no {kind} model for quantile {q}"))
                })?;
            let path = out.join(&model.file);
            let text = std::fs::read_to_string(&path).map_err(PipelineError::io(&path))?;
            models.push(FittedModel {
                quantile: q,
                best_iteration: model.best_iteration,
                text,
            });
            let key = format!("{}_{}", kind.name(), quantile_tag(q));
            member_validation.push(column(&validation, &key)?);
            member_parity.push(column(&parity, &key)?);
        }
        fits.push(MemberFit {
            kind,
            library_version: member.library_version.clone(),
            inputs: inputs.to_vec(),
            models,
            params: member.params.clone(),
            validation: member_validation,
            library_parity: member_parity,
        });
    }
    Ok(fits)
}
