//! The bundle's feature SQL compiled for new jobs.
//!
//! At load time every SQL file is planned over empty tables, which gives
//! each intermediate table's schema without data. Three row-level queries
//! are then compiled: `job_base` and the entity keys of `job_entities` over
//! the job table, and the `features` query over `job_context`. At request
//! time a `job_context` row is assembled from the first two and from the
//! state tables, exactly as the batch SQL's joins would assemble it for a
//! job submitted after the training data ends.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Int64Array, RecordBatch, StringArray, UInt32Array,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type, Schema, SchemaRef};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use rtp_bundle::feature_sql::{
    ENTITY_KEY_SUFFIX, FEATURES_TABLE, HISTORY_STATE_TABLE, HISTORY_WIDE_TABLE, JOB_BASE_VIEW,
    JOB_CONTEXT_VIEW, JOB_ENTITIES_VIEW, JOBS_TABLE, QUEUE_STATE_TABLE, QUEUE_WIDE_TABLE, SqlFile,
};
use rtp_jobs::schema::{col, job_schema};

use crate::entity_state::{KeyedState, Overlay, overlaid};
use crate::error::{Result, ScoringError};
use crate::feature_row::{Parts, RowPlan};
use crate::row_projection::{RowProjection, batch_of};
use crate::row_value::Value;

/// The history statistic that jobs earlier in a request update.
pub(crate) const LAST_SUBMIT_STAT: &str = "last_submit_s";
/// The queue count that jobs earlier in a request update.
pub(crate) const PENDING_COUNT: &str = "pending";

/// Where a `job_context` column comes from.
#[derive(Debug, Clone)]
pub(crate) enum ContextColumn {
    /// A column of `job_base`.
    Base(String),
    /// Statistic `stat` of the job's entity of kind `kind`.
    History { kind: usize, stat: String },
    /// Count `count` of the job's queue of scope `kind`.
    Queue { kind: usize, count: String },
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
}

/// The state a program reads: the bundle's history and queue tables.
#[derive(Debug)]
pub struct ServingState {
    /// Per-entity history at the end of the training data.
    pub history: KeyedState,
    /// Per-queue counts at the end of the training data.
    pub queue: KeyedState,
}

