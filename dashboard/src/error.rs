//! What can go wrong serving a page, and the one place each failure becomes
//! an HTTP status and a message the user can act on.

use axum::http::StatusCode;

/// A request the dashboard could not complete.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    /// The form or upload is invalid; the message names the field.
    #[error("{0}")]
    Invalid(String),
    /// The upload is larger than allowed.
    #[error("the file is larger than the {limit_mib} MiB upload limit (batch.max_upload_mib)")]
    TooLarge {
        /// The limit, MiB.
        limit_mib: String,
    },
    /// A cross-site or token-less post.
    #[error(
        "this form was not sent by a dashboard page (missing or wrong CSRF token); reload the page and try again"
    )]
    Forbidden,
    /// A scored upload that is no longer kept.
    #[error("no scored upload `{0}`: it was dropped to make room for newer ones; upload it again")]
    UnknownUpload(String),
    /// The edge or Flight server refused or failed the request.
    #[error("{service} at {address}: {message}")]
    Upstream {
        /// `edge` or `Flight server`.
        service: &'static str,
        /// Where it was called.
        address: String,
        /// What it said.
        message: String,
        /// Whether the fault is in the request (the service rejected it).
        rejected: bool,
    },
    /// No usable bundle in the store.
    #[error("no model bundle: {0}")]
    NoBundle(String),
    /// A template failed to render.
    #[error("rendering the page: {0}")]
    Render(#[from] askama::Error),
}

impl DashboardError {
    /// The HTTP status of this failure.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::UnknownUpload(_) => StatusCode::NOT_FOUND,
            Self::Upstream { rejected: true, .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Upstream { .. } => StatusCode::BAD_GATEWAY,
            Self::NoBundle(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Render(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}
