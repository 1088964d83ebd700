//! Reader for the Standard Workload Format of the Parallel Workloads Archive
//! (`.swf`, `.swf.gz`): 18 whitespace-separated fields per job, `;` header
//! comments. `UnixStartTime` and `TimeZone` from the header turn the relative
//! times into the cluster's local clock (a fixed offset; SWF gives no DST rule).

use std::io::BufRead;

use super::record::{RowProblem, checked};
use super::{NumberedLines, Row};
use crate::error::Result;
use rtp_jobs::Job;
use rtp_jobs::units::mb_from_kb;

const FIELD_NAMES: [&str; 18] = [
    "job_number",
    "submit_time",
    "wait_time",
    "run_time",
    "allocated_processors",
    "average_cpu_time",
    "used_memory",
    "requested_processors",
    "requested_time",
    "requested_memory",
    "status",
    "user_id",
    "group_id",
    "executable_id",
    "queue_id",
    "partition_id",
    "preceding_job",
    "think_time",
];

/// The processors an SWF file's header declares (`MaxProcs`, else
/// `MaxNodes`), read from its comment lines before the first job.
pub fn declared_processors(path: &std::path::Path) -> Result<Option<u32>> {
    let input = std::io::BufReader::new(super::open_text(path)?);
    let (mut procs, mut nodes) = (None, None);
    for line in input.lines() {
        let line = line.map_err(crate::error::PipelineError::io(path))?;
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        if !trimmed.starts_with(';') {
            break;
        }
        let Some((key, value)) = header_field(trimmed) else {
            continue;
        };
        let value = value.parse::<u32>().ok().filter(|&n| n > 0);
        match key {
            "MaxProcs" => procs = value,
            "MaxNodes" => nodes = value,
            _ => {}
        }
    }
    Ok(procs.or(nodes))
}

/// The key and value of a header comment (`; MaxProcs: 100`), trimmed.
fn header_field(comment: &str) -> Option<(&str, &str)> {
    let (key, value) = comment.trim_start_matches(';').split_once(':')?;
    Some((key.trim(), value.trim()))
}

/// Streams jobs of an SWF file.
pub(crate) struct SwfReader {
    lines: NumberedLines,
    /// Seconds added to SWF's relative times: UnixStartTime + TimeZone.
    epoch_offset: i64,
}

impl SwfReader {
    /// Reads from an already decompressed stream.
    pub fn new(path: &std::path::Path, input: Box<dyn BufRead>) -> Self {
        Self {
            lines: NumberedLines::new(path, input.lines(), 0),
            epoch_offset: 0,
        }
    }

    fn header(&mut self, comment: &str) {
        let Some((key, value)) = header_field(comment) else {
            return;
        };
        match (key, value.parse::<i64>()) {
            ("UnixStartTime", Ok(v)) => self.epoch_offset += v,
            ("TimeZone", Ok(v)) => self.epoch_offset += v,
            _ => {}
        }
    }

    /// The job of a line, and whether its start was assumed (see below).
    fn parse(&self, text: &str) -> Result<(Job, bool), RowProblem> {
        let fields: Vec<&str> = text.split_whitespace().collect();
        if fields.len() != FIELD_NAMES.len() {
            return Err(RowProblem::field_count(FIELD_NAMES.len(), fields.len()));
        }
        let mut v = [0i64; 18];
        for (i, f) in fields.iter().enumerate() {
            // SWF fields are integers; a few logs write averages with decimals.
            v[i] = match f.parse::<i64>() {
                Ok(n) => n,
                Err(_) => match f.parse::<f64>() {
                    Ok(x) if x.is_finite() => x.round() as i64,
                    _ => {
                        return Err(RowProblem::new(
                            FIELD_NAMES[i],
                            format!("not a number: {f:?}"),
                        ));
                    }
                },
            };
        }
        // -1 means unknown; any other negative value is an error.
        if let Some(i) = v.iter().position(|&x| x < -1) {
            return Err(RowProblem::new(
                FIELD_NAMES[i],
                format!("negative value {} (only -1 means unknown)", v[i]),
            ));
        }
        let known = |x: i64| (x >= 0).then_some(x);
        let submit = known(v[1])
            .ok_or_else(|| RowProblem::new("submit_time", "unknown submit time (-1)"))?;
        // Field values are free-form integers; a sum past i64 is no time.
        let overflow = |field: &str| RowProblem::new(field, "time out of range");
        let submit_time = self
            .epoch_offset
            .checked_add(submit)
            .ok_or_else(|| overflow("submit_time"))?;
        let run = known(v[3]);
        // Some logs record no wait (grid logs write -1 for every job) but
        // do know how long a job ran. Such a job is taken to have started
        // at its submit, the earliest it could have: it then ends at the
        // earliest time it could have ended, and its outcome joins history
        // from then on. Ingest counts these jobs apart.
        let assumed_start = known(v[2]).is_none() && run.is_some();
        let wait = if assumed_start { Some(0) } else { known(v[2]) };
        let start_time = wait
            .map(|wait| {
                submit_time
                    .checked_add(wait)
                    .ok_or_else(|| overflow("wait_time"))
            })
            .transpose()?;
        let end_time = start_time
            .zip(run)
            .map(|(s, r)| s.checked_add(r).ok_or_else(|| overflow("run_time")))
            .transpose()?;
        // Some logs write 0 where they recorded no count: no job runs on none.
        let count = |x: i64| known(x).filter(|&n| n > 0);
        let processors = count(v[7]).or(count(v[4]));
        // Requested memory is KB per processor.
        let mem_req_mb = known(v[9])
            .filter(|m| *m > 0)
            .zip(processors)
            .map(|(kb, p)| mb_from_kb(kb as f64 * p as f64));
        let state = match v[10] {
            1 => "COMPLETED",
            0 => "FAILED",
            5 => "CANCELLED",
            2..=4 => "COMPLETED",
            _ => "UNKNOWN",
        };
        let id = |prefix: &str, x: i64| known(x).map(|x| format!("{prefix}{x}"));
        let job = checked(Job {
            job_key: None,
            job_id: v[0].to_string(),
            user: id("user", v[11]),
            account: id("group", v[12]),
            partition: id("partition", v[15]),
            qos: id("queue", v[14]),
            wallclock_req_s: known(v[8]).map(|t| t as f64),
            nodes_req: None,
            processors_req: processors,
            gpus_req: Some(0),
            mem_req_mb,
            submit_time: Some(submit_time),
            start_time,
            end_time,
            run_time_s: run.filter(|_| start_time.is_some()).map(|r| r as f64),
            state: Some(state.into()),
            name: id("exe", v[13]),
            work_dir: None,
        })?;
        Ok((job, assumed_start))
    }
}

impl Iterator for SwfReader {
    type Item = Result<Row>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let (line, text) = match self.lines.next()? {
                Ok(numbered) => numbered,
                Err(e) => return Some(Err(e)),
            };
            let trimmed = text.trim();
            if trimmed.starts_with(';') {
                self.header(trimmed);
                continue;
            }
            return Some(Ok(match self.parse(trimmed) {
                Ok((job, true)) => Row::AssumedStart(job),
                parsed => Row::parsed(line, parsed.map(|(job, _)| job), text),
            }));
        }
    }
}
