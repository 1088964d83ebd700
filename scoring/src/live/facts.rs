//! What a job record tells its entities and queues, computed by the
//! bundle's own `job_entities` view (sql/02): the entity keys, whether the
//! job ran, its log runtime, run/request ratio and timeout flag. The online
//! state reads these columns by name, so the SQL stays their one
//! definition.

use std::sync::Arc;

use datafusion::prelude::SessionContext;
use rtp_bundle::feature_sql::{ENTITY_KEY_SUFFIX, JOB_ENTITIES_VIEW};
use rtp_jobs::Job;
use rtp_jobs::schema::{OUTCOME_COLUMNS, col, job_schema};

use crate::error::{Result, ScoringError};
use crate::live::history::EndFacts;
use crate::live::queue::QueueTimes;
use crate::row_projection::RowProjection;
use crate::row_value::{Value, render};

/// The `job_entities` columns the online state reads, in projection order.
const FACT_COLUMNS: [&str; 9] = [
    "job_key",
    "submit_s",
    "start_s",
    "end_s",
    "ran",
    "log_rt",
    "run_time_s",
    "run_req_ratio",
    "is_timeout",
];

/// One job as its entities and queues see it.
#[derive(Debug, Clone, PartialEq)]
pub struct JobFacts {
    /// Per entity kind (the program's order), the job's key, if any.
    /// Shared: a job's later events reuse the keys of its first when the
    /// SQL fixes them by the request.
    pub keys: Arc<[Option<String>]>,
    /// Its times in the queue.
    pub times: QueueTimes,
    /// What its end adds to history, when it ran.
    pub end: Option<EndFacts>,
}

/// One compiled projection of `job_entities` and the job columns it reads.
#[derive(Debug)]
struct Projection {
    projection: RowProjection,
    /// Per projection input, its column of the job schema.
    inputs: Vec<String>,
}

impl Projection {
    async fn compile(ctx: &SessionContext, columns: &[String]) -> Result<Self> {
        let quoted: Vec<String> = columns.iter().map(|c| format!("\"{c}\"")).collect();
        let sql = format!("SELECT {} FROM {JOB_ENTITIES_VIEW}", quoted.join(", "));
        let projection = RowProjection::compile(ctx, &sql, JOB_ENTITIES_VIEW).await?;
        projection
            .row_form()
            .map_err(|e| ScoringError::NotRowLevel {
                context: JOB_ENTITIES_VIEW.into(),
                message: e.to_string(),
            })?;
        let schema = job_schema();
        let inputs = projection
            .inputs()
            .iter()
            .map(|(name, ty)| {
                schema
                    .index_of(name)
                    .ok()
                    .filter(|&i| schema.field(i).data_type() == ty)
                    .map(|_| name.clone())
                    .ok_or_else(|| ScoringError::NotRowLevel {
                        context: JOB_ENTITIES_VIEW.into(),
                        message: format!("reads `{name}` as {ty}"),
                    })
            })
            .collect::<Result<_>>()?;
        Ok(Self { projection, inputs })
    }

    fn evaluate(&self, job: &Job<&str>, job_key: i64) -> Result<Vec<Value>> {
        let input: Vec<Value> = self
            .inputs
            .iter()
            .map(|name| column_value(job, name, job_key))
            .collect();
        self.projection.evaluate_row(&input)
    }

    /// Whether the projection reads anything a job's later events change.
    fn reads_outcomes(&self) -> bool {
        self.inputs
            .iter()
            .any(|name| OUTCOME_COLUMNS.contains(&name.as_str()) || name == col::STATE)
    }
}

/// The compiled `job_entities` projections: the per-job values, and the
/// entity keys apart, since a job's keys are fixed by its request when the
/// SQL says so (their inputs hold no outcome), and then computed once per
/// job rather than at each of its events.
#[derive(Debug)]
pub struct FactsProjection {
    values: Projection,
    keys: Projection,
    keys_fixed: bool,
}

