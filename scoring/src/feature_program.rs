//! The bundle's feature SQL compiled for new jobs.
//!
//! At load time every SQL file is planned over empty tables, which gives
//! each intermediate table's schema without data. Three row-level queries
//! are then compiled: `job_base` and the entity keys of `job_entities` over
//! the job table, and the `features` query over `job_context`. At request
//! time a `job_context` row is assembled from the first two and from the
//! state tables, exactly as the batch SQL's joins would assemble it for a
//! job submitted after the training data ends.

use std::ops::Range;
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, PrimitiveArray, RecordBatch, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type, Schema, SchemaRef};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use rtp_bundle::feature_sql::{
    ENTITY_KEY_SUFFIX, FEATURES_TABLE, HISTORY_WIDE_TABLE, JOB_BASE_VIEW, JOB_CONTEXT_VIEW,
    JOB_ENTITIES_VIEW, JOBS_TABLE, QUEUE_WIDE_TABLE, SqlFile,
};
use rtp_jobs::schema::{col, job_schema};

use crate::context_rows::{ContextRows, Gathered};
use crate::entity_state::{Overlay, overlaid};
use crate::error::{Result, ScoringError};
use crate::feature_row::{Parts, RowPlan};
use crate::live::facts::{FactsProjection, JobFacts};
use crate::live::window::{END_STATS_TABLE, median_window};
use crate::live::{
    EntityHistory, HistoryStat, LiveState, QueueCount, QueueCounts, StateLayout, StateSchema,
};
use crate::row_projection::RowProjection;
use crate::row_value::Value;
use rtp_jobs::Job;

/// Where a `job_context` column comes from.
#[derive(Debug, Clone)]
pub(crate) enum ContextColumn {
    /// A column of `job_base`.
    Base(String),
    /// Statistic `stat` of the job's entity of kind `kind`.
    History { kind: usize, stat: HistoryStat },
    /// Count `count` of the job's queue of scope `kind`.
    Queue { kind: usize, count: QueueCount },
}

/// The compiled feature definition.
#[derive(Debug)]
pub struct FeatureProgram {
    job_base: RowProjection,
    entity_keys: RowProjection,
    /// Entity kinds, in key-column order.
    kinds: Vec<String>,
    context: Vec<(String, ContextColumn)>,
    features: RowProjection,
    /// The row form, or why the SQL has none.
    row: std::result::Result<RowPlan, String>,
    /// What job records tell the live state.
    facts: FactsProjection,
    layout: StateLayout,
    schema: StateSchema,
}

