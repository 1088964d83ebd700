//! Giving memory back once the streams are done. A burst of concurrent
//! exchanges leaves the allocator holding the peak (glibc keeps freed pages
//! in its per-thread arenas), so a server that scored 16 large streams at
//! once would keep a gigabyte it no longer uses. When the last open stream
//! ends, free pages are returned to the system.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Streams open now; cloned into every stream's task.
#[derive(Debug, Clone, Default)]
pub struct OpenStreams(Arc<AtomicUsize>);

/// Held by a stream while it runs; the last one dropped trims the heap.
#[derive(Debug)]
pub struct StreamGuard(Arc<AtomicUsize>);

impl OpenStreams {
    /// Counts a stream as open until the guard is dropped.
    pub fn open(&self) -> StreamGuard {
        self.0.fetch_add(1, Ordering::AcqRel);
        StreamGuard(Arc::clone(&self.0))
    }

    /// Streams open now.
    pub fn count(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        if self.0.fetch_sub(1, Ordering::AcqRel) == 1 {
            // Off the async threads: a trim walks every arena.
            std::thread::spawn(release_free_memory);
        }
    }
}

/// Returns the allocator's free pages to the system.
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it is
    // safe to call at any time from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_counted_until_their_guards_drop() {
        let open = OpenStreams::default();
        let a = open.open();
        let b = open.open();
        assert_eq!(open.count(), 2);
        drop(a);
        assert_eq!(open.count(), 1);
        drop(b);
        assert_eq!(open.count(), 0);
    }
}