impl FactsProjection {
    /// Compiles the projections over `ctx`'s `job_entities`, whose key
    /// columns are those of `kinds` (in order).
    pub async fn compile(ctx: &SessionContext, kinds: &[String]) -> Result<Self> {
        let values: Vec<String> = FACT_COLUMNS.iter().map(|c| (*c).to_owned()).collect();
        let keys: Vec<String> = kinds
            .iter()
            .map(|k| format!("{k}{ENTITY_KEY_SUFFIX}"))
            .collect();
        let values = Projection::compile(ctx, &values).await?;
        let keys = Projection::compile(ctx, &keys).await?;
        let keys_fixed = !keys.reads_outcomes();
        Ok(Self {
            values,
            keys,
            keys_fixed,
        })
    }

    /// The facts of a job record; `job_key` orders its end among ends of
    /// the same second. `known_keys` are the keys computed for an earlier
    /// record of the same job, reused when the keys read no outcome.
    pub fn facts(
        &self,
        job: &Job<&str>,
        job_key: i64,
        known_keys: Option<&Arc<[Option<String>]>>,
    ) -> Result<JobFacts> {
        let row = self.values.evaluate(job, job_key)?;
        let int = |v: &Value| match v {
            Value::Int(i) => Some(*i),
            _ => None,
        };
        let float = |v: &Value| match v {
            Value::Float(f) => Some(*f),
            Value::Int(i) => Some(*i as f64),
            _ => None,
        };
        let missing = |name: &str| ScoringError::EvaluateRow {
            context: JOB_ENTITIES_VIEW.into(),
            message: format!("`{name}` is null for a job record"),
        };
        let submit_s = int(&row[1]).ok_or_else(|| missing("submit_s"))?;
        let times = QueueTimes {
            submit_s,
            start_s: int(&row[2]),
            end_s: int(&row[3]),
        };
        let ran = matches!(row[4], Value::Bool(true));
        let end = match (ran, times.end_s, float(&row[5]), float(&row[6])) {
            (true, Some(end_s), Some(log_rt), Some(run_time_s)) => Some(EndFacts {
                end_s,
                job_key: int(&row[0]).unwrap_or(job_key),
                log_rt,
                run_time_s,
                run_req_ratio: float(&row[7]),
                is_timeout: float(&row[8]).unwrap_or(0.0),
            }),
            _ => None,
        };
        let keys = match known_keys.filter(|_| self.keys_fixed) {
            Some(keys) => Arc::clone(keys),
            None => self
                .keys
                .evaluate(job, job_key)?
                .iter()
                .map(|v| match v {
                    Value::Null => None,
                    Value::Str(s) => Some(s.to_string()),
                    other => Some(render(other, false)),
                })
                .collect(),
        };
        Ok(JobFacts { keys, times, end })
    }
}

/// A job record, outcomes included, as a row of the canonical job schema.
pub(crate) fn record_values(job: &Job<&str>, key: i64) -> Vec<Value> {
    job_schema()
        .fields()
        .iter()
        .map(|field| column_value(job, field.name(), key))
        .collect()
}

/// Column `name` of a job record (`key` when it has no job key).
fn column_value(job: &Job<&str>, name: &str, key: i64) -> Value {
    let text = |v: Option<&str>| v.map_or(Value::Null, Value::str);
    let int = |v: Option<i64>| v.map_or(Value::Null, Value::Int);
    let float = |v: Option<f64>| v.map_or(Value::Null, Value::Float);
    match name {
        col::JOB_KEY => Value::Int(job.job_key.unwrap_or(key)),
        col::JOB_ID => Value::str(job.job_id),
        col::USER => text(job.user),
        col::ACCOUNT => text(job.account),
        col::PARTITION => text(job.partition),
        col::QOS => text(job.qos),
        col::NAME => text(job.name),
        col::WORK_DIR => text(job.work_dir),
        col::WALLCLOCK_REQ_S => float(job.wallclock_req_s),
        col::NODES_REQ => int(job.nodes_req),
        col::PROCESSORS_REQ => int(job.processors_req),
        col::GPUS_REQ => int(job.gpus_req),
        col::MEM_REQ_MB => float(job.mem_req_mb),
        col::SUBMIT_TIME => int(job.submit_time),
        col::START_TIME => int(job.start_time),
        col::END_TIME => int(job.end_time),
        col::RUN_TIME_S => float(job.run_time_s),
        col::STATE => text(job.state),
        _ => Value::Null,
    }
}
