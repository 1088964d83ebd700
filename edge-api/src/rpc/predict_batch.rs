//! `PredictBatch`: many jobs as one submission sequence, scored in one
//! vectorised pass on a blocking thread. Invalid jobs are reported in
//! `errors` and the rest are predicted.

use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::array::{Array, AsArray};
use rtp_proto::v1::{PredictBatchRequest, PredictBatchResponse};
use rtp_scoring::Overlay;
use rtp_scoring::scorer::ERROR;
use tonic::Status;

use crate::job_request::{job_rows, validate};
use crate::prediction::{ResponseContext, response};
use crate::rpc::{now_s, status_of};
use crate::service::EdgeState;

const METHOD: &str = "PredictBatch";

/// Answers one PredictBatch call.
pub async fn handle(
    state: Arc<EdgeState>,
    request: PredictBatchRequest,
) -> Result<PredictBatchResponse, Status> {
    let call = state.metrics.call(METHOD);
    let worker = Arc::clone(&state);
    let result = tokio::task::spawn_blocking(move || predict_batch(&worker, request))
        .await
        .unwrap_or_else(|e| Err(Status::internal(format!("batch worker failed: {e}"))));
    if let Ok(r) = &result {
        state.metrics.predictions.inc_by(r.predictions.len() as u64);
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
    for (i, job) in request.jobs.iter().enumerate() {
        match validate(Some(job), &format!("jobs[{i}]")) {
            Ok(()) => valid.push(i),
            Err(e) => errors.push(e.to_string()),
        }
    }
    let mut predictions = Vec::with_capacity(valid.len());
    if !valid.is_empty() {
        let now = now_s();
        let rows = job_rows(valid.iter().map(|&i| &request.jobs[i]), now);
        let scorer = state.live.current();
        let scored = scorer
            .score_explained(
                &rows,
                &mut Overlay::default(),
                if request.explain.unwrap_or(true) {
                    state.limits.top_contributions
                } else {
                    0
                },
            )
            .map_err(|e| status_of(&e))?;
        let row_errors = scored
            .batch
            .column_by_name(ERROR)
            .expect("scored batch column")
            .as_string::<i32>();
        let context = ResponseContext {
            model_version: scorer.version(),
            timestamp: now,
            coverage: scorer.manifest().interval.nominal_coverage,
        };
        for (row, &index) in valid.iter().enumerate() {
            if row_errors.is_valid(row) {
                errors.push(format!("jobs[{index}]: {}", row_errors.value(row)));
                continue;
            }
            let contributions = scored.contributions.get(row).map_or(&[][..], Vec::as_slice);
            let mut answer = response(&scored.batch, row, contributions, &context);
            answer.job_index = index as i32;
            answer.job_id.clone_from(&request.jobs[index].job_id);
            predictions.push(answer);
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