impl FeatureProgram {
    /// Plans `files` (a bundle's SQL, in order) and compiles the row-level
    /// parts. `state` supplies the names of the history statistics and
    /// queue counts.
    pub async fn compile(files: &[SqlFile], state: &StateSchema) -> Result<Self> {
        let ctx = SessionContext::new();
        register_empty(&ctx, JOBS_TABLE, job_schema())?;
        let mut features_sql = None;
        let mut window = None;
        for file in files {
            let label = file.path.display().to_string();
            let df = ctx
                .sql(&file.sql)
                .await
                .map_err(ScoringError::sql(&label))?;
            if file.is_view {
                df.collect().await.map_err(ScoringError::sql(&label))?;
            } else if file.table == FEATURES_TABLE {
                features_sql = Some(file.sql.clone());
            } else {
                if file.table == END_STATS_TABLE {
                    window = Some(median_window(df.logical_plan())?);
                }
                let schema = Arc::new(df.schema().as_arrow().clone());
                register_empty(&ctx, &file.table, schema)?;
            }
        }
        let features_sql = features_sql.ok_or_else(|| ScoringError::NotRowLevel {
            context: FEATURES_TABLE.into(),
            message: "the bundle's SQL defines no `features` query".into(),
        })?;

        let job_base = RowProjection::compile(
            &ctx,
            &format!("SELECT * FROM {JOB_BASE_VIEW}"),
            JOB_BASE_VIEW,
        )
        .await?;
        let entities = table_schema(&ctx, JOB_ENTITIES_VIEW).await?;
        let key_columns: Vec<&str> = entities
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .filter(|n| n.ends_with(ENTITY_KEY_SUFFIX) && *n != col::JOB_KEY)
            .collect();
        let kinds: Vec<String> = key_columns
            .iter()
            .map(|n| n.trim_end_matches(ENTITY_KEY_SUFFIX).to_owned())
            .collect();
        let keys_sql = format!(
            "SELECT {} FROM {JOB_ENTITIES_VIEW}",
            key_columns
                .iter()
                .map(|c| format!("\"{c}\""))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let entity_keys = RowProjection::compile(&ctx, &keys_sql, JOB_ENTITIES_VIEW).await?;

        let history_stats: Vec<&str> = state.history.iter().map(|s| s.0.as_str()).collect();
        let queue_counts: Vec<&str> = state.queue.iter().map(|s| s.0.as_str()).collect();
        let history_wide = table_schema(&ctx, HISTORY_WIDE_TABLE).await?;
        let queue_wide = table_schema(&ctx, QUEUE_WIDE_TABLE).await?;
        let base_names = job_base.output_names().to_vec();
        let context_schema = table_schema(&ctx, JOB_CONTEXT_VIEW).await?;
        let mut context = Vec::new();
        for field in context_schema.fields() {
            let name = field.name();
            let source = if base_names.contains(name) {
                ContextColumn::Base(name.clone())
            } else if history_wide.field_with_name(name).is_ok() {
                match split_kind(name, &kinds, &history_stats) {
                    Some((kind, stat)) => ContextColumn::History {
                        kind,
                        stat: state.history_stat(&stat).expect("listed statistic").1,
                    },
                    None => continue, // the table's own key
                }
            } else if queue_wide.field_with_name(name).is_ok() {
                match split_kind(name, &kinds, &queue_counts) {
                    Some((kind, count)) => ContextColumn::Queue {
                        kind,
                        count: state.queue_count(&count).expect("listed count").1,
                    },
                    None => continue,
                }
            } else {
                return Err(ScoringError::NotRowLevel {
                    context: JOB_CONTEXT_VIEW.into(),
                    message: format!(
                        "column `{name}` comes from neither job_base nor a state table"
                    ),
                });
            };
            context.push((name.clone(), source));
        }

        // Replace the view by a table of its shape, so that the features
        // query plans as a projection over one scan.
        ctx.deregister_table(JOB_CONTEXT_VIEW)
            .map_err(ScoringError::sql(JOB_CONTEXT_VIEW))?;
        register_empty(&ctx, JOB_CONTEXT_VIEW, nullable(&context_schema))?;
        let features = RowProjection::compile(&ctx, &features_sql, FEATURES_TABLE).await?;
        let window = window.ok_or_else(|| ScoringError::NotRowLevel {
            context: END_STATS_TABLE.into(),
            message: "the bundle's SQL defines no `entity_end_stats`".into(),
        })?;
        let queue_scopes = (0..kinds.len())
            .map(|k| {
                context
                    .iter()
                    .any(|(_, c)| matches!(c, ContextColumn::Queue { kind, .. } if *kind == k))
            })
            .collect();
        let layout = StateLayout {
            kinds: kinds.clone(),
            queue_scopes,
            window,
        };
        let facts = FactsProjection::compile(&ctx, &kinds).await?;
        let mut program = Self {
            job_base,
            entity_keys,
            kinds,
            context,
            features,
            row: Err(String::new()),
            facts,
            layout,
            schema: state.clone(),
        };
        program.row = RowPlan::compile(&program.parts(), state).map_err(|e| e.to_string());
        Ok(program)
    }

    /// How the program's live state is laid out.
    pub fn layout(&self) -> &StateLayout {
        &self.layout
    }

    /// The state tables' statistics and counts.
    pub fn state_schema(&self) -> &StateSchema {
        &self.schema
    }

    /// What a job record tells the live state (`key`: its job key when the
    /// record has none).
    pub fn job_facts(&self, job: &Job<&str>, key: i64) -> Result<JobFacts> {
        self.facts.facts(job, key, None)
    }

    /// The same for a later record of a job whose earlier facts are
    /// `earlier`: its entity keys are reused where the SQL makes them
    /// depend on the request alone.
    pub fn later_job_facts(
        &self,
        job: &Job<&str>,
        key: i64,
        earlier: &JobFacts,
    ) -> Result<JobFacts> {
        self.facts.facts(job, key, Some(&earlier.keys))
    }

    fn parts(&self) -> Parts<'_> {
        Parts {
            job_base: &self.job_base,
            entity_keys: &self.entity_keys,
            features: &self.features,
            context: &self.context,
            kinds: &self.kinds,
        }
    }

    /// Whether single jobs are evaluated in row form, and if not, why.
    pub fn row_form(&self) -> std::result::Result<(), &str> {
        self.row.as_ref().map(|_| ()).map_err(String::as_str)
    }

    /// Names of the feature row's columns, in order.
    pub fn output_names(&self) -> &[String] {
        self.features.output_names()
    }

