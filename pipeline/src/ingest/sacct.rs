//! Reader for Slurm `sacct --parsable2` dumps: each line read by
//! [`rtp_jobs::sacct`] (the reading a server's follower shares), then
//! checked as a history record. Job steps are skipped.

use std::io::BufRead;
use std::path::Path;

use super::record::{RowProblem, checked};
use super::{NumberedLines, Row};
use crate::error::{PipelineError, Result};
use rtp_jobs::sacct::SacctColumns;

/// Streams jobs of a `sacct --parsable2` dump.
pub(crate) struct SacctReader {
    lines: NumberedLines,
    columns: SacctColumns,
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
        let columns =
            SacctColumns::from_header(&header).map_err(|e| PipelineError::MissingColumn {
                path: path.to_owned(),
                column: e.0.into(),
            })?;
        Ok(Self {
            lines: NumberedLines::new(path, lines, 1),
            columns,
        })
    }
}

impl Iterator for SacctReader {
    type Item = Result<Row>;

    fn next(&mut self) -> Option<Self::Item> {
        let (line, text) = match self.lines.next()? {
            Ok(numbered) => numbered,
            Err(e) => return Some(Err(e)),
        };
        let parsed = match self.columns.parse_line(&text) {
            Ok(None) => return Some(Ok(Row::Skipped)),
            Ok(Some(job)) => checked(job),
            Err(problem) => Err(RowProblem::new(problem.field, problem.reason)),
        };
        Some(Ok(Row::parsed(line, parsed, text)))
    }
}
