//! `rtp-dashboard`: serves the web dashboard until interrupted.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use rtp_dashboard::config::ENV_OVERRIDES;
use rtp_dashboard::program::{PROGRAM, run};

/// Web dashboard of rt-predictor.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Configuration file laid over the built-in defaults (configs/dashboard.toml).
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
