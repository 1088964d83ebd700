//! The quarantine file: every rejected input row, with its file, line, field,
//! reason and raw text, so nothing read is ever lost.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

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
#[derive(Debug)]
pub struct Quarantine {
    path: PathBuf,
    writer: Option<csv::Writer<BufWriter<File>>>,
}

impl Quarantine {
    /// A quarantine at `path`; a stale file from an earlier run is removed.
    pub fn new(path: PathBuf) -> Result<Self> {
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(PipelineError::io(&path)(e)),
        }
        Ok(Self { path, writer: None })
    }

    /// Records one bad row of `source`.
    pub fn record(&mut self, source: &Path, row: &BadRow) -> Result<()> {
        if self.writer.is_none() {
            let file = File::create(&self.path).map_err(PipelineError::io(&self.path))?;
            let mut w = csv::Writer::from_writer(BufWriter::new(file));
            w.write_record(["file", "line", "field", "reason", "raw"])
                .map_err(|e| csv_error(&self.path, e))?;
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
        .map_err(|e| csv_error(&self.path, e))?;
        Ok(())
    }

    /// Flushes; returns the file's path if any row was recorded.
    pub fn finish(self) -> Result<Option<PathBuf>> {
        match self.writer {
            Some(mut w) => {
                w.flush().map_err(PipelineError::io(&self.path))?;
                Ok(Some(self.path))
            }
            None => Ok(None),
        }
    }
}

fn csv_error(path: &Path, e: csv::Error) -> PipelineError {
    PipelineError::Io {
        path: path.to_owned(),
        source: std::io::Error::other(e),
    }
}
