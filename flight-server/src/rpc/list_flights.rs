//! ListFlights: every stored table, described.

use arrow_flight::FlightInfo;
use futures::stream;

use super::{FlightState, FlightStream, flight_info};

/// The method's name in metrics and logs.
pub const METHOD: &str = "ListFlights";

/// One description per stored table.
pub fn handle(state: &FlightState) -> FlightStream<FlightInfo> {
    state.enter(METHOD);
    let infos: Vec<_> = state
        .tables
        .list()
        .iter()
        .map(|(name, table)| flight_info(name, table))
        .collect();
    Box::pin(stream::iter(infos))
}
