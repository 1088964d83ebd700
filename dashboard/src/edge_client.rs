//! The predict page's client of the gRPC edge (`rtpredictor.v1`): one lazily
//! connected channel, the bearer token on every call, a deadline per call,
//! and one mapping from `tonic::Status` to what the page tells the user.

use rtp_proto::v1::job_runtime_predictor_client::JobRuntimePredictorClient;
use rtp_proto::v1::{JobFeatures, PredictRequest, PredictResponse};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::config::EdgeTarget;
use crate::error::DashboardError;
use rtp_service_support::grpc_target::{self, SettingNames};

/// Adds `authorization: Bearer …` when a token is configured.
#[derive(Debug, Clone)]
pub struct BearerToken(Option<MetadataValue<Ascii>>);

impl Interceptor for BearerToken {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// The settings of `[edge]`, as errors name them.
const SETTINGS: SettingNames<'static> = SettingNames {
    address: "edge.address",
    ca: "edge.ca",
    token: "edge.token",
};

/// A client of the edge.
#[derive(Debug, Clone)]
pub struct EdgeClient {
    client: JobRuntimePredictorClient<InterceptedService<Channel, BearerToken>>,
    target: EdgeTarget,
}

impl EdgeClient {
    /// A client of `target`; connects on first use, so the dashboard starts
    /// even while the edge is down.
    pub fn new(target: &EdgeTarget) -> Result<Self, String> {
        let endpoint = grpc_target::endpoint(SETTINGS, &target.address, target.ca.as_deref())?
            .timeout(target.timeout);
        let token = grpc_target::bearer(SETTINGS, target.token.as_deref())?;
        let channel = endpoint.connect_lazy();
        Ok(Self {
            client: JobRuntimePredictorClient::with_interceptor(channel, BearerToken(token)),
            target: target.clone(),
        })
    }

    /// The edge's address, for messages.
    pub fn address(&self) -> &str {
        &self.target.address
    }

    /// One prediction with its feature contributions.
    pub async fn predict(&self, features: JobFeatures) -> Result<PredictResponse, DashboardError> {
        let mut request = tonic::Request::new(PredictRequest {
            features: Some(features),
            request_id: String::new(),
            metadata: Default::default(),
            explain: Some(true),
        });
        request.set_timeout(self.target.timeout);
        self.client
            .clone()
            .predict(request)
            .await
            .map(tonic::Response::into_inner)
            .map_err(|status| self.failure(status))
    }

    fn failure(&self, status: tonic::Status) -> DashboardError {
        use tonic::Code;
        let message = match status.code() {
            Code::Unavailable => format!("unreachable ({})", status.message()),
            Code::DeadlineExceeded => format!(
                "no answer within {:.1} s (edge.timeout_s)",
                self.target.timeout.as_secs_f64()
            ),
            Code::Unauthenticated => {
                "refused the dashboard's token (edge.token / RTP_EDGE_TOKEN)".to_owned()
            }
            _ => status.message().to_owned(),
        };
        DashboardError::Upstream {
            service: "edge",
            address: self.target.address.clone(),
            message,
            rejected: status.code() == Code::InvalidArgument,
        }
    }
}
