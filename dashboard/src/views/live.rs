//! The live page: request rate, error rate and latency of the edge and the
//! Flight server, polled by htmx from their Prometheus endpoints.

use askama::Template;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::{PageHeader, State, html, htmx_only, page, page_header};
use crate::charts::{Svg, sparkline};
use crate::error::DashboardError;
use crate::format::{fixed, percent};
use crate::live::ServiceHealth;
use crate::routes::Route;

/// The live page.
#[derive(Debug, Template)]
#[template(path = "live.html")]
pub struct LivePage {
    /// Layout.
    pub header: PageHeader,
    /// The first reading, so the page is useful before the first poll.
    pub view: LiveView,
}

/// The polled fragment.
#[derive(Debug, Template)]
#[template(path = "live_partial.html")]
pub struct LivePartial {
    /// The reading.
    pub view: LiveView,
}

/// One reading of every service.
#[derive(Debug, Clone)]
pub struct LiveView {
    /// Per service.
    pub services: Vec<ServiceView>,
    /// Poll period, e.g. `2s`.
    pub every: String,
    /// Fragment URL.
    pub poll_url: &'static str,
    /// Time of the reading.
    pub at: String,
}

/// One service, ready to show.
#[derive(Debug, Clone)]
pub struct ServiceView {
    /// Name.
    pub name: String,
    /// Scraped URL.
    pub url: String,
    /// Why it could not be read.
    pub error: Option<String>,
    /// Main rate with unit.
    pub rate: String,
    /// Second rate with unit.
    pub secondary: String,
    /// Error share.
    pub error_share: String,
    /// Latency p50, p90, p99, ms.
    pub latency: [String; 3],
    /// What the numbers cover.
    pub window: String,
    /// Model version served.
    pub model_version: String,
    /// Sparkline of the rate.
    pub sparkline: Svg,
}

fn service_view(h: &ServiceHealth) -> ServiceView {
    let ms = |s: f64| {
        if s.is_finite() {
            format!("{} ms", fixed(s * 1000.0, if s < 0.01 { 2 } else { 1 }))
        } else {
            "–".to_owned()
        }
    };
    ServiceView {
        name: h.name.to_owned(),
        url: h.url.clone(),
        error: h.error.clone(),
        rate: format!("{} {}", fixed(h.rate, 1), h.rate_unit),
        secondary: format!("{} {}", fixed(h.secondary.1, 1), h.secondary.0),
        error_share: percent(h.error_share),
        latency: h.latency.map(ms),
        window: if h.since_start {
            "since the service started (no traffic in the last window)".to_owned()
        } else {
            format!("over the last {:.1} s", h.window_s)
        },
        model_version: h.model_version.clone().unwrap_or_else(|| "–".to_owned()),
        sparkline: sparkline(&format!("{} {} history", h.name, h.rate_unit), &h.history),
    }
}

async fn reading(state: &State) -> LiveView {
    let reading = state.live.reading().await;
    LiveView {
        services: reading.services.iter().map(service_view).collect(),
        every: format!("{}s", state.config.poll_interval.as_secs_f64()),
        poll_url: Route::LivePartial.path(),
        at: reading.at.format("%H:%M:%S UTC").to_string(),
    }
}

/// `GET /live`.
pub async fn show(state: State, headers: HeaderMap) -> Result<Response, DashboardError> {
    let (header, cookie) = page_header(&state, &headers, Route::Live, "Live service health");
    let view = reading(&state).await;
    page(&LivePage { header, view }, cookie)
}

/// `GET /live/partial` (htmx only, polled).
pub async fn partial(state: State, headers: HeaderMap) -> Result<Response, DashboardError> {
    if let Some(redirect) = htmx_only(&headers, Route::Live.path()) {
        return Ok(redirect);
    }
    let view = reading(&state).await;
    Ok(html(StatusCode::OK, LivePartial { view }.render()?))
}
