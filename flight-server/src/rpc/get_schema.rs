//! GetSchema: a stored table's Arrow schema.

use arrow_flight::{FlightDescriptor, SchemaAsIpc, SchemaResult};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::ipc::writer::IpcWriteOptions;
use tonic::Status;

use super::{FlightState, table_name};

/// The method's name in metrics and logs.
pub const METHOD: &str = "GetSchema";

/// The schema of the table `descriptor` names.
pub fn handle(state: &FlightState, descriptor: &FlightDescriptor) -> Result<SchemaResult, Status> {
    state.enter(METHOD);
    let name = table_name(Some(descriptor)).map_err(|s| state.fail(METHOD, s))?;
    let table = state.stored(METHOD, &name)?;
    SchemaAsIpc::new(&table.schema, &IpcWriteOptions::default())
        .try_into()
        .map_err(|e: ArrowError| state.fail(METHOD, Status::internal(e.to_string())))
}
