//! The state a server scores from: every entity's history and every
//! queue's counts, starting from the bundle's `history_state` and
//! `queue_state` and continued by job events.
//!
//! A job's events are folded in through [`LiveState::apply`], from what was
//! known of the job before (`prev`) to what is known now (`next`). Each
//! part of a job (its submit, its end, its place in the queue) is counted
//! once, whatever order the parts arrive in; parts at or before the end of
//! the bundle's data are already in its tables and are skipped.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, RecordBatchReader};
use datafusion::arrow::compute::{cast, concat_batches};
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type, SchemaRef};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rtp_bundle::feature_sql::{HISTORY_STATE_TABLE, QUEUE_STATE_TABLE};

use crate::error::{Result, ScoringError};
use crate::live::facts::JobFacts;
use crate::live::history::{EntityHistory, HistoryStat, StoredHistory};
use crate::live::queue::{QueueCount, QueueCounts, QueueTimes};

/// The value of `key` in `map`, a default one inserted if it has none.
/// Looked up before inserting: most events find their entity, and the
/// entry API would copy the key for each.
fn entry_by_ref<'m, V: Default>(map: &'m mut HashMap<String, V>, key: &str) -> &'m mut V {
    if !map.contains_key(key) {
        map.insert(key.to_owned(), V::default());
    }
    map.get_mut(key).expect("inserted above")
}

/// `history_state` columns that continue the statistics rather than being
/// one.
const HISTORY_INPUTS: [&str; 5] = [
    "log_rt_sum",
    "ratio_n",
    "ratio_sum",
    "timeout_sum",
    "recent_log_rt",
];

/// `queue_state`'s latest event time per queue, which with the history's
/// latest submits and ends dates the end of the bundle's data.
const QUEUE_LAST_EVENT: &str = "last_event_s";

/// The statistics and counts a bundle's state tables publish, with their
/// column types (the features query is planned against those).
#[derive(Debug, Clone)]
pub struct StateSchema {
    /// History statistics: column name, statistic, type.
    pub history: Vec<(String, HistoryStat, DataType)>,
    /// Queue counts: column name, count, type.
    pub queue: Vec<(String, QueueCount, DataType)>,
}

fn state_error(table: &str, message: impl Into<String>) -> ScoringError {
    ScoringError::State {
        table: table.to_owned(),
        message: message.into(),
    }
}

impl StateSchema {
    /// Reads the two tables' schemas. Every statistic column must be one the
    /// online state computes, with the type it computes.
    pub fn read(history: &Path, queue: &Path) -> Result<Self> {
        let history_schema = parquet_schema(history, HISTORY_STATE_TABLE)?;
        let mut history_stats = Vec::new();
        for field in history_schema.fields() {
            let name = field.name();
            if ["entity_kind", "entity_key"].contains(&name.as_str())
                || HISTORY_INPUTS.contains(&name.as_str())
            {
                continue;
            }
            let stat = HistoryStat::from_name(name).ok_or_else(|| {
                state_error(
                    HISTORY_STATE_TABLE,
                    format!("statistic `{name}` has no online definition"),
                )
            })?;
            let expected = if stat.is_integer() {
                DataType::Int64
            } else {
                DataType::Float64
            };
            if field.data_type() != &expected {
                return Err(state_error(
                    HISTORY_STATE_TABLE,
                    format!("`{name}` is {}, expected {expected}", field.data_type()),
                ));
            }
            history_stats.push((name.clone(), stat, expected));
        }
        for input in HISTORY_INPUTS {
            if history_schema.field_with_name(input).is_err() {
                return Err(state_error(
                    HISTORY_STATE_TABLE,
                    format!("no column `{input}`: the bundle predates live state"),
                ));
            }
        }
        let queue_schema = parquet_schema(queue, QUEUE_STATE_TABLE)?;
        let mut queue_counts = Vec::new();
        for field in queue_schema.fields() {
            let name = field.name();
            if ["scope_kind", "scope_key", QUEUE_LAST_EVENT].contains(&name.as_str()) {
                continue;
            }
            let count = QueueCount::from_name(name).ok_or_else(|| {
                state_error(
                    QUEUE_STATE_TABLE,
                    format!("count `{name}` has no online definition"),
                )
            })?;
            if field.data_type() != &DataType::Int64 {
                return Err(state_error(
                    QUEUE_STATE_TABLE,
                    format!("`{name}` is {}, expected Int64", field.data_type()),
                ));
            }
            queue_counts.push((name.clone(), count, DataType::Int64));
        }
        Ok(Self {
            history: history_stats,
            queue: queue_counts,
        })
    }

