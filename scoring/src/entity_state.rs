//! The state tables of a bundle (history_state, queue_state) held in memory:
//! one row per (kind, key), found through a hash map, and the request-local
//! overlay of jobs scored earlier in the same request.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, RecordBatchReader, StringArray, UInt32Array,
};
use datafusion::arrow::compute::{cast, concat_batches, take};
use datafusion::arrow::datatypes::DataType;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::error::{Result, ScoringError};
use crate::row_value::{Value, value_at};

/// A state table: statistic columns, and an index from (kind, key) to row.
#[derive(Debug)]
pub struct KeyedState {
    table: String,
    index: HashMap<String, HashMap<String, u32>>,
    stats: Vec<(String, ArrayRef)>,
}

impl KeyedState {
    /// Reads the table at `path`; `kind_column` and `key_column` identify a
    /// row, every other column is a statistic.
    pub fn read(path: &Path, table: &str, kind_column: &str, key_column: &str) -> Result<Self> {
        let error = |message: String| ScoringError::State {
            table: table.to_owned(),
            message,
        };
        let file = File::open(path).map_err(|e| error(format!("{}: {e}", path.display())))?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .and_then(|b| b.with_batch_size(65_536).build())
            .map_err(|e| error(format!("{}: {e}", path.display())))?;
        let schema = reader.schema();
        let batches = reader
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| error(format!("{}: {e}", path.display())))?;
        let batch = concat_batches(&schema, &batches).map_err(|e| error(e.to_string()))?;
        let strings = |name: &str| -> Result<StringArray> {
            let column = batch
                .column_by_name(name)
                .ok_or_else(|| error(format!("no column `{name}`")))?;
            let column = cast(column, &DataType::Utf8).map_err(|e| error(e.to_string()))?;
            Ok(column.as_string::<i32>().clone())
        };
        let kinds = strings(kind_column)?;
        let keys = strings(key_column)?;
        let mut index: HashMap<String, HashMap<String, u32>> = HashMap::new();
        for row in 0..batch.num_rows() {
            if kinds.is_null(row) || keys.is_null(row) {
                continue;
            }
            index
                .entry(kinds.value(row).to_owned())
                .or_default()
                .insert(keys.value(row).to_owned(), row as u32);
        }
        let stats = schema
            .fields()
            .iter()
            .zip(batch.columns())
            .filter(|(f, _)| f.name() != kind_column && f.name() != key_column)
            .map(|(f, c)| (f.name().clone(), Arc::clone(c)))
            .collect();
        Ok(Self {
            table: table.to_owned(),
            index,
            stats,
        })
    }

    /// The statistic columns' names.
    pub fn stat_names(&self) -> impl Iterator<Item = &str> {
        self.stats.iter().map(|(n, _)| n.as_str())
    }

    /// Number of (kind, key) rows.
    pub fn len(&self) -> usize {
        self.index.values().map(HashMap::len).sum()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Per key, its row in the table (null when the key is null or unknown).
    pub fn rows_of(&self, kind: &str, keys: &StringArray) -> UInt32Array {
        let Some(index) = self.index.get(kind) else {
            return UInt32Array::new_null(keys.len());
        };
        keys.iter()
            .map(|k| k.and_then(|k| index.get(k).copied()))
            .collect()
    }

    /// The row of one key, if the table has it.
    pub fn row_of(&self, kind: &str, key: &str) -> Option<u32> {
        self.index.get(kind)?.get(key).copied()
    }

    /// The position of statistic `stat` and its type.
    pub fn stat_column(&self, stat: &str) -> Result<(usize, &DataType)> {
        self.stats
            .iter()
            .position(|(n, _)| n == stat)
            .map(|i| (i, self.stats[i].1.data_type()))
            .ok_or_else(|| ScoringError::State {
                table: self.table.clone(),
                message: format!("no statistic `{stat}`"),
            })
    }

    /// Statistic number `stat` (see [`KeyedState::stat_column`]) of `row`;
    /// NULL when there is no row.
    pub fn stat_value(&self, stat: usize, row: Option<u32>) -> Result<Value> {
        let Some(row) = row else {
            return Ok(Value::Null);
        };
        let (name, column) = &self.stats[stat];
        value_at(column, row as usize)
            .map_err(|e| ScoringError::arrow(format!("{}: reading `{name}`", self.table))(e))
    }

    /// Statistic `stat` at `rows` (null where `rows` is null).
    pub fn take_stat(&self, stat: &str, rows: &UInt32Array) -> Result<ArrayRef> {
        let (_, column) =
            self.stats
                .iter()
                .find(|(n, _)| n == stat)
                .ok_or_else(|| ScoringError::State {
                    table: self.table.clone(),
                    message: format!("no statistic `{stat}`"),
                })?;
        take(column.as_ref(), rows, None)
            .map_err(|e| ScoringError::arrow(format!("{}: looking up `{stat}`", self.table))(e))
    }
}

