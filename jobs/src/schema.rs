//! The canonical job table: one Arrow schema for a job record, whatever the
//! source (Eagle, SWF, Slurm `sacct`).
//!
//! Times are `Timestamp(Second)` without a zone, on the cluster's local clock,
//! as the sources record them; on disk they are Parquet TIMESTAMPs in
//! milliseconds ([`stored_job_schema`]). `job_key` is assigned at ingest and unique in a
//! table; `job_id` is the scheduler's id, which array tasks share.

use std::sync::{Arc, LazyLock};

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// Column names of the canonical job table.
pub mod col {
    /// Unique key of a record within a table (assigned at ingest).
    pub const JOB_KEY: &str = "job_key";
    /// The scheduler's job id; not unique (array tasks share it).
    pub const JOB_ID: &str = "job_id";
    /// Submitting user.
    pub const USER: &str = "user";
    /// Charged account (or group).
    pub const ACCOUNT: &str = "account";
    /// Partition (or queue).
    pub const PARTITION: &str = "partition";
    /// Quality of service.
    pub const QOS: &str = "qos";
    /// Requested wallclock limit, seconds; null when unlimited or unknown.
    pub const WALLCLOCK_REQ_S: &str = "wallclock_req_s";
    /// Requested nodes.
    pub const NODES_REQ: &str = "nodes_req";
    /// Requested processors (cores).
    pub const PROCESSORS_REQ: &str = "processors_req";
    /// Requested GPUs.
    pub const GPUS_REQ: &str = "gpus_req";
    /// Requested memory for the whole job, MB; null when not given.
    pub const MEM_REQ_MB: &str = "mem_req_mb";
    /// Submit time.
    pub const SUBMIT_TIME: &str = "submit_time";
    /// Start time; null when the job never started.
    pub const START_TIME: &str = "start_time";
    /// End time; null while pending or running.
    pub const END_TIME: &str = "end_time";
    /// Run time in seconds (end − start); null when unknown.
    pub const RUN_TIME_S: &str = "run_time_s";
    /// Final state in Slurm's vocabulary (COMPLETED, TIMEOUT, FAILED, …).
    pub const STATE: &str = "state";
    /// Job name.
    pub const NAME: &str = "name";
    /// Working directory.
    pub const WORK_DIR: &str = "work_dir";
}

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let ts = || DataType::Timestamp(TimeUnit::Second, None);
    Arc::new(Schema::new(vec![
        Field::new(col::JOB_KEY, DataType::Int64, false),
        Field::new(col::JOB_ID, DataType::Utf8, false),
        Field::new(col::USER, DataType::Utf8, true),
        Field::new(col::ACCOUNT, DataType::Utf8, true),
        Field::new(col::PARTITION, DataType::Utf8, true),
        Field::new(col::QOS, DataType::Utf8, true),
        Field::new(col::WALLCLOCK_REQ_S, DataType::Float64, true),
        Field::new(col::NODES_REQ, DataType::Int64, true),
        Field::new(col::PROCESSORS_REQ, DataType::Int64, true),
        Field::new(col::GPUS_REQ, DataType::Int64, true),
        Field::new(col::MEM_REQ_MB, DataType::Float64, true),
        Field::new(col::SUBMIT_TIME, ts(), false),
        Field::new(col::START_TIME, ts(), true),
        Field::new(col::END_TIME, ts(), true),
        Field::new(col::RUN_TIME_S, DataType::Float64, true),
        Field::new(col::STATE, DataType::Utf8, false),
        Field::new(col::NAME, DataType::Utf8, true),
        Field::new(col::WORK_DIR, DataType::Utf8, true),
    ]))
});

/// The Arrow schema of the canonical job table.
pub fn job_schema() -> SchemaRef {
    Arc::clone(&SCHEMA)
}

static STORED: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(
        SCHEMA
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Timestamp(_, zone) => f
                    .as_ref()
                    .clone()
                    .with_data_type(DataType::Timestamp(STORED_TIME_UNIT, zone.clone())),
                _ => f.as_ref().clone(),
            })
            .collect::<Vec<_>>(),
    ))
});

/// Unit of the times in a job table on disk: Parquet has no TIMESTAMP in
/// seconds, and a bare INT64 reads as a number in pandas, DuckDB and Spark.
pub const STORED_TIME_UNIT: TimeUnit = TimeUnit::Millisecond;

/// The job schema as a job table is written to Parquet: times in
/// [`STORED_TIME_UNIT`], every other column as in [`job_schema`].
pub fn stored_job_schema() -> SchemaRef {
    Arc::clone(&STORED)
}

static NULLABLE: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(
        SCHEMA
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect::<Vec<_>>(),
    ))
});

/// The job schema with every column nullable: jobs sent to be scored may
/// leave out what a training table always has (their key, their state).
pub fn nullable_job_schema() -> SchemaRef {
    Arc::clone(&NULLABLE)
}

/// Columns describing a job's outcome: unknown at submit time, so never
/// read when a job is scored, even when sent (its state is then
/// [`SCORING_STATE`]).
pub const OUTCOME_COLUMNS: [&str; 3] = [col::START_TIME, col::END_TIME, col::RUN_TIME_S];

/// The state of a job being scored: it has not run.
pub const SCORING_STATE: &str = "PENDING";

/// Final job states, in Slurm's vocabulary, that the sources are mapped onto.
pub const KNOWN_STATES: &[&str] = &[
    "COMPLETED",
    "TIMEOUT",
    "FAILED",
    "CANCELLED",
    "OUT_OF_MEMORY",
    "NODE_FAIL",
    "PREEMPTED",
    "BOOT_FAIL",
    "DEADLINE",
    "PENDING",
    "RUNNING",
    "REQUEUED",
    "SUSPENDED",
    "UNKNOWN",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_unique_and_key_first() {
        let schema = job_schema();
        let mut names: Vec<_> = schema.fields().iter().map(|f| f.name().clone()).collect();
        assert_eq!(names[0], col::JOB_KEY);
        names.sort();
        names.dedup();
        assert_eq!(names.len(), schema.fields().len());
    }
}
