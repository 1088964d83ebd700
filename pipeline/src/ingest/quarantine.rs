//! The quarantine file: every rejected input row, with its file, line, field,
//! reason and raw text, so nothing read is ever lost.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use super::partial::PartialFile;
use crate::error::{PipelineError, Result};

/// A row an input reader rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRow {
    /// 1-based line (text) or row (Parquet) number.
    pub line: u64,
    /// The offending field.
    pub field: String,
    /// Why it was rejected.
    pub reason: String,
    /// The row as read (text inputs) or rendered (Parquet inputs).
    pub raw: String,
}

/// Path of the quarantine file that belongs to output `out`:
/// `jobs.parquet` → `jobs.quarantine.csv`.
pub fn quarantine_path_for(out: &Path) -> PathBuf {
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "jobs".into());
    out.with_file_name(format!("{stem}.quarantine.csv"))
}

/// Appends bad rows to a CSV file, created on the first one.
///
/// Like the job table, it is written beside its place and put there by
/// [`Quarantine::finish`], so a failed run leaves the earlier run's pair of
/// files as they were.
#[derive(Debug)]
pub struct Quarantine {
    output: PartialFile,
    writer: Option<csv::Writer<BufWriter<File>>>,
}

impl Quarantine {
    /// A quarantine that [`Quarantine::finish`] puts at `path`.
    pub fn new(path: &Path) -> Self {
        Self {
            output: PartialFile::new(path),
            writer: None,
        }
    }

    /// Records one bad row of `source`.
    pub fn record(&mut self, source: &Path, row: &BadRow) -> Result<()> {
        if self.writer.is_none() {
            let file = self.output.create()?;
            let mut w = csv::Writer::from_writer(BufWriter::new(file));
            w.write_record(["file", "line", "field", "reason", "raw"])
                .map_err(|e| csv_error(self.output.path(), e))?;
            self.writer = Some(w);
        }
        let w = self.writer.as_mut().expect("created above");
        w.write_record([
            source.display().to_string(),
            row.line.to_string(),
            row.field.clone(),
            row.reason.clone(),
            row.raw.clone(),
        ])
        .map_err(|e| csv_error(self.output.path(), e))?;
        Ok(())
    }

    /// Puts the file in place (or removes an earlier run's when no row was
    /// recorded); returns its path if any row was recorded.
    pub fn finish(mut self) -> Result<Option<PathBuf>> {
        let path = self.output.path().to_owned();
        let Some(writer) = self.writer.take() else {
            return match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(PipelineError::io(&path)(e))
                }
                _ => Ok(None),
            };
        };
        let file = writer
            .into_inner()
            .map_err(|e| PipelineError::io(&path)(e.into_error()))?
            .into_inner()
            .map_err(|e| PipelineError::io(&path)(e.into_error()))?;
        self.output.place(&file)?;
        Ok(Some(path))
    }
}

fn csv_error(path: &Path, e: csv::Error) -> PipelineError {
    PipelineError::Io {
        path: path.to_owned(),
        source: std::io::Error::other(e),
    }
}
