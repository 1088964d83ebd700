//! Page handlers and the template types they render. Each page has one
//! askama struct; a fragment that htmx swaps in has its own `*_partial`
//! struct, and the page renders the same fragment file for full loads.

pub mod analytics;
pub mod batch;
pub mod errors;
pub mod live;
pub mod predict;
pub mod whatif;

use std::sync::Arc;

use askama::Template;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use crate::assets::{AssetLinks, links};
use crate::csrf;
use crate::error::DashboardError;
use crate::routes::{NAVIGATION, Route};
use crate::server::AppState;

/// What every full page shows around its content.
#[derive(Debug, Clone)]
pub struct PageHeader {
    /// Page title.
    pub title: &'static str,
    /// Path of the active navigation entry.
    pub active: &'static str,
    /// Navigation entries: path and label.
    pub navigation: Vec<(&'static str, &'static str)>,
    /// The CSRF token htmx sends with every post.
    pub csrf_token: String,
    /// Serving model version, or why there is none.
    pub model_version: String,
    /// When it was trained.
    pub trained: String,
    /// Asset URLs.
    pub assets: &'static AssetLinks,
}

/// A page header for `route`, and the cookie to set when the browser has no
/// CSRF token yet.
pub fn page_header(
    state: &AppState,
    headers: &HeaderMap,
    route: Route,
    title: &'static str,
) -> (PageHeader, Option<String>) {
    let (token, cookie) = match csrf::cookie_token(headers) {
        Some(token) => (token, None),
        None => {
            let token = csrf::new_token();
            let cookie = csrf::set_cookie(&token);
            (token, Some(cookie))
        }
    };
    let (model_version, trained) = match state.bundles.active() {
        Ok(active) => (active.manifest.version.clone(), active.trained()),
        Err(e) => (format!("none ({e})"), "–".to_owned()),
    };
    let header = PageHeader {
        title,
        active: route.path(),
        navigation: NAVIGATION
            .iter()
            .map(|(r, label)| (r.path(), *label))
            .collect(),
        csrf_token: token,
        model_version,
        trained,
        assets: links(),
    };
    (header, cookie)
}

/// Renders a full page, setting the CSRF cookie when needed.
pub fn page(template: &impl Template, cookie: Option<String>) -> Result<Response, DashboardError> {
    let mut response = html(StatusCode::OK, template.render()?);
    if let Some(cookie) = cookie
        && let Ok(value) = HeaderValue::from_str(&cookie)
    {
        response.headers_mut().insert(SET_COOKIE, value);
    }
    Ok(response)
}

/// An HTML response that is never cached: pages show live data.
pub fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (CONTENT_TYPE, "text/html; charset=utf-8"),
            (CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// Whether htmx sent the request (fragments are only for htmx).
pub fn is_htmx(headers: &HeaderMap) -> bool {
    headers.get("hx-request").is_some_and(|v| v == "true")
}

/// A plain GET of an htmx-only fragment goes to its page instead.
pub fn htmx_only(headers: &HeaderMap, page: &str) -> Option<Response> {
    (!is_htmx(headers)).then(|| Redirect::to(page).into_response())
}

/// Shared state handle of the handlers.
pub type State = axum::extract::State<Arc<AppState>>;
