//! Slurm's `sacct --parsable2` lines as jobs: `|`-separated fields named by
//! a header line, in Slurm's own duration, memory and state formats. One
//! reading for every consumer (`rtp ingest` of a dump, a server's
//! follower polling `sacct`). Job steps (`123.batch`, `123.0`,
//! `123.extern`) are not jobs.

use crate::Job;
use crate::slurm::{
    BareNumber, MemPer, gpus_from_tres, normalize_state, parse_duration, parse_memory,
};
use crate::values::{parse_i64, parse_timestamp};

/// The columns a follower asks `sacct --format` for: every field read here.
pub const FOLLOW_FORMAT: &str = "JobID,User,Account,Partition,QOS,Timelimit,ReqNodes,ReqCPUS,\
ReqTRES,ReqMem,Submit,Start,End,Elapsed,State,JobName,WorkDir";

/// Canonical field → accepted sacct column names (first match wins), and
/// what a bare number in a duration column counts.
const ALIASES: &[(&str, &[(&str, BareNumber)])] = &[
    ("job_id", &[("jobid", MINUTES), ("jobidraw", MINUTES)]),
    ("user", &[("user", MINUTES)]),
    ("account", &[("account", MINUTES)]),
    ("partition", &[("partition", MINUTES)]),
    ("qos", &[("qos", MINUTES)]),
    // Limits print in minutes, raw or formatted.
    (
        "timelimit",
        &[("timelimit", MINUTES), ("timelimitraw", MINUTES)],
    ),
    ("nodes", &[("reqnodes", MINUTES), ("nnodes", MINUTES)]),
    (
        "cpus",
        &[
            ("reqcpus", MINUTES),
            ("ncpus", MINUTES),
            ("alloccpus", MINUTES),
        ],
    ),
    ("tres", &[("reqtres", MINUTES), ("alloctres", MINUTES)]),
    ("reqmem", &[("reqmem", MINUTES)]),
    ("submit", &[("submit", MINUTES)]),
    ("start", &[("start", MINUTES)]),
    ("end", &[("end", MINUTES)]),
    // ElapsedRaw counts seconds.
    (
        "elapsed",
        &[("elapsed", MINUTES), ("elapsedraw", BareNumber::Seconds)],
    ),
    ("state", &[("state", MINUTES)]),
    ("name", &[("jobname", MINUTES)]),
    ("work_dir", &[("workdir", MINUTES)]),
];
const MINUTES: BareNumber = BareNumber::Minutes;
const REQUIRED: [&str; 3] = ["job_id", "submit", "state"];

/// A required column the header lacks (its sacct name).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("sacct output has no {0} column")]
pub struct MissingColumn(pub &'static str);

/// Why a line is not a job: the sacct field at fault and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineProblem {
    /// The field as sacct names it (`(row)` for the line as a whole).
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl LineProblem {
    fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }
}

/// Where each field sits in a header's columns.
#[derive(Debug, Clone)]
pub struct SacctColumns {
    positions: Vec<(&'static str, Option<(usize, BareNumber)>)>,
    width: usize,
}

impl SacctColumns {
    /// Maps the columns of a `--parsable2` header line.
    pub fn from_header(header: &str) -> Result<Self, MissingColumn> {
        let names: Vec<String> = header
            .split('|')
            .map(|h| h.trim().to_ascii_lowercase())
            .collect();
        let positions: Vec<_> = ALIASES
            .iter()
            .map(|(field, aliases)| {
                let pos = aliases.iter().find_map(|(alias, bare)| {
                    names.iter().position(|n| n == alias).map(|i| (i, *bare))
                });
                (*field, pos)
            })
            .collect();
        for required in REQUIRED {
            if positions.iter().any(|(f, p)| *f == required && p.is_none()) {
                let (_, aliases) = ALIASES.iter().find(|(f, _)| *f == required).unwrap();
                return Err(MissingColumn(column_label(aliases[0].0)));
            }
        }
        Ok(Self {
            positions,
            width: names.len(),
        })
    }

