//! `rtp-suggest`: how long will this job run, and what `--time` to ask for.
//! Takes sbatch's options (or a batch script) and asks the edge; with the
//! edge down it says so in one line and exits 3, so a submit never waits.

use std::process::ExitCode;

use clap::Parser;
use rtp_edge_api::suggest::{SuggestArgs, run};

/// Predict a job's runtime from its sbatch options and suggest a `--time`.
#[derive(Debug, Parser)]
#[command(name = "rtp-suggest", version)]
struct Cli {
    #[command(flatten)]
    args: SuggestArgs,
}

fn main() -> ExitCode {
    run(&Cli::parse().args)
}
