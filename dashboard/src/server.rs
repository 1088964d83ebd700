//! Builds the dashboard's state and router, binds, and serves until told to
//! stop. Every response passes one middleware that asks for the token (when
//! one is set), refuses cross-site posts, counts the request, and reports
//! its server time in `Server-Timing`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Path, Request};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::access;
use crate::batch_results::UploadStore;
use crate::bundle_view::BundleView;
use crate::config::DashboardConfig;
use crate::csrf;
use crate::edge_client::EdgeClient;
use crate::error::DashboardError;
use crate::flight_client::FlightScorer;
use crate::live::LiveMonitor;
use crate::metrics::Metrics;
use crate::routes::Route;
use crate::views::analytics::AnalyticsCache;
use crate::views::{self, analytics, batch, live, predict, whatif};

/// What the handlers share.
#[derive(Debug)]
pub struct AppState {
    /// Settings.
    pub config: DashboardConfig,
    /// The gRPC edge.
    pub edge: EdgeClient,
    /// The Flight server.
    pub flight: FlightScorer,
    /// The serving bundle.
    pub bundles: BundleView,
    /// Drawn analytics per bundle version.
    pub analytics: AnalyticsCache,
    /// Scored uploads.
    pub uploads: UploadStore,
    /// Scrapes of the services.
    pub live: LiveMonitor,
    /// The dashboard's own metrics.
    pub metrics: Metrics,
}

/// Why the dashboard cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A setting cannot be used (e.g. an unreadable CA file).
    #[error("{0}")]
    Setup(String),
    /// The address cannot be bound.
    #[error("binding {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("serving: {0}")]
    Serve(std::io::Error),
}

/// A started dashboard.
#[derive(Debug)]
pub struct RunningServer {
    /// The bound address.
    pub addr: SocketAddr,
    stop: CancellationToken,
    task: JoinHandle<Result<(), std::io::Error>>,
}

impl RunningServer {
    /// A token that stops the server when cancelled; `wait` then returns.
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Serves until stopped, then finishes the requests in flight.
    pub async fn wait(self) -> Result<(), ServerError> {
        match self.task.await {
            Ok(result) => result.map_err(ServerError::Serve),
            Err(e) => Err(ServerError::Serve(std::io::Error::other(e))),
        }
    }

    /// Stops and waits.
    pub async fn shutdown(self) -> Result<(), ServerError> {
        self.stop.cancel();
        self.wait().await
    }
}

/// The state `config` describes.
pub fn state(config: DashboardConfig) -> Result<AppState, ServerError> {
    Ok(AppState {
        edge: EdgeClient::new(&config.edge).map_err(ServerError::Setup)?,
        flight: FlightScorer::new(&config.flight).map_err(ServerError::Setup)?,
        bundles: BundleView::new(config.bundle_dir.clone()),
        analytics: AnalyticsCache::default(),
        uploads: UploadStore::new(config.kept_results),
        live: LiveMonitor::new(
            config.edge.metrics_url.clone(),
            config.flight.metrics_url.clone(),
            config.scrape_timeout,
        ),
        metrics: Metrics::new(),
        config,
    })
}

/// Every route.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to(Route::Predict.path()) }))
        .route(
            Route::Predict.path(),
            get(predict::show).post(predict::submit),
        )
        .route(
            Route::Batch.path(),
            // The handler enforces the configured limit with its own message.
            get(batch::show)
                .post(batch::upload)
                .layer(DefaultBodyLimit::disable()),
        )
        .route(Route::BatchTemplate.path(), get(batch::template))
        .route("/batch/{id}/page/{page}", get(batch::table_page))
        .route("/batch/{id}/scored.csv", get(batch::download))
        .route(Route::Analytics.path(), get(analytics::show))
        .route(Route::WhatIf.path(), get(whatif::show))
        .route(Route::Live.path(), get(live::show))
        .route(Route::LivePartial.path(), get(live::partial))
        .route("/static/{name}", get(static_file))
        .route(Route::Metrics.path(), get(metrics))
        .route(Route::Healthz.path(), get(|| async { "ok\n" }))
        .route(Route::Readyz.path(), get(readyz))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            guard_and_count,
        ))
        .with_state(state)
}

