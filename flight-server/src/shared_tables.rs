//! Scale-out over replicas: Parquet job tables in a directory every replica
//! mounts (`scale_out.shared_dir`) are scored by all of them at once, with
//! Flight's own multi-endpoint model. `GetFlightInfo` for
//! `["shared", FILE]` splits the file's row groups into one contiguous,
//! disjoint range per replica (this server, then its `peers`) and returns
//! one endpoint per range, located at that replica; a client fetches the
//! endpoints in parallel and every row is scored exactly once.
//!
//! Each range is scored as its own submission sequence: jobs of one range
//! see the earlier jobs of that range as pending, not those of other ranges.

use std::fs::File;
use std::path::{Component, Path, PathBuf};

use arrow_flight::{FlightEndpoint, Ticket};
use datafusion::parquet::arrow::arrow_reader::{
    ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder,
};
use serde::{Deserialize, Serialize};
use tonic::Status;

/// First element of a shared table's descriptor path.
pub const SHARED: &str = "shared";
/// Prefix of tickets for a range of a shared table.
pub const TICKET_PREFIX: &[u8] = b"shared:";
/// Rows per scored batch read from the file.
const READ_ROWS: usize = 8192;

/// A range of row groups of a shared table, as a ticket carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedRange {
    /// File name inside the shared directory.
    pub file: String,
    /// First row group.
    pub first: usize,
    /// One past the last row group.
    pub end: usize,
}

impl SharedRange {
    /// The ticket for this range.
    pub fn ticket(&self) -> Ticket {
        let mut bytes = TICKET_PREFIX.to_vec();
        bytes.extend(serde_json::to_vec(self).expect("a range serializes"));
        Ticket::new(bytes)
    }

    /// The range a ticket names, if it is a shared-table ticket.
    pub fn from_ticket(ticket: &[u8]) -> Option<Result<Self, Status>> {
        let body = ticket.strip_prefix(TICKET_PREFIX)?;
        Some(
            serde_json::from_slice(body).map_err(|e| {
                Status::invalid_argument(format!("malformed shared-table ticket: {e}"))
            }),
        )
    }
}

/// The shared directory and the replicas that read it.
#[derive(Debug, Clone)]
pub struct SharedTables {
    /// The directory; `None` when scale-out is not configured.
    pub dir: Option<PathBuf>,
    /// Locations of every replica, this one first.
    pub replicas: Vec<String>,
}

impl SharedTables {
    /// The file `name` names inside the shared directory. Only plain file
    /// names are accepted: a client cannot reach outside the directory.
    pub fn resolve(&self, name: &str) -> Result<PathBuf, Status> {
        let dir = self.dir.as_ref().ok_or_else(|| {
            Status::failed_precondition("this server has no scale_out.shared_dir")
        })?;
        let plain = Path::new(name)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
            && !name.contains('/');
        if name.is_empty() || !plain {
            return Err(Status::invalid_argument(format!(
                "shared table {name:?}: give a file name inside the shared directory"
            )));
        }
        let path = dir.join(name);
        if !path.is_file() {
            return Err(Status::not_found(format!(
                "no shared table `{name}` in {}",
                dir.display()
            )));
        }
        Ok(path)
    }

    /// One endpoint per replica with a non-empty range of `name`'s row
    /// groups; returns them with the file's total rows.
    pub fn plan(&self, name: &str) -> Result<(Vec<FlightEndpoint>, i64, bool), Status> {
        let path = self.resolve(name)?;
        let builder = open(&path)?;
        let metadata = builder.metadata().clone();
        let groups = metadata.num_row_groups();
        let rows = metadata.file_metadata().num_rows();
        let has_job_id = builder.schema().column_with_name("job_id").is_some();
        let n = self.replicas.len().max(1);
        let endpoints = (0..n)
            .map(|i| (i * groups / n, (i + 1) * groups / n, i))
            .filter(|(first, end, _)| first < end)
            .map(|(first, end, i)| {
                let range = SharedRange {
                    file: name.to_owned(),
                    first,
                    end,
                };
                FlightEndpoint::new()
                    .with_ticket(range.ticket())
                    .with_location(self.replicas[i].clone())
            })
            .collect();
        Ok((endpoints, rows, has_job_id))
    }

    /// A reader of `range`'s row groups.
    pub fn read(&self, range: &SharedRange) -> Result<ParquetRecordBatchReader, Status> {
        let path = self.resolve(&range.file)?;
        let builder = open(&path)?;
        let groups = builder.metadata().num_row_groups();
        if range.first >= range.end || range.end > groups {
            return Err(Status::invalid_argument(format!(
                "row groups {}..{} are not in {} ({groups} row groups)",
                range.first, range.end, range.file
            )));
        }
        builder
            .with_row_groups((range.first..range.end).collect())
            .with_batch_size(READ_ROWS)
            .build()
            .map_err(|e| Status::internal(format!("reading {}: {e}", path.display())))
    }
}

fn open(path: &Path) -> Result<ParquetRecordBatchReaderBuilder<File>, Status> {
    let file =
        File::open(path).map_err(|e| Status::internal(format!("{}: {e}", path.display())))?;
    ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| {
        Status::invalid_argument(format!("{} is not a Parquet file: {e}", path.display()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_round_trip_and_names_stay_inside_the_directory() {
        let range = SharedRange {
            file: "jobs.parquet".into(),
            first: 2,
            end: 5,
        };
        let ticket = range.ticket();
        assert_eq!(
            SharedRange::from_ticket(&ticket.ticket).unwrap().unwrap(),
            range
        );
        assert!(SharedRange::from_ticket(b"march").is_none());
        let dir = tempfile::tempdir().unwrap();
        let tables = SharedTables {
            dir: Some(dir.path().to_owned()),
            replicas: vec!["grpc://a:1".into()],
        };
        for bad in ["../etc/passwd", "/etc/passwd", "a/b.parquet", ""] {
            assert_eq!(
                tables.resolve(bad).unwrap_err().code(),
                tonic::Code::InvalidArgument,
                "{bad}"
            );
        }
        assert_eq!(
            tables.resolve("none.parquet").unwrap_err().code(),
            tonic::Code::NotFound
        );
    }
}
