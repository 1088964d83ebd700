//! `rtp-edge-api`: serves the latest bundle of a bundle store over gRPC
//! until interrupted.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use rtp_edge_api::config::ENV_OVERRIDES;
use rtp_edge_api::{EdgeConfig, start};

/// gRPC prediction edge for rt-predictor bundles.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Configuration file laid over the built-in defaults (configs/edge-api.toml).
    #[arg(long)]
    config: Option<PathBuf>,
}

fn main() -> ExitCode {
    rtp_service_support::exit_code("rtp-edge-api", run())
}

fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    let overrides = rtp_service_support::overrides_from(&ENV_OVERRIDES, |var| std::env::var(var));
    let config = EdgeConfig::load(args.config.as_deref(), &overrides)?;
    rtp_service_support::init_logging(config.log_format);
    // One worker: a single-threaded runtime, no hand-offs between threads.
    let runtime = match config.worker_threads {
        1 => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        0 => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
        n => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build(),
    }
    .context("starting the async runtime")?;
    runtime.block_on(serve(&config))
}

async fn serve(config: &EdgeConfig) -> anyhow::Result<()> {
    let mut server = start(config).await?;
    let scheme = if server.tls { "grpc+tls" } else { "grpc" };
    println!(
        "rtp-edge-api: gRPC on {scheme}://{}, metrics on http://{}/metrics, serving {}",
        server.grpc_addr,
        server.metrics_addr,
        server.live.current().version()
    );
    let ready = rtp_service_support::Ready::new("rtp-edge-api")
        .endpoint("grpc", format!("{scheme}://{}", server.grpc_addr))
        .endpoint("metrics", format!("http://{}/metrics", server.metrics_addr))
        .serving(server.live.current().version());
    println!("{}", ready.line());
    let stop = server.take_stop().context("stop handle")?;
    tokio::spawn(async move {
        rtp_service_support::shutdown_signal().await;
        tracing::info!("shutting down");
        let _ = stop.send(());
    });
    server.wait().await?;
    Ok(())
}
