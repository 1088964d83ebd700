//! `Predict`: one job, validated here and scored by the batcher together
//! with whatever other single predictions are waiting.

use crate::job_request::demand;
use rtp_proto::v1::{JobFeatures, PredictRequest, PredictResponse};
use tonic::Status;

use crate::job_request::validate;
use crate::service::EdgeState;

const METHOD: &str = "Predict";

/// Answers one Predict call.
pub async fn handle(state: &EdgeState, request: PredictRequest) -> Result<PredictResponse, Status> {
    let call = state.metrics.call(METHOD);
    let explain = request.explain.unwrap_or(true);
    let demand = demand(request.features.as_ref());
    let result = predict_one(state, request.features, "features", explain)
        .await
        .map(|mut r| {
            r.request_id = request.request_id;
            r
        });
    match &result {
        Ok(answer) => state.metrics.record_prediction(demand.0, demand.1, answer),
        Err(status) => tracing::debug!(method = METHOD, %status, "refused"),
    }
    call.finish(
        result
            .as_ref()
            .map_or_else(Status::code, |_| tonic::Code::Ok),
        true,
    );
    result
}

/// Validates and predicts one job on its own (no earlier jobs in the
/// request); `path` names the job in errors; `explain` asks for
/// contributions.
pub async fn predict_one(
    state: &EdgeState,
    features: Option<JobFeatures>,
    path: &'static str,
    explain: bool,
) -> Result<PredictResponse, Status> {
    validate(features.as_ref(), path).map_err(|e| Status::invalid_argument(e.to_string()))?;
    let job = features.expect("validated");
    state.batcher.predict(job, path, explain).await
}
