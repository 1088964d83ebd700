//! The batch page's client of the Flight server: one DoExchange per upload,
//! sending the valid rows as one submission sequence and collecting the
//! scored rows.

use arrow_array::RecordBatch;
use arrow_flight::FlightClient;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use futures::TryStreamExt;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

use crate::config::FlightTarget;
use crate::error::DashboardError;

/// Rows per record batch sent.
const BATCH_ROWS: usize = 8192;

/// A client of the Flight server.
#[derive(Debug, Clone)]
pub struct FlightScorer {
    channel: Channel,
    target: FlightTarget,
}

impl FlightScorer {
    /// A client of `target`; connects on first use.
    pub fn new(target: &FlightTarget) -> Result<Self, String> {
        let mut endpoint = Endpoint::from_shared(target.address.clone())
            .map_err(|e| format!("flight.address {:?}: {e}", target.address))?
            .tcp_nodelay(true);
        if let Some(ca) = &target.ca {
            let pem = std::fs::read(ca).map_err(|e| format!("flight.ca {}: {e}", ca.display()))?;
            endpoint = endpoint
                .tls_config(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem)))
                .map_err(|e| format!("Flight TLS: {e}"))?;
        }
        if let Some(token) = &target.token
            && format!("Bearer {token}")
                .parse::<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>()
                .is_err()
        {
            return Err("flight.token has characters a header cannot carry".into());
        }
        Ok(Self {
            channel: endpoint.connect_lazy(),
            target: target.clone(),
        })
    }

    /// Scores `jobs` (canonical job columns); returns the scored batches in
    /// order.
    pub async fn score(&self, jobs: &RecordBatch) -> Result<Vec<RecordBatch>, DashboardError> {
        let batches: Vec<Result<RecordBatch, FlightError>> = (0..jobs.num_rows())
            .step_by(BATCH_ROWS)
            .map(|at| Ok(jobs.slice(at, BATCH_ROWS.min(jobs.num_rows() - at))))
            .collect();
        let input = FlightDataEncoderBuilder::new().build(futures::stream::iter(batches));
        let mut client = FlightClient::new(self.channel.clone());
        if let Some(token) = &self.target.token {
            client
                .add_header("authorization", &format!("Bearer {token}"))
                .map_err(|e| self.failure(e))?;
        }
        let exchange = async {
            client
                .do_exchange(input)
                .await?
                .try_collect::<Vec<RecordBatch>>()
                .await
        };
        match tokio::time::timeout(self.target.timeout, exchange).await {
            Ok(Ok(scored)) => Ok(scored),
            Ok(Err(e)) => Err(self.failure(e)),
            Err(_) => Err(DashboardError::Upstream {
                service: "Flight server",
                address: self.target.address.clone(),
                message: format!(
                    "no answer within {:.0} s (flight.timeout_s)",
                    self.target.timeout.as_secs_f64()
                ),
                rejected: false,
            }),
        }
    }

    fn failure(&self, error: FlightError) -> DashboardError {
        let (message, rejected) = match error {
            FlightError::Tonic(status) => (
                match status.code() {
                    tonic::Code::Unavailable => format!("unreachable ({})", status.message()),
                    _ => status.message().to_owned(),
                },
                status.code() == tonic::Code::InvalidArgument,
            ),
            other => (other.to_string(), false),
        };
        DashboardError::Upstream {
            service: "Flight server",
            address: self.target.address.clone(),
            message,
            rejected,
        }
    }
}
