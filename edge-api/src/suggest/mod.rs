//! `rtp-suggest` (and `rtp suggest`): asks the edge how long a job will
//! run, from its request in sbatch terms, and prints the p50, the p10–p90
//! interval and a suggested `--time`.
//!
//! It runs in front of a submit, so it never blocks one: the edge gets a
//! short time budget, and when it is down or slow the command says so in
//! one line and exits with [`EXIT_UNAVAILABLE`], distinct from a bad
//! request ([`EXIT_BAD_REQUEST`]).

mod answer;
pub mod sbatch_options;

use std::path::PathBuf;
use std::process::ExitCode;

use rtp_proto::v1::PredictRequest;
use rtp_proto::v1::job_runtime_predictor_client::JobRuntimePredictorClient;

use crate::edge_client::{ClientError, EdgeAddress, within};

pub use answer::Suggestion;
use sbatch_options::SbatchOptions;

/// Exit code of a request that cannot be predicted (a bad option).
pub const EXIT_BAD_REQUEST: u8 = 2;
/// Exit code when the edge did not answer in time or refused the call.
pub const EXIT_UNAVAILABLE: u8 = 3;

/// The command's arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct SuggestArgs {
    /// A batch script whose `#SBATCH` lines give the options not given here.
    pub script: Option<PathBuf>,
    /// The job's options, as sbatch takes them.
    #[command(flatten)]
    pub options: SbatchOptions,
    /// The submitting user (default: $USER).
    #[arg(long)]
    pub user: Option<String>,
    /// The edge.
    #[command(flatten)]
    pub edge: EdgeAddress,
    /// The whole budget for the edge's answer, milliseconds.
    #[arg(long, default_value_t = 800)]
    pub timeout_ms: u64,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Why there is no suggestion.
#[derive(Debug, thiserror::Error)]
pub enum SuggestError {
    /// The request cannot be predicted.
    #[error("{0}")]
    BadRequest(String),
    /// The edge is down, slow or refused the call.
    #[error("no prediction: {0}; submit as usual")]
    Unavailable(String),
}

/// Runs the command: prints the suggestion, or one line saying why there
/// is none, and returns the exit code.
pub fn run(args: &SuggestArgs) -> ExitCode {
    match suggest(args) {
        Ok(suggestion) => {
            if args.json {
                println!("{}", suggestion.json());
            } else {
                print!("{}", suggestion.text());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rtp-suggest: {e}");
            ExitCode::from(match e {
                SuggestError::BadRequest(_) => EXIT_BAD_REQUEST,
                SuggestError::Unavailable(_) => EXIT_UNAVAILABLE,
            })
        }
    }
}

/// Asks the edge for the job `args` describe.
pub fn suggest(args: &SuggestArgs) -> Result<Suggestion, SuggestError> {
    let mut options = args.options.clone();
    if let Some(script) = &args.script {
        let text = std::fs::read_to_string(script)
            .map_err(|e| SuggestError::BadRequest(format!("{}: {e}", script.display())))?;
        options = options.over(SbatchOptions::from_script(&text));
        // sbatch names a job after its script.
        if options.job_name.is_none() {
            options.job_name = script.file_name().map(|n| n.to_string_lossy().into_owned());
        }
    }
    if options.chdir.is_none() {
        options.chdir = std::env::current_dir()
            .ok()
            .map(|d| d.to_string_lossy().into_owned());
    }
    let user = args
        .user
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_default();
    let features = options
        .features(&user)
        .map_err(|e| SuggestError::BadRequest(e.to_string()))?;
    let requested_s = features.wallclock_req;
    let response = within(args.timeout_ms, ask(args, features)).unwrap_or_else(|waited| {
        Err(SuggestError::Unavailable(format!(
            "the edge at {} {waited}",
            args.edge.edge
        )))
    })?;
    Ok(Suggestion::from_response(&response, requested_s))
}

async fn ask(
    args: &SuggestArgs,
    features: rtp_proto::v1::JobFeatures,
) -> Result<rtp_proto::v1::PredictResponse, SuggestError> {
    let client_error = |e: ClientError| match e {
        ClientError::Settings(what) => SuggestError::BadRequest(what),
        unreachable => SuggestError::Unavailable(unreachable.to_string()),
    };
    let channel = args.edge.connect().await.map_err(client_error)?;
    let request = args
        .edge
        .request(PredictRequest {
            features: Some(features),
            explain: Some(false),
            ..Default::default()
        })
        .map_err(client_error)?;
    let response = JobRuntimePredictorClient::new(channel)
        .predict(request)
        .await
        .map_err(|status| match status.code() {
            tonic::Code::InvalidArgument => {
                SuggestError::BadRequest(format!("the edge refused the job: {}", status.message()))
            }
            code => SuggestError::Unavailable(format!(
                "the edge at {} answered {code:?}: {}",
                args.edge.edge,
                status.message()
            )),
        })?;
    Ok(response.into_inner())
}
