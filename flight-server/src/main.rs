//! `rtp-flight-server`: serves the latest bundle of a bundle store over
//! Arrow Flight until interrupted.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use rtp_flight_server::config::ENV_OVERRIDES;
use rtp_flight_server::{FlightConfig, start};

/// Arrow Flight bulk-scoring server for rt-predictor bundles.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Configuration file laid over the built-in defaults (configs/flight-server.toml).
    #[arg(long)]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    rtp_service_support::exit_code("rtp-flight-server", run().await)
}

async fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    let overrides = rtp_service_support::overrides_from(&ENV_OVERRIDES, |var| std::env::var(var));
    let config = FlightConfig::load(args.config.as_deref(), &overrides)?;
    rtp_service_support::init_logging(config.log_format);
    let mut server = start(&config).await?;
    println!(
        "rtp-flight-server: Flight on grpc://{}, metrics on http://{}/metrics, serving {}",
        server.flight_addr,
        server.metrics_addr,
        server.live.current().version()
    );
    let ready = rtp_service_support::Ready::new("rtp-flight-server")
        .endpoint("flight", format!("grpc://{}", server.flight_addr))
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
