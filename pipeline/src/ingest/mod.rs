//! Ingest: read job records from Eagle (CSV/Parquet), SWF or `sacct` dumps
//! into one canonical job table (Parquet).
//!
//! Every input row ends up in exactly one place: the table, the quarantine
//! file (with file, line, field and reason), or the count of skipped
//! non-job lines (`sacct` job steps). `--strict` turns the first bad row into
//! an error instead.

mod eagle;
mod partial;
mod quarantine;
mod record;
mod sacct;
mod swf;
mod writer;

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::str::FromStr;

pub use quarantine::{BadRow, quarantine_path_for};
pub use record::{RowProblem, checked};
pub use swf::declared_processors;
pub(crate) use writer::cast_to_schema;
pub use writer::{DEFAULT_BATCH_ROWS, JobTableWriter, parquet_properties};

use crate::error::{PipelineError, Result};
use quarantine::Quarantine;
use rtp_jobs::Job;

/// What a reader yields for one input row.
// Almost every row is a job: boxing it would allocate once per row for no gain.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Row {
    /// A valid job.
    Job(Job),
    /// A valid job whose start the input does not record, taken to be its
    /// submit (no wait): the earliest it could have started, so its end is
    /// the earliest it could have ended. Counted apart.
    AssumedStart(Job),
    /// A rejected row.
    Bad(BadRow),
    /// A line that is not a job (e.g. a `sacct` job step).
    Skipped,
}

impl Row {
    /// The row at `line` as parsed: the job, or why it was rejected with its raw text.
    pub fn parsed(line: u64, parsed: std::result::Result<Job, RowProblem>, raw: String) -> Self {
        match parsed {
            Ok(job) => Self::Job(job),
            Err(problem) => Self::Bad(BadRow {
                line,
                field: problem.field,
                reason: problem.reason,
                raw,
            }),
        }
    }
}

/// Input formats `rtp ingest` understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum InputFormat {
    /// Decide per file from its name and first line.
    Auto,
    /// NREL Eagle CSV or Parquet.
    Eagle,
    /// Standard Workload Format (optionally gzipped).
    Swf,
    /// Slurm `sacct --parsable2`.
    Sacct,
}

impl FromStr for InputFormat {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "eagle" => Ok(Self::Eagle),
            "swf" => Ok(Self::Swf),
            "sacct" => Ok(Self::Sacct),
            other => Err(format!(
                "unknown format {other:?}: use auto, eagle, swf or sacct"
            )),
        }
    }
}

impl std::fmt::Display for InputFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Auto => "auto",
            Self::Eagle => "eagle",
            Self::Swf => "swf",
            Self::Sacct => "sacct",
        })
    }
}

/// How to ingest.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Input format (or auto-detection).
    pub format: InputFormat,
    /// Fail on the first bad row instead of quarantining it.
    pub strict: bool,
    /// Rows per batch written (and read, for Parquet inputs).
    pub batch_rows: usize,
}

impl Default for IngestOptions {
    fn default() -> Self {
        Self {
            format: InputFormat::Auto,
            strict: false,
            batch_rows: DEFAULT_BATCH_ROWS,
        }
    }
}

/// Counts for one input file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSummary {
    /// The input.
    pub path: PathBuf,
    /// The format it was read as.
    pub format: InputFormat,
    /// Jobs written to the table.
    pub kept: u64,
    /// Rows sent to quarantine.
    pub quarantined: u64,
    /// Non-job lines skipped.
    pub skipped: u64,
    /// Jobs kept whose start was not recorded, taken to start at submit.
    pub assumed_start: u64,
}

/// What an ingest run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestSummary {
    /// Per-input counts.
    pub files: Vec<FileSummary>,
    /// The canonical table written.
    pub output: PathBuf,
    /// The quarantine file, when any row was rejected.
    pub quarantine: Option<PathBuf>,
}

impl IngestSummary {
    /// Jobs written.
    pub fn kept(&self) -> u64 {
        self.files.iter().map(|f| f.kept).sum()
    }

    /// Rows quarantined.
    pub fn quarantined(&self) -> u64 {
        self.files.iter().map(|f| f.quarantined).sum()
    }

    /// Jobs whose unrecorded start was taken to be their submit.
    pub fn assumed_start(&self) -> u64 {
        self.files.iter().map(|f| f.assumed_start).sum()
    }
}

