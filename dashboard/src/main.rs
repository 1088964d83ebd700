//! `rtp-dashboard`: serves the web dashboard until interrupted.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use rtp_dashboard::config::ENV_OVERRIDES;
use rtp_dashboard::{DashboardConfig, start};

/// Web dashboard of rt-predictor.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Configuration file laid over the built-in defaults (configs/dashboard.toml).
    #[arg(long)]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    rtp_service_support::exit_code("rtp-dashboard", run().await)
}

async fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    let overrides = rtp_service_support::overrides_from(&ENV_OVERRIDES, |var| std::env::var(var));
    let config = DashboardConfig::load(args.config.as_deref(), &overrides)?;
    rtp_service_support::init_logging(config.log_format);
    let mut server = start(&config).await?;
    println!(
        "rtp-dashboard: http://{}/ (edge {}, Flight {}, metrics on http://{}/metrics)",
        server.addr, config.edge.address, config.flight.address, server.addr
    );
    let ready = rtp_service_support::Ready::new("rtp-dashboard")
        .endpoint("http", format!("http://{}/", server.addr))
        .endpoint("metrics", format!("http://{}/metrics", server.addr));
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
