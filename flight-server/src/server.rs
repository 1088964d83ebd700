//! Starting and stopping the server: the Flight service and the metrics
//! endpoint on their listeners, the bundle watcher, graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arrow_flight::flight_service_server::FlightServiceServer;
use rtp_bundle::BundleStore;
use rtp_scoring::{FollowSettings, FollowerTask, LiveModel, ScoringError};
use rtp_service_support::access::TlsFileError;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;
use tonic::service::interceptor::InterceptedService;

use crate::config::FlightConfig;
use crate::metrics::{HttpState, Metrics, router};
use crate::service::{FlightState, ScoringService};
use crate::shared_tables::SharedTables;
use crate::tables::TableStore;

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The first bundle could not be loaded.
    #[error("loading the bundle from {dir}: {source}")]
    Bundle {
        /// The bundle store.
        dir: String,
        /// Why.
        source: ScoringError,
    },
    /// The `sacct` follower cannot start.
    #[error("following sacct: {0}")]
    Follow(#[source] ScoringError),
    /// A listener could not be bound.
    #[error("binding {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A TLS file could not be read.
    #[error(transparent)]
    TlsFile(#[from] TlsFileError),
    /// The gRPC server failed (including a TLS identity it cannot use).
    #[error("Flight server: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// The metrics server failed.
    #[error("metrics server: {0}")]
    Http(std::io::Error),
}

/// A running server.
#[derive(Debug)]
pub struct RunningServer {
    /// Where Flight listens.
    pub flight_addr: SocketAddr,
    /// Where `/metrics`, `/healthz` and `/readyz` listen.
    pub metrics_addr: SocketAddr,
    /// Whether Flight is served over TLS.
    pub tls: bool,
    /// The serving model.
    pub live: Arc<LiveModel>,
    stop: CancellationToken,
    flight: JoinHandle<Result<(), tonic::transport::Error>>,
    http: JoinHandle<std::io::Result<()>>,
    watcher: JoinHandle<()>,
    follower: Option<FollowerTask>,
}

/// Loads the latest bundle and starts serving it.
pub async fn start(config: &FlightConfig) -> Result<RunningServer, ServerError> {
    let access = &config.access;
    let tls = access.server_tls()?;
    let store = BundleStore::new(&config.bundle_dir);
    let live = LiveModel::open_with_events(store, config.advice, config.events.store_path())
        .await
        .map_err(|source| ServerError::Bundle {
            dir: config.bundle_dir.display().to_string(),
            source,
        })?;
    let live = Arc::new(live);
    let metrics = Arc::new(Metrics::new());
    let tables = Arc::new(TableStore::new(config.max_stored_mib << 20));

    let bind = |addr: SocketAddr| async move {
        TcpListener::bind(addr)
            .await
            .map_err(|source| ServerError::Bind { addr, source })
    };
    let flight_listener = bind(config.listen).await?;
    let http_listener = bind(config.metrics_listen).await?;
    let flight_addr = flight_listener
        .local_addr()
        .map_err(|source| ServerError::Bind {
            addr: config.listen,
            source,
        })?;
    let metrics_addr = http_listener
        .local_addr()
        .map_err(|source| ServerError::Bind {
            addr: config.metrics_listen,
            source,
        })?;

    let scale_out = &config.scale_out;
    let scheme = if tls.is_some() { "grpc+tls" } else { "grpc" };
    let advertise = if scale_out.advertise.is_empty() {
        format!("{scheme}://{flight_addr}")
    } else {
        scale_out.advertise.clone()
    };
    let shared = SharedTables {
        dir: (!scale_out.shared_dir.as_os_str().is_empty()).then(|| scale_out.shared_dir.clone()),
        replicas: std::iter::once(advertise)
            .chain(scale_out.peers.iter().cloned())
            .collect(),
    };
    let service = ScoringService::new(Arc::new(FlightState {
        live: Arc::clone(&live),
        tables: Arc::clone(&tables),
        metrics: Arc::clone(&metrics),
        shared,
        streams: Default::default(),
        cluster: config.events.cluster.clone(),
    }));
    let max_message = config.max_message_mib << 20;
    let flight_service = InterceptedService::new(
        FlightServiceServer::new(service)
            .max_decoding_message_size(max_message)
            .max_encoding_message_size(max_message),
        access.bearer_auth(metrics.auth_failures.clone()),
    );
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = tls.clone() {
        builder = builder.tls_config(tls)?;
    }
    let stop = CancellationToken::new();
    let flight = tokio::spawn(
        builder
            .add_service(flight_service)
            .serve_with_incoming_shutdown(
                TcpListenerStream::new(flight_listener),
                stop.clone().cancelled_owned(),
            ),
    );
    let app = router(HttpState {
        metrics,
        live: Arc::clone(&live),
        tables,
    });
    let http_stop = stop.clone().cancelled_owned();
    let http = tokio::spawn(async move {
        axum::serve(http_listener, app)
            .with_graceful_shutdown(http_stop)
            .await
    });
    let watcher = live.watch(Duration::from_secs_f64(config.watch_interval_s));
    let follower = match follow_settings(&config.events) {
        Some(settings) => Some(live.follow_sacct(settings).map_err(ServerError::Follow)?),
        None => None,
    };
    access.warn_if_plaintext(flight_addr);
    tracing::info!(%flight_addr, %metrics_addr, tls = tls.is_some(), auth = access.token.is_some(),
        version = live.current().version(), "serving");
    Ok(RunningServer {
        flight_addr,
        metrics_addr,
        tls: tls.is_some(),
        live,
        stop,
        flight,
        http,
        watcher,
        follower,
    })
}

impl RunningServer {
    /// Stops accepting requests, lets those in flight finish, and waits.
    pub async fn shutdown(self) -> Result<(), ServerError> {
        self.stop.cancel();
        self.wait().await
    }

    /// Waits until the server stops (after [`Self::shutdown`] or an error).
    pub async fn wait(self) -> Result<(), ServerError> {
        let flight = self.flight.await;
        self.watcher.abort();
        if let Some(follower) = self.follower {
            follower.stop().await;
        }
        let http = self.http.await;
        match flight {
            Ok(result) => result?,
            Err(e) => return Err(ServerError::Http(std::io::Error::other(e))),
        }
        match http {
            Ok(result) => result.map_err(ServerError::Http),
            Err(e) => Err(ServerError::Http(std::io::Error::other(e))),
        }
    }

    /// A token that stops the server when cancelled; [`Self::wait`] then
    /// returns once the requests in flight are done.
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }
}

/// The `sacct` follower the settings ask for, if any.
fn follow_settings(events: &rtp_service_support::EventsSettings) -> Option<FollowSettings> {
    Some(FollowSettings {
        command: events.sacct_command()?,
        interval: Duration::from_secs_f64(events.sacct_interval_s),
        overlap: Duration::from_secs_f64(events.sacct_overlap_s),
        start_s: events.sacct_start_s(),
        timeout: Duration::from_secs_f64(events.sacct_timeout_s),
        max_lag: Duration::from_secs_f64(events.max_lag_s),
        cluster: events.cluster.clone(),
    })
}