    /// The job on `line`: `Ok(None)` for a job step, the problem for a line
    /// that is not a valid job. The job is as sacct states it, not yet
    /// checked by [`crate::rules`].
    pub fn parse_line(&self, line: &str) -> Result<Option<Job>, LineProblem> {
        let fields: Vec<&str> = line.split('|').collect();
        // --parsable2 has no trailing separator; tolerate --parsable's.
        let fields = match fields.last() {
            Some(last) if last.is_empty() && fields.len() == self.width + 1 => {
                &fields[..self.width]
            }
            _ => &fields[..],
        };
        if fields.len() != self.width {
            return Err(LineProblem::new(
                "(row)",
                format!(
                    "missing field: expected {} fields, found {}",
                    self.width,
                    fields.len()
                ),
            ));
        }
        self.parse(fields)
    }

    fn field(&self, name: &str) -> Option<(usize, BareNumber)> {
        self.positions
            .iter()
            .find(|(f, _)| *f == name)
            .and_then(|(_, p)| *p)
    }

    fn parse(&self, fields: &[&str]) -> Result<Option<Job>, LineProblem> {
        let get = |name: &str| {
            self.field(name)
                .map(|(i, _)| fields[i].trim())
                .filter(|s| !s.is_empty())
        };
        let owned = |name: &str| get(name).map(str::to_owned);
        let job_id = owned("job_id").ok_or_else(|| LineProblem::new("JobID", "missing value"))?;
        if job_id.contains('.') {
            return Ok(None); // a job step, not a job
        }
        let time = |name: &str, label: &'static str| {
            parse_timestamp(get(name).unwrap_or("")).map_err(|r| LineProblem::new(label, r))
        };
        let duration = |name: &str, label: &'static str| {
            let bare = self.field(name).map_or(MINUTES, |(_, b)| b);
            parse_duration(get(name).unwrap_or(""), bare).map_err(|r| LineProblem::new(label, r))
        };
        let int = |name: &str, label: &'static str| {
            parse_i64(get(name).unwrap_or("")).map_err(|r| LineProblem::new(label, r))
        };
        let nodes = int("nodes", "NNodes")?;
        let cpus = int("cpus", "NCPUS")?;
        let mem_req_mb = match parse_memory(get("reqmem").unwrap_or("")) {
            Ok(Some((mb, MemPer::Node))) => Some(mb * nodes.unwrap_or(1) as f64),
            Ok(Some((mb, MemPer::Cpu))) => Some(mb * cpus.unwrap_or(1) as f64),
            Ok(None) => None,
            Err(r) => return Err(LineProblem::new("ReqMem", r)),
        };
        let gpus = match get("tres") {
            Some(t) => Some(gpus_from_tres(t).map_err(|r| LineProblem::new("ReqTRES", r))?),
            None => None,
        };
        let submit_time =
            time("submit", "Submit")?.ok_or_else(|| LineProblem::new("Submit", "missing value"))?;
        let start_time = time("start", "Start")?;
        let end_time = time("end", "End")?;
        let state = get("state")
            .map(normalize_state)
            .ok_or_else(|| LineProblem::new("State", "missing value"))?;
        // A job that never started reports an elapsed time of zero, and a
        // running job's elapsed time grows: a runtime is an ended job's.
        let run_time_s =
            duration("elapsed", "Elapsed")?.filter(|_| start_time.is_some() && end_time.is_some());
        Ok(Some(Job {
            job_key: None,
            job_id,
            user: owned("user"),
            account: owned("account"),
            partition: owned("partition"),
            qos: owned("qos"),
            wallclock_req_s: duration("timelimit", "Timelimit")?,
            nodes_req: nodes,
            processors_req: cpus,
            gpus_req: gpus,
            mem_req_mb,
            submit_time: Some(submit_time),
            start_time,
            end_time,
            run_time_s,
            state: Some(state),
            name: owned("name"),
            work_dir: owned("work_dir"),
        }))
    }
}

