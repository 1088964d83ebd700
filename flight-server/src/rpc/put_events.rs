//! DoPut to the reserved path `["events"]`: job events in bulk (a day's
//! `sacct` dump, a replay from pandas), folded into the live state.
//!
//! Rows are jobs in the canonical job schema with whatever is known so far
//! (start, end, run time and state included). Each batch is stored in one
//! durable transaction and applied before the next is read; the one
//! summary answered counts every row as applied, duplicated or refused,
//! and names refused rows with their field. A broken stream or an unusable
//! store fails the call after what was applied before it (sending the
//! same rows again only duplicates them).

use arrow_flight::{FlightData, PutResult};
use futures::StreamExt;
use rtp_scoring::job_input::conform_events;
use rtp_scoring::{EventSource, status_of};
use tonic::Status;

use super::{FlightState, FlightStream, client_batches, decode_status};

/// The descriptor path that takes job events instead of a table to score.
pub const EVENTS_PATH: &str = "events";

/// The method's name in metrics and logs.
pub const METHOD: &str = "DoPut";

/// Refusals listed in the summary (all are counted).
const MAX_LISTED: usize = 1000;

/// Applies the uploaded events; `data` is the whole stream, its first
/// message included.
pub async fn handle(
    state: &FlightState,
    data: impl futures::Stream<Item = Result<FlightData, arrow_flight::error::FlightError>>
    + Send
    + 'static,
) -> Result<FlightStream<PutResult>, Status> {
    let mut batches = client_batches(data);
    let (mut applied, mut duplicated, mut refused) = (0u64, 0u64, 0u64);
    let mut errors: Vec<String> = Vec::new();
    let mut rows = 0usize;
    while let Some(batch) = batches.next().await {
        let batch = batch.map_err(|e| state.fail(METHOD, decode_status(e)))?;
        let first_row = rows;
        rows += batch.num_rows();
        let events = conform_events(&batch).map_err(|e| state.fail(METHOD, status_of(&e)))?;
        let live = std::sync::Arc::clone(&state.live);
        let cluster = state.cluster.clone();
        let report = tokio::task::spawn_blocking(move || {
            live.report_events(EventSource::Flight, &cluster, &events)
        })
        .await
        .map_err(|e| {
            state.fail(
                METHOD,
                Status::internal(format!("event worker failed: {e}")),
            )
        })?
        .map_err(|e| {
            state.fail(
                METHOD,
                Status::unavailable(format!("{e}; rows from {first_row} on were not applied")),
            )
        })?;
        applied += report.applied;
        duplicated += report.duplicated;
        refused += report.refused.len() as u64;
        for (i, problem) in report.refused {
            if errors.len() < MAX_LISTED {
                errors.push(format!(
                    "row {}: {}: {}",
                    first_row + i,
                    problem.field,
                    problem.reason
                ));
            }
        }
    }
    tracing::info!(rows, applied, duplicated, refused, "job events applied");
    let summary = serde_json::json!({
        "events": rows,
        "applied": applied,
        "duplicated": duplicated,
        "refused": refused,
        "errors": errors,
    });
    let result = PutResult {
        app_metadata: summary.to_string().into(),
    };
    Ok(Box::pin(futures::stream::iter([Ok(result)])))
}
