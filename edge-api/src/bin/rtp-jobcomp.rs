//! `rtp-jobcomp`: Slurm's jobcomp/script hook. Reads the finished job from
//! the environment Slurm sets and reports it to the edge; an event the edge
//! cannot take is spooled and sent with the next one.

use std::process::ExitCode;

use clap::Parser;
use rtp_edge_api::jobcomp::{JobcompArgs, run};

/// Report the job that just ended (from Slurm's jobcomp/script environment) to the edge.
#[derive(Debug, Parser)]
#[command(name = "rtp-jobcomp", version)]
struct Cli {
    #[command(flatten)]
    args: JobcompArgs,
}

fn main() -> ExitCode {
    run(&Cli::parse().args)
}
