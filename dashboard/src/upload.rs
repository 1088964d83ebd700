//! Uploaded job CSV files, with the column names of the NREL Eagle data set
//! (the downloadable template lists them). Each row is checked on its own:
//! a bad row is reported with its line number and field and set aside, the
//! rest are scored. A missing required column fails the whole file.

use arrow_array::RecordBatch;
use rtp_jobs::schema::col;
use rtp_jobs::slurm::{BareNumber, parse_duration};
use rtp_jobs::values::{parse_f64, parse_i64, parse_timestamp};
use rtp_jobs::{Job, Purpose, jobs_batch};

use crate::error::DashboardError;

/// Columns read from an upload, in template order.
pub const COLUMNS: [&str; 13] = rtp_jobs::eagle::REQUEST_COLUMNS;

/// Columns every upload must have.
pub const REQUIRED: [&str; 3] = ["wallclock_req", "nodes_req", "processors_req"];

/// Eagle columns describing what happened to a job, or unused; accepted
/// (so an Eagle export uploads as it is) but never read: a job being
/// predicted has not run.
pub const OUTCOME_COLUMNS: [&str; 5] = {
    let [start, end, run, state] = rtp_jobs::eagle::OUTCOME_COLUMNS;
    let [submit_line] = rtp_jobs::eagle::UNUSED_COLUMNS;
    [start, end, run, state, submit_line]
};

/// The downloadable template: the header and two example rows.
pub fn template_csv() -> String {
    let mut out = COLUMNS.join(",");
    out.push('\n');
    out.push_str("1001,alice,proj01,standard,normal,172800,2,72,0,0,2026-11-02 09:15:00,relax,/scratch/alice/relax\n");
    out.push_str("1002,bob,proj02,gpu,high,01:30:00,1,36,2,96000,2026-11-02 09:20:00,train,/scratch/bob/train\n");
    out
}

/// One valid row: the job it describes, checked by the rules every
/// surface shares.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadedJob {
    /// Line of the file (the header is line 1); also the job's key.
    pub line: usize,
    /// The job, in canonical units.
    pub job: Job,
}

impl UploadedJob {
    /// Requested nodes (present: the rules require it).
    pub fn nodes(&self) -> i64 {
        self.job.nodes_req.unwrap_or_default()
    }

    /// Requested wallclock, seconds (present: the rules require it).
    pub fn wallclock_req_s(&self) -> f64 {
        self.job.wallclock_req_s.unwrap_or(f64::NAN)
    }
}

/// A row that could not be read.
#[derive(Debug, Clone, PartialEq)]
pub struct RowError {
    /// Line of the file.
    pub line: usize,
    /// The row's `job_id`, when it has one.
    pub job_id: String,
    /// `field: reason`.
    pub message: String,
}

/// A parsed upload.
#[derive(Debug, Default)]
pub struct ParsedUpload {
    /// Valid rows, in file order.
    pub jobs: Vec<UploadedJob>,
    /// Invalid rows, in file order.
    pub invalid: Vec<RowError>,
    /// Header columns that are neither read nor known outcome columns.
    pub unknown_columns: Vec<String>,
}

/// Reads an upload. `now_s` is the submit time of rows without one.
pub fn parse(bytes: &[u8], now_s: i64) -> Result<ParsedUpload, DashboardError> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| DashboardError::Invalid(format!("line 1 (header): {e}")))?
        .iter()
        .map(str::to_owned)
        .collect();
    if header.iter().all(String::is_empty) {
        return Err(DashboardError::Invalid("the file is empty".into()));
    }
    let index = |name: &str| header.iter().position(|h| h == name);
    let missing: Vec<&str> = REQUIRED
        .into_iter()
        .filter(|c| index(c).is_none())
        .collect();
    if !missing.is_empty() {
        return Err(DashboardError::Invalid(format!(
            "line 1 (header): missing required column{} {}; the template lists every column",
            if missing.len() > 1 { "s" } else { "" },
            missing.join(", ")
        )));
    }
    let positions: Vec<Option<usize>> = COLUMNS.iter().map(|c| index(c)).collect();
    let mut upload = ParsedUpload {
        unknown_columns: header
            .iter()
            .filter(|h| !COLUMNS.contains(&h.as_str()) && !OUTCOME_COLUMNS.contains(&h.as_str()))
            .cloned()
            .collect(),
        ..Default::default()
    };
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line() as usize);
                upload.invalid.push(RowError {
                    line,
                    job_id: String::new(),
                    message: format!("unreadable row: {e}"),
                });
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line() as usize);
        if record.iter().all(str::is_empty) {
            continue;
        }
        let value = |column: usize| {
            positions[column]
                .and_then(|i| record.get(i))
                .filter(|v| !v.is_empty())
        };
        let job_id = value(0).unwrap_or_default().to_owned();
        if record.len() != header.len() {
            upload.invalid.push(RowError {
                line,
                job_id,
                message: format!("{} fields, the header has {}", record.len(), header.len()),
            });
            continue;
        }
        match job_from(line, &value, now_s) {
            Ok(job) => upload.jobs.push(job),
            Err(message) => upload.invalid.push(RowError {
                line,
                job_id,
                message,
            }),
        }
    }
    if upload.jobs.is_empty() && upload.invalid.is_empty() {
        return Err(DashboardError::Invalid(
            "the file has a header but no rows".into(),
        ));
    }
    Ok(upload)
}

