//! `rtp`: the rt-predictor pipeline command line.

mod args;
mod bench;
mod commands;
mod features_bench;
mod inference_bench;
mod progress;
mod services;
mod train_bench;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    // A service sets up its own logging and runtime, and ends as its own
    // binary would, with one line naming it.
    if let args::Command::Serve(args) = &cli.command {
        return services::serve(args.service.into(), cli.config.as_deref());
    }
    // In front of a submit: nothing to set up, nothing to wait for.
    if let args::Command::Suggest(args) = &cli.command {
        return rtp_edge_api::suggest::run(args);
    }
    let filter = tracing_subscriber::EnvFilter::try_from_env("RTP_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(if cli.verbose { "info" } else { "warn" })
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // A closed stdout (e.g. piped into `head`) is not a failure.
            if err
                .chain()
                .filter_map(|e| e.downcast_ref::<std::io::Error>())
                .any(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {}", rtp_service_support::describe(err.as_ref()));
            ExitCode::FAILURE
        }
    }
}
