//! `ReportJobs`: the cluster's job events, folded into the live state.
//!
//! Messages are taken in chunks (what arrives within [`GATHER`] of the
//! first, up to [`CHUNK`]), and each chunk is stored in one durable
//! transaction and applied before the next is read, so a steady trickle of
//! events costs a few commits a second, not one each. The reply comes after
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

/// How long a chunk waits for more events after its first: what an event
/// may wait before it is applied, far below any job's runtime.
pub const GATHER: std::time::Duration = std::time::Duration::from_millis(25);

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
    mut events: Streaming<JobEvent>,
) -> Result<ReportJobsReply, Status> {
    let mut reply = ReportJobsReply::default();
    let mut seen = 0usize;
    loop {
        let (chunk, ended) = gather(&mut events).await;
        if chunk.is_empty() {
            break;
        }
        // Runs of one cluster, with each job's position in the stream.
        let mut runs: Vec<(String, Vec<Job>, Vec<usize>)> = Vec::new();
        let mut broken = None;
        for message in chunk {
            let index = seen;
            seen += 1;
            let event = match message {
                Ok(event) => event,
                Err(status) => {
                    broken = Some(Status::new(
                        status.code(),
                        format!(
                            "event {index}: {}; it and any later events were not applied",
                            status.message()
                        ),
                    ));
                    break;
                }
            };
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
            apply_run(state, &mut reply, cluster, jobs, &at, seen).await?;
        }
        if let Some(status) = broken {
            return Err(status);
        }
        if ended {
            break;
        }
    }
    Ok(reply)
}

/// The next messages: the first to arrive, then whatever follows within
/// [`GATHER`], up to [`CHUNK`]; and whether the stream has ended.
async fn gather(events: &mut Streaming<JobEvent>) -> (Vec<Result<JobEvent, Status>>, bool) {
    let Some(first) = events.next().await else {
        return (Vec::new(), true);
    };
    let mut chunk = vec![first];
    let deadline = tokio::time::Instant::now() + GATHER;
    while chunk.len() < CHUNK && chunk.last().is_some_and(Result::is_ok) {
        match tokio::time::timeout_at(deadline, events.next()).await {
            Ok(Some(message)) => chunk.push(message),
            Ok(None) => return (chunk, true),
            Err(_) => break,
        }
    }
    (chunk, false)
}

/// Stores and applies one cluster's run of events.
async fn apply_run(
    state: &Arc<EdgeState>,
    reply: &mut ReportJobsReply,
    cluster: String,
    jobs: Vec<Job>,
    at: &[usize],
    seen: usize,
) -> Result<(), Status> {
    let live = Arc::clone(&state.live);
    let report =
        tokio::task::spawn_blocking(move || live.report_events(EventSource::Push, &cluster, &jobs))
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
        refuse(reply, at[i], &event_field(&problem), &problem.reason);
    }
    Ok(())
}

fn refuse(reply: &mut ReportJobsReply, index: usize, field: &str, reason: &str) {
    reply.refused += 1;
    if reply.errors.len() < MAX_LISTED {
        reply
            .errors
            .push(format!("events[{index}].{field}: {reason}"));
    }
}
