//! `PredictBatch`: many jobs as one submission sequence, scored in one
//! vectorised pass on a blocking thread. Invalid jobs are reported in
//! `errors` and the rest are predicted.

use crate::job_request::demand;
use std::sync::Arc;
use std::time::Instant;

use rtp_proto::v1::{JobFeatures, PredictBatchRequest, PredictBatchResponse};
use rtp_scoring::Overlay;
use tonic::Status;

use crate::job_request::validate;
use crate::prediction::score_jobs;
use crate::rpc::{now_s, status_of};
use crate::service::EdgeState;

/// The RPC's name on the wire and in metrics.
pub const METHOD: &str = "PredictBatch";

/// Answers one PredictBatch call.
pub async fn handle(
    state: Arc<EdgeState>,
    request: PredictBatchRequest,
) -> Result<PredictBatchResponse, Status> {
    let call = state.metrics.call(METHOD);
    let worker = Arc::clone(&state);
    let demands: Vec<(i32, f64)> = request.jobs.iter().map(|j| demand(Some(j))).collect();
    let result = tokio::task::spawn_blocking(move || predict_batch(&worker, request))
        .await
        .unwrap_or_else(|e| Err(Status::internal(format!("batch worker failed: {e}"))));
    if let Ok(r) = &result {
        for answer in &r.predictions {
            let (nodes, wallclock_s) = demands
                .get(answer.job_index as usize)
                .copied()
                .unwrap_or_default();
            state.metrics.record_prediction(nodes, wallclock_s, answer);
        }
        state
            .metrics
            .job_failures
            .inc_by(r.failed_predictions as u64);
    }
    call.finish(
        result
            .as_ref()
            .map_or_else(Status::code, |_| tonic::Code::Ok),
        true,
    );
    result
}

fn predict_batch(
    state: &EdgeState,
    request: PredictBatchRequest,
) -> Result<PredictBatchResponse, Status> {
    let started = Instant::now();
    let max = state.limits.max_batch_jobs;
    if request.jobs.len() > max {
        return Err(Status::invalid_argument(format!(
            "jobs: {} jobs in one batch, at most {max} are accepted",
            request.jobs.len()
        )));
    }
    let mut errors = Vec::new();
    let mut valid = Vec::with_capacity(request.jobs.len());
    let purpose = state.live.current().purpose();
    for (i, job) in request.jobs.iter().enumerate() {
        match validate(Some(job), &format!("jobs[{i}]"), purpose) {
            Ok(()) => valid.push(i),
            Err(e) => errors.push(e.to_string()),
        }
    }
    let mut predictions = Vec::with_capacity(valid.len());
    if !valid.is_empty() {
        let jobs: Vec<&JobFeatures> = valid.iter().map(|&i| &request.jobs[i]).collect();
        let top = state.limits.top(request.explain.unwrap_or(true));
        let answers = score_jobs(
            &state.live.current(),
            &jobs,
            &mut Overlay::default(),
            top,
            now_s(),
        )
        .map_err(|e| status_of(&e))?;
        for (answer, &index) in answers.into_iter().zip(&valid) {
            match answer {
                Ok(mut answer) => {
                    answer.job_index = index as i32;
                    predictions.push(answer);
                }
                Err(reason) => errors.push(format!("jobs[{index}]: {reason}")),
            }
        }
    }
    Ok(PredictBatchResponse {
        total_predictions: predictions.len() as i32,
        failed_predictions: errors.len() as i32,
        predictions,
        batch_id: request.batch_id,
        errors,
        processing_time_ms: started.elapsed().as_millis() as i64,
    })
}
