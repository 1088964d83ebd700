//! DoAction: the serving model's manifest, a reload now, and dropping a
//! stored table. [`super::list_actions`] describes them.

use arrow_flight::Action;
use rtp_scoring::live_model::ReloadOutcome;
use tonic::Status;

use super::FlightState;

/// The method's name in metrics and logs.
pub const METHOD: &str = "DoAction";

/// Action: the serving bundle's manifest as JSON.
pub const ACTION_MODEL_INFO: &str = "model-info";
/// Action: load the bundle `latest` names now.
pub const ACTION_RELOAD: &str = "reload";
/// Action: drop a stored table (body: its name).
pub const ACTION_DROP_TABLE: &str = "drop-table";

/// The action's one result body.
pub async fn handle(state: &FlightState, action: Action) -> Result<arrow_flight::Result, Status> {
    state.enter(METHOD);
    let body = match action.r#type.as_str() {
        ACTION_MODEL_INFO => json(serde_json::to_value(state.live.current().manifest())),
        ACTION_RELOAD => match state.live.reload().await {
            Ok(outcome) => json(Ok(reload_json(&outcome))),
            Err(e) => Err(Status::failed_precondition(format!(
                "bundle refused, still serving {}: {e}",
                state.live.current().version()
            ))),
        },
        ACTION_DROP_TABLE => {
            let name = String::from_utf8_lossy(&action.body).into_owned();
            if state.tables.remove(&name) {
                json(Ok(serde_json::json!({ "dropped": name })))
            } else {
                Err(Status::not_found(format!("no stored table `{name}`")))
            }
        }
        other => Err(Status::invalid_argument(format!(
            "unknown action `{other}`; see ListActions"
        ))),
    };
    body.map(|body| arrow_flight::Result { body: body.into() })
        .map_err(|s| state.fail(METHOD, s))
}

fn json(value: serde_json::Result<serde_json::Value>) -> Result<Vec<u8>, Status> {
    value
        .and_then(|v| serde_json::to_vec_pretty(&v))
        .map_err(|e| Status::internal(e.to_string()))
}

fn reload_json(outcome: &ReloadOutcome) -> serde_json::Value {
    match outcome {
        ReloadOutcome::Unchanged(v) => serde_json::json!({ "outcome": "unchanged", "version": v }),
        ReloadOutcome::Swapped { from, to } => {
            serde_json::json!({ "outcome": "swapped", "from": from, "to": to })
        }
    }
}