/// Sacct's spelling of a column, for messages.
fn column_label(alias: &str) -> &'static str {
    match alias {
        "jobid" => "JobID",
        "submit" => "Submit",
        "state" => "State",
        _ => "(column)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "JobID|User|Account|Partition|QOS|Timelimit|ReqNodes|ReqCPUS|ReqTRES|\
ReqMem|Submit|Start|End|Elapsed|State|JobName|WorkDir";

    fn columns() -> SacctColumns {
        SacctColumns::from_header(HEADER).unwrap()
    }

    #[test]
    fn the_followers_format_is_a_header_this_reads() {
        let header = FOLLOW_FORMAT.replace(',', "|");
        let columns = SacctColumns::from_header(&header).unwrap();
        assert_eq!(columns.width, ALIASES.len());
        assert!(columns.positions.iter().all(|(_, p)| p.is_some()));
    }

    #[test]
    fn reads_an_ended_job_and_skips_its_steps() {
        let job = columns()
            .parse_line(
                "7_3|ann|proj|short|normal|00:10:00|1|4|billing=4,cpu=4,gres/gpu=2,node=1|\
                 2G|2026-12-01T10:00:00|2026-12-01T10:00:05|2026-12-01T10:01:05|00:01:00|\
                 CANCELLED by 0|sim|/home/ann",
            )
            .unwrap()
            .unwrap();
        assert_eq!(job.job_id, "7_3");
        assert_eq!(job.wallclock_req_s, Some(600.0));
        assert_eq!(job.gpus_req, Some(2));
        assert_eq!(job.mem_req_mb, Some(2048.0));
        assert_eq!(job.run_time_s, Some(60.0));
        assert_eq!(job.state.as_deref(), Some("CANCELLED"));
        let step = "7_3.batch|||||||||||2026-12-01T10:00:05|2026-12-01T10:01:05|00:01:00|\
                    COMPLETED|batch|";
        assert_eq!(columns().parse_line(step), Ok(None));
    }

    #[test]
    fn a_running_or_pending_job_has_no_runtime_yet() {
        let running = columns()
            .parse_line(
                "8|ann|proj|short|normal|10|1|1||1G|2026-12-01T10:00:00|\
                 2026-12-01T10:00:01|Unknown|00:03:00|RUNNING|sim|/home/ann",
            )
            .unwrap()
            .unwrap();
        assert_eq!((running.end_time, running.run_time_s), (None, None));
        let pending = columns()
            .parse_line(
                "9|ann|proj|short|normal|10|1|1||1G|2026-12-01T10:00:00|\
                 Unknown|Unknown|00:00:00|PENDING|sim|/home/ann",
            )
            .unwrap()
            .unwrap();
        assert_eq!((pending.start_time, pending.run_time_s), (None, None));
    }

    #[test]
    fn raw_elapsed_counts_seconds() {
        let columns = SacctColumns::from_header("JobID|Submit|Start|End|ElapsedRaw|State").unwrap();
        let job = columns
            .parse_line(
                "5|2026-12-01T10:00:00|2026-12-01T10:00:00|2026-12-01T10:01:30|90|COMPLETED",
            )
            .unwrap()
            .unwrap();
        assert_eq!(job.run_time_s, Some(90.0));
    }

    #[test]
    fn problems_name_the_field() {
        let bad_time = "10|ann|proj|short|normal|soon|1|1||1G|2026-12-01T10:00:00|\
                        Unknown|Unknown|00:00:00|PENDING|sim|/home/ann";
        assert_eq!(
            columns().parse_line(bad_time).unwrap_err().field,
            "Timelimit"
        );
        assert_eq!(columns().parse_line("10|ann").unwrap_err().field, "(row)");
        assert_eq!(
            SacctColumns::from_header("User|State").unwrap_err(),
            MissingColumn("JobID")
        );
    }
}
