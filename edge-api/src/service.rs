//! The `JobRuntimePredictor` implementation: it only dispatches, each RPC
//! lives in its own module under [`crate::rpc`].

use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use futures::Stream;
use rtp_proto::v1::job_runtime_predictor_server::JobRuntimePredictor;
use rtp_proto::v1::{
    GetModelInfoRequest, GetModelInfoResponse, HealthCheckRequest, HealthCheckResponse, JobEvent,
    PredictBatchRequest, PredictBatchResponse, PredictRequest, PredictResponse, ReportJobsReply,
};
use rtp_scoring::LiveModel;
use tonic::{Request, Response, Status, Streaming};

use crate::metrics::Metrics;
use crate::rpc;

/// Limits of what one call may ask.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most jobs in one batch.
    pub max_batch_jobs: usize,
    /// Contributions returned per prediction.
    pub top_contributions: usize,
}

impl Limits {
    /// Contributions to compute for a call that asked for them or not.
    pub fn top(&self, explain: bool) -> usize {
        if explain { self.top_contributions } else { 0 }
    }
}

/// What every RPC reads.
#[derive(Debug)]
pub struct EdgeState {
    /// The serving model.
    pub live: Arc<LiveModel>,
    /// The metrics.
    pub metrics: Arc<Metrics>,
    /// Request limits.
    pub limits: Limits,
    /// When the server started.
    pub started: Instant,
    /// The cluster job events are keyed under when they name none.
    pub cluster: String,
}

/// The gRPC service.
#[derive(Debug, Clone)]
pub struct PredictorService {
    state: Arc<EdgeState>,
}

impl PredictorService {
    /// A service over shared state.
    pub fn new(state: Arc<EdgeState>) -> Self {
        Self { state }
    }
}

/// The response stream of PredictStream.
pub type PredictionStream = Pin<Box<dyn Stream<Item = Result<PredictResponse, Status>> + Send>>;

#[tonic::async_trait]
impl JobRuntimePredictor for PredictorService {
    async fn predict(
        &self,
        request: Request<PredictRequest>,
    ) -> Result<Response<PredictResponse>, Status> {
        rpc::predict::handle(&self.state, request.into_inner())
            .await
            .map(Response::new)
    }

    async fn predict_batch(
        &self,
        request: Request<PredictBatchRequest>,
    ) -> Result<Response<PredictBatchResponse>, Status> {
        rpc::predict_batch::handle(Arc::clone(&self.state), request.into_inner())
            .await
            .map(Response::new)
    }

    type PredictStreamStream = PredictionStream;

    async fn predict_stream(
        &self,
        request: Request<Streaming<PredictRequest>>,
    ) -> Result<Response<Self::PredictStreamStream>, Status> {
        Ok(Response::new(rpc::predict_stream::handle(
            Arc::clone(&self.state),
            request.into_inner(),
        )))
    }

    async fn get_model_info(
        &self,
        _request: Request<GetModelInfoRequest>,
    ) -> Result<Response<GetModelInfoResponse>, Status> {
        Ok(Response::new(rpc::model_info::handle(&self.state)))
    }

    async fn report_jobs(
        &self,
        request: Request<Streaming<JobEvent>>,
    ) -> Result<Response<ReportJobsReply>, Status> {
        rpc::report_jobs::handle(Arc::clone(&self.state), request.into_inner())
            .await
            .map(Response::new)
    }

    async fn health_check(
        &self,
        _request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        Ok(Response::new(rpc::health_check::handle(&self.state)))
    }
}
