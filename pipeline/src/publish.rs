//! Turns a trained model into a published bundle: model files, category
//! codes, the entity history state and the manifest, published atomically
//! through the bundle store.

use std::path::{Path, PathBuf};

use rtp_bundle::integrity::hash_file;
use rtp_bundle::manifest::{
    BlendWeights, EvaluationSummary, FORMAT_VERSION, QuantileModel, TrainingSummary,
};
use rtp_bundle::{BundleStore, FeatureKind, FeatureSpec, Manifest, MemberSpec};
use sha2::{Digest, Sha256};

use crate::config::StateFilter;
use crate::error::{PipelineError, Result};
use crate::features::{load_sql_files, sql_fingerprint};
use crate::train::TrainedModel;

use rtp_bundle::layout::{
    CATEGORIES_FILE, HISTORY_FILE, PARITY_FILE, QUEUE_FILE, SQL_DIR, model_file,
};

/// Everything a bundle is made from.
#[derive(Debug)]
pub struct BundleSources<'a> {
    /// The trained model.
    pub model: &'a TrainedModel,
    /// The history table written by the feature SQL.
    pub history_state: &'a Path,
    /// The queue table written by the feature SQL.
    pub queue_state: &'a Path,
    /// The feature SQL; copied into the bundle for servers.
    pub sql_dir: &'a Path,
    /// Fingerprint of the job table.
    pub input_fingerprint: String,
    /// States the model was trained on.
    pub states: &'a StateFilter,
    /// Last end time in the history state.
    pub history_until_s: i64,
    /// Held-out quality, if evaluated.
    pub evaluation: Option<EvaluationSummary>,
}

/// SHA-256 of a file, or of all files of a directory in name order.
pub fn fingerprint(path: &Path) -> Result<String> {
    let mut files = if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(PipelineError::io(path))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        files
    } else {
        vec![path.to_owned()]
    };
    let mut hasher = Sha256::new();
    for file in files.drain(..) {
        hash_file(&mut hasher, &file).map_err(PipelineError::io(&file))?;
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Publishes a bundle; returns its directory.
pub fn publish(store: &BundleStore, sources: BundleSources<'_>) -> Result<PathBuf> {
    let now = chrono::Utc::now();
    let base = format!(
        "{}-{}",
        now.format("%Y%m%dT%H%M%SZ"),
        &sources.input_fingerprint[..8]
    );
    let mut version = base.clone();
    let mut n = 1;
    while store.root().join(&version).exists() {
        n += 1;
        version = format!("{base}-{n}");
    }
    let staged = store.stage(&version)?;
    let model = sources.model;

    let mut members = Vec::with_capacity(model.members.len());
    for member in &model.members {
        let fit = &member.fit;
        let mut models = Vec::with_capacity(fit.models.len());
        for m in &fit.models {
            let file = model_file(fit.kind, m.quantile);
            let path = staged.dir().join(&file);
            std::fs::write(&path, &m.text).map_err(PipelineError::io(&path))?;
            models.push(QuantileModel {
                quantile: m.quantile,
                file,
                best_iteration: m.best_iteration,
            });
        }
        members.push(MemberSpec {
            kind: fit.kind,
            library_version: fit.library_version.clone(),
            inputs: fit
                .inputs
                .iter()
                .map(|&j| model.feature_names[j].clone())
                .collect(),
            models,
            params: fit.params.clone(),
            parity_max_rel_diff: member.parity_max_rel_diff,
        });
    }
    let blend = model
        .ensemble
        .quantiles()
        .iter()
        .enumerate()
        .map(|(q, &quantile)| BlendWeights {
            quantile,
            weights: model
                .members
                .iter()
                .zip(model.ensemble.weights(q))
                .map(|(m, &w)| (m.fit.kind.name().to_owned(), w))
                .collect(),
        })
        .collect();
    let categories = staged.dir().join(CATEGORIES_FILE);
    let json = serde_json::to_vec_pretty(&model.codes)
        .map_err(|e| PipelineError::io(&categories)(std::io::Error::other(e)))?;
    std::fs::write(&categories, json).map_err(PipelineError::io(&categories))?;
    for (from, name) in [
        (sources.history_state, HISTORY_FILE),
        (sources.queue_state, QUEUE_FILE),
    ] {
        let to = staged.dir().join(name);
        std::fs::copy(from, &to).map_err(PipelineError::io(from))?;
    }
    model.parity_sample.write(&staged.dir().join(PARITY_FILE))?;
    let sql_files = load_sql_files(sources.sql_dir)?;
    let sql_dir = staged.dir().join(SQL_DIR);
    std::fs::create_dir(&sql_dir).map_err(PipelineError::io(&sql_dir))?;
    for file in &sql_files {
        let to = sql_dir.join(file.path.file_name().unwrap_or_default());
        std::fs::write(&to, &file.sql).map_err(PipelineError::io(&to))?;
    }

    let features = model
        .feature_names
        .iter()
        .enumerate()
        .map(|(i, name)| FeatureSpec {
            name: name.clone(),
            kind: if i < model.numeric_count {
                FeatureKind::Numeric
            } else {
                FeatureKind::Categorical
            },
        })
        .collect();
    let manifest = Manifest {
        format_version: FORMAT_VERSION,
        version: version.clone(),
        created: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        input_fingerprint: sources.input_fingerprint,
        sql_sha256: sql_fingerprint(&sql_files),
        target: crate::train::TARGET,
        features,
        members,
        blend,
        interval: model.interval.clone(),
        request_cap: model.request_cap.clone(),
        likely: Some(model.likely),
        categories_file: CATEGORIES_FILE.into(),
        history_file: HISTORY_FILE.into(),
        queue_file: QUEUE_FILE.into(),
        sql_dir: SQL_DIR.into(),
        parity_file: PARITY_FILE.into(),
        training: TrainingSummary {
            rows: model.train_rows as u64,
            validation_rows: model.validation_rows as u64,
            validation: Some(model.validation),
            states: sources.states.names(),
            first_submit_s: model.submit_span.0,
            last_submit_s: model.submit_span.1,
            history_until_s: sources.history_until_s,
        },
        evaluation: sources.evaluation,
        feature_importance: model.feature_importance.clone(),
        // The store takes every file's digest as it publishes.
        files: Default::default(),
    };
    Ok(staged.publish(&manifest)?)
}