    /// Types of the feature row's columns, in order.
    pub fn output_types(&self) -> &[DataType] {
        self.features.output_types()
    }

    /// The features row of one job, `job` being its values in job-schema
    /// order, exactly as [`FeatureProgram::features`] computes it; the job
    /// is recorded in `overlay`. Fails when the SQL has no row form.
    pub fn features_row(
        &self,
        job: &[Value],
        state: &LiveState,
        overlay: &mut Overlay,
    ) -> Result<Vec<Value>> {
        let plan = self
            .row
            .as_ref()
            .map_err(|message| ScoringError::NotRowLevel {
                context: FEATURES_TABLE.into(),
                message: message.clone(),
            })?;
        plan.features(&self.parts(), job, state, overlay)
    }

    /// The feature rows of `jobs` (canonical job schema), as the batch SQL
    /// computes them for jobs submitted after the training data ends. Jobs
    /// are taken in row order; each is recorded in `overlay` for later ones.
    pub fn features(
        &self,
        jobs: &RecordBatch,
        state: &LiveState,
        overlay: &mut Overlay,
    ) -> Result<RecordBatch> {
        let submitted = self.submitted(jobs)?;
        let context = self.context(&submitted, state, overlay)?;
        self.features_of_context(&context)
    }

    /// What the features read of `jobs` themselves, before any state: the
    /// first of [`Self::features`]' three steps. Row-level, so it can be
    /// computed for many jobs at once and sliced.
    pub fn submitted(&self, jobs: &RecordBatch) -> Result<Submitted> {
        let base = self.job_base.evaluate(jobs)?;
        let keys = self.entity_keys.evaluate(jobs)?;
        let keys: Vec<StringArray> = keys
            .columns()
            .iter()
            .map(|c| {
                cast(c, &DataType::Utf8)
                    .map(|c| c.as_string::<i32>().clone())
                    .map_err(ScoringError::arrow("entity keys"))
            })
            .collect::<Result<_>>()?;
        let submit = base
            .column_by_name("submit_s")
            .ok_or_else(|| ScoringError::NotRowLevel {
                context: JOB_BASE_VIEW.into(),
                message: "job_base has no `submit_s`".into(),
            })?;
        let submit = cast(submit, &DataType::Int64).map_err(ScoringError::arrow("submit_s"))?;
        let submit = submit.as_primitive::<Int64Type>().clone();
        Ok(Submitted { base, keys, submit })
    }

    /// The jobs' context rows (`job_context`): their own columns and their
    /// entities' history and queues in `state`, the second step.
    pub fn context(
        &self,
        submitted: &Submitted,
        state: &LiveState,
        overlay: &mut Overlay,
    ) -> Result<RecordBatch> {
        let mut rows = self.context_rows();
        self.gather_context(submitted, 0..submitted.len(), state, overlay, &mut rows);
        self.build_context(rows, submitted)
    }

    /// No context rows yet, shaped for this program's `job_context`.
    pub fn context_rows(&self) -> ContextRows {
        let columns = self
            .context
            .iter()
            .map(|(_, source)| match source {
                ContextColumn::Base(_) => Gathered::Base,
                ContextColumn::History { stat, .. } if !stat.is_integer() => {
                    Gathered::Floats(Vec::new())
                }
                ContextColumn::History { .. } | ContextColumn::Queue { .. } => {
                    Gathered::Ints(Vec::new())
                }
            })
            .collect();
        ContextRows::new(columns)
    }

