//! `rtp-edge-api`: serves the latest bundle of a bundle store over gRPC
//! until interrupted.

use std::path::PathBuf;

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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let overrides = rtp_service_support::overrides_from(&ENV_OVERRIDES, |var| std::env::var(var));
    let config = EdgeConfig::load(args.config.as_deref(), &overrides).context("configuration")?;
    rtp_service_support::init_logging(config.log_format);
    let mut server = start(&config).await?;
    let scheme = if server.tls { "grpc+tls" } else { "grpc" };
    println!(
        "rtp-edge-api: gRPC on {scheme}://{}, metrics on http://{}/metrics, serving {}",
        server.grpc_addr,
        server.metrics_addr,
        server.live.current().version()
    );
    let stop = server.take_stop().context("stop handle")?;
    tokio::spawn(async move {
        rtp_service_support::shutdown_signal().await;
        tracing::info!("shutting down");
        let _ = stop.send(());
    });
    server.wait().await?;
    Ok(())
}
