//! The worker threads every batch evaluation in the process shares.
//!
//! A large batch is split across threads; without a shared bound, each of N
//! concurrent streams would start as many threads as there are cores, and
//! N streams would run N × cores threads on the same cores. Here a batch
//! borrows only the helpers no other batch holds; with none free it runs on
//! its calling thread alone, which is never worse than waiting.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Threads available to this process, asked once: the answer reads cgroup
/// files, which costs more than scoring a small batch.
pub(crate) fn available_threads() -> usize {
    static THREADS: OnceLock<usize> = OnceLock::new();
    *THREADS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Helper threads in use by all batches now.
static BUSY: AtomicUsize = AtomicUsize::new(0);

/// Helper threads a batch holds; they are given back when it is dropped.
#[derive(Debug)]
pub(crate) struct Helpers {
    count: usize,
}

impl Helpers {
    /// Up to `wanted` helpers, as many as are free of the process's
    /// `available_threads() - 1` (the calling thread works too).
    pub(crate) fn borrow(wanted: usize) -> Self {
        let limit = available_threads().saturating_sub(1);
        let mut busy = BUSY.load(Ordering::Relaxed);
        loop {
            let count = wanted.min(limit.saturating_sub(busy));
            if count == 0 {
                return Self { count: 0 };
            }
            match BUSY.compare_exchange_weak(
                busy,
                busy + count,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Self { count },
                Err(now) => busy = now,
            }
        }
    }

    /// How many helpers the batch may start.
    pub(crate) fn count(&self) -> usize {
        self.count
    }
}

impl Drop for Helpers {
    fn drop(&mut self) {
        BUSY.fetch_sub(self.count, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_are_shared_and_given_back() {
        // Other tests of this binary may hold helpers meanwhile: only the
        // bound is certain, and that given-back helpers can be had again.
        let limit = available_threads().saturating_sub(1);
        let first = Helpers::borrow(usize::MAX);
        let second = Helpers::borrow(usize::MAX);
        assert!(first.count() + second.count() <= limit);
        drop((first, second));
        if limit > 0 {
            let got = (0..10_000).any(|_| {
                let h = Helpers::borrow(1);
                std::thread::yield_now();
                h.count() == 1
            });
            assert!(got, "helpers were not given back");
        }
    }
}