/// Reads `inputs` into the canonical job table at `out`.
pub fn ingest(inputs: &[PathBuf], out: &Path, options: &IngestOptions) -> Result<IngestSummary> {
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(PipelineError::io(parent))?;
    }
    let mut writer = JobTableWriter::create(out, options.batch_rows)?;
    let mut quarantine = Quarantine::new(&quarantine_path_for(out));
    let mut files = Vec::with_capacity(inputs.len());
    for path in inputs {
        let format = match options.format {
            InputFormat::Auto => detect_format(path)?,
            f => f,
        };
        let mut summary = FileSummary {
            path: path.clone(),
            format,
            kept: 0,
            quarantined: 0,
            skipped: 0,
            assumed_start: 0,
        };
        for row in open_reader(path, format, options.batch_rows)? {
            match row? {
                Row::Job(job) => {
                    writer.push(&job)?;
                    summary.kept += 1;
                }
                Row::AssumedStart(job) => {
                    writer.push(&job)?;
                    summary.kept += 1;
                    summary.assumed_start += 1;
                }
                Row::Bad(bad) if options.strict => {
                    return Err(PipelineError::BadRow {
                        path: path.clone(),
                        line: bad.line,
                        field: bad.field,
                        reason: bad.reason,
                    });
                }
                Row::Bad(bad) => {
                    quarantine.record(path, &bad)?;
                    summary.quarantined += 1;
                }
                Row::Skipped => summary.skipped += 1,
            }
        }
        tracing::info!(
            path = %path.display(),
            %format,
            kept = summary.kept,
            quarantined = summary.quarantined,
            skipped = summary.skipped,
            "ingested"
        );
        files.push(summary);
    }
    writer.finish()?;
    Ok(IngestSummary {
        files,
        output: out.to_owned(),
        quarantine: quarantine.finish()?,
    })
}

type RowIter = Box<dyn Iterator<Item = Result<Row>>>;

/// The non-blank lines of a text input with their 1-based line numbers.
pub(crate) struct NumberedLines {
    lines: std::io::Lines<Box<dyn BufRead>>,
    path: PathBuf,
    line: u64,
}

impl NumberedLines {
    /// Numbers the lines of `input`, whose first `skipped` lines were already read.
    pub(crate) fn new(path: &Path, lines: std::io::Lines<Box<dyn BufRead>>, skipped: u64) -> Self {
        Self {
            lines,
            path: path.to_owned(),
            line: skipped,
        }
    }
}

impl Iterator for NumberedLines {
    type Item = Result<(u64, String)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let text = match self.lines.next()? {
                Ok(t) => t,
                Err(e) => {
                    return Some(Err(PipelineError::Unreadable {
                        path: self.path.clone(),
                        line: self.line + 1,
                        reason: e.to_string(),
                    }));
                }
            };
            self.line += 1;
            if !text.trim().is_empty() {
                return Some(Ok((self.line, text)));
            }
        }
    }
}

fn open_reader(path: &Path, format: InputFormat, batch_rows: usize) -> Result<RowIter> {
    let is_parquet = path.extension().is_some_and(|e| e == "parquet");
    Ok(match format {
        InputFormat::Eagle if is_parquet => {
            Box::new(eagle::EagleParquetReader::open(path, batch_rows)?)
        }
        InputFormat::Eagle => Box::new(eagle::EagleCsvReader::open(path, open_text(path)?)?),
        InputFormat::Swf => Box::new(swf::SwfReader::new(
            path,
            Box::new(BufReader::new(open_text(path)?)),
        )),
        InputFormat::Sacct => Box::new(sacct::SacctReader::open(
            path,
            Box::new(BufReader::new(open_text(path)?)),
        )?),
        InputFormat::Auto => unreachable!("resolved before opening"),
    })
}

/// Opens a text input, transparently gunzipping `*.gz`.
pub(crate) fn open_text(path: &Path) -> Result<Box<dyn Read>> {
    let file = File::open(path).map_err(PipelineError::io(path))?;
    let reader = BufReader::with_capacity(1 << 16, file);
    Ok(if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::MultiGzDecoder::new(reader))
    } else {
        Box::new(reader)
    })
}

/// Picks a format from the file name, then from the first line.
pub fn detect_format(path: &Path) -> Result<InputFormat> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    if name.ends_with(".parquet") {
        return Ok(InputFormat::Eagle);
    }
    if name.ends_with(".swf") {
        return Ok(InputFormat::Swf);
    }
    let mut first = String::new();
    BufReader::new(open_text(path)?)
        .read_line(&mut first)
        .map_err(PipelineError::io(path))?;
    let lower = first.to_ascii_lowercase();
    if lower.contains('|') && lower.contains("jobid") {
        Ok(InputFormat::Sacct)
    } else if lower.contains("job_id") && lower.contains("submit_time") {
        Ok(InputFormat::Eagle)
    } else if first.trim_start().starts_with(';') {
        Ok(InputFormat::Swf)
    } else {
        Err(PipelineError::UnknownFormat {
            path: path.to_owned(),
        })
    }
}
