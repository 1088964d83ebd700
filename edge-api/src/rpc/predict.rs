//! `Predict`: one job, validated and scored on the calling task. The
//! scoring core evaluates a single job's features in row form, a few tens
//! of microseconds, so there is nothing to gain from handing it to another
//! thread or waiting to batch it with other calls.

use crate::job_request::demand;
use rtp_proto::v1::{JobFeatures, PredictRequest, PredictResponse};
use tonic::Status;

use crate::job_request::{job_from_wire, validate};
use crate::prediction::{ResponseContext, response};
use crate::rpc::{now_s, status_of};
use crate::service::EdgeState;
use rtp_scoring::Overlay;

/// The RPC's name on the wire and in metrics.
pub const METHOD: &str = "Predict";

/// Answers one Predict call.
pub async fn handle(state: &EdgeState, request: PredictRequest) -> Result<PredictResponse, Status> {
    let call = state.metrics.call(METHOD);
    let explain = request.explain.unwrap_or(true);
    let demand = demand(request.features.as_ref());
    let result = predict_one(state, request.features, "features", explain).map(|mut r| {
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
pub fn predict_one(
    state: &EdgeState,
    features: Option<JobFeatures>,
    path: &'static str,
    explain: bool,
) -> Result<PredictResponse, Status> {
    let scorer = state.live.current();
    validate(features.as_ref(), path, scorer.purpose())
        .map_err(|e| Status::invalid_argument(e.to_string()))?;
    let job = features.expect("validated");
    let top = state.limits.top(explain);
    let now = now_s();
    let score = scorer
        .score_job(&job_from_wire(&job, now), &mut Overlay::isolated(), top)
        .map_err(|e| match e {
            // Validation let it through, so the scoring core's refusal
            // still names the job's field.
            e if e.is_invalid_input() => Status::invalid_argument(format!("{path}: {e}")),
            e => status_of(&e),
        })?;
    let context = ResponseContext::of(&scorer, now);
    let mut answer = response(&score, &context);
    answer.job_id = job.job_id;
    Ok(answer)
}
