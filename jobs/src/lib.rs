//! The one job record of rt-predictor, whatever the source: a scheduler's
//! log read by ingest, a job sent to a server to be scored, a row of an
//! uploaded file.
//!
//! - [`schema`]: the canonical job table's column names and Arrow schema.
//! - [`Job`]: one record in canonical units, owned or borrowed.
//! - [`rules`]: the one validation, for history and for scoring.
//! - [`units`] and [`slurm`]: conversions and value formats, parsed once;
//!   [`sacct`]: `sacct --parsable2` lines as jobs;
//!   [`eagle`]: the Eagle data set's column names.
//! - [`JobBatchBuilder`] and [`Job::from_batch`]: jobs to and from Arrow.

pub mod batch;
pub mod eagle;
pub mod job;
pub mod rules;
pub mod sacct;
pub mod schema;
pub mod slurm;
pub mod table;
pub mod units;
pub mod values;

pub use batch::{BatchError, JobBatchBuilder, JobColumns, jobs_batch};
pub use job::Job;
pub use rules::{Problem, Problems, Purpose};
pub use schema::{col, job_schema};
pub use table::{JobRows, JobTable};
