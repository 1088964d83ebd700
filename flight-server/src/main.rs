//! `rtp-flight-server`: serves the latest bundle of a bundle store over
//! Arrow Flight until interrupted.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use rtp_flight_server::config::ENV_OVERRIDES;
use rtp_flight_server::program::{PROGRAM, run};

/// Arrow Flight bulk-scoring server for rt-predictor bundles.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Configuration file laid over the built-in defaults (configs/flight-server.toml).
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
