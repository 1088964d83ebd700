//! `rtp-jobcomp`: Slurm's `jobcomp/script` hook, feeding every finished
//! job (cancelled pending ones too) to the edge's `ReportJobs`, as the
//! alternative to the `sacct` follower.
//!
//! Slurm runs the script at each job end with the job in environment
//! variables (JOBID, USERNAME, SUBMIT, START, END, LIMIT, PROCS, NODECNT,
//! JOBSTATE, …; no memory or TRES). An event the edge cannot take now is
//! kept in a spool file and sent before the next one, so an edge restart
//! loses nothing; the edge's idempotence makes a resend harmless.

pub mod spool;

use std::path::PathBuf;
use std::process::ExitCode;

use rtp_jobs::slurm::{BareNumber, parse_duration};
use rtp_proto::v1::job_runtime_predictor_client::JobRuntimePredictorClient;
use rtp_proto::v1::{JobEvent, JobFeatures, ReportJobsReply};

use crate::edge_client::{EdgeAddress, within};
use spool::Spool;

/// The hook's settings (flags, or environment variables in slurmctld's
/// environment or the wrapper script).
#[derive(Debug, Clone, clap::Args)]
pub struct JobcompArgs {
    /// The edge.
    #[command(flatten)]
    pub edge: EdgeAddress,
    /// Keep events the edge cannot take in this file, and send them first
    /// next time (without it such an event is lost and the hook fails).
    #[arg(long, env = "RTP_JOBCOMP_SPOOL")]
    pub spool: Option<PathBuf>,
    /// Budget for the edge's answer, milliseconds.
    #[arg(long, env = "RTP_JOBCOMP_TIMEOUT_MS", default_value_t = 2000)]
    pub timeout_ms: u64,
}