/// Binds `config.listen` and serves in the background.
pub async fn start(config: &DashboardConfig) -> Result<RunningServer, ServerError> {
    let state = Arc::new(state(config.clone())?);
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServerError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(ServerError::Serve)?;
    let stop = CancellationToken::new();
    let stopped = stop.clone().cancelled_owned();
    let sampler = {
        let state = Arc::clone(&state);
        tokio::spawn(async move { state.live.sample(state.config.poll_interval).await })
    };
    let app = router(state);
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(stopped)
            .await;
        sampler.abort();
        served
    });
    tracing::info!(%addr, "dashboard listening");
    Ok(RunningServer { addr, stop, task })
}

/// Refuses cross-site posts, sets the security headers, counts the request
/// and reports its server time.
async fn guard_and_count(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let path = request.uri().path();
    let mut response = if !access::allowed(state.config.token.as_deref(), path, request.headers()) {
        (
            StatusCode::UNAUTHORIZED,
            [(
                WWW_AUTHENTICATE,
                HeaderValue::from_str(&format!("Basic realm=\"{}\", charset=\"UTF-8\"", access::REALM))
                    .expect("a static header value"),
            )],
            "the dashboard needs its token: as the password of HTTP Basic, or as `Authorization: Bearer <token>`\n",
        )
            .into_response()
    } else if request.method() == Method::POST && !csrf::post_allowed(request.headers()) {
        DashboardError::Forbidden.into_response()
    } else if request.method() == Method::GET
        && !views::is_htmx(request.headers())
        && is_page(&route)
    {
        // Plain navigation: failures get a full page, not a fragment.
        let response = next.run(request).await;
        if response.status().is_client_error() || response.status().is_server_error() {
            let status = response.status();
            let body = axum::body::to_bytes(response.into_body(), 1 << 20)
                .await
                .unwrap_or_default();
            views::errors::error_page_from_fragment(status, &body)
        } else {
            response
        }
    } else {
        next.run(request).await
    };
    let seconds = started.elapsed().as_secs_f64();
    let headers = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    if let Ok(value) = HeaderValue::from_str(&format!("app;dur={:.2}", seconds * 1000.0)) {
        headers.insert(HeaderName::from_static("server-timing"), value);
    }
    state
        .metrics
        .request(&route, response.status().as_u16(), seconds);
    response
}

fn is_page(route: &str) -> bool {
    [Route::Predict, Route::Batch, Route::Analytics, Route::Live]
        .iter()
        .any(|r| r.path() == route)
}

/// Pages load nothing from other hosts and run no inline script.
const SECURITY_HEADERS: [(&str, &str); 4] = [
    (
        "content-security-policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    ),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "same-origin"),
    ("x-frame-options", "DENY"),
];

async fn static_file(Path(name): Path<String>) -> Response {
    match crate::assets::find(&name) {
        Some(asset) => (
            [
                (CONTENT_TYPE, asset.content_type),
                // URLs carry a content hash: a new file is a new URL.
                (CACHE_CONTROL, "public, max-age=31536000, immutable"),
            ],
            asset.body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such file\n").into_response(),
    }
}

async fn metrics(axum::extract::State(state): axum::extract::State<Arc<AppState>>) -> Response {
    (
        [(
            CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

/// Ready when the bundle store has a readable `latest`: the analytics page
/// and the model header need it. The edge and Flight server are checked by
/// their own probes, so one of them restarting does not take the
/// dashboard out of rotation.
async fn readyz(axum::extract::State(state): axum::extract::State<Arc<AppState>>) -> Response {
    match state.bundles.active() {
        Ok(active) => format!("ready: {}\n", active.manifest.version).into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response(),
    }
}
