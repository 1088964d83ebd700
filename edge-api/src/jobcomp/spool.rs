//! Events the edge could not take yet, kept in one file as a stream of
//! length-delimited protobuf `JobEvent` messages (protobuf's own framing
//! for a sequence), under an exclusive lock while it is read or written.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use prost::Message;
use rtp_proto::v1::JobEvent;

/// Why the spool cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("spool {path}: {source}")]
pub struct SpoolError {
    /// The spool file.
    pub path: PathBuf,
    /// The I/O error.
    pub source: std::io::Error,
}

/// The spool file, locked while held.
#[derive(Debug)]
pub struct Spool {
    file: File,
    path: PathBuf,
}

impl Spool {
    /// Opens (creating) and locks `path`; another `rtp-jobcomp` waits.
    pub fn open(path: &Path) -> Result<Self, SpoolError> {
        let fail = |source| SpoolError {
            path: path.to_owned(),
            source,
        };
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(fail)?;
        file.lock().map_err(fail)?;
        Ok(Self {
            file,
            path: path.to_owned(),
        })
    }

    fn fail(&self, source: std::io::Error) -> SpoolError {
        SpoolError {
            path: self.path.clone(),
            source,
        }
    }

    /// The events kept, oldest first, and the bytes at the end that are no
    /// whole event (a write cut short), if any.
    pub fn pending(&mut self) -> Result<(Vec<JobEvent>, usize), SpoolError> {
        let mut bytes = Vec::new();
        self.file
            .seek(SeekFrom::Start(0))
            .and_then(|_| self.file.read_to_end(&mut bytes))
            .map_err(|e| self.fail(e))?;
        let mut rest = bytes.as_slice();
        let mut events = Vec::new();
        while !rest.is_empty() {
            let before = rest;
            match JobEvent::decode_length_delimited(&mut rest) {
                Ok(event) => events.push(event),
                Err(_) => return Ok((events, before.len())),
            }
        }
        Ok((events, 0))
    }

    /// Keeps `events` for later.
    pub fn keep(&mut self, events: &[JobEvent]) -> Result<(), SpoolError> {
        let mut bytes = Vec::new();
        for event in events {
            event
                .encode_length_delimited(&mut bytes)
                .expect("a Vec grows as needed");
        }
        self.file
            .write_all(&bytes)
            .and_then(|_| self.file.sync_data())
            .map_err(|e| self.fail(e))
    }

    /// Forgets every event kept (they were delivered).
    pub fn clear(&mut self) -> Result<(), SpoolError> {
        self.file
            .set_len(0)
            .and_then(|_| self.file.sync_data())
            .map_err(|e| self.fail(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtp_proto::v1::JobFeatures;

    fn event(id: &str) -> JobEvent {
        JobEvent {
            job: Some(JobFeatures {
                job_id: id.into(),
                submit_time: 1,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn events_kept_come_back_in_order_and_a_cut_tail_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spool");
        {
            let mut spool = Spool::open(&path).unwrap();
            spool.keep(&[event("1"), event("2")]).unwrap();
        }
        let mut spool = Spool::open(&path).unwrap();
        spool.keep(&[event("3")]).unwrap();
        let (events, cut) = spool.pending().unwrap();
        let ids: Vec<&str> = events
            .iter()
            .map(|e| e.job.as_ref().unwrap().job_id.as_str())
            .collect();
        assert_eq!(ids, ["1", "2", "3"]);
        assert_eq!(cut, 0);
        spool.clear().unwrap();
        assert!(spool.pending().unwrap().0.is_empty());

        // A write cut short leaves a partial message at the end.
        let mut whole = Vec::new();
        event("4").encode_length_delimited(&mut whole).unwrap();
        std::fs::write(&path, &whole[..whole.len() - 2]).unwrap();
        let (events, cut) = spool.pending().unwrap();
        assert!(events.is_empty());
        assert_eq!(cut, whole.len() - 2);
    }
}
