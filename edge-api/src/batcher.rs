//! Opportunistic batching of single predictions.
//!
//! Scoring one job has a fixed cost (compiled feature expressions, the
//! model walk set-up) that dwarfs its per-row cost, so concurrent Predict
//! calls and stream messages are queued for scoring threads, and each
//! thread scores everything waiting when it gets to the queue as one batch.
//! Nothing waits for a batch to fill: a lone call is scored at once. Jobs
//! batched together are unrelated, so they are scored in isolation from
//! each other ([`Overlay::isolated`]), exactly as if each came alone.

use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};

use rtp_proto::v1::{JobFeatures, PredictResponse};
use rtp_scoring::{LiveModel, Overlay};
use tokio::sync::oneshot;
use tonic::Status;

use crate::prediction::score_jobs;
use crate::rpc::{now_s, status_of};

/// Jobs one scoring pass takes at most.
const MAX_BATCH: usize = 256;
/// Jobs that may wait; beyond this, calls are refused as overloaded.
const QUEUE_CAPACITY: usize = 4096;

/// A validated job waiting to be scored.
struct Pending {
    job: JobFeatures,
    /// Where the field names in row errors point, e.g. `features`.
    path: &'static str,
    /// Whether to compute contributions.
    explain: bool,
    reply: oneshot::Sender<Result<PredictResponse, Status>>,
}

/// The queue in front of the scoring threads.
#[derive(Debug, Clone)]
pub struct Batcher {
    queue: SyncSender<Pending>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending").field("path", &self.path).finish()
    }
}

impl Batcher {
    /// Starts `threads` scoring threads over `live`, each answering with
    /// `top` contributions. They stop when every [`Batcher`] clone is gone.
    pub fn start(live: Arc<LiveModel>, threads: usize, top: usize) -> Self {
        let (queue, jobs) = sync_channel(QUEUE_CAPACITY);
        let jobs = Arc::new(Mutex::new(jobs));
        for i in 0..threads.max(1) {
            let jobs = Arc::clone(&jobs);
            let live = Arc::clone(&live);
            std::thread::Builder::new()
                .name(format!("rtp-score-{i}"))
                .spawn(move || score_loop(&jobs, &live, top))
                .expect("spawning a scoring thread");
        }
        Self { queue }
    }

    /// Scores one validated job, with contributions if `explain`.
    pub async fn predict(
        &self,
        job: JobFeatures,
        path: &'static str,
        explain: bool,
    ) -> Result<PredictResponse, Status> {
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            job,
            path,
            explain,
            reply,
        };
        match self.queue.try_send(pending) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                return Err(Status::resource_exhausted(
                    "too many predictions waiting; retry shortly",
                ));
            }
            Err(TrySendError::Disconnected(_)) => {
                return Err(Status::unavailable("the scoring threads have stopped"));
            }
        }
        answer
            .await
            .unwrap_or_else(|_| Err(Status::internal("a scoring thread failed")))
    }
}

fn score_loop(jobs: &Mutex<Receiver<Pending>>, live: &LiveModel, top: usize) {
    loop {
        let batch = {
            let Ok(queue) = jobs.lock() else { return };
            let Ok(first) = queue.recv() else { return };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match queue.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            batch
        };
        // Contributions cost more than the rest of a prediction: only the
        // jobs that asked for them pay for them.
        let (explained, plain): (Vec<_>, Vec<_>) = batch.into_iter().partition(|p| p.explain);
        for (part, top) in [(explained, top), (plain, 0)] {
            if !part.is_empty() {
                score_batch(part, live, top);
            }
        }
    }
}

fn score_batch(batch: Vec<Pending>, live: &LiveModel, top: usize) {
    let jobs: Vec<&JobFeatures> = batch.iter().map(|p| &p.job).collect();
    let answers = score_jobs(
        &live.current(),
        &jobs,
        &mut Overlay::isolated(),
        top,
        now_s(),
    );
    match answers {
        Ok(answers) => {
            for (pending, answer) in batch.into_iter().zip(answers) {
                let answer = answer.map_err(|reason| {
                    Status::invalid_argument(format!("{}: {reason}", pending.path))
                });
                let _ = pending.reply.send(answer);
            }
        }
        Err(e) => {
            let status = status_of(&e);
            for pending in batch {
                let _ = pending.reply.send(Err(status.clone()));
            }
        }
    }
}
