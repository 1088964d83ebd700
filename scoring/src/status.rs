//! The one mapping of scoring errors onto gRPC statuses, for the edge and
//! the Flight server alike: the caller's mistakes are INVALID_ARGUMENT,
//! anything else is the server's, and logged.

use tonic::Status;

use crate::error::ScoringError;

/// The status `error` is reported with.
pub fn status_of(error: &ScoringError) -> Status {
    if error.is_invalid_input() {
        Status::invalid_argument(error.to_string())
    } else {
        tracing::error!(%error, "scoring failed");
        Status::internal(format!("scoring failed: {error}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_errors_are_the_caller_s_and_the_rest_the_server_s() {
        let bad_column = ScoringError::column("nodes_req", "required column is missing");
        assert_eq!(status_of(&bad_column).code(), tonic::Code::InvalidArgument);
        let state = ScoringError::State {
            table: "history_state".into(),
            message: "unreadable".into(),
        };
        let status = status_of(&state);
        assert_eq!(status.code(), tonic::Code::Internal);
        assert!(status.message().starts_with("scoring failed: state table"));
    }
}
