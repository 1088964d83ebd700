//! ListActions: what DoAction understands.

use arrow_flight::ActionType;
use futures::stream;

use super::do_action::{ACTION_DROP_TABLE, ACTION_MODEL_INFO, ACTION_RELOAD};
use super::{FlightState, FlightStream};

/// The method's name in metrics and logs.
pub const METHOD: &str = "ListActions";

/// Each action with a description.
pub fn handle(state: &FlightState) -> FlightStream<ActionType> {
    state.enter(METHOD);
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
    Box::pin(stream::iter(actions))
}
