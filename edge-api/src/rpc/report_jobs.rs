//! `ReportJobs`: the cluster's job events, folded into the live state.
//!
//! Messages are taken in chunks of whatever has arrived (up to
//! [`CHUNK`]), and each chunk is stored in one durable transaction and
//! applied before the next is read, so a commit's cost is shared by the
//! events that arrived while the previous one ran. The reply comes after
//! the last chunk is stored: every event it counts as applied survives a
//! crash. A refused event is named and the stream goes on; a broken
//! stream or an unusable store ends the call with its status, after what
//! was applied before it (the same events sent again are duplicates).

use std::sync::Arc;

use futures::StreamExt;
use rtp_jobs::Job;
use rtp_proto::v1::{JobEvent, ReportJobsReply};
use rtp_scoring::EventSource;
use tonic::{Status, Streaming};

use crate::job_event::{event_field, job_from_event};
use crate::service::EdgeState;

/// The RPC's name on the wire and in metrics.
pub const METHOD: &str = "ReportJobs";

/// Most events applied in one store transaction.
pub const CHUNK: usize = 1024;

/// Refusals listed in the reply (all are counted).
const MAX_LISTED: usize = 1000;

/// Answers one ReportJobs call.
pub async fn handle(
    state: Arc<EdgeState>,
    events: Streaming<JobEvent>,
) -> Result<ReportJobsReply, Status> {
    let call = state.metrics.call(METHOD);
    let result = report(&state, events).await;
    call.finish(
        result
            .as_ref()
            .map_or_else(Status::code, |_| tonic::Code::Ok),
        false,
    );
    result
}

async fn report(
    state: &Arc<EdgeState>,
    events: Streaming<JobEvent>,
) -> Result<ReportJobsReply, Status> {
    let mut reply = ReportJobsReply::default();
    let mut chunks = events.ready_chunks(CHUNK);
    let mut seen = 0usize;
    while let Some(chunk) = chunks.next().await {
        // Runs of one cluster, with each job's position in the stream.
        let mut runs: Vec<(String, Vec<Job>, Vec<usize>)> = Vec::new();
        for message in chunk {
            let index = seen;
            seen += 1;
            let event = message.map_err(|status| {
                Status::new(
                    status.code(),
                    format!(
                        "event {index}: {}; it and any later events were not applied",
                        status.message()
                    ),
                )
            })?;
            match job_from_event(&event) {
                Ok(job) => {
                    let cluster = if event.cluster.is_empty() {
                        state.cluster.as_str()
                    } else {
                        event.cluster.as_str()
                    };
                    match runs.last_mut() {
                        Some((c, jobs, at)) if c == cluster => {
                            jobs.push(job);
                            at.push(index);
                        }
                        _ => runs.push((cluster.to_owned(), vec![job], vec![index])),
                    }
                }
                Err(e) => refuse(&mut reply, index, &e.field, &e.reason),
            }
        }
        for (cluster, jobs, at) in runs {
            let live = Arc::clone(&state.live);
            let report = tokio::task::spawn_blocking(move || {
                live.report_events(EventSource::Push, &cluster, &jobs)
            })
            .await
            .map_err(|e| Status::internal(format!("event worker failed: {e}")))?
            .map_err(|e| {
                tracing::error!(error = %e, "job events not stored");
                Status::unavailable(format!(
                    "{e}; events from {} on were not applied",
                    at.first().copied().unwrap_or(seen)
                ))
            })?;
            reply.applied += report.applied as i64;
            reply.duplicated += report.duplicated as i64;
            for (i, problem) in report.refused {
                refuse(&mut reply, at[i], &event_field(&problem), &problem.reason);
            }
        }
    }
    Ok(reply)
}

fn refuse(reply: &mut ReportJobsReply, index: usize, field: &str, reason: &str) {
    reply.refused += 1;
    if reply.errors.len() < MAX_LISTED {
        reply
            .errors
            .push(format!("events[{index}].{field}: {reason}"));
    }
}
