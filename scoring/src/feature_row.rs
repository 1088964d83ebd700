//! A feature program's row form: the features of one job from its values,
//! with state lookups by key and the bundle's SQL in [`RowExpr`] form, and
//! no Arrow arrays on the way.
//!
//! It mirrors [`FeatureProgram::features`] step by step (job_base, entity
//! keys, state and overlay, features) so that both give the same row; the
//! serving tests compare them on every column.
//!
//! [`RowExpr`]: crate::row_expr::RowExpr
//! [`FeatureProgram::features`]: crate::feature_program::FeatureProgram::features

use datafusion::arrow::datatypes::DataType;
use rtp_bundle::feature_sql::{FEATURES_TABLE, JOB_BASE_VIEW};
use rtp_jobs::schema::job_schema;

use crate::entity_state::{Overlay, overlaid};
use crate::error::{Result, ScoringError};
use crate::feature_program::ContextColumn;
use crate::live::{HistoryStat, LiveState, QueueCount, StateSchema};
use crate::row_projection::RowProjection;
use crate::row_value::{CastKind, Value, cast_kind, cast_value, render};

/// Where one input of the features query comes from, and the cast to its
/// planned type when the source's type differs.
#[derive(Debug)]
struct FeatureInput {
    source: Source,
    cast: Option<(CastKind, DataType)>,
}

#[derive(Debug)]
enum Source {
    /// Output `i` of job_base.
    Base(usize),
    /// The entity's previous submit, overlay included.
    LastSubmit(usize),
    /// The jobs pending in the entity's queue, overlay included.
    Pending(usize),
    /// A history statistic of the entity of a kind.
    History { kind: usize, stat: HistoryStat },
    /// A queue count of the entity of a kind.
    Queue { kind: usize, count: QueueCount },
}

/// The compiled row form.
#[derive(Debug)]
pub(crate) struct RowPlan {
    /// Per job_base input, its column in the job schema.
    base_inputs: Vec<usize>,
    /// Per entity-key input, its column in the job schema.
    key_inputs: Vec<usize>,
    /// `submit_s` in job_base's output.
    submit: usize,
    features: Vec<FeatureInput>,
}

/// The parts of a compiled feature program the row form reads.
pub(crate) struct Parts<'a> {
    pub job_base: &'a RowProjection,
    pub entity_keys: &'a RowProjection,
    pub features: &'a RowProjection,
    pub context: &'a [(String, ContextColumn)],
    pub kinds: &'a [String],
}

fn not_row_level(context: &str, message: impl Into<String>) -> ScoringError {
    ScoringError::NotRowLevel {
        context: context.into(),
        message: message.into(),
    }
}

impl RowPlan {
    /// The row form, or why there is none.
    pub(crate) fn compile(parts: &Parts<'_>, _state: &StateSchema) -> Result<Self> {
        for p in [parts.job_base, parts.entity_keys, parts.features] {
            p.row_form()
                .map_err(|e| not_row_level(FEATURES_TABLE, e.to_string()))?;
        }
        let schema = job_schema();
        let job_columns = |p: &RowProjection| -> Result<Vec<usize>> {
            p.inputs()
                .iter()
                .map(|(name, ty)| {
                    let i = schema
                        .index_of(name)
                        .map_err(|_| not_row_level(JOB_BASE_VIEW, format!("reads `{name}`")))?;
                    // Job values carry the job schema's types.
                    if schema.field(i).data_type() == ty {
                        Ok(i)
                    } else {
                        Err(not_row_level(
                            JOB_BASE_VIEW,
                            format!("reads `{name}` as {ty}"),
                        ))
                    }
                })
                .collect()
        };
        let base_inputs = job_columns(parts.job_base)?;
        let key_inputs = job_columns(parts.entity_keys)?;
        let submit = parts
            .job_base
            .output_names()
            .iter()
            .position(|n| n == "submit_s")
            .ok_or_else(|| not_row_level(JOB_BASE_VIEW, "job_base has no `submit_s`"))?;

        let base_types = parts.job_base.output_types();
        let mut features = Vec::with_capacity(parts.features.inputs().len());
        for (name, planned) in parts.features.inputs() {
            let (_, column) = parts
                .context
                .iter()
                .find(|(n, _)| n == name)
                .ok_or_else(|| not_row_level(FEATURES_TABLE, format!("reads unknown `{name}`")))?;
            let (source, from) = match column {
                ContextColumn::Base(n) => {
                    let i = parts
                        .job_base
                        .output_names()
                        .iter()
                        .position(|b| b == n)
                        .expect("planned column");
                    (Source::Base(i), base_types[i].clone())
                }
                ContextColumn::History { kind, stat } if *stat == HistoryStat::LastSubmitS => {
                    (Source::LastSubmit(*kind), DataType::Int64)
                }
                ContextColumn::Queue { kind, count } if *count == QueueCount::Pending => {
                    (Source::Pending(*kind), DataType::Int64)
                }
                ContextColumn::History { kind, stat } => {
                    let ty = if stat.is_integer() {
                        DataType::Int64
                    } else {
                        DataType::Float64
                    };
                    (
                        Source::History {
                            kind: *kind,
                            stat: *stat,
                        },
                        ty,
                    )
                }
                ContextColumn::Queue { kind, count } => (
                    Source::Queue {
                        kind: *kind,
                        count: *count,
                    },
                    DataType::Int64,
                ),
            };
            let cast = if &from == planned {
                None
            } else {
                let kind = cast_kind(&from, planned).ok_or_else(|| {
                    not_row_level(
                        FEATURES_TABLE,
                        format!("`{name}` is {from}, planned as {planned}"),
                    )
                })?;
                Some((kind, planned.clone()))
            };
            features.push(FeatureInput { source, cast });
        }
        Ok(Self {
            base_inputs,
            key_inputs,
            submit,
            features,
        })
    }

