//! DoGet: a stored table streamed back, or a range of a shared Parquet
//! file scored in order as one submission sequence.

use std::sync::Arc;
use std::time::Instant;

use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::{FlightData, Ticket};
use datafusion::arrow::array::RecordBatch;
use futures::{TryStreamExt, stream};
use rtp_scoring::{Overlay, status_of};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use super::{FlightState, FlightStream, STREAM_BUFFER, encode, record};
use crate::shared_tables::SharedRange;

/// The method's name in metrics and logs.
pub const METHOD: &str = "DoGet";

/// The batches the ticket names.
pub fn handle(state: &FlightState, ticket: &Ticket) -> Result<FlightStream<FlightData>, Status> {
    state.enter(METHOD);
    if let Some(range) = SharedRange::from_ticket(&ticket.ticket) {
        return range
            .and_then(|range| shared_range(state, &range))
            .map_err(|s| state.fail(METHOD, s));
    }
    let name = String::from_utf8(ticket.ticket.to_vec()).map_err(|_| {
        state.fail(
            METHOD,
            Status::invalid_argument("the ticket is not a table name"),
        )
    })?;
    let table = state.stored(METHOD, &name)?;
    let batches = stream::iter(table.batches.into_iter().map(Ok));
    Ok(Box::pin(
        FlightDataEncoderBuilder::new()
            .with_schema(table.schema)
            .build(batches)
            .map_err(Status::from),
    ))
}

/// Streams the scored rows of a range of a shared table, scored in order
/// as one submission sequence.
fn shared_range(
    state: &FlightState,
    range: &SharedRange,
) -> Result<FlightStream<FlightData>, Status> {
    let reader = state.shared.read(range)?;
    let scorer = state.live.current();
    let metrics = Arc::clone(&state.metrics);
    let (tx, rx) = mpsc::channel::<Result<RecordBatch, FlightError>>(STREAM_BUFFER);
    let open = state.streams.open();
    tokio::task::spawn_blocking(move || {
        let _open = open;
        let mut overlay = Overlay::default();
        for batch in reader {
            let started = Instant::now();
            let item = batch
                .map_err(|e| Status::internal(format!("reading the shared table: {e}")))
                .and_then(|batch| {
                    scorer
                        .score(&batch, &mut overlay)
                        .map_err(|e| status_of(&e))
                })
                .inspect(|scored| record(&metrics, scored, started))
                .map(|scored| scored.batch)
                .map_err(|status| FlightError::Tonic(Box::new(status)));
            let failed = item.is_err();
            if tx.blocking_send(item).is_err() || failed {
                return;
            }
        }
    });
    Ok(encode(ReceiverStream::new(rx)))
}
