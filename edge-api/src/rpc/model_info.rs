//! `GetModelInfo`: the serving bundle as its manifest describes it.
//!
//! MAE is in seconds and MAPE in percent (relative to the actual runtime,
//! floored at a minute). Test metrics come from the held-out evaluation the
//! bundle was published with; validation metrics from the temporal slice
//! that early-stopped and calibrated it. A bundle without them answers NaN.

use std::collections::HashMap;

use rtp_bundle::QualityMetrics;
use rtp_proto::v1::GetModelInfoResponse;

use crate::service::EdgeState;

/// The RPC's name on the wire and in metrics.
pub const METHOD: &str = "GetModelInfo";

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
    let test = manifest.evaluation.as_ref().map(|e| &e.model);
    let validation = manifest.training.validation.as_ref();
    let mae_s = |m: Option<&QualityMetrics>| m.map_or(f64::NAN, |m| m.mae_h * 3600.0);
    let mape = |m: Option<&QualityMetrics>| m.map_or(f64::NAN, |m| m.mape_pct);
    let (served, mean_ms) = state.metrics.served();
    let answer = GetModelInfoResponse {
        model_type: format!("quantile gradient-boosted trees: {}", members.join("+")),
        model_version: manifest.version.clone(),
        training_date: manifest.created.clone(),
        training_samples: manifest.training.rows as i64,
        validation_mae: mae_s(validation),
        validation_mape: mape(validation),
        test_mae: mae_s(test),
        test_mape: mape(test),
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
