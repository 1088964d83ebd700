//! DoExchange: job batches scored as they arrive and streamed back in
//! order; the first failure ends the call, after the client's remaining
//! input has been read.

use std::sync::Arc;

use arrow_flight::FlightData;
use arrow_flight::error::FlightError;
use datafusion::arrow::array::RecordBatch;
use futures::StreamExt;
use rtp_scoring::Overlay;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Streaming;

use super::{
    FlightState, FlightStream, STREAM_BUFFER, client_batches, decode_status, drain, encode,
    flight_data,
};

/// The method's name in metrics and logs.
pub const METHOD: &str = "DoExchange";

/// Scores the client's stream as it arrives.
pub fn handle(state: Arc<FlightState>, input: Streaming<FlightData>) -> FlightStream<FlightData> {
    state.enter(METHOD);
    let mut batches = client_batches(flight_data(input));
    // The whole stream is scored by the model serving when it opened.
    let scorer = state.live.current();
    let (tx, rx) = mpsc::channel::<Result<RecordBatch, FlightError>>(STREAM_BUFFER);
    let open = state.streams.open();
    tokio::spawn(async move {
        let _open = open;
        let mut overlay = Overlay::default();
        while let Some(batch) = batches.next().await {
            let result = match batch {
                Ok(batch) => {
                    let (result, next) = state.score(&scorer, batch, overlay).await;
                    overlay = next;
                    result.map(|scored| scored.batch)
                }
                Err(e) => Err(decode_status(e)),
            };
            let item = match result {
                Ok(batch) => Ok(batch),
                Err(status) => {
                    drain(&mut batches).await;
                    Err(FlightError::Tonic(Box::new(state.fail(METHOD, status))))
                }
            };
            let failed = item.is_err();
            if tx.send(item).await.is_err() || failed {
                return; // the client went away, or the stream ended in error
            }
        }
    });
    encode(ReceiverStream::new(rx))
}
