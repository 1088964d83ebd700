//! Jobs to and from Arrow record batches in the canonical job schema.

use std::borrow::Borrow;
use std::sync::Arc;

use arrow_array::builder::{Float64Builder, Int64Builder, StringBuilder, TimestampSecondBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, TimestampSecondType};
use arrow_array::{Array, ArrayRef, ArrowPrimitiveType, PrimitiveArray, RecordBatch, StringArray};
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
        // Borrowed text goes into the builders without a copy of its own.
        let job = job.as_borrowed();
        self.job_id.append_value(job.job_id);
        self.user.append_option(job.user);
        self.account.append_option(job.account);
        self.partition.append_option(job.partition);
        self.qos.append_option(job.qos);
        self.wallclock_req_s.append_option(job.wallclock_req_s);
        self.nodes_req.append_option(job.nodes_req);
        self.processors_req.append_option(job.processors_req);
        self.gpus_req.append_option(job.gpus_req);
        self.mem_req_mb.append_option(job.mem_req_mb);
        self.submit_time.append_option(job.submit_time);
        self.start_time.append_option(job.start_time);
        self.end_time.append_option(job.end_time);
        self.run_time_s.append_option(job.run_time_s);
        self.state.append_option(job.state);
        self.name.append_option(job.name);
        self.work_dir.append_option(job.work_dir);
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

fn primitive<'a, T: ArrowPrimitiveType>(
    batch: &'a RecordBatch,
    name: &'static str,
) -> Result<&'a PrimitiveArray<T>, BatchError> {
    column(batch, name)?
        .as_primitive_opt::<T>()
        .ok_or(BatchError::Column {
            column: name,
            reason: "is not of the job schema's type",
        })
}

fn text<'a>(batch: &'a RecordBatch, name: &'static str) -> Result<&'a StringArray, BatchError> {
    column(batch, name)?
        .as_string_opt::<i32>()
        .ok_or(BatchError::Column {
            column: name,
            reason: "is not UTF-8 text",
        })
}

/// The job columns of a batch whose columns have the job schema's types
/// (as the scoring core's conforming leaves them), found and typed once
/// for reading many rows.
#[derive(Debug, Clone, Copy)]
pub struct JobColumns<'a> {
    job_key: &'a PrimitiveArray<Int64Type>,
    job_id: &'a StringArray,
    user: &'a StringArray,
    account: &'a StringArray,
    partition: &'a StringArray,
    qos: &'a StringArray,
    wallclock_req_s: &'a PrimitiveArray<Float64Type>,
    nodes_req: &'a PrimitiveArray<Int64Type>,
    processors_req: &'a PrimitiveArray<Int64Type>,
    gpus_req: &'a PrimitiveArray<Int64Type>,
    mem_req_mb: &'a PrimitiveArray<Float64Type>,
    submit_time: &'a PrimitiveArray<TimestampSecondType>,
    start_time: &'a PrimitiveArray<TimestampSecondType>,
    end_time: &'a PrimitiveArray<TimestampSecondType>,
    run_time_s: &'a PrimitiveArray<Float64Type>,
    state: &'a StringArray,
    name: &'a StringArray,
    work_dir: &'a StringArray,
}

impl<'a> JobColumns<'a> {
    /// The job columns of `batch`, or the first that is absent or mistyped.
    pub fn new(batch: &'a RecordBatch) -> Result<Self, BatchError> {
        Ok(Self {
            job_key: primitive(batch, col::JOB_KEY)?,
            job_id: text(batch, col::JOB_ID)?,
            user: text(batch, col::USER)?,
            account: text(batch, col::ACCOUNT)?,
            partition: text(batch, col::PARTITION)?,
            qos: text(batch, col::QOS)?,
            wallclock_req_s: primitive(batch, col::WALLCLOCK_REQ_S)?,
            nodes_req: primitive(batch, col::NODES_REQ)?,
            processors_req: primitive(batch, col::PROCESSORS_REQ)?,
            gpus_req: primitive(batch, col::GPUS_REQ)?,
            mem_req_mb: primitive(batch, col::MEM_REQ_MB)?,
            submit_time: primitive(batch, col::SUBMIT_TIME)?,
            start_time: primitive(batch, col::START_TIME)?,
            end_time: primitive(batch, col::END_TIME)?,
            run_time_s: primitive(batch, col::RUN_TIME_S)?,
            state: text(batch, col::STATE)?,
            name: text(batch, col::NAME)?,
            work_dir: text(batch, col::WORK_DIR)?,
        })
    }

    /// Rows in the batch.
    pub fn len(&self) -> usize {
        self.job_key.len()
    }

    /// Whether the batch has no row.
    pub fn is_empty(&self) -> bool {
        self.job_key.is_empty()
    }

    /// Row `row`, borrowing its text.
    pub fn job(&self, row: usize) -> Job<&'a str> {
        fn value<T: ArrowPrimitiveType>(c: &PrimitiveArray<T>, row: usize) -> Option<T::Native> {
            c.is_valid(row).then(|| c.value(row))
        }
        let text = |c: &'a StringArray| c.is_valid(row).then(|| c.value(row));
        Job {
            job_key: value(self.job_key, row),
            job_id: text(self.job_id).unwrap_or(""),
            user: text(self.user),
            account: text(self.account),
            partition: text(self.partition),
            qos: text(self.qos),
            wallclock_req_s: value(self.wallclock_req_s, row),
            nodes_req: value(self.nodes_req, row),
            processors_req: value(self.processors_req, row),
            gpus_req: value(self.gpus_req, row),
            mem_req_mb: value(self.mem_req_mb, row),
            submit_time: value(self.submit_time, row),
            start_time: value(self.start_time, row),
            end_time: value(self.end_time, row),
            run_time_s: value(self.run_time_s, row),
            state: text(self.state),
            name: text(self.name),
            work_dir: text(self.work_dir),
        }
    }
}

impl<'a> Job<&'a str> {
    /// Row `row` of a batch whose columns have the job schema's types;
    /// [`JobColumns`] reads many rows without finding the columns again.
    pub fn from_batch(batch: &'a RecordBatch, row: usize) -> Result<Self, BatchError> {
        Ok(JobColumns::new(batch)?.job(row))
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