    /// The features row of one job (`job`: values in job-schema order),
    /// recorded in `overlay` for later jobs of the request.
    pub(crate) fn features(
        &self,
        parts: &Parts<'_>,
        job: &[Value],
        state: &LiveState,
        overlay: &mut Overlay,
    ) -> Result<Vec<Value>> {
        let pick =
            |columns: &[usize]| -> Vec<Value> { columns.iter().map(|&i| job[i].clone()).collect() };
        let base = parts.job_base.evaluate_row(&pick(&self.base_inputs))?;
        let keys = parts.entity_keys.evaluate_row(&pick(&self.key_inputs))?;
        let submit = as_i64(&base[self.submit]).unwrap_or(0);

        // Per kind: its key, its state, and its overlaid submit/pending.
        let mut entities = Vec::with_capacity(parts.kinds.len());
        let mut queues = Vec::with_capacity(parts.kinds.len());
        let mut last_submits = Vec::with_capacity(parts.kinds.len());
        let mut pendings = Vec::with_capacity(parts.kinds.len());
        for (k, key) in keys.iter().enumerate() {
            // The key as the batch path reads it: cast to a string.
            let key = match key {
                Value::Null => None,
                Value::Str(s) => Some(s.to_string()),
                other => Some(render(other, false)),
            };
            let Some(key) = key else {
                entities.push(None);
                queues.push(None);
                last_submits.push(Value::Null);
                pendings.push(Value::Null);
                continue;
            };
            let entity = state.history(k, &key);
            let queue = state.queue(k, &key);
            let stored_last = entity.and_then(|e| as_i64(&e.stat(HistoryStat::LastSubmitS)));
            let (last, pending) = overlaid(
                overlay.get(k, &key),
                submit,
                stored_last,
                queue.map(|q| q.pending),
            );
            entities.push(entity);
            queues.push(queue);
            last_submits.push(last.map_or(Value::Null, Value::Int));
            pendings.push(pending.map_or(Value::Null, Value::Int));
            overlay.record(k, &key, submit);
        }

        let mut input = Vec::with_capacity(self.features.len());
        for f in &self.features {
            let value = match f.source {
                Source::Base(i) => base[i].clone(),
                Source::LastSubmit(k) => last_submits[k].clone(),
                Source::Pending(k) => pendings[k].clone(),
                Source::History { kind, stat } => {
                    entities[kind].map_or(Value::Null, |e| e.stat(stat))
                }
                Source::Queue { kind, count } => {
                    queues[kind].map_or(Value::Null, |q| q.value(count))
                }
            };
            input.push(match &f.cast {
                // The batch path casts with Arrow's default (safe) options.
                Some((kind, to)) => cast_value(&value, *kind, to, true)
                    .map_err(|e| not_row_level(FEATURES_TABLE, e.to_string()))?,
                None => value,
            });
        }
        parts.features.evaluate_row(&input)
    }
}

/// An integer statistic as the batch path reads it (cast to Int64, safe).
fn as_i64(value: &Value) -> Option<i64> {
    match cast_value(
        value,
        CastKind::ToInt {
            bits: 64,
            unsigned: false,
        },
        &DataType::Int64,
        true,
    ) {
        Ok(Value::Int(i)) => Some(i),
        _ => None,
    }
}
