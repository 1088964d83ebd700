//! An output file written beside its place and renamed into it only once
//! complete, so a failed run leaves the earlier file as it was and no
//! partial one behind.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::error::{PipelineError, Result};

/// The place of an output and the hidden file it is written to first.
#[derive(Debug)]
pub(crate) struct PartialFile {
    path: PathBuf,
    partial: PathBuf,
    placed: bool,
}

impl PartialFile {
    /// The output at `path`, written first to `.NAME.partial` beside it.
    pub(crate) fn new(path: &Path) -> Self {
        let name = path
            .file_name()
            .map_or_else(|| "output".into(), |n| n.to_string_lossy().into_owned());
        Self {
            path: path.to_owned(),
            partial: path.with_file_name(format!(".{name}.partial")),
            placed: false,
        }
    }

    /// Where the finished file goes.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Creates (truncates) the hidden file.
    pub(crate) fn create(&self) -> Result<File> {
        File::create(&self.partial).map_err(PipelineError::io(&self.partial))
    }

    /// Makes `file` (the one [`PartialFile::create`] gave, fully written)
    /// durable and puts it in place.
    pub(crate) fn place(&mut self, file: &File) -> Result<()> {
        file.sync_all().map_err(PipelineError::io(&self.partial))?;
        std::fs::rename(&self.partial, &self.path).map_err(PipelineError::io(&self.path))?;
        self.placed = true;
        Ok(())
    }
}

impl Drop for PartialFile {
    fn drop(&mut self) {
        if !self.placed {
            // Best effort (and absent when nothing was created): a partial
            // file is never read, only left behind.
            let _ = std::fs::remove_file(&self.partial);
        }
    }
}