    /// The history statistic of column `name`, its position and type.
    pub fn history_stat(&self, name: &str) -> Option<(usize, HistoryStat, &DataType)> {
        self.history
            .iter()
            .enumerate()
            .find(|(_, (n, _, _))| n == name)
            .map(|(i, (_, s, t))| (i, *s, t))
    }

    /// The queue count of column `name`, its position and type.
    pub fn queue_count(&self, name: &str) -> Option<(usize, QueueCount, &DataType)> {
        self.queue
            .iter()
            .enumerate()
            .find(|(_, (n, _, _))| n == name)
            .map(|(i, (_, c, t))| (i, *c, t))
    }
}

/// How the state's entities and queues are laid out.
#[derive(Debug, Clone)]
pub struct StateLayout {
    /// Entity kinds, in the feature program's key order.
    pub kinds: Vec<String>,
    /// Per kind, whether it is also a queue scope.
    pub queue_scopes: Vec<bool>,
    /// Ends kept per entity for the median (see [`crate::live::window`]).
    pub window: usize,
}

/// History and queues, as of every event applied.
#[derive(Debug, Clone)]
pub struct LiveState {
    layout: StateLayout,
    /// Events at or before this time are in the base tables.
    base_until_s: Option<i64>,
    history: Vec<HashMap<String, EntityHistory>>,
    queue: Vec<HashMap<String, QueueCounts>>,
    /// Latest event time applied (submit, start or end).
    newest_event_s: Option<i64>,
}

impl LiveState {
    /// A state with no history, for replaying a whole log.
    pub fn empty(layout: StateLayout) -> Self {
        let kinds = layout.kinds.len();
        Self {
            layout,
            base_until_s: None,
            history: vec![HashMap::new(); kinds],
            queue: vec![HashMap::new(); kinds],
            newest_event_s: None,
        }
    }

    /// The bundle's state tables; every event up to their latest time is
    /// in them.
    pub fn read(layout: StateLayout, history: &Path, queue: &Path) -> Result<Self> {
        let mut state = Self::empty(layout);
        let history_until = state.read_history(history)?;
        let queue_until = state.read_queue(queue)?;
        let until = history_until.max(queue_until);
        state.base_until_s = until;
        state.newest_event_s = until;
        Ok(state)
    }

    /// The layout.
    pub fn layout(&self) -> &StateLayout {
        &self.layout
    }

    /// Events at or before this time come from the bundle.
    pub fn base_until_s(&self) -> Option<i64> {
        self.base_until_s
    }

    /// The latest event time the state includes.
    pub fn newest_event_s(&self) -> Option<i64> {
        self.newest_event_s
    }

    /// Entities known, over all kinds.
    pub fn entities(&self) -> usize {
        self.history.iter().map(HashMap::len).sum()
    }

    /// The history of entity `key` of kind number `kind`.
    pub fn history(&self, kind: usize, key: &str) -> Option<&EntityHistory> {
        self.history.get(kind)?.get(key)
    }

    /// The entities of kind number `kind`.
    pub fn entity_keys(&self, kind: usize) -> impl Iterator<Item = &str> {
        self.history[kind].keys().map(String::as_str)
    }

    /// The queues of kind number `kind`.
    pub fn queue_keys(&self, kind: usize) -> impl Iterator<Item = &str> {
        self.queue[kind].keys().map(String::as_str)
    }

    /// The counts of queue `key` of kind number `kind`.
    pub fn queue(&self, kind: usize, key: &str) -> Option<&QueueCounts> {
        self.queue.get(kind)?.get(key)
    }

