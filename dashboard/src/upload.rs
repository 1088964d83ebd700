//! Uploaded job CSV files, with the column names of the NREL Eagle data set
//! (the downloadable template lists them). Each row is checked on its own:
//! a bad row is reported with its line number and field and set aside, the
//! rest are scored. A missing required column fails the whole file.

use std::sync::Arc;

use arrow_array::{
    ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampSecondArray,
};
use arrow_schema::{DataType, Field, Schema, TimeUnit};

use crate::error::DashboardError;
use crate::wallclock::parse_wallclock;

/// Columns read from an upload, in template order.
pub const COLUMNS: [&str; 13] = [
    "job_id",
    "user",
    "account",
    "partition",
    "qos",
    "wallclock_req",
    "nodes_req",
    "processors_req",
    "gpus_req",
    "mem_req",
    "submit_time",
    "name",
    "work_dir",
];

/// Columns every upload must have.
pub const REQUIRED: [&str; 3] = ["wallclock_req", "nodes_req", "processors_req"];

/// Eagle columns describing what happened to a job; accepted (so an Eagle
/// export uploads as it is) but never read: a job being predicted has not run.
pub const OUTCOME_COLUMNS: [&str; 5] =
    ["start_time", "end_time", "run_time", "state", "submit_line"];

/// The downloadable template: the header and two example rows.
pub fn template_csv() -> String {
    let mut out = COLUMNS.join(",");
    out.push('\n');
    out.push_str("1001,alice,proj01,standard,normal,172800,2,72,0,0,2026-11-02 09:15:00,relax,/scratch/alice/relax\n");
    out.push_str("1002,bob,proj02,gpu,high,01:30:00,1,36,2,96000,2026-11-02 09:20:00,train,/scratch/bob/train\n");
    out
}

/// One valid row.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadedJob {
    /// Line of the file (the header is line 1).
    pub line: usize,
    /// `job_id`.
    pub job_id: String,
    /// `user`.
    pub user: Option<String>,
    /// `account`.
    pub account: Option<String>,
    /// `partition`.
    pub partition: Option<String>,
    /// `qos`.
    pub qos: Option<String>,
    /// Requested wallclock, seconds.
    pub wallclock_req_s: f64,
    /// Requested nodes.
    pub nodes: i64,
    /// Requested processors.
    pub processors: i64,
    /// Requested GPUs.
    pub gpus: i64,
    /// Requested memory, MB; `None` when 0 or absent (not given).
    pub mem_mb: Option<f64>,
    /// Submit time, epoch seconds (upload time when absent).
    pub submit_s: i64,
    /// `name`.
    pub name: Option<String>,
    /// `work_dir`.
    pub work_dir: Option<String>,
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

fn job_from<'a>(
    line: usize,
    value: &dyn Fn(usize) -> Option<&'a str>,
    now_s: i64,
) -> Result<UploadedJob, String> {
    let text = |i: usize| value(i).map(str::to_owned);
    let count = |i: usize, min: i64| -> Result<Option<i64>, String> {
        let Some(v) = value(i) else { return Ok(None) };
        // Eagle writes some counts as floats ("10.0").
        let parsed = v
            .parse::<i64>()
            .ok()
            .or_else(|| {
                v.parse::<f64>()
                    .ok()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 1e15)
                    .map(|f| f as i64)
            })
            .ok_or_else(|| format!("{}: {v:?} is not a whole number", COLUMNS[i]))?;
        if parsed < min {
            return Err(format!(
                "{}: must be at least {min} (got {parsed})",
                COLUMNS[i]
            ));
        }
        Ok(Some(parsed))
    };
    let required = |i: usize| -> Result<i64, String> {
        count(i, 1)?.ok_or_else(|| format!("{}: missing (must be at least 1)", COLUMNS[i]))
    };
    let wallclock_req_s = parse_wallclock(value(5).unwrap_or_default())
        .map_err(|reason| format!("wallclock_req: {reason}"))?;
    let nodes = required(6)?;
    let processors = required(7)?;
    let gpus = count(8, 0)?.unwrap_or(0);
    let mem_mb = match value(9) {
        None => None,
        Some(v) => {
            let mb: f64 = v
                .parse()
                .ok()
                .filter(|m: &f64| m.is_finite())
                .ok_or_else(|| format!("mem_req: {v:?} is not a number of MB"))?;
            if mb < 0.0 {
                return Err(format!("mem_req: must not be negative (got {v})"));
            }
            (mb > 0.0).then_some(mb)
        }
    };
    let submit_s = match value(10) {
        None => now_s,
        Some(v) => parse_time(v).ok_or_else(|| {
            format!("submit_time: {v:?} is not a time (YYYY-MM-DD HH:MM:SS or epoch seconds)")
        })?,
    };
    Ok(UploadedJob {
        line,
        job_id: value(0).unwrap_or_default().to_owned(),
        user: text(1),
        account: text(2),
        partition: text(3),
        qos: text(4),
        wallclock_req_s,
        nodes,
        processors,
        gpus,
        mem_mb,
        submit_s,
        name: text(11),
        work_dir: text(12),
    })
}

