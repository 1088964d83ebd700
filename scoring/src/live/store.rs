//! The durable side of live state: every job's merged record, in redb.
//!
//! The state a server serves is a pure function of its bundle's state and
//! the job records since (the fold is order-tolerant and idempotent), so
//! the records are all that must survive a crash. One record per job is
//! kept, rewritten as events merge into it: the store compacts itself as
//! it goes, and what a restart replays is one record per job, never the
//! event history. Records of jobs that ended before a bundle's data end are
//! dropped when that bundle is served, since its state already holds them.
//!
//! Each write is one redb transaction committed with immediate durability
//! before the events are applied or acknowledged.

use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use rtp_jobs::Job;

use crate::error::{Result, ScoringError};
use crate::live::events::EventKey;

/// Job records by event key, as JSON.
const JOBS: TableDefinition<&str, &[u8]> = TableDefinition::new("jobs");
/// Followers' watermarks by name (Unix seconds read up to).
const MARKS: TableDefinition<&str, i64> = TableDefinition::new("marks");

/// The event store of one server.
#[derive(Debug)]
pub struct EventStore {
    path: PathBuf,
    db: Database,
}

impl EventStore {
    /// Opens the store at `path`, creating it (and its directory) when
    /// absent. A store another process holds open is refused.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| store_error(path, e))?;
        }
        let db = Database::create(path).map_err(|e| store_error(path, e))?;
        let store = Self {
            path: path.to_owned(),
            db,
        };
        // Creates the tables, so reads of a new store find them.
        store.write(|_| Ok(()))?;
        store.set_mark_with(|_| Ok(()))?;
        Ok(store)
    }

    /// Where the store is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every stored record.
    pub fn records(&self) -> Result<Vec<(EventKey, Job)>> {
        let read = self.db.begin_read().map_err(|e| self.error(e))?;
        let table = read.open_table(JOBS).map_err(|e| self.error(e))?;
        let mut records = Vec::with_capacity(table.len().map_err(|e| self.error(e))? as usize);
        for entry in table.iter().map_err(|e| self.error(e))? {
            let (key, value) = entry.map_err(|e| self.error(e))?;
            let job: Job = serde_json::from_slice(value.value())
                .map_err(|e| self.error(format!("record `{}` does not read: {e}", key.value())))?;
            records.push((EventKey(key.value().to_owned()), job));
        }
        Ok(records)
    }

    /// Stores `records` (replacing earlier versions) in one durable
    /// transaction.
    pub fn put<'a>(
        &self,
        records: impl IntoIterator<Item = (&'a EventKey, &'a Job)>,
    ) -> Result<()> {
        self.write(|table| {
            for (key, job) in records {
                let value = serde_json::to_vec(job).map_err(|e| e.to_string())?;
                table
                    .insert(key.0.as_str(), value.as_slice())
                    .map_err(|e| e.to_string())?;
            }
            Ok(())
        })
    }

    /// Removes the records of `keys`; returns how many there were.
    pub fn remove<'a>(&self, keys: impl IntoIterator<Item = &'a EventKey>) -> Result<usize> {
        let mut removed = 0;
        self.write(|table| {
            for key in keys {
                if table
                    .remove(key.0.as_str())
                    .map_err(|e| e.to_string())?
                    .is_some()
                {
                    removed += 1;
                }
            }
            Ok(())
        })?;
        Ok(removed)
    }

    /// The watermark `name` last stored.
    pub fn mark(&self, name: &str) -> Result<Option<i64>> {
        let read = self.db.begin_read().map_err(|e| self.error(e))?;
        let table = read.open_table(MARKS).map_err(|e| self.error(e))?;
        let value = table.get(name).map_err(|e| self.error(e))?;
        Ok(value.map(|v| v.value()))
    }

    /// Stores watermark `name` durably.
    pub fn set_mark(&self, name: &str, value: i64) -> Result<()> {
        self.set_mark_with(|table| {
            table.insert(name, value).map_err(|e| e.to_string())?;
            Ok(())
        })
    }

    fn set_mark_with(
        &self,
        change: impl FnOnce(&mut redb::Table<&str, i64>) -> std::result::Result<(), String>,
    ) -> Result<()> {
        let txn = self.db.begin_write().map_err(|e| self.error(e))?;
        {
            let mut table = txn.open_table(MARKS).map_err(|e| self.error(e))?;
            change(&mut table).map_err(|e| self.error(e))?;
        }
        txn.commit().map_err(|e| self.error(e))
    }

    /// Records stored.
    pub fn len(&self) -> Result<u64> {
        let read = self.db.begin_read().map_err(|e| self.error(e))?;
        let table = read.open_table(JOBS).map_err(|e| self.error(e))?;
        table.len().map_err(|e| self.error(e))
    }

    /// Whether no record is stored.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// The store file's size in bytes.
    pub fn file_bytes(&self) -> u64 {
        std::fs::metadata(&self.path).map_or(0, |m| m.len())
    }

    /// Runs `change` on the jobs table in one committed transaction.
    fn write(
        &self,
        change: impl FnOnce(&mut redb::Table<&str, &[u8]>) -> std::result::Result<(), String>,
    ) -> Result<()> {
        let txn = self.db.begin_write().map_err(|e| self.error(e))?;
        {
            let mut table = txn.open_table(JOBS).map_err(|e| self.error(e))?;
            change(&mut table).map_err(|e| self.error(e))?;
        }
        txn.commit().map_err(|e| self.error(e))
    }

    fn error(&self, e: impl std::fmt::Display) -> ScoringError {
        store_error(&self.path, e)
    }
}

fn store_error(path: &Path, e: impl std::fmt::Display) -> ScoringError {
    ScoringError::Store {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: &str, end: Option<i64>) -> Job {
        Job {
            job_id: id.into(),
            submit_time: Some(100),
            end_time: end,
            state: Some(
                if end.is_some() {
                    "COMPLETED"
                } else {
                    "PENDING"
                }
                .into(),
            ),
            ..Job::default()
        }
    }

    #[test]
    fn records_survive_reopening_and_replace_their_earlier_versions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/events.redb");
        let a = EventKey("c\u{1f}1\u{1f}100".into());
        let b = EventKey("c\u{1f}2\u{1f}100".into());
        {
            let store = EventStore::open(&path).unwrap();
            assert!(store.is_empty().unwrap());
            store
                .put([(&a, &job("1", None)), (&b, &job("2", None))])
                .unwrap();
            store.put([(&a, &job("1", Some(160)))]).unwrap();
        }
        let store = EventStore::open(&path).unwrap();
        let mut records = store.records().unwrap();
        records.sort_by(|x, y| x.0.cmp(&y.0));
        assert_eq!(
            records,
            vec![
                (a.clone(), job("1", Some(160))),
                (b.clone(), job("2", None))
            ]
        );
        assert_eq!(store.remove([&a, &a]).unwrap(), 1);
        assert_eq!(store.len().unwrap(), 1);
        assert!(store.file_bytes() > 0);
    }

    #[test]
    fn a_store_held_by_another_server_is_refused_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.redb");
        let _held = EventStore::open(&path).unwrap();
        let err = EventStore::open(&path).unwrap_err().to_string();
        assert!(err.contains("events.redb"), "{err}");
    }
}
