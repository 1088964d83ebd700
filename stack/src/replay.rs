//! A pool of jobs replayed as an endless submission sequence: each cycle
//! starts one pool span later, with job keys moved on, so a stream of any
//! length stays one valid submission sequence for the scorer.

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, Int64Array, RecordBatch, TimestampSecondArray};
use datafusion::arrow::compute::{
    SortColumn, concat_batches, lexsort_to_indices, take_record_batch,
};
use datafusion::arrow::datatypes::{Int64Type, TimestampSecondType};
use datafusion::parquet::arrow::ArrowWriter;

use crate::error::{Result, StackError};

/// Columns a client sends: the job as known at submit.
const CLIENT_COLUMNS: [&str; 13] = [
    "job_key",
    "job_id",
    "user",
    "account",
    "partition",
    "qos",
    "submit_time",
    "wallclock_req_s",
    "nodes_req",
    "processors_req",
    "gpus_req",
    "mem_req_mb",
    "name",
];

/// Replays a pool of jobs as an endless submission sequence.
#[derive(Debug, Clone)]
pub struct JobReplay {
    pool: RecordBatch,
    span_s: i64,
}

impl JobReplay {
    /// The client columns of `jobs`, batches of a canonical job table
    /// (`rtp_jobs::job_schema`), in submission order.
    pub fn from_jobs(jobs: &[RecordBatch]) -> Result<Self> {
        let context = || "building the job pool".to_owned();
        let schema = rtp_jobs::job_schema();
        let all = concat_batches(&schema, jobs).map_err(StackError::arrow(context()))?;
        let indices: Vec<usize> = CLIENT_COLUMNS
            .iter()
            .map(|c| schema.index_of(c))
            .collect::<std::result::Result<_, _>>()
            .map_err(StackError::arrow(context()))?;
        let all = all
            .project(&indices)
            .map_err(StackError::arrow(context()))?;
        let key = |name: &str| SortColumn {
            values: Arc::clone(all.column_by_name(name).expect("projected column")),
            options: None,
        };
        let order = lexsort_to_indices(&[key("submit_time"), key("job_key")], None)
            .map_err(StackError::arrow(context()))?;
        let pool = take_record_batch(&all, &order).map_err(StackError::arrow(context()))?;
        let submit = pool
            .column_by_name("submit_time")
            .expect("projected column")
            .as_primitive::<TimestampSecondType>();
        if submit.is_empty() {
            return Err(StackError::JobPool("is empty".into()));
        }
        let span_s = submit.value(submit.len() - 1) - submit.value(0) + 60;
        Ok(Self { pool, span_s })
    }

    /// Writes the pool for other clients (the pyarrow benchmark).
    pub fn write_pool(&self, path: &Path) -> Result<()> {
        let file = std::fs::File::create(path).map_err(StackError::io(path))?;
        let mut w = ArrowWriter::try_new(file, self.pool.schema(), None)
            .map_err(StackError::parquet(path))?;
        w.write(&self.pool)
            .and_then(|_| w.close().map(drop))
            .map_err(StackError::parquet(path))
    }

    /// The pool's span, seconds: each replay cycle starts this much later.
    pub fn span_s(&self) -> i64 {
        self.span_s
    }

    /// Rows `start..start + len` of the endless replay, after `offset_s`.
    pub fn batch(&self, start: u64, len: usize, offset_s: i64) -> RecordBatch {
        let n = self.pool.num_rows() as u64;
        let mut parts = Vec::new();
        let mut at = start;
        let end = start + len as u64;
        while at < end {
            let cycle = at / n;
            let from = (at % n) as usize;
            let take = ((n - at % n).min(end - at)) as usize;
            let slice = self.pool.slice(from, take);
            parts.push(self.shifted(
                &slice,
                offset_s + cycle as i64 * self.span_s,
                at as i64 - from as i64,
            ));
            at += take as u64;
        }
        concat_batches(&self.pool.schema(), &parts).expect("same schema")
    }

    fn shifted(&self, slice: &RecordBatch, shift_s: i64, key_shift: i64) -> RecordBatch {
        let mut columns: Vec<ArrayRef> = slice.columns().to_vec();
        let schema = slice.schema();
        let submit = schema.index_of("submit_time").expect("client column");
        let t = columns[submit].as_primitive::<TimestampSecondType>();
        columns[submit] = Arc::new(TimestampSecondArray::from_iter(
            t.iter().map(|v| v.map(|v| v + shift_s)),
        ));
        let key = schema.index_of("job_key").expect("client column");
        let k = columns[key].as_primitive::<Int64Type>();
        columns[key] = Arc::new(Int64Array::from_iter(
            k.iter().map(|v| v.map(|v| v + key_shift)),
        ));
        RecordBatch::try_new(schema, columns).expect("same schema")
    }
}