    /// Adds to `rows` the context of jobs `range` of `submitted` as `state`
    /// knows them: [`Self::context`] for many states (one per submit
    /// second, in a replay), built into one batch by
    /// [`Self::build_context`].
    pub fn gather_context(
        &self,
        submitted: &Submitted,
        range: Range<usize>,
        state: &LiveState,
        overlay: &mut Overlay,
        rows: &mut ContextRows,
    ) {
        let Submitted { keys, submit, .. } = submitted;
        // Per kind, for the current row: the entity, its queue, and the
        // previous submit and pending jobs counting the request's earlier
        // jobs.
        let mut per_kind: Vec<KindContext<'_>> = Vec::with_capacity(self.kinds.len());
        for row in range {
            let t = submit.value(row);
            per_kind.clear();
            for (k, keys) in keys.iter().enumerate() {
                if keys.is_null(row) {
                    per_kind.push(KindContext::default());
                    continue;
                }
                let key = keys.value(row);
                let entity = state.history(k, key);
                let queue = state.queue(k, key);
                let stored_last = entity.and_then(|e| match e.stat(HistoryStat::LastSubmitS) {
                    Value::Int(t) => Some(t),
                    _ => None,
                });
                let stored_pending = queue.map(|q| q.pending);
                let (last_submit, pending) =
                    overlaid(overlay.get(k, key), t, stored_last, stored_pending);
                overlay.record(k, key, t);
                per_kind.push(KindContext {
                    entity,
                    queue,
                    last_submit,
                    pending,
                });
            }
            for ((_, source), gathered) in self.context.iter().zip(&mut rows.columns) {
                let value = match source {
                    ContextColumn::Base(_) => continue,
                    ContextColumn::History { kind, stat } if *stat == HistoryStat::LastSubmitS => {
                        per_kind[*kind].last_submit.map_or(Value::Null, Value::Int)
                    }
                    ContextColumn::Queue { kind, count } if *count == QueueCount::Pending => {
                        per_kind[*kind].pending.map_or(Value::Null, Value::Int)
                    }
                    ContextColumn::History { kind, stat } => per_kind[*kind]
                        .entity
                        .map_or(Value::Null, |e| e.stat(*stat)),
                    ContextColumn::Queue { kind, count } => per_kind[*kind]
                        .queue
                        .map_or(Value::Null, |q| q.value(*count)),
                };
                gathered.push(value);
            }
            rows.rows += 1;
        }
    }

    /// The batch of the context rows gathered for `submitted`'s jobs, all
    /// of them, in order.
    pub fn build_context(&self, rows: ContextRows, submitted: &Submitted) -> Result<RecordBatch> {
        let base = &submitted.base;
        rows.build(
            self.context.iter().map(|(name, _)| name.as_str()),
            |name| base.column_by_name(name).map(Arc::clone),
            base.num_rows(),
            JOB_CONTEXT_VIEW,
        )
    }

    /// The feature rows of context rows, the last step: row-level, so
    /// context rows from many calls of [`Self::context`] can be projected
    /// at once.
    pub fn features_of_context(&self, context: &RecordBatch) -> Result<RecordBatch> {
        self.features.evaluate(context)
    }
}

/// What one row's context reads of its entity and queue of one kind.
#[derive(Default)]
struct KindContext<'s> {
    entity: Option<&'s EntityHistory>,
    queue: Option<&'s QueueCounts>,
    /// The entity's previous submit, the request's earlier jobs counted.
    last_submit: Option<i64>,
    /// The queue's pending jobs, the request's earlier jobs counted.
    pending: Option<i64>,
}

/// Jobs as the features read them before any state ([`FeatureProgram::submitted`]).
#[derive(Debug, Clone)]
pub struct Submitted {
    base: RecordBatch,
    keys: Vec<StringArray>,
    submit: PrimitiveArray<Int64Type>,
}

impl Submitted {
    /// Jobs held.
    pub fn len(&self) -> usize {
        self.submit.len()
    }

    /// Whether it holds no job.
    pub fn is_empty(&self) -> bool {
        self.submit.is_empty()
    }

    /// Rows `offset..offset + len`, without copying.
    pub fn slice(&self, offset: usize, len: usize) -> Self {
        Self {
            base: self.base.slice(offset, len),
            keys: self.keys.iter().map(|k| k.slice(offset, len)).collect(),
            submit: self.submit.slice(offset, len),
        }
    }
}

/// Splits `<kind>_<stat>` where `kind` is one of `kinds` and `stat` one of `stats`.
fn split_kind(name: &str, kinds: &[String], stats: &[&str]) -> Option<(usize, String)> {
    kinds.iter().enumerate().find_map(|(i, kind)| {
        let stat = name.strip_prefix(kind.as_str())?.strip_prefix('_')?;
        stats.contains(&stat).then(|| (i, stat.to_owned()))
    })
}

fn nullable(schema: &Schema) -> SchemaRef {
    Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect::<Vec<_>>(),
    ))
}

fn register_empty(ctx: &SessionContext, name: &str, schema: SchemaRef) -> Result<()> {
    let table = MemTable::try_new(schema, vec![vec![]]).map_err(ScoringError::sql(name))?;
    ctx.register_table(name, Arc::new(table))
        .map_err(ScoringError::sql(name))?;
    Ok(())
}

async fn table_schema(ctx: &SessionContext, name: &str) -> Result<Schema> {
    let df = ctx.table(name).await.map_err(ScoringError::sql(name))?;
    Ok(df.schema().as_arrow().clone())
}
