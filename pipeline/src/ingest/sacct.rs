//! Reader for Slurm `sacct --parsable2` output: `|`-separated with a header
//! line, Slurm's own duration, memory and state formats. Job steps
//! (`123.batch`, `123.0`, `123.extern`) are not jobs and are skipped.

use std::io::BufRead;
use std::path::Path;

use super::record::{RowProblem, checked};
use super::{NumberedLines, Row};
use crate::error::{PipelineError, Result};
use rtp_jobs::Job;
use rtp_jobs::slurm::{
    BareNumber, MemPer, gpus_from_tres, normalize_state, parse_duration, parse_memory,
};
use rtp_jobs::values::{parse_i64, parse_timestamp};

/// Canonical field → accepted sacct column names, first match wins.
const ALIASES: &[(&str, &[&str])] = &[
    ("job_id", &["jobid", "jobidraw"]),
    ("user", &["user"]),
    ("account", &["account"]),
    ("partition", &["partition"]),
    ("qos", &["qos"]),
    ("timelimit", &["timelimit", "timelimitraw"]),
    ("nodes", &["reqnodes", "nnodes"]),
    ("cpus", &["reqcpus", "ncpus", "alloccpus"]),
    ("tres", &["reqtres", "alloctres"]),
    ("reqmem", &["reqmem"]),
    ("submit", &["submit"]),
    ("start", &["start"]),
    ("end", &["end"]),
    ("elapsed", &["elapsed", "elapsedraw"]),
    ("state", &["state"]),
    ("name", &["jobname"]),
    ("work_dir", &["workdir"]),
];
const REQUIRED: [&str; 3] = ["job_id", "submit", "state"];

/// Streams jobs of a `sacct --parsable2` dump.
pub(crate) struct SacctReader {
    lines: NumberedLines,
    positions: Vec<(Option<usize>, &'static str)>,
    width: usize,
}

impl SacctReader {
    /// Reads the header of `input` and maps its columns.
    pub fn open(path: &Path, input: Box<dyn BufRead>) -> Result<Self> {
        let mut lines = input.lines();
        let header = match lines.next() {
            Some(h) => h.map_err(PipelineError::io(path))?,
            None => {
                return Err(PipelineError::MissingColumn {
                    path: path.to_owned(),
                    column: "JobID (empty file)".into(),
                });
            }
        };
        let names: Vec<String> = header
            .split('|')
            .map(|h| h.trim().to_ascii_lowercase())
            .collect();
        let positions: Vec<(Option<usize>, &'static str)> = ALIASES
            .iter()
            .map(|(field, aliases)| {
                let pos = aliases
                    .iter()
                    .find_map(|a| names.iter().position(|n| n == a));
                (pos, *field)
            })
            .collect();
        for required in REQUIRED {
            if positions.iter().any(|(p, f)| *f == required && p.is_none()) {
                return Err(PipelineError::MissingColumn {
                    path: path.to_owned(),
                    column: ALIASES.iter().find(|(f, _)| *f == required).unwrap().1[0].into(),
                });
            }
        }
        Ok(Self {
            lines: NumberedLines::new(path, lines, 1),
            positions,
            width: names.len(),
        })
    }

    fn parse(&self, fields: &[&str]) -> Result<Option<Job>, RowProblem> {
        let get = |name: &str| {
            self.positions
                .iter()
                .find(|(_, f)| *f == name)
                .and_then(|(p, _)| p.map(|i| fields[i].trim()))
                .filter(|s| !s.is_empty())
        };
        let owned = |name: &str| get(name).map(str::to_owned);
        let job_id = owned("job_id").ok_or_else(|| RowProblem::new("JobID", "missing value"))?;
        if job_id.contains('.') {
            return Ok(None); // a job step, not a job
        }
        let time = |name: &str, label: &str| {
            parse_timestamp(get(name).unwrap_or("")).map_err(|r| RowProblem::new(label, r))
        };
        let duration = |name: &str, label: &str| {
            parse_duration(get(name).unwrap_or(""), BareNumber::Minutes)
                .map_err(|r| RowProblem::new(label, r))
        };
        let int = |name: &str, label: &str| {
            parse_i64(get(name).unwrap_or("")).map_err(|r| RowProblem::new(label, r))
        };
        let nodes = int("nodes", "NNodes")?;
        let cpus = int("cpus", "NCPUS")?;
        let mem_req_mb = match parse_memory(get("reqmem").unwrap_or("")) {
            Ok(Some((mb, MemPer::Node))) => Some(mb * nodes.unwrap_or(1) as f64),
            Ok(Some((mb, MemPer::Cpu))) => Some(mb * cpus.unwrap_or(1) as f64),
            Ok(None) => None,
            Err(r) => return Err(RowProblem::new("ReqMem", r)),
        };
        let gpus = match get("tres") {
            Some(t) => Some(gpus_from_tres(t).map_err(|r| RowProblem::new("ReqTRES", r))?),
            None => None,
        };
        let submit_time =
            time("submit", "Submit")?.ok_or_else(|| RowProblem::new("Submit", "missing value"))?;
        let start_time = time("start", "Start")?;
        let end_time = time("end", "End")?;
        let state = get("state")
            .map(normalize_state)
            .ok_or_else(|| RowProblem::new("State", "missing value"))?;
        // A job that never started reports an elapsed time of zero.
        let run_time_s = duration("elapsed", "Elapsed")?.filter(|_| start_time.is_some());
        checked(Job {
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
        })
        .map(Some)
    }
}

impl Iterator for SacctReader {
    type Item = Result<Row>;

    fn next(&mut self) -> Option<Self::Item> {
        let (line, text) = match self.lines.next()? {
            Ok(numbered) => numbered,
            Err(e) => return Some(Err(e)),
        };
        let fields: Vec<&str> = text.split('|').collect();
        // --parsable2 has no trailing separator; tolerate --parsable's.
        let fields = match fields.last() {
            Some(last) if last.is_empty() && fields.len() == self.width + 1 => {
                &fields[..self.width]
            }
            _ => &fields[..],
        };
        if fields.len() != self.width {
            let problem = RowProblem::field_count(self.width, fields.len());
            return Some(Ok(Row::parsed(line, Err(problem), text)));
        }
        Some(Ok(match self.parse(fields).transpose() {
            None => Row::Skipped,
            Some(parsed) => Row::parsed(line, parsed, text),
        }))
    }
}