    /// Folds in what became known of a job: `prev` is what was known before
    /// (`None`: the job is new), `next` what is known now.
    pub fn apply(&mut self, prev: Option<&JobFacts>, next: &JobFacts) {
        let base = self.base_until_s;
        let after_base = |t: i64| base.is_none_or(|b| t > b);
        let new_submit = prev.is_none() && after_base(next.times.submit_s);
        let new_end = next
            .end
            .filter(|e| prev.is_none_or(|p| p.end.is_none()) && after_base(e.end_s));
        let share = |t: &QueueTimes| {
            let mut now = t.share(None);
            if let Some(b) = base {
                now.add(t.share(Some(b)), -1);
            }
            now
        };
        let before = prev.map(|p| share(&p.times)).unwrap_or_default();
        let after = share(&next.times);
        for (kind, key) in next.keys.iter().enumerate() {
            let Some(key) = key else { continue };
            if new_submit || new_end.is_some() {
                let entity = entry_by_ref(&mut self.history[kind], key);
                if new_submit {
                    entity.add_submit(next.times.submit_s);
                }
                if let Some(end) = &new_end {
                    entity.add_end(end, self.layout.window);
                }
            }
            if self.layout.queue_scopes[kind] && before != after {
                let counts = entry_by_ref(&mut self.queue[kind], key);
                counts.add(before, -1);
                counts.add(after, 1);
            }
        }
        let times = [
            Some(next.times.submit_s),
            next.times.start_s,
            next.times.end_s,
        ];
        if let Some(t) = times.into_iter().flatten().max() {
            self.newest_event_s = Some(self.newest_event_s.map_or(t, |n| n.max(t)));
        }
    }

    fn kind_index(&self, kind: &str) -> Option<usize> {
        self.layout.kinds.iter().position(|k| k == kind)
    }

    /// Reads history rows; returns the latest submit or end among them.
    fn read_history(&mut self, path: &Path) -> Result<Option<i64>> {
        let table = HISTORY_STATE_TABLE;
        let batch = read_parquet(path, table)?;
        let strings = string_column(&batch, table, &["entity_kind", "entity_key"])?;
        let (kinds, keys) = (&strings[0], &strings[1]);
        let int = |name| int_column(&batch, table, name);
        let float = |name| float_column(&batch, table, name);
        let (n_ended, ratio_n) = (int("n_ended")?, int("ratio_n")?);
        let (last_end, last_submit) = (int("last_end_s")?, int("last_submit_s")?);
        let (log_rt_sum, ratio_sum) = (float("log_rt_sum")?, float("ratio_sum")?);
        let (timeout_sum, last_rt, prev_rt) =
            (float("timeout_sum")?, float("last_rt")?, float("prev_rt")?);
        let recent = batch
            .column_by_name("recent_log_rt")
            .ok_or_else(|| state_error(table, "no column `recent_log_rt`"))?;
        let recent = recent.as_list_opt::<i32>().ok_or_else(|| {
            state_error(table, format!("`recent_log_rt` is {}", recent.data_type()))
        })?;
        let window = self.layout.window;
        let latest = last_end.iter().chain(&last_submit).flatten().copied().max();
        for row in 0..batch.num_rows() {
            let (Some(kind), Some(key)) = (kinds[row].as_deref(), keys[row].as_deref()) else {
                continue;
            };
            let Some(k) = self.kind_index(kind) else {
                continue;
            };
            let recent_log_rt: Vec<f64> = if recent.is_null(row) {
                Vec::new()
            } else {
                let values = cast(&recent.value(row), &DataType::Float64)
                    .map_err(|e| state_error(table, e.to_string()))?;
                values
                    .as_primitive::<Float64Type>()
                    .iter()
                    .flatten()
                    .collect()
            };
            let n = n_ended[row].unwrap_or(0);
            // The SQL's recent ends and the median's frame are one window.
            if recent_log_rt.len() as i64 != n.min(window as i64) {
                return Err(state_error(
                    table,
                    format!(
                        "{kind} `{key}`: {} recent ends for {n} ended jobs, but the median \
                         window of entity_end_stats is {window}",
                        recent_log_rt.len()
                    ),
                ));
            }
            let stored = StoredHistory {
                n_ended: n,
                log_rt_sum: log_rt_sum[row].unwrap_or(0.0),
                ratio_n: ratio_n[row].unwrap_or(0),
                ratio_sum: ratio_sum[row].unwrap_or(0.0),
                timeout_sum: timeout_sum[row].unwrap_or(0.0),
                recent_log_rt,
                last_rt: last_rt[row],
                prev_rt: prev_rt[row],
                last_end_s: last_end[row],
                last_submit_s: last_submit[row],
            };
            self.history[k].insert(key.to_owned(), EntityHistory::from_stored(stored));
        }
        Ok(latest)
    }

