//! The one place a [`DashboardError`] becomes a response: an error fragment
//! that htmx swaps in where the result would go. Statuses stay honest; the
//! pages' htmx configuration swaps the ones that carry a message for the
//! user. A plain navigation that fails gets the same fragment inside a
//! full page (see the server's middleware).

use askama::Template;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::error::DashboardError;
use crate::views::html;

/// The error fragment.
#[derive(Debug, Template)]
#[template(path = "error_partial.html")]
pub struct ErrorPartial {
    /// Short heading.
    pub heading: &'static str,
    /// What went wrong and what to do.
    pub message: String,
}

/// A full page around an already rendered (and escaped) error fragment.
#[derive(Debug, Template)]
#[template(path = "error.html")]
struct ErrorPage {
    fragment: String,
}

fn heading(error: &DashboardError) -> &'static str {
    match error {
        DashboardError::Invalid(_) => "Please check the input",
        DashboardError::TooLarge { .. } => "File too large",
        DashboardError::Forbidden => "Refused",
        DashboardError::UnknownUpload(_) => "Upload not found",
        DashboardError::Upstream { rejected: true, .. } => "The request was refused",
        DashboardError::Upstream { .. } => "A service is unavailable",
        DashboardError::NoBundle(_) => "No model",
        DashboardError::Render(_) => "Internal error",
    }
}

impl IntoResponse for DashboardError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(error = %self, "request failed");
        }
        let partial = ErrorPartial {
            heading: heading(&self),
            message: self.to_string(),
        };
        match partial.render() {
            Ok(body) => html(status, body),
            Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        }
    }
}

/// Wraps an error fragment rendered by a handler into a full page.
pub fn error_page_from_fragment(status: StatusCode, fragment: &[u8]) -> Response {
    let page = ErrorPage {
        fragment: String::from_utf8_lossy(fragment).into_owned(),
    };
    match page.render() {
        Ok(body) => html(status, body),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
