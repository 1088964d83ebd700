//! How the thin clients (`rtp-suggest`, `rtp-jobcomp`) reach the edge: its
//! address, the CA to trust for TLS and the bearer token, from flags or
//! the environment, shared so both mean the same by them.

use std::path::PathBuf;

use tonic::metadata::MetadataValue;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

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

impl EdgeAddress {
    /// A connected channel.
    pub async fn connect(&self) -> Result<Channel, ClientError> {
        let mut endpoint = Endpoint::from_shared(self.edge.clone())
            .map_err(|e| ClientError::Settings(format!("--edge {:?}: {e}", self.edge)))?
            .tcp_nodelay(true);
        if let Some(ca) = &self.ca {
            let pem = std::fs::read(ca)
                .map_err(|e| ClientError::Settings(format!("--ca {}: {e}", ca.display())))?;
            endpoint = endpoint
                .tls_config(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem)))
                .map_err(|e| ClientError::Settings(format!("--ca: {e}")))?;
        }
        endpoint
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
        if let Some(token) = &self.token {
            let value = MetadataValue::try_from(format!("Bearer {token}"))
                .map_err(|_| ClientError::Settings("--token: not a header value".into()))?;
            request.metadata_mut().insert("authorization", value);
        }
        Ok(request)
    }
}
