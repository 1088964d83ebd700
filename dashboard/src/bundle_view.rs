//! The active bundle as the pages see it: its manifest and the partition and
//! QoS names it was trained on. Re-read when `latest` moves, so the pages
//! follow the same bundle as the servers.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rtp_bundle::{BundleStore, CategoryCodes, Manifest};

use crate::error::DashboardError;

/// What the pages show about the serving bundle.
#[derive(Debug)]
pub struct ActiveBundle {
    /// Its manifest.
    pub manifest: Manifest,
    /// Partitions seen in training, for the form's suggestions.
    pub partitions: Vec<String>,
    /// QoS values seen in training.
    pub qos: Vec<String>,
}

impl ActiveBundle {
    /// Training date, `YYYY-MM-DD HH:MM UTC`.
    pub fn trained(&self) -> String {
        chrono::DateTime::parse_from_rfc3339(&self.manifest.created)
            .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_else(|_| self.manifest.created.clone())
    }
}

/// Follows a bundle store's `latest`.
#[derive(Debug)]
pub struct BundleView {
    store: BundleStore,
    current: Mutex<Option<Arc<ActiveBundle>>>,
}

impl BundleView {
    /// A view of the store at `root`.
    pub fn new(root: PathBuf) -> Self {
        Self {
            store: BundleStore::new(root),
            current: Mutex::new(None),
        }
    }

    /// The bundle `latest` names now (read again only when it changed).
    pub fn active(&self) -> Result<Arc<ActiveBundle>, DashboardError> {
        let version = self
            .store
            .latest_version()
            .map_err(|e| DashboardError::NoBundle(e.to_string()))?;
        let mut current = self.current.lock().expect("bundle view lock");
        if let Some(active) = current.as_ref().filter(|a| a.manifest.version == version) {
            return Ok(Arc::clone(active));
        }
        let loaded = self
            .store
            .open(&version)
            .map_err(|e| DashboardError::NoBundle(e.to_string()))?;
        let categories = CategoryCodes::read(&loaded.dir.join(&loaded.manifest.categories_file))
            .unwrap_or_default();
        let values = |name: &str| categories.columns.get(name).cloned().unwrap_or_default();
        let active = Arc::new(ActiveBundle {
            partitions: values("cat_partition"),
            qos: values("cat_qos"),
            manifest: loaded.manifest,
        });
        *current = Some(Arc::clone(&active));
        Ok(active)
    }
}
