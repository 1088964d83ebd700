//! The Arrow Flight service: DoExchange scores a stream of job batches as
//! it arrives; DoPut stores a scored table under a name, DoGet streams it
//! back; ListFlights and GetFlightInfo describe stored tables; DoAction
//! reports the model (`model-info`), reloads it (`reload`) and drops tables
//! (`drop-table`).

use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::FlightService;
use arrow_flight::{
    Action, ActionType, Criteria, Empty, FlightData, FlightDescriptor, FlightEndpoint, FlightInfo,
    HandshakeRequest, HandshakeResponse, PollInfo, PutResult, SchemaAsIpc, SchemaResult, Ticket,
};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::ipc::writer::IpcWriteOptions;
use futures::stream;
use futures::{Stream, StreamExt, TryStreamExt};
use rtp_scoring::{LiveModel, Overlay, Scored, Scorer, status_of};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::metrics::Metrics;
use crate::shared_tables::{SHARED, SharedRange, SharedTables};
use crate::tables::{StoredTable, TableStore};

/// Action: the serving bundle's manifest as JSON.
pub const ACTION_MODEL_INFO: &str = "model-info";
/// Action: load the bundle `latest` names now.
pub const ACTION_RELOAD: &str = "reload";
/// Action: drop a stored table (body: its name).
pub const ACTION_DROP_TABLE: &str = "drop-table";

/// Batches in flight between the scorer and the client, per stream: enough
/// to overlap scoring with transport, few enough to keep memory flat.
const STREAM_BUFFER: usize = 2;

type FlightStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// The scoring Flight service.
#[derive(Debug, Clone)]
pub struct ScoringService {
    live: Arc<LiveModel>,
    tables: Arc<TableStore>,
    metrics: Arc<Metrics>,
    shared: Arc<SharedTables>,
}

impl ScoringService {
    /// A service scoring with `live`.
    pub fn new(
        live: Arc<LiveModel>,
        tables: Arc<TableStore>,
        metrics: Arc<Metrics>,
        shared: SharedTables,
    ) -> Self {
        Self {
            live,
            tables,
            metrics,
            shared: Arc::new(shared),
        }
    }

    fn fail(&self, method: &str, status: Status) -> Status {
        self.metrics.failure(method, &status);
        tracing::warn!(method, code = ?status.code(), message = status.message(), "request failed");
        status
    }

    /// The stored table `name`, or NOT_FOUND (counted against `method`).
    fn stored(&self, method: &str, name: &str) -> Result<StoredTable, Status> {
        self.tables.get(name).ok_or_else(|| {
            self.fail(
                method,
                Status::not_found(format!("no stored table `{name}`")),
            )
        })
    }

