//! `rtp-edge-api`: serves the latest bundle of a bundle store over gRPC
//! until interrupted.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use rtp_edge_api::config::ENV_OVERRIDES;
use rtp_edge_api::program::{PROGRAM, run};

/// gRPC prediction edge for rt-predictor bundles.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Configuration file laid over the built-in defaults (configs/edge-api.toml).
    #[arg(long)]
    config: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let overrides = rtp_service_support::overrides_from(&ENV_OVERRIDES, |var| std::env::var(var));
    rtp_service_support::exit_code(
        PROGRAM,
        run(args.config.as_deref(), &overrides).map_err(anyhow::Error::from),
    )
}
