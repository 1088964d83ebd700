//! `PredictStream`: one response per request message, in order. A message
//! that cannot be predicted gets a response carrying `error`, and the
//! stream goes on. A message that does not decode, or a broken transport,
//! ends the stream with that status after the answers to every earlier
//! message: the caller learns which messages were not answered, never an
//! OK that hides them.

use crate::job_request::demand;
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use rtp_proto::v1::{PredictRequest, PredictResponse};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Streaming;

use crate::rpc::predict::predict_one;
use crate::service::{EdgeState, PredictionStream};

const METHOD: &str = "PredictStream";

/// Responses sent ahead of a slow reader before the stream waits for it.
const AHEAD: usize = 16;

/// Starts answering a stream.
pub fn handle(state: Arc<EdgeState>, mut requests: Streaming<PredictRequest>) -> PredictionStream {
    let (tx, rx) = tokio::sync::mpsc::channel(AHEAD);
    tokio::spawn(async move {
        let call = state.metrics.call(METHOD);
        let mut code = tonic::Code::Ok;
        let mut received = 0u64;
        while let Some(message) = requests.next().await {
            received += 1;
            let request = match message {
                Ok(r) => r,
                Err(status) => {
                    tracing::debug!(method = METHOD, %status, "request stream broke");
                    code = status.code();
                    let ended = tonic::Status::new(
                        status.code(),
                        format!(
                            "message {received}: {}; it and any later messages were not answered",
                            status.message()
                        ),
                    );
                    let _ = tx.send(Err(ended)).await;
                    break;
                }
            };
            let started = Instant::now();
            let answer = answer(&state, request);
            let predicted = answer.error.is_empty();
            state.metrics.observe_message(METHOD, started, predicted);
            if tx.send(Ok(answer)).await.is_err() {
                code = tonic::Code::Cancelled;
                break;
            }
        }
        call.finish(code, false);
    });
    Box::pin(ReceiverStream::new(rx))
}

fn answer(state: &EdgeState, request: PredictRequest) -> PredictResponse {
    let job_id = request
        .features
        .as_ref()
        .map(|f| f.job_id.clone())
        .unwrap_or_default();
    let explain = request.explain.unwrap_or(true);
    let (nodes, wallclock_s) = demand(request.features.as_ref());
    let mut answer = match predict_one(state, request.features, "features", explain) {
        Ok(answer) => {
            state.metrics.record_prediction(nodes, wallclock_s, &answer);
            answer
        }
        Err(status) => {
            state.metrics.job_failures.inc();
            PredictResponse {
                error: status.message().to_owned(),
                job_id,
                ..Default::default()
            }
        }
    };
    answer.request_id = request.request_id;
    answer
}
