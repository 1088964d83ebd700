//! Writes job records to a canonical job table (Parquet) in bounded memory:
//! rows are buffered into Arrow builders and flushed one batch at a time.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, Float64Builder, Int64Builder, RecordBatch, StringBuilder, TimestampSecondBuilder,
};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::WriterProperties;
use rtp_bundle::job_schema::job_schema;

use super::partial::PartialFile;
use super::record::JobRecord;
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

/// Streams [`JobRecord`]s into a canonical job table, assigning `job_key`s in
/// arrival order.
///
/// Rows go to a hidden file beside the table, renamed over it only by
/// [`JobTableWriter::finish`]: a run that fails leaves an earlier table as it
/// was and no partial one behind.
pub struct JobTableWriter {
    output: PartialFile,
    writer: ArrowWriter<File>,
    columns: Columns,
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

#[derive(Default)]
struct Columns {
    job_key: Int64Builder,
    job_id: StringBuilder,
    user: StringBuilder,
    account: StringBuilder,
    partition: StringBuilder,
    qos: StringBuilder,
    wallclock_req_s: Float64Builder,
    nodes_req: Int64Builder,
    processors_req: Int64Builder,
    gpus_req: Int64Builder,
    mem_req_mb: Float64Builder,
    submit_time: TimestampSecondBuilder,
    start_time: TimestampSecondBuilder,
    end_time: TimestampSecondBuilder,
    run_time_s: Float64Builder,
    state: StringBuilder,
    name: StringBuilder,
    work_dir: StringBuilder,
}

impl JobTableWriter {
    /// Starts the table that [`JobTableWriter::finish`] puts at `path`.
    pub fn create(path: &Path, batch_rows: usize) -> Result<Self> {
        let output = PartialFile::new(path);
        let writer =
            ArrowWriter::try_new(output.create()?, job_schema(), Some(parquet_properties()))
                .map_err(PipelineError::arrow(format!("writing {}", path.display())))?;
        Ok(Self {
            output,
            writer,
            columns: Columns::default(),
            buffered: 0,
            batch_rows: batch_rows.max(1),
            next_key: 0,
        })
    }

    /// Appends one record.
    pub fn push(&mut self, job: &JobRecord) -> Result<()> {
        let c = &mut self.columns;
        c.job_key.append_value(self.next_key);
        c.job_id.append_value(&job.job_id);
        c.user.append_option(job.user.as_deref());
        c.account.append_option(job.account.as_deref());
        c.partition.append_option(job.partition.as_deref());
        c.qos.append_option(job.qos.as_deref());
        c.wallclock_req_s.append_option(job.wallclock_req_s);
        c.nodes_req.append_option(job.nodes_req);
        c.processors_req.append_option(job.processors_req);
        c.gpus_req.append_option(job.gpus_req);
        c.mem_req_mb.append_option(job.mem_req_mb);
        c.submit_time.append_value(job.submit_time);
        c.start_time.append_option(job.start_time);
        c.end_time.append_option(job.end_time);
        c.run_time_s.append_option(job.run_time_s);
        c.state.append_value(&job.state);
        c.name.append_option(job.name.as_deref());
        c.work_dir.append_option(job.work_dir.as_deref());
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
        let c = &mut self.columns;
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(c.job_key.finish()),
            Arc::new(c.job_id.finish()),
            Arc::new(c.user.finish()),
            Arc::new(c.account.finish()),
            Arc::new(c.partition.finish()),
            Arc::new(c.qos.finish()),
            Arc::new(c.wallclock_req_s.finish()),
            Arc::new(c.nodes_req.finish()),
            Arc::new(c.processors_req.finish()),
            Arc::new(c.gpus_req.finish()),
            Arc::new(c.mem_req_mb.finish()),
            Arc::new(c.submit_time.finish()),
            Arc::new(c.start_time.finish()),
            Arc::new(c.end_time.finish()),
            Arc::new(c.run_time_s.finish()),
            Arc::new(c.state.finish()),
            Arc::new(c.name.finish()),
            Arc::new(c.work_dir.finish()),
        ];
        let batch = RecordBatch::try_new(job_schema(), arrays)
            .map_err(PipelineError::arrow("building a job batch"))?;
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
