//! One module per RPC, each with one `handle` function; metrics are
//! counted on entry.

pub mod health_check;
pub mod model_info;
pub mod predict;
pub mod predict_batch;
pub mod predict_stream;

use rtp_scoring::ScoringError;
use tonic::Status;

/// The one mapping of scoring errors onto gRPC statuses: the caller's
/// mistakes are INVALID_ARGUMENT, anything else is the server's.
pub fn status_of(error: &ScoringError) -> Status {
    if error.is_invalid_input() {
        Status::invalid_argument(error.to_string())
    } else {
        tracing::error!(%error, "scoring failed");
        Status::internal(format!("scoring failed: {error}"))
    }
}

/// Unix seconds now.
pub fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
