//! `Predict`: one job, answered on the calling task (a single job is
//! cheaper to score than to hand to another thread).

use datafusion::arrow::array::{Array, AsArray};
use rtp_proto::v1::{JobFeatures, PredictRequest, PredictResponse};
use rtp_scoring::Overlay;
use rtp_scoring::scorer::ERROR;
use tonic::Status;

use crate::job_request::{job_rows, validate};
use crate::prediction::{ResponseContext, response};
use crate::rpc::{now_s, status_of};
use crate::service::EdgeState;

const METHOD: &str = "Predict";

/// Answers one Predict call.
pub fn handle(state: &EdgeState, request: PredictRequest) -> Result<PredictResponse, Status> {
    let call = state.metrics.call(METHOD);
    let result = predict_one(state, request.features.as_ref(), "features").map(|mut r| {
        r.request_id = request.request_id;
        r
    });
    match &result {
        Ok(_) => {
            state.metrics.predictions.inc();
        }
        Err(status) => tracing::debug!(method = METHOD, %status, "refused"),
    }
    call.finish(result.as_ref().map_or_else(Status::code, |_| tonic::Code::Ok), true);
    result
}

/// Validates and predicts one job on its own (no earlier jobs in the
/// request); `path` names the job in errors.
pub fn predict_one(
    state: &EdgeState,
    features: Option<&JobFeatures>,
    path: &str,
) -> Result<PredictResponse, Status> {
    validate(features, path).map_err(|e| Status::invalid_argument(e.to_string()))?;
    let job = features.expect("validated");
    let now = now_s();
    let rows = job_rows(std::iter::once(job), now);
    let scorer = state.live.current();
    let scored = scorer
        .score_explained(
            &rows,
            &mut Overlay::default(),
            state.limits.top_contributions,
        )
        .map_err(|e| status_of(&e))?;
    let errors = scored
        .batch
        .column_by_name(ERROR)
        .expect("scored batch column")
        .as_string::<i32>();
    if errors.is_valid(0) {
        return Err(Status::invalid_argument(format!(
            "{path}: {}",
            errors.value(0)
        )));
    }
    let context = ResponseContext {
        model_version: scorer.version(),
        timestamp: now,
        coverage: scorer.manifest().interval.nominal_coverage,
    };
    let contributions = scored.contributions.first().map_or(&[][..], Vec::as_slice);
    let mut answer = response(&scored.batch, 0, contributions, &context);
    answer.job_id.clone_from(&job.job_id);
    Ok(answer)
}