/// Jobs scored earlier in the same request, as later jobs of the request
/// see them: each is the latest submit of its entities and is pending in its
/// queues. Requests are taken as submission sequences, in row order.
#[derive(Debug, Default)]
pub struct Overlay {
    /// Per entity kind (by index), per key, what the request added.
    kinds: Vec<HashMap<String, EntityOverlay>>,
    /// Rows seen, which numbers rows that come without a `job_key`.
    pub(crate) rows_seen: i64,
    /// Rows are independent jobs, not a sequence: none sees another.
    isolated: bool,
}

/// What the request's earlier jobs added to one entity.
#[derive(Debug, Clone, Copy)]
pub struct EntityOverlay {
    /// The latest submit, epoch seconds.
    pub last_submit: i64,
    /// Jobs submitted before the latest submit second.
    before: i64,
    /// Jobs submitted in the latest submit second, which a job submitted in
    /// the same second does not see.
    at_last: i64,
}

impl EntityOverlay {
    /// Jobs of this request pending in the entity's queue strictly before `t`.
    pub fn pending_before(&self, t: i64) -> i64 {
        if t > self.last_submit {
            self.before + self.at_last
        } else {
            self.before
        }
    }
}

/// A job's view of one of its entities: its previous submit and the jobs
/// pending in its queue, from the state table (`stored_*`) and from the
/// request's earlier jobs (`seen`). Batches and single rows both use it.
pub fn overlaid(
    seen: Option<&EntityOverlay>,
    submit: i64,
    stored_last_submit: Option<i64>,
    stored_pending: Option<i64>,
) -> (Option<i64>, Option<i64>) {
    let last = seen.map(|e| e.last_submit).or(stored_last_submit);
    let before = seen.map_or(0, |e| e.pending_before(submit));
    let pending = match stored_pending {
        Some(p) => Some(p + before),
        None if before > 0 => Some(before),
        None => None,
    };
    (last, pending)
}

impl Overlay {
    /// An overlay for requests whose rows are unrelated jobs (separate
    /// callers batched together): each row sees only the bundle's state, as
    /// if it had been sent alone.
    pub fn isolated() -> Self {
        Self {
            isolated: true,
            ..Self::default()
        }
    }

    /// The entity's overlay, if the request has seen it.
    pub fn get(&self, kind: usize, key: &str) -> Option<&EntityOverlay> {
        self.kinds.get(kind)?.get(key)
    }

    /// Records a job of the entity submitted at `t`.
    pub fn record(&mut self, kind: usize, key: &str, t: i64) {
        if self.isolated {
            return;
        }
        if self.kinds.len() <= kind {
            self.kinds.resize_with(kind + 1, HashMap::new);
        }
        let keys = &mut self.kinds[kind];
        match keys.get_mut(key) {
            Some(e) if t > e.last_submit => {
                e.before += e.at_last;
                e.at_last = 1;
                e.last_submit = t;
            }
            // Same second, or (out of order) earlier: counted at the latest.
            Some(e) => e.at_last += 1,
            None => {
                keys.insert(
                    key.to_owned(),
                    EntityOverlay {
                        last_submit: t,
                        before: 0,
                        at_last: 1,
                    },
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_counts_only_earlier_seconds_and_last_submit_is_the_latest() {
        let mut o = Overlay::default();
        assert!(o.get(0, "a").is_none());
        o.record(0, "a", 10);
        assert_eq!(o.get(0, "a").unwrap().pending_before(10), 0);
        o.record(0, "a", 10);
        assert_eq!(o.get(0, "a").unwrap().pending_before(11), 2);
        o.record(0, "a", 11);
        let a = o.get(0, "a").unwrap();
        assert_eq!((a.pending_before(11), a.pending_before(12)), (2, 3));
        assert_eq!(a.last_submit, 11);
        assert!(o.get(0, "b").is_none() && o.get(1, "a").is_none());

        let mut isolated = Overlay::isolated();
        isolated.record(0, "a", 10);
        assert!(isolated.get(0, "a").is_none());
    }
}
