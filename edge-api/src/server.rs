//! Starting and stopping the edge: the gRPC services (prediction, standard
//! health, reflection) and the metrics endpoint on their listeners, the
//! bundle watcher, graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rtp_bundle::BundleStore;
use rtp_proto::v1::job_runtime_predictor_server::JobRuntimePredictorServer;
use rtp_scoring::{FollowSettings, FollowerTask, LiveModel, ScoringError};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;

use rtp_service_support::access::TlsFileError;

use crate::config::EdgeConfig;
use crate::metrics::{HttpState, Metrics, router};
use crate::service::{EdgeState, Limits, PredictorService};
use crate::undecodable::CountUndecodable;

/// The service name health checks and reflection report.
pub const SERVICE_NAME: &str = "rtpredictor.v1.JobRuntimePredictor";

/// Why the edge could not start or stopped with an error.
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
    /// The reflection service could not be built from the descriptors.
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The gRPC server failed (including a TLS identity it cannot use).
    #[error("gRPC server: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// The metrics server failed.
    #[error("metrics server: {0}")]
    Http(std::io::Error),
}

/// A running edge.
#[derive(Debug)]
pub struct RunningServer {
    /// Where gRPC listens.
    pub grpc_addr: SocketAddr,
    /// Where `/metrics`, `/healthz` and `/readyz` listen.
    pub metrics_addr: SocketAddr,
    /// Whether gRPC is served over TLS.
    pub tls: bool,
    /// The serving model.
    pub live: Arc<LiveModel>,
    stop: CancellationToken,
    grpc: JoinHandle<Result<(), tonic::transport::Error>>,
    http: JoinHandle<std::io::Result<()>>,
    watcher: JoinHandle<()>,
    follower: Option<FollowerTask>,
}

async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), ServerError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| ServerError::Bind { addr, source })?;
    Ok((listener, bound))
}

/// Loads the latest bundle and starts serving it.
pub async fn start(config: &EdgeConfig) -> Result<RunningServer, ServerError> {
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
    let (grpc_listener, grpc_addr) = bind(config.listen).await?;
    let (http_listener, metrics_addr) = bind(config.metrics_listen).await?;

    let state = Arc::new(EdgeState {
        live: Arc::clone(&live),
        metrics: Arc::clone(&metrics),
        limits: Limits {
            max_batch_jobs: config.max_batch_jobs,
            top_contributions: config.top_contributions,
        },
        started: Instant::now(),
        cluster: config.events.cluster.clone(),
    });
    let auth = access.bearer_auth(metrics.auth_failures.clone());
    let predictor = CountUndecodable::new(
        JobRuntimePredictorServer::with_interceptor(PredictorService::new(state), auth),
        Arc::clone(&metrics),
    );
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_service_status(SERVICE_NAME, ServingStatus::Serving)
        .await;
    let reflection = |builder: tonic_reflection::server::Builder<'static>| {
        builder
            .register_encoded_file_descriptor_set(rtp_proto::v1::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection(tonic_reflection::server::Builder::configure()).build_v1()?;
    let reflection_v1alpha =
        reflection(tonic_reflection::server::Builder::configure()).build_v1alpha()?;

    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = tls.clone() {
        builder = builder.tls_config(tls)?;
    }
    let stop = CancellationToken::new();
    let http_stop = CancellationToken::new();
    let (stopped, http_stop_tx) = (stop.clone(), http_stop.clone());
    // Small messages want to leave at once, not wait for Nagle's timer.
    let incoming = TcpIncoming::from(grpc_listener).with_nodelay(Some(true));
    let grpc = tokio::spawn(
        builder
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(predictor)
            .serve_with_incoming_shutdown(incoming, async move {
                stopped.cancelled().await;
                // Tell probes first, then drain.
                health
                    .set_service_status(SERVICE_NAME, ServingStatus::NotServing)
                    .await;
                health
                    .set_service_status("", ServingStatus::NotServing)
                    .await;
                http_stop_tx.cancel();
            }),
    );
    let app = router(HttpState {
        metrics,
        live: Arc::clone(&live),
    });
    let http = tokio::spawn(async move {
        axum::serve(http_listener, app)
            .with_graceful_shutdown(http_stop.cancelled_owned())
            .await
    });
    let watcher = live.watch(config.watch_interval);
    let follower = match follow_settings(&config.events) {
        Some(settings) => Some(live.follow_sacct(settings).map_err(ServerError::Follow)?),
        None => None,
    };
    access.warn_if_plaintext(grpc_addr);
    tracing::info!(%grpc_addr, %metrics_addr, tls = tls.is_some(), auth = access.token.is_some(),
        version = live.current().version(), "serving");
    Ok(RunningServer {
        grpc_addr,
        metrics_addr,
        tls: tls.is_some(),
        live,
        stop,
        grpc,
        http,
        watcher,
        follower,
    })
}

impl RunningServer {
    /// Stops accepting calls, lets those in flight finish, and waits.
    pub async fn shutdown(self) -> Result<(), ServerError> {
        self.stop.cancel();
        self.wait().await
    }

    /// Waits until the server stops (after [`Self::shutdown`] or an error).
    pub async fn wait(self) -> Result<(), ServerError> {
        let grpc = self.grpc.await;
        self.watcher.abort();
        if let Some(follower) = self.follower {
            follower.stop().await;
        }
        let http = self.http.await;
        match grpc {
            Ok(result) => result?,
            Err(e) => return Err(ServerError::Http(std::io::Error::other(e))),
        }
        match http {
            Ok(result) => result.map_err(ServerError::Http),
            Err(e) => Err(ServerError::Http(std::io::Error::other(e))),
        }
    }

    /// A token that stops the server when cancelled: probes are told
    /// first, then the calls in flight drain and [`Self::wait`] returns.
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