    /// Scores one batch off the async threads; the overlay travels along.
    async fn score(
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

    /// Streams the scored rows of a range of a shared table, scored in
    /// order as one submission sequence.
    fn shared_range(&self, range: &SharedRange) -> Result<FlightStream<FlightData>, Status> {
        let reader = self.shared.read(range)?;
        let scorer = self.live.current();
        let metrics = Arc::clone(&self.metrics);
        let (tx, rx) = mpsc::channel::<Result<RecordBatch, FlightError>>(STREAM_BUFFER);
        tokio::task::spawn_blocking(move || {
            let mut overlay = Overlay::default();
            for batch in reader {
                let started = Instant::now();
                let item = batch
                    .map_err(|e| Status::internal(format!("reading the shared table: {e}")))
                    .and_then(|batch| {
                        scorer
                            .score(&batch, &mut overlay)
                            .map_err(|e| status_of(&e))
                    })
                    .inspect(|scored| record(&metrics, scored, started))
                    .map(|scored| scored.batch)
                    .map_err(|status| FlightError::Tonic(Box::new(status)));
                let failed = item.is_err();
                if tx.blocking_send(item).is_err() || failed {
                    return;
                }
            }
        });
        Ok(encode(ReceiverStream::new(rx)))
    }
}

/// Counts a scored batch.
fn record(m: &Metrics, scored: &Scored, started: Instant) {
    m.rows.inc_by(scored.batch.num_rows() as u64);
    m.overestimated.inc_by(overestimated_rows(&scored.batch));
    m.row_errors.inc_by(scored.failed_rows as u64);
    m.batches.inc();
    m.batch_latency.observe(started.elapsed().as_secs_f64());
    m.feature_seconds
        .inc_by(scored.timings.features.as_secs_f64());
    m.model_seconds.inc_by(scored.timings.model.as_secs_f64());
}

impl ScoringService {}

/// Rows of a scored batch flagged as overestimated.
fn overestimated_rows(batch: &RecordBatch) -> u64 {
    use datafusion::arrow::array::AsArray;
    batch
        .column_by_name(rtp_scoring::scorer::OVERESTIMATED)
        .and_then(|c| c.as_boolean_opt())
        .map_or(0, |flags| flags.true_count() as u64)
}

/// The batches of a client stream. pyarrow's DoExchange opens with a
/// message that carries only the descriptor, which the decoder would take
/// for a malformed IPC message: such messages are skipped.
fn client_batches(input: Streaming<FlightData>) -> FlightRecordBatchStream {
    let data = input
        .map_err(FlightError::from)
        .try_filter(|d| futures::future::ready(!d.data_header.is_empty()));
    FlightRecordBatchStream::new_from_flight_data(data)
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
async fn drain(batches: &mut FlightRecordBatchStream) {
    let _ = tokio::time::timeout(DRAIN_LIMIT, async {
        while let Some(Ok(_)) = batches.next().await {}
    })
    .await;
}

/// A decoding failure of client data, as the client should see it.
fn decode_status(e: FlightError) -> Status {
    match e {
        FlightError::Tonic(status) => *status,
        other => Status::invalid_argument(format!("reading the request's Arrow data: {other}")),
    }
}

fn encode(
    batches: impl Stream<Item = Result<RecordBatch, FlightError>> + Send + 'static,
) -> FlightStream<FlightData> {
    Box::pin(
        FlightDataEncoderBuilder::new()
            .build(batches)
            .map_err(Status::from),
    )
}

fn table_name(descriptor: Option<&FlightDescriptor>) -> Result<String, Status> {
    let path = descriptor.map(|d| d.path.as_slice()).unwrap_or_default();
    match path {
        [name] if !name.is_empty() => Ok(name.clone()),
        _ => Err(Status::invalid_argument(
            "the flight descriptor must be a path of one element: the table's name",
        )),
    }
}

impl ScoringService {
    /// One endpoint per replica for the shared table `file`.
    fn shared_info(&self, file: &str) -> Result<FlightInfo, Status> {
        let (endpoints, rows, has_job_id) = self.shared.plan(file)?;
        let mut info = FlightInfo::new()
            .try_with_schema(&Scorer::output_schema(has_job_id))
            .map_err(|e| Status::internal(e.to_string()))?
            .with_descriptor(FlightDescriptor::new_path(vec![
                SHARED.to_owned(),
                file.to_owned(),
            ]))
            .with_total_records(rows)
            .with_ordered(true);
        for endpoint in endpoints {
            info = info.with_endpoint(endpoint);
        }
        Ok(info)
    }
}

fn flight_info(name: &str, table: &StoredTable) -> Result<FlightInfo, Status> {
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

#[tonic::async_trait]
impl FlightService for ScoringService {
    type HandshakeStream = FlightStream<HandshakeResponse>;
    type ListFlightsStream = FlightStream<FlightInfo>;
    type DoGetStream = FlightStream<FlightData>;
    type DoPutStream = FlightStream<PutResult>;
    type DoExchangeStream = FlightStream<FlightData>;
    type DoActionStream = FlightStream<arrow_flight::Result>;
    type ListActionsStream = FlightStream<ActionType>;

    async fn handshake(
        &self,
        _request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<Self::HandshakeStream>, Status> {
        Err(Status::unimplemented(
            "no authentication handshake is needed",
        ))
    }

    async fn list_flights(
        &self,
        _request: Request<Criteria>,
    ) -> Result<Response<Self::ListFlightsStream>, Status> {
        let infos: Vec<Result<FlightInfo, Status>> = self
            .tables
            .list()
            .iter()
            .map(|(name, table)| flight_info(name, table))
            .collect();
        Ok(Response::new(Box::pin(stream::iter(infos))))
    }

    async fn get_flight_info(
        &self,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        if let [kind, file] = request.get_ref().path.as_slice()
            && kind == SHARED
        {
            return self
                .shared_info(file)
                .map(Response::new)
                .map_err(|s| self.fail("GetFlightInfo", s));
        }
        let name = table_name(Some(request.get_ref()))?;
        let table = self.stored("GetFlightInfo", &name)?;
        Ok(Response::new(flight_info(&name, &table)?))
    }

    async fn poll_flight_info(
        &self,
        _request: Request<FlightDescriptor>,
    ) -> Result<Response<PollInfo>, Status> {
        Err(Status::unimplemented(
            "tables are complete once DoPut returns; use GetFlightInfo",
        ))
    }

    async fn get_schema(
        &self,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<SchemaResult>, Status> {
        let name = table_name(Some(request.get_ref()))?;
        let table = self.stored("GetSchema", &name)?;
        let result = SchemaAsIpc::new(&table.schema, &IpcWriteOptions::default())
            .try_into()
            .map_err(|e: datafusion::arrow::error::ArrowError| Status::internal(e.to_string()))?;
        Ok(Response::new(result))
    }

    async fn do_get(
        &self,
        request: Request<Ticket>,
    ) -> Result<Response<Self::DoGetStream>, Status> {
        if let Some(range) = SharedRange::from_ticket(&request.get_ref().ticket) {
            return range
                .and_then(|range| self.shared_range(&range))
                .map(Response::new)
                .map_err(|s| self.fail("DoGet", s));
        }
        let name = String::from_utf8(request.get_ref().ticket.to_vec()).map_err(|_| {
            self.fail(
                "DoGet",
                Status::invalid_argument("the ticket is not a table name"),
            )
        })?;
        let table = self.stored("DoGet", &name)?;
        let batches = stream::iter(table.batches.into_iter().map(Ok));
        Ok(Response::new(Box::pin(
            FlightDataEncoderBuilder::new()
                .with_schema(table.schema)
                .build(batches)
                .map_err(Status::from),
        )))
    }

    async fn do_put(
        &self,
        request: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoPutStream>, Status> {
        let mut input = request.into_inner();
        let first = input
            .message()
            .await?
            .ok_or_else(|| self.fail("DoPut", Status::invalid_argument("empty DoPut stream")))?;
        let name =
            table_name(first.flight_descriptor.as_ref()).map_err(|s| self.fail("DoPut", s))?;
        let data = stream::once(futures::future::ready(Ok(first)))
            .chain(input.map_err(FlightError::from))
            .try_filter(|d| futures::future::ready(!d.data_header.is_empty()));
        let mut batches = FlightRecordBatchStream::new_from_flight_data(data);
        let scorer = self.live.current();
        let mut overlay = Overlay::default();
        let mut stored = Vec::new();
        let (mut rows, mut failed, mut bytes) = (0u64, 0u64, 0u64);
        while let Some(batch) = batches.next().await {
            let batch = batch.map_err(|e| self.fail("DoPut", decode_status(e)))?;
            let (result, next) = self.score(&scorer, batch, overlay).await;
            overlay = next;
            let scored = result.map_err(|s| self.fail("DoPut", s))?;
            rows += scored.batch.num_rows() as u64;
            failed += scored.failed_rows as u64;
            bytes += scored.batch.get_array_memory_size() as u64;
            self.tables
                .check_room(&name, bytes)
                .map_err(|e| self.fail("DoPut", Status::resource_exhausted(e.to_string())))?;
            stored.push(scored.batch);
        }
        let schema = stored
            .first()
            .map(RecordBatch::schema)
            .unwrap_or_else(|| Scorer::output_schema(false));
        self.tables
            .insert(
                name.clone(),
                StoredTable {
                    schema,
                    batches: stored,
                    rows,
                    failed_rows: failed,
                    bytes,
                    model_version: scorer.version().to_owned(),
                },
            )
            .map_err(|e| self.fail("DoPut", Status::resource_exhausted(e.to_string())))?;
        tracing::info!(table = %name, rows, failed, "table stored");
        let summary = serde_json::json!({
            "table": name,
            "rows": rows,
            "failed_rows": failed,
            "model_version": scorer.version(),
        });
        let result = PutResult {
            app_metadata: summary.to_string().into(),
        };
        Ok(Response::new(Box::pin(stream::iter([Ok(result)]))))
    }

    async fn do_exchange(
        &self,
        request: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoExchangeStream>, Status> {
        let mut batches = client_batches(request.into_inner());
        // The whole stream is scored by the model serving when it opened.
        let scorer = self.live.current();
        let (tx, rx) = mpsc::channel::<Result<RecordBatch, FlightError>>(STREAM_BUFFER);
        let service = self.clone();
        tokio::spawn(async move {
            let mut overlay = Overlay::default();
            while let Some(batch) = batches.next().await {
                let result = match batch {
                    Ok(batch) => {
                        let (result, next) = service.score(&scorer, batch, overlay).await;
                        overlay = next;
                        result.map(|scored| scored.batch)
                    }
                    Err(e) => Err(decode_status(e)),
                };
                let item = match result {
                    Ok(batch) => Ok(batch),
                    Err(status) => {
                        drain(&mut batches).await;
                        Err(FlightError::Tonic(Box::new(
                            service.fail("DoExchange", status),
                        )))
                    }
                };
                let failed = item.is_err();
                if tx.send(item).await.is_err() || failed {
                    return; // the client went away, or the stream ended in error
                }
            }
        });
        Ok(Response::new(encode(ReceiverStream::new(rx))))
    }

    async fn do_action(
        &self,
        request: Request<Action>,
    ) -> Result<Response<Self::DoActionStream>, Status> {
        let action = request.into_inner();
        let body: Vec<u8> = match action.r#type.as_str() {
            ACTION_MODEL_INFO => serde_json::to_vec_pretty(self.live.current().manifest())
                .map_err(|e| Status::internal(e.to_string()))?,
            ACTION_RELOAD => match self.live.reload().await {
                Ok(outcome) => serde_json::to_vec(&reload_json(&outcome))
                    .map_err(|e| Status::internal(e.to_string()))?,
                Err(e) => {
                    return Err(self.fail(
                        "DoAction",
                        Status::failed_precondition(format!(
                            "bundle refused, still serving {}: {e}",
                            self.live.current().version()
                        )),
                    ));
                }
            },
            ACTION_DROP_TABLE => {
                let name = String::from_utf8_lossy(&action.body).into_owned();
                if !self.tables.remove(&name) {
                    return Err(self.fail(
                        "DoAction",
                        Status::not_found(format!("no stored table `{name}`")),
                    ));
                }
                serde_json::to_vec(&serde_json::json!({ "dropped": name }))
                    .map_err(|e| Status::internal(e.to_string()))?
            }
            other => {
                return Err(self.fail(
                    "DoAction",
                    Status::invalid_argument(format!("unknown action `{other}`; see ListActions")),
                ));
            }
        };
        let result = arrow_flight::Result { body: body.into() };
        Ok(Response::new(Box::pin(stream::iter([Ok(result)]))))
    }

    async fn list_actions(
        &self,
        _request: Request<Empty>,
    ) -> Result<Response<Self::ListActionsStream>, Status> {
        let actions = [
            (ACTION_MODEL_INFO, "The serving bundle's manifest, as JSON"),
            (
                ACTION_RELOAD,
                "Load the bundle `latest` names now; the old model keeps serving if it is refused",
            ),
            (ACTION_DROP_TABLE, "Drop the stored table named in the body"),
        ]
        .map(|(t, d)| {
            Ok(ActionType {
                r#type: t.into(),
                description: d.into(),
            })
        });
        Ok(Response::new(Box::pin(stream::iter(actions))))
    }
}

fn reload_json(outcome: &rtp_scoring::live_model::ReloadOutcome) -> serde_json::Value {
    use rtp_scoring::live_model::ReloadOutcome;
    match outcome {
        ReloadOutcome::Unchanged(v) => serde_json::json!({ "outcome": "unchanged", "version": v }),
        ReloadOutcome::Swapped { from, to } => {
            serde_json::json!({ "outcome": "swapped", "from": from, "to": to })
        }
    }
}
