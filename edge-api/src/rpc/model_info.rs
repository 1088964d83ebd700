//! `GetModelInfo`: the serving bundle as its manifest describes it.
//!
//! Errors are in seconds, measured on the bundle's held-out test jobs.
//! The pipeline records no validation-slice errors and no MAPE (relative
//! errors of seconds-long jobs swamp it), so those fields are NaN.

use std::collections::HashMap;

use rtp_proto::v1::GetModelInfoResponse;

use crate::service::EdgeState;

const METHOD: &str = "GetModelInfo";

/// Answers one GetModelInfo call.
pub fn handle(state: &EdgeState) -> GetModelInfoResponse {
    let call = state.metrics.call(METHOD);
    let scorer = state.live.current();
    let manifest = scorer.manifest();
    let ensemble = scorer.ensemble();
    let members: Vec<&str> = manifest.members.iter().map(|m| m.kind.name()).collect();
    let mut weights = HashMap::new();
    for (q, quantile) in ensemble.quantiles().iter().enumerate() {
        for (member, weight) in ensemble.members().iter().zip(ensemble.weights(q)) {
            let key = format!("{}@p{}", member.kind.name(), (quantile * 100.0).round());
            weights.insert(key, *weight);
        }
    }
    let test_mae = manifest
        .evaluation
        .as_ref()
        .map_or(f64::NAN, |e| e.model.mae_h * 3600.0);
    let (served, mean_ms) = state.metrics.served();
    let answer = GetModelInfoResponse {
        model_type: format!("quantile gradient-boosted trees: {}", members.join("+")),
        model_version: manifest.version.clone(),
        training_date: manifest.created.clone(),
        training_samples: manifest.training.rows as i64,
        validation_mae: f64::NAN,
        validation_mape: f64::NAN,
        test_mae,
        test_mape: f64::NAN,
        feature_names: manifest.features.iter().map(|f| f.name.clone()).collect(),
        num_features: manifest.features.len() as i32,
        is_loaded: true,
        predictions_served: served as i64,
        average_latency_ms: mean_ms,
        uptime_seconds: state.started.elapsed().as_secs() as i64,
        ensemble_weights: weights,
    };
    call.finish(tonic::Code::Ok, true);
    answer
}