/// The upload's name of a canonical job column (Eagle's spelling).
fn upload_name(column: &'static str) -> String {
    match column {
        col::WALLCLOCK_REQ_S => "wallclock_req",
        col::MEM_REQ_MB => "mem_req",
        other => other,
    }
    .to_owned()
}

fn job_from<'a>(
    line: usize,
    value: &dyn Fn(usize) -> Option<&'a str>,
    now_s: i64,
) -> Result<UploadedJob, String> {
    let text = |i: usize| value(i).map(str::to_owned);
    let read = |i: usize, parse: fn(&str) -> Result<Option<i64>, String>| {
        parse(value(i).unwrap_or_default()).map_err(|reason| format!("{}: {reason}", COLUMNS[i]))
    };
    // Eagle's `wallclock_req` holds seconds; Slurm's formats are taken too.
    let wallclock_req_s = parse_duration(value(5).unwrap_or_default(), BareNumber::Seconds)
        .map_err(|reason| format!("wallclock_req: {reason}"))?;
    let mem_req_mb = parse_f64(value(9).unwrap_or_default())
        .map_err(|reason| format!("mem_req: {reason} (MB)"))?;
    let job = Job {
        job_key: Some(line as i64),
        job_id: value(0).unwrap_or_default().to_owned(),
        user: text(1),
        account: text(2),
        partition: text(3),
        qos: text(4),
        wallclock_req_s,
        nodes_req: read(6, parse_i64)?,
        processors_req: read(7, parse_i64)?,
        gpus_req: Some(read(8, parse_i64)?.unwrap_or(0)),
        mem_req_mb,
        submit_time: Some(read(10, parse_timestamp)?.unwrap_or(now_s)),
        name: text(11),
        work_dir: text(12),
        ..Job::default()
    };
    let job = job
        .validated(Purpose::Scoring)
        .map_err(|problems| problems.describe(upload_name))?;
    Ok(UploadedJob { line, job })
}

/// The valid rows in the canonical job columns the Flight server reads;
/// `job_key` is the file line, so scored rows find their way back.
pub fn to_batch(jobs: &[UploadedJob]) -> RecordBatch {
    jobs_batch(jobs.iter().map(|j| &j.job)).expect("every column of an upload is nullable")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_parses_cleanly() {
        let upload = parse(template_csv().as_bytes(), 0).unwrap();
        assert_eq!(upload.jobs.len(), 2);
        assert!(upload.invalid.is_empty());
        assert_eq!(upload.jobs[1].wallclock_req_s(), 5400.0);
        assert_eq!(upload.jobs[1].job.mem_req_mb, Some(96_000.0));
        assert_eq!(upload.jobs[0].job.mem_req_mb, None);
        assert_eq!(upload.jobs[0].line, 2);
        let batch = to_batch(&upload.jobs);
        assert_eq!(batch.num_rows(), 2);
    }

    #[test]
    fn bad_rows_are_named_by_line_and_field_and_the_rest_kept() {
        let csv = "job_id,nodes_req,processors_req,wallclock_req,state,extra\n\
                   a,1,36,3600,COMPLETED,x\n\
                   b,0,36,3600,COMPLETED,x\n\
                   c,1,36,soon,COMPLETED,x\n\
                   d,1,36\n\
                   e,2,72,2-00:00:00,FAILED,x\n";
        let upload = parse(csv.as_bytes(), 1_800_000_000).unwrap();
        let lines: Vec<usize> = upload.jobs.iter().map(|j| j.line).collect();
        assert_eq!(lines, vec![2, 6]);
        assert_eq!(upload.jobs[0].job.submit_time, Some(1_800_000_000));
        let errors: Vec<(usize, &str)> = upload
            .invalid
            .iter()
            .map(|e| (e.line, e.message.as_str()))
            .collect();
        assert_eq!(errors[0], (3, "nodes_req: must be at least 1 (got 0)"));
        assert_eq!(errors[1].0, 4);
        assert!(errors[1].1.starts_with("wallclock_req:"), "{}", errors[1].1);
        assert_eq!(errors[2], (5, "3 fields, the header has 6"));
        assert_eq!(upload.invalid[2].job_id, "d");
        assert_eq!(upload.unknown_columns, vec!["extra".to_owned()]);
    }

    #[test]
    fn a_missing_required_column_fails_the_file() {
        let err = parse(b"job_id,nodes_req\n1,2\n", 0)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("processors_req") && err.contains("wallclock_req"),
            "{err}"
        );
        assert!(parse(b"", 0).is_err());
    }

    #[test]
    fn eagle_rows_read_as_they_are() {
        let Some(path) = test_support::shared_data("eagle_sample.csv") else {
            eprintln!("skipped: ../shared/data/eagle_sample.csv is not present");
            return;
        };
        let bytes = std::fs::read(path).unwrap();
        let upload = parse(&bytes, 0).unwrap();
        assert_eq!(upload.jobs.len() + upload.invalid.len(), 1000);
        assert!(upload.invalid.is_empty(), "{:?}", &upload.invalid[..1]);
        assert!(upload.unknown_columns.is_empty());
    }
}