impl FeatureProgram {
    /// Plans `files` (a bundle's SQL, in order) and compiles the row-level
    /// parts. `state` supplies the names of the history statistics and
    /// queue counts.
    pub async fn compile(files: &[SqlFile], state: &ServingState) -> Result<Self> {
        let ctx = SessionContext::new();
        register_empty(&ctx, JOBS_TABLE, job_schema())?;
        let mut features_sql = None;
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

        let history_stats: Vec<&str> = state.history.stat_names().collect();
        let queue_counts: Vec<&str> = state.queue.stat_names().collect();
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
                    Some((kind, stat)) => ContextColumn::History { kind, stat },
                    None => continue, // the table's own key
                }
            } else if queue_wide.field_with_name(name).is_ok() {
                match split_kind(name, &kinds, &queue_counts) {
                    Some((kind, count)) => ContextColumn::Queue { kind, count },
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
        for (name, source) in &context {
            if let ContextColumn::History { stat, .. } = source
                && !state.history.stat_names().any(|s| s == stat)
            {
                return Err(ScoringError::State {
                    table: HISTORY_STATE_TABLE.into(),
                    message: format!("no statistic `{stat}` for `{name}`"),
                });
            }
            if let ContextColumn::Queue { count, .. } = source
                && !state.queue.stat_names().any(|s| s == count)
            {
                return Err(ScoringError::State {
                    table: QUEUE_STATE_TABLE.into(),
                    message: format!("no count `{count}` for `{name}`"),
                });
            }
        }
        let mut program = Self {
            job_base,
            entity_keys,
            kinds,
            context,
            features,
            row: Err(String::new()),
        };
        program.row = RowPlan::compile(&program.parts(), state).map_err(|e| e.to_string());
        Ok(program)
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
        state: &ServingState,
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
        state: &ServingState,
        overlay: &mut Overlay,
    ) -> Result<RecordBatch> {
        let rows = jobs.num_rows();
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
        let submit = submit.as_primitive::<Int64Type>();

        // State rows of each kind's entity, for history and for queues.
        let history_rows: Vec<UInt32Array> = self
            .kinds
            .iter()
            .zip(&keys)
            .map(|(kind, k)| state.history.rows_of(kind, k))
            .collect();
        let queue_rows: Vec<UInt32Array> = self
            .kinds
            .iter()
            .zip(&keys)
            .map(|(kind, k)| state.queue.rows_of(kind, k))
            .collect();
        let (last_submits, pendings) =
            self.apply_overlay(&keys, submit, state, &history_rows, &queue_rows, overlay)?;

        let mut names = Vec::with_capacity(self.context.len());
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.context.len());
        for (name, source) in &self.context {
            let column = match source {
                ContextColumn::Base(n) => {
                    Arc::clone(base.column_by_name(n).expect("planned column"))
                }
                ContextColumn::History { kind, stat } if stat == LAST_SUBMIT_STAT => {
                    Arc::clone(&last_submits[*kind])
                }
                ContextColumn::Queue { kind, count } if count == PENDING_COUNT => {
                    Arc::clone(&pendings[*kind])
                }
                ContextColumn::History { kind, stat } => {
                    state.history.take_stat(stat, &history_rows[*kind])?
                }
                ContextColumn::Queue { kind, count } => {
                    state.queue.take_stat(count, &queue_rows[*kind])?
                }
            };
            names.push(name.as_str());
            columns.push(column);
        }
        let context = batch_of(names.into_iter(), columns, rows, JOB_CONTEXT_VIEW)?;
        self.features.evaluate(&context)
    }

    /// Per kind, the entity's previous submit and the jobs pending in its
    /// queue, counting the request's earlier jobs; records each job.
    fn apply_overlay(
        &self,
        keys: &[StringArray],
        submit: &datafusion::arrow::array::PrimitiveArray<Int64Type>,
        state: &ServingState,
        history_rows: &[UInt32Array],
        queue_rows: &[UInt32Array],
        overlay: &mut Overlay,
    ) -> Result<(Vec<ArrayRef>, Vec<ArrayRef>)> {
        let rows = submit.len();
        let as_i64 = |a: ArrayRef| -> Result<Int64Array> {
            let a = cast(&a, &DataType::Int64).map_err(ScoringError::arrow("state statistic"))?;
            Ok(a.as_primitive::<Int64Type>().clone())
        };
        let mut state_last = Vec::with_capacity(self.kinds.len());
        let mut state_pending = Vec::with_capacity(self.kinds.len());
        for k in 0..self.kinds.len() {
            state_last.push(as_i64(
                state
                    .history
                    .take_stat(LAST_SUBMIT_STAT, &history_rows[k])?,
            )?);
            state_pending.push(as_i64(
                state.queue.take_stat(PENDING_COUNT, &queue_rows[k])?,
            )?);
        }
        let mut last: Vec<Vec<Option<i64>>> = vec![Vec::with_capacity(rows); self.kinds.len()];
        let mut pending: Vec<Vec<Option<i64>>> = vec![Vec::with_capacity(rows); self.kinds.len()];
        for row in 0..rows {
            let t = submit.value(row);
            for k in 0..self.kinds.len() {
                if keys[k].is_null(row) {
                    last[k].push(None);
                    pending[k].push(None);
                    continue;
                }
                let key = keys[k].value(row);
                let from_state = |a: &Int64Array| (!a.is_null(row)).then(|| a.value(row));
                let (l, p) = overlaid(
                    overlay.get(k, key),
                    t,
                    from_state(&state_last[k]),
                    from_state(&state_pending[k]),
                );
                last[k].push(l);
                pending[k].push(p);
                overlay.record(k, key, t);
            }
        }
        let arrays = |v: Vec<Vec<Option<i64>>>| -> Vec<ArrayRef> {
            v.into_iter()
                .map(|c| Arc::new(Int64Array::from(c)) as ArrayRef)
                .collect()
        };
        Ok((arrays(last), arrays(pending)))
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