/// `YYYY-MM-DD HH:MM:SS` (or with `T`), on the cluster's clock, or epoch
/// seconds.
fn parse_time(text: &str) -> Option<i64> {
    if let Ok(epoch) = text.parse::<i64>() {
        return Some(epoch);
    }
    ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|f| chrono::NaiveDateTime::parse_from_str(text, f).ok())
        .map(|t| t.and_utc().timestamp())
}

/// The valid rows in the canonical job columns the Flight server reads;
/// `job_key` is the file line, so scored rows find their way back.
pub fn to_batch(jobs: &[UploadedJob]) -> RecordBatch {
    let strings = |f: &dyn Fn(&UploadedJob) -> Option<&str>| -> ArrayRef {
        Arc::new(jobs.iter().map(f).collect::<StringArray>())
    };
    let schema = Schema::new(vec![
        Field::new("job_key", DataType::Int64, false),
        Field::new("job_id", DataType::Utf8, true),
        Field::new("user", DataType::Utf8, true),
        Field::new("account", DataType::Utf8, true),
        Field::new("partition", DataType::Utf8, true),
        Field::new("qos", DataType::Utf8, true),
        Field::new("wallclock_req_s", DataType::Float64, true),
        Field::new("nodes_req", DataType::Int64, true),
        Field::new("processors_req", DataType::Int64, true),
        Field::new("gpus_req", DataType::Int64, true),
        Field::new("mem_req_mb", DataType::Float64, true),
        Field::new(
            "submit_time",
            DataType::Timestamp(TimeUnit::Second, None),
            true,
        ),
        Field::new("name", DataType::Utf8, true),
        Field::new("work_dir", DataType::Utf8, true),
    ]);
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(
            jobs.iter().map(|j| j.line as i64),
        )),
        strings(&|j| Some(j.job_id.as_str())),
        strings(&|j| j.user.as_deref()),
        strings(&|j| j.account.as_deref()),
        strings(&|j| j.partition.as_deref()),
        strings(&|j| j.qos.as_deref()),
        Arc::new(Float64Array::from_iter_values(
            jobs.iter().map(|j| j.wallclock_req_s),
        )),
        Arc::new(Int64Array::from_iter_values(jobs.iter().map(|j| j.nodes))),
        Arc::new(Int64Array::from_iter_values(
            jobs.iter().map(|j| j.processors),
        )),
        Arc::new(Int64Array::from_iter_values(jobs.iter().map(|j| j.gpus))),
        Arc::new(jobs.iter().map(|j| j.mem_mb).collect::<Float64Array>()),
        Arc::new(TimestampSecondArray::from_iter_values(
            jobs.iter().map(|j| j.submit_s),
        )),
        strings(&|j| j.name.as_deref()),
        strings(&|j| j.work_dir.as_deref()),
    ];
    RecordBatch::try_new(Arc::new(schema), columns).expect("columns match the schema")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_parses_cleanly() {
        let upload = parse(template_csv().as_bytes(), 0).unwrap();
        assert_eq!(upload.jobs.len(), 2);
        assert!(upload.invalid.is_empty());
        assert_eq!(upload.jobs[1].wallclock_req_s, 5400.0);
        assert_eq!(upload.jobs[1].mem_mb, Some(96_000.0));
        assert_eq!(upload.jobs[0].mem_mb, None);
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
        assert_eq!(upload.jobs[0].submit_s, 1_800_000_000);
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