    /// Reads queue rows; returns the latest event among them.
    fn read_queue(&mut self, path: &Path) -> Result<Option<i64>> {
        let table = QUEUE_STATE_TABLE;
        let batch = read_parquet(path, table)?;
        let strings = string_column(&batch, table, &["scope_kind", "scope_key"])?;
        let pending = int_column(&batch, table, "pending")?;
        let running = int_column(&batch, table, "running")?;
        let latest = int_column(&batch, table, QUEUE_LAST_EVENT)?
            .into_iter()
            .flatten()
            .max();
        for row in 0..batch.num_rows() {
            let (Some(kind), Some(key)) = (strings[0][row].as_deref(), strings[1][row].as_deref())
            else {
                continue;
            };
            let Some(k) = self.kind_index(kind) else {
                continue;
            };
            self.queue[k].insert(
                key.to_owned(),
                QueueCounts {
                    pending: pending[row].unwrap_or(0),
                    running: running[row].unwrap_or(0),
                },
            );
        }
        Ok(latest)
    }
}

fn parquet_schema(path: &Path, table: &str) -> Result<SchemaRef> {
    let file =
        File::open(path).map_err(|e| state_error(table, format!("{}: {e}", path.display())))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| state_error(table, format!("{}: {e}", path.display())))?;
    Ok(builder.schema().clone())
}

fn read_parquet(path: &Path, table: &str) -> Result<RecordBatch> {
    let error = |e: String| state_error(table, format!("{}: {e}", path.display()));
    let file = File::open(path).map_err(|e| error(e.to_string()))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.with_batch_size(65_536).build())
        .map_err(|e| error(e.to_string()))?;
    let schema = reader.schema();
    let batches = reader
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| error(e.to_string()))?;
    concat_batches(&schema, &batches).map_err(|e| error(e.to_string()))
}

fn column<'a>(batch: &'a RecordBatch, table: &str, name: &str) -> Result<&'a ArrayRef> {
    batch
        .column_by_name(name)
        .ok_or_else(|| state_error(table, format!("no column `{name}`")))
}

fn string_column(
    batch: &RecordBatch,
    table: &str,
    names: &[&str],
) -> Result<Vec<Vec<Option<String>>>> {
    names
        .iter()
        .map(|name| {
            let c = cast(column(batch, table, name)?, &DataType::Utf8)
                .map_err(|e| state_error(table, e.to_string()))?;
            Ok(c.as_string::<i32>()
                .iter()
                .map(|v| v.map(str::to_owned))
                .collect())
        })
        .collect()
}

fn int_column(batch: &RecordBatch, table: &str, name: &str) -> Result<Vec<Option<i64>>> {
    let c = cast(column(batch, table, name)?, &DataType::Int64)
        .map_err(|e| state_error(table, format!("`{name}`: {e}")))?;
    Ok(c.as_primitive::<Int64Type>().iter().collect())
}

fn float_column(batch: &RecordBatch, table: &str, name: &str) -> Result<Vec<Option<f64>>> {
    let c = cast(column(batch, table, name)?, &DataType::Float64)
        .map_err(|e| state_error(table, format!("`{name}`: {e}")))?;
    Ok(c.as_primitive::<Float64Type>().iter().collect())
}
