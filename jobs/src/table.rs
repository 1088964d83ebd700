//! A whole job table kept as Arrow columns: millions of jobs read a row at
//! a time as borrowed [`Job`]s. Owned jobs cost about 600 bytes each (eight
//! strings and eleven options); columns cost what their values do.

use arrow_array::RecordBatch;

use crate::batch::{BatchError, JobColumns};
use crate::job::Job;

/// Batches of the job schema's types, numbered as one table.
#[derive(Debug, Clone, Default)]
pub struct JobTable {
    batches: Vec<RecordBatch>,
    /// Where each batch's rows start in the table's numbering.
    starts: Vec<usize>,
    rows: usize,
}

/// The rows of a [`JobTable`], its columns found and typed once.
#[derive(Debug, Clone)]
pub struct JobRows<'a> {
    columns: Vec<JobColumns<'a>>,
    starts: &'a [usize],
    rows: usize,
}

impl JobTable {
    /// A table of `batches`, or the first column that is absent or mistyped.
    pub fn new(batches: Vec<RecordBatch>) -> Result<Self, BatchError> {
        let mut starts = Vec::with_capacity(batches.len());
        let mut rows = 0;
        let mut kept = Vec::with_capacity(batches.len());
        for batch in batches.into_iter().filter(|b| b.num_rows() > 0) {
            JobColumns::new(&batch)?;
            starts.push(rows);
            rows += batch.num_rows();
            kept.push(batch);
        }
        Ok(Self {
            batches: kept,
            starts,
            rows,
        })
    }

    /// Jobs in the table.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether the table has no job.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Its rows, to read by number.
    pub fn rows(&self) -> JobRows<'_> {
        let columns = self
            .batches
            .iter()
            .map(|b| JobColumns::new(b).expect("checked when the table was made"))
            .collect();
        JobRows {
            columns,
            starts: &self.starts,
            rows: self.rows,
        }
    }
}

impl<'a> JobRows<'a> {
    /// Job number `row` of the table.
    pub fn job(&self, row: usize) -> Job<&'a str> {
        assert!(row < self.rows, "row {row} of a {}-job table", self.rows);
        let batch = self.starts.partition_point(|&s| s <= row) - 1;
        self.columns[batch].job(row - self.starts[batch])
    }

    /// Every job, in table order.
    pub fn iter(&self) -> impl Iterator<Item = Job<&'a str>> + '_ {
        self.columns
            .iter()
            .flat_map(|c| (0..c.len()).map(|r| c.job(r)))
    }

    /// Jobs in the table.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether the table has no job.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::jobs_batch;

    fn job(id: &str, user: &str) -> Job {
        Job {
            job_id: id.into(),
            user: Some(user.into()),
            submit_time: Some(100),
            ..Default::default()
        }
    }

    #[test]
    fn rows_are_numbered_across_batches() {
        let first = jobs_batch([job("1", "a"), job("2", "b")]).unwrap();
        let empty = jobs_batch(Vec::<Job>::new()).unwrap();
        let second = jobs_batch([job("3", "c")]).unwrap();
        let table = JobTable::new(vec![first, empty, second]).unwrap();
        assert_eq!(table.len(), 3);
        let rows = table.rows();
        let users: Vec<_> = (0..3).map(|r| rows.job(r).user.unwrap()).collect();
        assert_eq!(users, ["a", "b", "c"]);
        let ids: Vec<_> = rows.iter().map(|j| j.job_id).collect();
        assert_eq!(ids, ["1", "2", "3"]);
        assert_eq!(rows.job(2).to_owned_job(), job("3", "c"));
    }
}
