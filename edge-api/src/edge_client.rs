//! How the thin clients (`rtp-suggest`, `rtp-jobcomp`) reach the edge: its
//! address, the CA to trust for TLS and the bearer token, from flags or
//! the environment, shared so both mean the same by them.

use std::path::PathBuf;
use std::time::Duration;

use rtp_service_support::grpc_target::{self, SettingNames};
use tonic::transport::Channel;

/// Where the edge is and how to be let in.
#[derive(Debug, Clone, clap::Args)]
pub struct EdgeAddress {
    /// The edge's address.
    #[arg(long, env = "RTP_EDGE", default_value = "http://127.0.0.1:50051")]
    pub edge: String,
    /// Bearer token the edge requires, if any.
    #[arg(long, env = "RTP_EDGE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// CA certificate (PEM) to trust for a TLS edge.
    #[arg(long, env = "RTP_EDGE_CA")]
    pub ca: Option<PathBuf>,
}

/// Why the edge cannot be reached; `Settings` is the caller's to fix.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A flag or variable is wrong.
    #[error("{0}")]
    Settings(String),
    /// The edge does not answer.
    #[error("the edge at {edge} is unreachable ({reason})")]
    Unreachable {
        /// Its address.
        edge: String,
        /// What the transport said.
        reason: String,
    },
}

/// Runs `call` to completion on a runtime of its own, or gives up after
/// `budget_ms`: the thin clients' one wait for the edge, connecting and
/// answering together. `Err` says what went wrong, to follow "the edge".
pub fn within<T>(budget_ms: u64, call: impl Future<Output = T>) -> Result<T, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("could not be asked (no runtime: {e})"))?;
    // The timer is made inside the runtime, which drives it.
    runtime
        .block_on(async {
            tokio::time::timeout(Duration::from_millis(budget_ms.max(1)), call).await
        })
        .map_err(|_| format!("did not answer within {budget_ms} ms"))
}

/// The flags, as errors name them.
const SETTINGS: SettingNames<'static> = SettingNames {
    address: "--edge",
    ca: "--ca",
    token: "--token",
};

impl EdgeAddress {
    /// A connected channel.
    pub async fn connect(&self) -> Result<Channel, ClientError> {
        grpc_target::endpoint(SETTINGS, &self.edge, self.ca.as_deref())
            .map_err(ClientError::Settings)?
            .connect()
            .await
            .map_err(|e| ClientError::Unreachable {
                edge: self.edge.clone(),
                reason: e.to_string(),
            })
    }

    /// `message` as a request carrying the token, if one is set.
    pub fn request<T>(&self, message: T) -> Result<tonic::Request<T>, ClientError> {
        let mut request = tonic::Request::new(message);
        if let Some(value) =
            grpc_target::bearer(SETTINGS, self.token.as_deref()).map_err(ClientError::Settings)?
        {
            request.metadata_mut().insert("authorization", value);
        }
        Ok(request)
    }
}
