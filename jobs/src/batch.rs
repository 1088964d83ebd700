//! Jobs to and from Arrow record batches in the canonical job schema.

use std::borrow::Borrow;
use std::sync::Arc;

use arrow_array::builder::{Float64Builder, Int64Builder, StringBuilder, TimestampSecondBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, TimestampSecondType};
use arrow_array::{Array, ArrayRef, ArrowPrimitiveType, RecordBatch};
use arrow_schema::{ArrowError, SchemaRef};

use crate::job::Job;
use crate::schema::{col, job_schema, nullable_job_schema};

/// A batch that does not hold the canonical job columns.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// A column is absent or of another type than the job schema's.
    #[error("column `{column}`: {reason}")]
    Column {
        /// The column.
        column: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Arrow refused the columns (a null in a column that allows none).
    #[error("building a job batch: {0}")]
    Arrow(#[from] ArrowError),
}

/// Collects jobs column by column into batches of the job schema.
#[derive(Debug, Default)]
pub struct JobBatchBuilder {
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
    rows: usize,
}

impl JobBatchBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends one job as it is (a job without a key gets a null one).
    pub fn push<S: AsRef<str>>(&mut self, job: &Job<S>) {
        self.job_key.append_option(job.job_key);
        self.push_rest(job);
    }

    /// Appends one job under `key`, whatever key it has: how a table
    /// numbers its records.
    pub fn push_keyed<S: AsRef<str>>(&mut self, job: &Job<S>, key: i64) {
        self.job_key.append_value(key);
        self.push_rest(job);
    }

    fn push_rest<S: AsRef<str>>(&mut self, job: &Job<S>) {
        let text = |v: &Option<S>| v.as_ref().map(|s| s.as_ref().to_owned());
        self.job_id.append_value(job.job_id.as_ref());
        self.user.append_option(text(&job.user));
        self.account.append_option(text(&job.account));
        self.partition.append_option(text(&job.partition));
        self.qos.append_option(text(&job.qos));
        self.wallclock_req_s.append_option(job.wallclock_req_s);
        self.nodes_req.append_option(job.nodes_req);
        self.processors_req.append_option(job.processors_req);
        self.gpus_req.append_option(job.gpus_req);
        self.mem_req_mb.append_option(job.mem_req_mb);
        self.submit_time.append_option(job.submit_time);
        self.start_time.append_option(job.start_time);
        self.end_time.append_option(job.end_time);
        self.run_time_s.append_option(job.run_time_s);
        self.state.append_option(text(&job.state));
        self.name.append_option(text(&job.name));
        self.work_dir.append_option(text(&job.work_dir));
        self.rows += 1;
    }

    /// Rows appended since the last batch.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// True when no row waits.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The rows so far as a batch of the job schema, which refuses a null
    /// where a table always has a value; the builder starts over.
    pub fn finish(&mut self) -> Result<RecordBatch, BatchError> {
        self.finish_as(job_schema())
    }

    /// The rows so far in the job schema with every column nullable, as
    /// jobs to be scored may be.
    pub fn finish_nullable(&mut self) -> Result<RecordBatch, BatchError> {
        self.finish_as(nullable_job_schema())
    }

    fn finish_as(&mut self, schema: SchemaRef) -> Result<RecordBatch, BatchError> {
        self.rows = 0;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.job_key.finish()),
            Arc::new(self.job_id.finish()),
            Arc::new(self.user.finish()),
            Arc::new(self.account.finish()),
            Arc::new(self.partition.finish()),
            Arc::new(self.qos.finish()),
            Arc::new(self.wallclock_req_s.finish()),
            Arc::new(self.nodes_req.finish()),
            Arc::new(self.processors_req.finish()),
            Arc::new(self.gpus_req.finish()),
            Arc::new(self.mem_req_mb.finish()),
            Arc::new(self.submit_time.finish()),
            Arc::new(self.start_time.finish()),
            Arc::new(self.end_time.finish()),
            Arc::new(self.run_time_s.finish()),
            Arc::new(self.state.finish()),
            Arc::new(self.name.finish()),
            Arc::new(self.work_dir.finish()),
        ];
        Ok(RecordBatch::try_new(schema, columns)?)
    }
}

/// A batch of `jobs` in the job schema with every column nullable.
pub fn jobs_batch<S: AsRef<str>, J: Borrow<Job<S>>>(
    jobs: impl IntoIterator<Item = J>,
) -> Result<RecordBatch, BatchError> {
    let mut builder = JobBatchBuilder::new();
    for job in jobs {
        builder.push(job.borrow());
    }
    builder.finish_nullable()
}

