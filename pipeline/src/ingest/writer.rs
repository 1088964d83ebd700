//! Writes job records to a canonical job table (Parquet) in bounded memory:
//! rows are buffered into Arrow builders and flushed one batch at a time.

use std::fs::File;
use std::path::Path;

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::error::ArrowError;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::WriterProperties;
use rtp_jobs::schema::stored_job_schema;
use rtp_jobs::{Job, JobBatchBuilder};

use super::partial::PartialFile;
use crate::error::{PipelineError, Result};

/// Rows buffered before a batch is handed to the Parquet writer.
pub const DEFAULT_BATCH_ROWS: usize = 65_536;

/// Parquet writer properties used for every table the pipeline writes.
pub fn parquet_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(1 << 20))
        .build()
}

/// Streams [`Job`]s into a canonical job table, assigning `job_key`s in
/// arrival order.
///
/// Rows go to a hidden file beside the table, renamed over it only by
/// [`JobTableWriter::finish`]: a run that fails leaves an earlier table as it
/// was and no partial one behind.
pub struct JobTableWriter {
    output: PartialFile,
    writer: ArrowWriter<File>,
    rows: JobBatchBuilder,
    buffered: usize,
    batch_rows: usize,
    next_key: i64,
}

impl std::fmt::Debug for JobTableWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobTableWriter")
            .field("path", &self.output.path())
            .field("rows", &self.next_key)
            .finish()
    }
}

impl JobTableWriter {
    /// Starts the table that [`JobTableWriter::finish`] puts at `path`.
    pub fn create(path: &Path, batch_rows: usize) -> Result<Self> {
        let output = PartialFile::new(path);
        let writer = ArrowWriter::try_new(
            output.create()?,
            stored_job_schema(),
            Some(parquet_properties()),
        )
        .map_err(PipelineError::arrow(format!("writing {}", path.display())))?;
        Ok(Self {
            output,
            writer,
            rows: JobBatchBuilder::new(),
            buffered: 0,
            batch_rows: batch_rows.max(1),
            next_key: 0,
        })
    }

    /// Appends one record, keyed in arrival order.
    pub fn push(&mut self, job: &Job) -> Result<()> {
        self.rows.push_keyed(job, self.next_key);
        self.next_key += 1;
        self.buffered += 1;
        if self.buffered >= self.batch_rows {
            self.flush()?;
        }
        Ok(())
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.next_key as u64
    }

    fn flush(&mut self) -> Result<()> {
        if self.buffered == 0 {
            return Ok(());
        }
        let batch = stored(&self.rows.finish()?)?;
        self.writer
            .write(&batch)
            .map_err(PipelineError::arrow(format!(
                "writing {}",
                self.output.path().display()
            )))?;
        self.buffered = 0;
        Ok(())
    }

    /// Flushes and closes the table, makes it durable and puts it in place;
    /// returns the number of rows written.
    pub fn finish(mut self) -> Result<u64> {
        self.flush()?;
        let rows = self.rows();
        self.writer.finish().map_err(PipelineError::arrow(format!(
            "closing {}",
            self.output.path().display()
        )))?;
        self.output.place(self.writer.inner())?;
        Ok(rows)
    }
}

/// A batch of the job schema in its on-disk form: times as Parquet
/// TIMESTAMPs (see [`stored_job_schema`]).
fn stored(batch: &RecordBatch) -> Result<RecordBatch> {
    cast_to_schema(batch, &stored_job_schema()).map_err(PipelineError::arrow("storing job times"))
}

/// `batch` with each column of `schema` taken by name and cast to its type:
/// how a table changes between its in-memory and its on-disk form.
pub(crate) fn cast_to_schema(
    batch: &RecordBatch,
    schema: &SchemaRef,
) -> std::result::Result<RecordBatch, ArrowError> {
    let columns = schema
        .fields()
        .iter()
        .map(|f| {
            let c = batch.column_by_name(f.name()).ok_or_else(|| {
                ArrowError::SchemaError(format!("column `{}` is missing", f.name()))
            })?;
            if c.data_type() == f.data_type() {
                Ok(Arc::clone(c))
            } else {
                cast(c, f.data_type())
            }
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    RecordBatch::try_new(Arc::clone(schema), columns)
}
