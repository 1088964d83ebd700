//! The Arrow Flight service: the trait impl only dispatches; each RPC lives
//! in its own module under [`crate::rpc`]. DoExchange scores a stream of job
//! batches as it arrives; DoPut stores a scored table under a name, DoGet
//! streams it back; ListFlights and GetFlightInfo describe stored tables;
//! DoAction reports the model, reloads it and drops tables.

use std::sync::Arc;

use arrow_flight::flight_service_server::FlightService;
use arrow_flight::{
    Action, ActionType, Criteria, Empty, FlightData, FlightDescriptor, FlightInfo,
    HandshakeRequest, HandshakeResponse, PollInfo, PutResult, SchemaResult, Ticket,
};
use tonic::{Request, Response, Status, Streaming};

pub use crate::rpc::FlightState;
pub use crate::rpc::do_action::{ACTION_DROP_TABLE, ACTION_MODEL_INFO, ACTION_RELOAD};
use crate::rpc::{self, FlightStream};

/// The scoring Flight service.
#[derive(Debug, Clone)]
pub struct ScoringService {
    state: Arc<FlightState>,
}

impl ScoringService {
    /// A service over shared state.
    pub fn new(state: Arc<FlightState>) -> Self {
        Self { state }
    }
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
            "Handshake: none is needed; when the server has a token, send `authorization: Bearer <token>` with every call",
        ))
    }

    async fn list_flights(
        &self,
        _request: Request<Criteria>,
    ) -> Result<Response<Self::ListFlightsStream>, Status> {
        Ok(Response::new(rpc::list_flights::handle(&self.state)))
    }

    async fn get_flight_info(
        &self,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        rpc::get_flight_info::handle(&self.state, request.get_ref()).map(Response::new)
    }

    async fn poll_flight_info(
        &self,
        _request: Request<FlightDescriptor>,
    ) -> Result<Response<PollInfo>, Status> {
        Err(Status::unimplemented(
            "PollFlightInfo: tables are complete once DoPut returns; use GetFlightInfo",
        ))
    }

    async fn get_schema(
        &self,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<SchemaResult>, Status> {
        rpc::get_schema::handle(&self.state, request.get_ref()).map(Response::new)
    }

    async fn do_get(
        &self,
        request: Request<Ticket>,
    ) -> Result<Response<Self::DoGetStream>, Status> {
        rpc::do_get::handle(&self.state, request.get_ref()).map(Response::new)
    }

    async fn do_put(
        &self,
        request: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoPutStream>, Status> {
        rpc::do_put::handle(&self.state, request.into_inner())
            .await
            .map(Response::new)
    }

    async fn do_exchange(
        &self,
        request: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoExchangeStream>, Status> {
        Ok(Response::new(rpc::do_exchange::handle(
            Arc::clone(&self.state),
            request.into_inner(),
        )))
    }

    async fn do_action(
        &self,
        request: Request<Action>,
    ) -> Result<Response<Self::DoActionStream>, Status> {
        let result = rpc::do_action::handle(&self.state, request.into_inner()).await?;
        Ok(Response::new(Box::pin(futures::stream::iter([Ok(result)]))))
    }

    async fn list_actions(
        &self,
        _request: Request<Empty>,
    ) -> Result<Response<Self::ListActionsStream>, Status> {
        Ok(Response::new(rpc::list_actions::handle(&self.state)))
    }
}
