//! One module per Flight RPC, each with one `handle` function; what they
//! share lives here: the service state, failure counting, scoring a batch
//! off the async threads, and the Arrow encoding and decoding helpers.

pub mod do_action;
pub mod do_exchange;
pub mod do_get;
pub mod do_put;
pub mod get_flight_info;
pub mod get_schema;
pub mod list_actions;
pub mod list_flights;
pub mod put_events;

use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::{FlightData, FlightDescriptor, FlightEndpoint, FlightInfo, Ticket};
use datafusion::arrow::array::{AsArray, RecordBatch};
use futures::{Stream, StreamExt, TryStreamExt};
use rtp_scoring::{LiveModel, Overlay, Scored, Scorer, status_of};
use tonic::{Status, Streaming};

use crate::memory::OpenStreams;
use crate::metrics::Metrics;
use crate::shared_tables::SharedTables;
use crate::tables::{StoredTable, TableStore};

/// A boxed response stream, as every streaming RPC answers.
pub type FlightStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// Batches in flight between the scorer and the client, per stream: enough
/// to overlap scoring with transport, few enough to keep memory flat.
pub(crate) const STREAM_BUFFER: usize = 2;

/// What every RPC reads.
#[derive(Debug)]
pub struct FlightState {
    /// The serving model.
    pub live: Arc<LiveModel>,
    /// Tables stored by DoPut.
    pub tables: Arc<TableStore>,
    /// The metrics.
    pub metrics: Arc<Metrics>,
    /// Parquet files shared with every replica.
    pub shared: SharedTables,
    /// Scoring streams open now (DoExchange, shared-table DoGet).
    pub streams: OpenStreams,
    /// The cluster job events are keyed under.
    pub cluster: String,
}

impl FlightState {
    /// Counts a call to `method` on entry.
    pub(crate) fn enter(&self, method: &str) {
        self.metrics.request(method);
    }

    /// Counts and logs a failed call, and hands its status back.
    pub(crate) fn fail(&self, method: &str, status: Status) -> Status {
        self.metrics.failure(method, &status);
        tracing::warn!(method, code = ?status.code(), message = status.message(), "request failed");
        status
    }

    /// The stored table `name`, or NOT_FOUND (counted against `method`).
    pub(crate) fn stored(&self, method: &str, name: &str) -> Result<StoredTable, Status> {
        self.tables.get(name).ok_or_else(|| {
            self.fail(
                method,
                Status::not_found(format!("no stored table `{name}`")),
            )
        })
    }

    /// Scores one batch off the async threads; the overlay travels along.
    pub(crate) async fn score(
        &self,
        scorer: &Arc<Scorer>,
        batch: RecordBatch,
        overlay: Overlay,
    ) -> (Result<Scored, Status>, Overlay) {
        let scorer = Arc::clone(scorer);
        let started = Instant::now();
        let joined = tokio::task::spawn_blocking(move || {
            let mut overlay = overlay;
            let result = scorer.score(&batch, &mut overlay);
            (result, overlay)
        })
        .await;
        let (result, overlay) = match joined {
            Ok(done) => done,
            Err(e) => {
                return (
                    Err(Status::internal(format!("scoring task failed: {e}"))),
                    Overlay::default(),
                );
            }
        };
        let result = result.map_err(|e| status_of(&e));
        if let Ok(scored) = &result {
            record(&self.metrics, scored, started);
        }
        (result, overlay)
    }
}

/// Counts a scored batch.
pub(crate) fn record(m: &Metrics, scored: &Scored, started: Instant) {
    m.rows.inc_by(scored.batch.num_rows() as u64);
    m.overestimated.inc_by(overestimated_rows(&scored.batch));
    m.row_errors.inc_by(scored.failed_rows as u64);
    m.batches.inc();
    m.batch_latency.observe(started.elapsed().as_secs_f64());
    m.feature_seconds
        .inc_by(scored.timings.features.as_secs_f64());
    m.model_seconds.inc_by(scored.timings.model.as_secs_f64());
}

/// Rows of a scored batch flagged as overestimated.
fn overestimated_rows(batch: &RecordBatch) -> u64 {
    batch
        .column_by_name(rtp_scoring::scorer::OVERESTIMATED)
        .and_then(|c| c.as_boolean_opt())
        .map_or(0, |flags| flags.true_count() as u64)
}

/// Record batches decoded from client data. pyarrow's DoExchange opens
/// with a message that carries only the descriptor, which the decoder
/// would take for a malformed IPC message: such messages are skipped.
pub(crate) fn client_batches(
    data: impl Stream<Item = Result<FlightData, FlightError>> + Send + 'static,
) -> FlightRecordBatchStream {
    let data = data.try_filter(|d| futures::future::ready(!d.data_header.is_empty()));
    FlightRecordBatchStream::new_from_flight_data(data)
}

/// The client's stream of Flight data, with transport errors as Flight's.
pub(crate) fn flight_data(
    input: Streaming<FlightData>,
) -> impl Stream<Item = Result<FlightData, FlightError>> + Send + 'static {
    input.map_err(FlightError::from)
}

/// How long a failed exchange keeps reading what the client still sends.
const DRAIN_LIMIT: Duration = Duration::from_secs(30);

/// Reads the rest of a failed exchange's input, so that the error reaches
/// the client after it has finished sending. Arrow C++'s Flight client (as
/// in pyarrow) closes its side when a read fails, and aborts the process if
/// that close races a write still in progress on another thread.
///
/// The drain ends at the first error as well as at the end of the stream:
/// once the transport has failed (a message over the size limit, a reset)
/// tonic's stream yields an error on every poll without waiting, so a loop
/// that skipped errors would spin forever and starve its own timeout.
pub(crate) async fn drain(batches: &mut FlightRecordBatchStream) {
    let _ = tokio::time::timeout(DRAIN_LIMIT, async {
        while let Some(Ok(_)) = batches.next().await {}
    })
    .await;
}

/// A decoding failure of client data, as the client should see it.
pub(crate) fn decode_status(e: FlightError) -> Status {
    match e {
        FlightError::Tonic(status) => *status,
        other => Status::invalid_argument(format!("reading the request's Arrow data: {other}")),
    }
}

/// Record batches encoded as a Flight data stream.
pub(crate) fn encode(
    batches: impl Stream<Item = Result<RecordBatch, FlightError>> + Send + 'static,
) -> FlightStream<FlightData> {
    Box::pin(
        FlightDataEncoderBuilder::new()
            .build(batches)
            .map_err(Status::from),
    )
}

/// The stored table a descriptor names: a path of exactly one element.
pub(crate) fn table_name(descriptor: Option<&FlightDescriptor>) -> Result<String, Status> {
    let path = descriptor.map(|d| d.path.as_slice()).unwrap_or_default();
    match path {
        [name] if !name.is_empty() => Ok(name.clone()),
        _ => Err(Status::invalid_argument(
            "the flight descriptor must be a path of one element: the table's name",
        )),
    }
}

/// How a stored table is described to clients.
pub(crate) fn flight_info(name: &str, table: &StoredTable) -> Result<FlightInfo, Status> {
    let info = FlightInfo::new()
        .try_with_schema(&table.schema)
        .map_err(|e| Status::internal(e.to_string()))?
        .with_descriptor(FlightDescriptor::new_path(vec![name.to_owned()]))
        .with_endpoint(FlightEndpoint::new().with_ticket(Ticket::new(name.to_owned())))
        .with_total_records(table.rows as i64)
        .with_total_bytes(table.bytes as i64)
        .with_ordered(true);
    Ok(info)
}
