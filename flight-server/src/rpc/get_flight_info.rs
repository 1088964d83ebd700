//! GetFlightInfo: a stored table, or a shared Parquet file planned as one
//! endpoint per replica.

use arrow_flight::{FlightDescriptor, FlightInfo};
use rtp_scoring::Scorer;
use tonic::Status;

use super::{FlightState, flight_info, table_name};
use crate::shared_tables::SHARED;

/// The method's name in metrics and logs.
pub const METHOD: &str = "GetFlightInfo";

/// The description of what `descriptor` names.
pub fn handle(state: &FlightState, descriptor: &FlightDescriptor) -> Result<FlightInfo, Status> {
    state.enter(METHOD);
    if let [kind, file] = descriptor.path.as_slice()
        && kind == SHARED
    {
        return shared_info(state, file).map_err(|s| state.fail(METHOD, s));
    }
    let name = table_name(Some(descriptor)).map_err(|s| state.fail(METHOD, s))?;
    let table = state.stored(METHOD, &name)?;
    flight_info(&name, &table)
}

/// One endpoint per replica for the shared table `file`.
fn shared_info(state: &FlightState, file: &str) -> Result<FlightInfo, Status> {
    let (endpoints, rows, has_job_id) = state.shared.plan(file)?;
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
