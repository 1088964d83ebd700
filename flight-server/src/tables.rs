//! Tables stored by DoPut, already scored, until fetched by DoGet or dropped.

use std::collections::BTreeMap;
use std::sync::Mutex;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;

/// A scored table.
#[derive(Debug, Clone)]
pub struct StoredTable {
    /// Schema of the scored rows.
    pub schema: SchemaRef,
    /// The scored batches, in the order they were put.
    pub batches: Vec<RecordBatch>,
    /// Rows in all batches.
    pub rows: u64,
    /// Rows that came back with an error.
    pub failed_rows: u64,
    /// Memory held by the batches.
    pub bytes: u64,
    /// The bundle version that scored them.
    pub model_version: String,
}

/// Named scored tables within a memory budget.
#[derive(Debug)]
pub struct TableStore {
    tables: Mutex<BTreeMap<String, StoredTable>>,
    max_bytes: u64,
}

/// A put that does not fit the budget.
#[derive(Debug, thiserror::Error)]
#[error(
    "storing {needed} bytes would exceed the {max} bytes allowed for stored tables ({held} held); drop a table or fetch it with DoExchange instead"
)]
pub struct OverBudget {
    /// Bytes of the table to store.
    pub needed: u64,
    /// Bytes already held.
    pub held: u64,
    /// The budget.
    pub max: u64,
}

impl TableStore {
    /// An empty store holding at most `max_bytes`.
    pub fn new(max_bytes: u64) -> Self {
        Self {
            tables: Mutex::new(BTreeMap::new()),
            max_bytes,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, StoredTable>> {
        self.tables.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Memory held by all tables.
    pub fn stored_bytes(&self) -> u64 {
        self.lock().values().map(|t| t.bytes).sum()
    }

    /// Whether `extra` more bytes fit, counting the table `name` would replace.
    pub fn check_room(&self, name: &str, extra: u64) -> Result<(), OverBudget> {
        let tables = self.lock();
        let held: u64 = tables
            .iter()
            .filter(|(n, _)| n.as_str() != name)
            .map(|(_, t)| t.bytes)
            .sum();
        if held + extra > self.max_bytes {
            return Err(OverBudget {
                needed: extra,
                held,
                max: self.max_bytes,
            });
        }
        Ok(())
    }

    /// Stores (or replaces) a table.
    pub fn insert(&self, name: String, table: StoredTable) -> Result<(), OverBudget> {
        self.check_room(&name, table.bytes)?;
        self.lock().insert(name, table);
        Ok(())
    }

    /// A stored table.
    pub fn get(&self, name: &str) -> Option<StoredTable> {
        self.lock().get(name).cloned()
    }

    /// Removes a table; whether it existed.
    pub fn remove(&self, name: &str) -> bool {
        self.lock().remove(name).is_some()
    }

    /// All tables, by name.
    pub fn list(&self) -> Vec<(String, StoredTable)> {
        self.lock()
            .iter()
            .map(|(n, t)| (n.clone(), t.clone()))
            .collect()
    }
}
