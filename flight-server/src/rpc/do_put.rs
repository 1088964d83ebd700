//! DoPut: a client's job batches scored and stored under the descriptor's
//! name, within the store's memory budget; answers one JSON summary. The
//! reserved name `events` takes job events instead (see
//! [`super::put_events`]).

use arrow_flight::{FlightData, PutResult};
use datafusion::arrow::array::RecordBatch;
use futures::{StreamExt, stream};
use rtp_scoring::{Overlay, Scorer};
use tonic::{Status, Streaming};

use super::{FlightState, FlightStream, client_batches, decode_status, flight_data, table_name};
use crate::tables::StoredTable;

/// The method's name in metrics and logs.
pub const METHOD: &str = "DoPut";

/// Scores and stores the stream; the first message names the table.
pub async fn handle(
    state: &FlightState,
    mut input: Streaming<FlightData>,
) -> Result<FlightStream<PutResult>, Status> {
    state.enter(METHOD);
    let first = input
        .message()
        .await
        .map_err(|s| state.fail(METHOD, s))?
        .ok_or_else(|| state.fail(METHOD, Status::invalid_argument("empty DoPut stream")))?;
    let name = table_name(first.flight_descriptor.as_ref()).map_err(|s| state.fail(METHOD, s))?;
    let data = stream::once(futures::future::ready(Ok(first))).chain(flight_data(input));
    if name == super::put_events::EVENTS_PATH {
        return super::put_events::handle(state, data).await;
    }
    let mut batches = client_batches(data);
    let scorer = state.live.current();
    let mut overlay = Overlay::default();
    let mut stored = Vec::new();
    let (mut rows, mut failed, mut bytes) = (0u64, 0u64, 0u64);
    while let Some(batch) = batches.next().await {
        let batch = batch.map_err(|e| state.fail(METHOD, decode_status(e)))?;
        let (result, next) = state.score(&scorer, batch, overlay).await;
        overlay = next;
        let scored = result.map_err(|s| state.fail(METHOD, s))?;
        rows += scored.batch.num_rows() as u64;
        failed += scored.failed_rows as u64;
        bytes += scored.batch.get_array_memory_size() as u64;
        state
            .tables
            .check_room(&name, bytes)
            .map_err(|e| state.fail(METHOD, Status::resource_exhausted(e.to_string())))?;
        stored.push(scored.batch);
    }
    let schema = stored
        .first()
        .map(RecordBatch::schema)
        .unwrap_or_else(|| Scorer::output_schema(false));
    state
        .tables
        .insert(
            name.clone(),
            StoredTable {
                schema,
                batches: stored,
                rows,
                failed_rows: failed,
                bytes,
                model_version: scorer.version().to_owned(),
            },
        )
        .map_err(|e| state.fail(METHOD, Status::resource_exhausted(e.to_string())))?;
    tracing::info!(table = %name, rows, failed, "table stored");
    let summary = serde_json::json!({
        "table": name,
        "rows": rows,
        "failed_rows": failed,
        "model_version": scorer.version(),
    });
    let result = PutResult {
        app_metadata: summary.to_string().into(),
    };
    Ok(Box::pin(stream::iter([Ok(result)])))
}
