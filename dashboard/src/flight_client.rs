//! The batch page's client of the Flight server: one DoExchange per upload,
//! sending the valid rows as one submission sequence and collecting the
//! scored rows.

use arrow_array::RecordBatch;
use arrow_flight::FlightClient;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use futures::TryStreamExt;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::Channel;

use crate::config::FlightTarget;
use crate::error::DashboardError;
use rtp_service_support::grpc_target::{self, SettingNames};

/// Rows per record batch sent.
const BATCH_ROWS: usize = 8192;

/// The settings of `[flight]`, as errors name them.
const SETTINGS: SettingNames<'static> = SettingNames {
    address: "flight.address",
    ca: "flight.ca",
    token: "flight.token",
};

/// A client of the Flight server.
#[derive(Debug, Clone)]
pub struct FlightScorer {
    channel: Channel,
    authorization: Option<MetadataValue<Ascii>>,
    target: FlightTarget,
}

impl FlightScorer {
    /// A client of `target`; connects on first use.
    pub fn new(target: &FlightTarget) -> Result<Self, String> {
        let endpoint = grpc_target::endpoint(SETTINGS, &target.address, target.ca.as_deref())?;
        Ok(Self {
            channel: endpoint.connect_lazy(),
            authorization: grpc_target::bearer(SETTINGS, target.token.as_deref())?,
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
        if let Some(value) = &self.authorization {
            client.metadata_mut().insert("authorization", value.clone());
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