/// Sends the finished job in this process's environment, with any events
/// spooled before it; prints one line per problem. Fails only when an
/// event is lost.
pub fn run(args: &JobcompArgs) -> ExitCode {
    let event = match event_from_vars(|name| std::env::var(name).ok()) {
        Ok(event) => event,
        Err(problem) => {
            eprintln!(
                "rtp-jobcomp: job {:?}: {problem}",
                std::env::var("JOBID").unwrap_or_default()
            );
            return ExitCode::FAILURE;
        }
    };
    let job_id = event
        .job
        .as_ref()
        .map(|j| j.job_id.clone())
        .unwrap_or_default();
    let mut spool = match args.spool.as_deref().map(Spool::open).transpose() {
        Ok(spool) => spool,
        Err(e) => {
            eprintln!("rtp-jobcomp: job {job_id}: {e}");
            None
        }
    };
    let mut events = Vec::new();
    if let Some(spool) = &mut spool {
        match spool.pending() {
            Ok((pending, cut)) => {
                if cut > 0 {
                    eprintln!(
                        "rtp-jobcomp: the spool ended in {cut} bytes of a write cut short; they are dropped"
                    );
                }
                events = pending;
            }
            Err(e) => eprintln!("rtp-jobcomp: {e}"),
        }
    }
    events.push(event);
    match send(args, events.clone()) {
        Ok(reply) => {
            for error in &reply.errors {
                eprintln!("rtp-jobcomp: the edge refused {error}");
            }
            if let Some(spool) = &mut spool
                && let Err(e) = spool.clear()
            {
                eprintln!("rtp-jobcomp: {e}");
            }
            ExitCode::SUCCESS
        }
        Err(reason) => {
            let kept = spool.as_mut().map(|s| s.keep(&events[events.len() - 1..]));
            match kept {
                Some(Ok(())) => {
                    eprintln!("rtp-jobcomp: job {job_id} kept in the spool: {reason}");
                    ExitCode::SUCCESS
                }
                Some(Err(e)) => {
                    eprintln!("rtp-jobcomp: job {job_id} lost: {reason}; {e}");
                    ExitCode::FAILURE
                }
                None => {
                    eprintln!("rtp-jobcomp: job {job_id} lost (no spool set): {reason}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn send(args: &JobcompArgs, events: Vec<JobEvent>) -> Result<ReportJobsReply, String> {
    let call = async {
        let channel = args.edge.connect().await.map_err(|e| e.to_string())?;
        let request = args
            .edge
            .request(tokio_stream::iter(events))
            .map_err(|e| e.to_string())?;
        JobRuntimePredictorClient::new(channel)
            .report_jobs(request)
            .await
            .map(tonic::Response::into_inner)
            .map_err(|status| {
                format!(
                    "the edge answered {:?}: {}",
                    status.code(),
                    status.message()
                )
            })
    };
    within(args.timeout_ms, call).unwrap_or_else(|waited| Err(format!("the edge {waited}")))
}

/// A variable that cannot be read, named.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {reason}")]
pub struct VariableProblem {
    /// The environment variable.
    pub variable: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

/// The job event of the variables `var` reads (Slurm's jobcomp/script
/// environment).
pub fn event_from_vars(var: impl Fn(&str) -> Option<String>) -> Result<JobEvent, VariableProblem> {
    let text = |name: &str| var(name).filter(|v| !v.is_empty()).unwrap_or_default();
    let number = |name: &'static str| -> Result<i64, VariableProblem> {
        match var(name).filter(|v| !v.is_empty()) {
            None => Ok(0),
            Some(v) => v.trim().parse::<i64>().map_err(|_| VariableProblem {
                variable: name,
                reason: format!("{v:?} is not a number"),
            }),
        }
    };
    let job_id = text("JOBID");
    if job_id.is_empty() {
        return Err(VariableProblem {
            variable: "JOBID",
            reason: "missing".into(),
        });
    }
    // An array task is known to sacct as <array job>_<task>.
    let array_job = number("ARRAYJOBID")?;
    let job_id = match (array_job, var("ARRAYTASKID")) {
        (array, Some(task)) if array > 0 && !task.is_empty() && task != "4294967294" => {
            format!("{array}_{task}")
        }
        _ => job_id,
    };
    let limit = text("LIMIT");
    let wallclock = parse_duration(&limit, BareNumber::Minutes)
        .map_err(|reason| VariableProblem {
            variable: "LIMIT",
            reason,
        })?
        .unwrap_or(0.0);
    let count = |name: &'static str| -> Result<i32, VariableProblem> {
        i32::try_from(number(name)?).map_err(|_| VariableProblem {
            variable: name,
            reason: "out of range".into(),
        })
    };
    Ok(JobEvent {
        job: Some(JobFeatures {
            processors_req: count("PROCS")?,
            nodes_req: count("NODECNT")?,
            mem_req: 0.0,
            wallclock_req: wallclock,
            partition: text("PARTITION"),
            qos: text("QOS"),
            submit_time: number("SUBMIT")?,
            user: text("USERNAME"),
            account: text("ACCOUNT"),
            gpus_req: 0,
            job_name: text("JOBNAME"),
            work_dir: text("WORK_DIR"),
            job_id,
        }),
        start_time: number("START")?,
        end_time: number("END")?,
        run_time_seconds: None,
        state: text("JOBSTATE"),
        cluster: text("CLUSTER"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn a_finished_job_and_an_array_task() {
        let event = event_from_vars(vars(&[
            ("JOBID", "41"),
            ("USERNAME", "ann"),
            ("PARTITION", "short"),
            ("SUBMIT", "1700000000"),
            ("START", "1700000010"),
            ("END", "1700000070"),
            ("LIMIT", "00:10:00"),
            ("PROCS", "4"),
            ("NODECNT", "1"),
            ("JOBSTATE", "COMPLETED"),
            ("ARRAYJOBID", "0"),
            ("ARRAYTASKID", "4294967294"),
            ("CLUSTER", "rtp"),
        ]))
        .unwrap();
        let job = event.job.as_ref().unwrap();
        assert_eq!(job.job_id, "41");
        assert_eq!(job.wallclock_req, 600.0);
        assert_eq!((job.processors_req, job.nodes_req), (4, 1));
        assert_eq!(
            (event.start_time, event.end_time),
            (1_700_000_010, 1_700_000_070)
        );
        assert_eq!(event.state, "COMPLETED");

        let task = event_from_vars(vars(&[
            ("JOBID", "43"),
            ("ARRAYJOBID", "40"),
            ("ARRAYTASKID", "3"),
            ("LIMIT", "UNLIMITED"),
        ]))
        .unwrap();
        let job = task.job.unwrap();
        assert_eq!(job.job_id, "40_3");
        assert_eq!(job.wallclock_req, 0.0);
    }

    #[test]
    fn a_bad_variable_is_named() {
        let problem =
            event_from_vars(vars(&[("JOBID", "1"), ("SUBMIT", "yesterday")])).unwrap_err();
        assert_eq!(problem.variable, "SUBMIT");
        assert_eq!(event_from_vars(vars(&[])).unwrap_err().variable, "JOBID");
    }
}