fn column<'a>(batch: &'a RecordBatch, name: &'static str) -> Result<&'a ArrayRef, BatchError> {
    batch.column_by_name(name).ok_or(BatchError::Column {
        column: name,
        reason: "is missing",
    })
}

fn primitive<T: ArrowPrimitiveType>(
    batch: &RecordBatch,
    row: usize,
    name: &'static str,
) -> Result<Option<T::Native>, BatchError> {
    let c = column(batch, name)?
        .as_primitive_opt::<T>()
        .ok_or(BatchError::Column {
            column: name,
            reason: "is not of the job schema's type",
        })?;
    Ok(c.is_valid(row).then(|| c.value(row)))
}

impl<'a> Job<&'a str> {
    /// Row `row` of a batch whose columns have the job schema's types (as
    /// the scoring core's conforming leaves them), borrowing its text.
    pub fn from_batch(batch: &'a RecordBatch, row: usize) -> Result<Self, BatchError> {
        let text = |name: &'static str| -> Result<Option<&'a str>, BatchError> {
            let c = column(batch, name)?
                .as_string_opt::<i32>()
                .ok_or(BatchError::Column {
                    column: name,
                    reason: "is not UTF-8 text",
                })?;
            Ok(c.is_valid(row).then(|| c.value(row)))
        };
        let float = |name| primitive::<Float64Type>(batch, row, name);
        let int = |name| primitive::<Int64Type>(batch, row, name);
        let time = |name| primitive::<TimestampSecondType>(batch, row, name);
        Ok(Self {
            job_key: int(col::JOB_KEY)?,
            job_id: text(col::JOB_ID)?.unwrap_or(""),
            user: text(col::USER)?,
            account: text(col::ACCOUNT)?,
            partition: text(col::PARTITION)?,
            qos: text(col::QOS)?,
            wallclock_req_s: float(col::WALLCLOCK_REQ_S)?,
            nodes_req: int(col::NODES_REQ)?,
            processors_req: int(col::PROCESSORS_REQ)?,
            gpus_req: int(col::GPUS_REQ)?,
            mem_req_mb: float(col::MEM_REQ_MB)?,
            submit_time: time(col::SUBMIT_TIME)?,
            start_time: time(col::START_TIME)?,
            end_time: time(col::END_TIME)?,
            run_time_s: float(col::RUN_TIME_S)?,
            state: text(col::STATE)?,
            name: text(col::NAME)?,
            work_dir: text(col::WORK_DIR)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> Job {
        Job {
            job_id: "42_7".into(),
            user: Some("alice".into()),
            wallclock_req_s: Some(3600.0),
            nodes_req: Some(2),
            processors_req: Some(72),
            mem_req_mb: Some(2048.0),
            submit_time: Some(1_700_000_000),
            start_time: Some(1_700_000_100),
            end_time: Some(1_700_000_400),
            run_time_s: Some(300.0),
            state: Some("COMPLETED".into()),
            ..Default::default()
        }
    }

    #[test]
    fn a_job_round_trips_through_a_batch() {
        let mut builder = JobBatchBuilder::new();
        builder.push_keyed(&job(), 9);
        assert_eq!(builder.len(), 1);
        let batch = builder.finish().unwrap();
        assert!(builder.is_empty());
        assert_eq!(batch.schema(), job_schema());
        let read = Job::from_batch(&batch, 0).unwrap();
        assert_eq!(
            read.to_owned_job(),
            Job {
                job_key: Some(9),
                ..job()
            }
        );
    }

    #[test]
    fn the_table_schema_refuses_what_a_request_may_leave_out() {
        let pending = Job::<&str> {
            submit_time: Some(1),
            ..Default::default()
        };
        let mut builder = JobBatchBuilder::new();
        builder.push_keyed(&pending, 0);
        assert!(builder.finish().is_err(), "a null state in a table");
        let keyed = Job {
            job_key: Some(6),
            ..pending
        };
        let batch = jobs_batch([pending, keyed]).unwrap();
        let keys = batch
            .column_by_name(col::JOB_KEY)
            .unwrap()
            .as_primitive::<Int64Type>();
        assert!(keys.is_null(0));
        assert_eq!(Job::from_batch(&batch, 1).unwrap().job_key, Some(6));
    }

    #[test]
    fn a_batch_without_a_job_column_is_named() {
        let batch = jobs_batch([job()]).unwrap().project(&[0, 1]).unwrap();
        let err = Job::from_batch(&batch, 0).unwrap_err().to_string();
        assert_eq!(err, "column `user`: is missing");
    }
}
