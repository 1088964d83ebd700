//! Wall time, rows and peak memory per pipeline stage, for the run summary
//! and `rtp bench pipeline`.

use std::time::{Duration, Instant};

/// Measurements of one stage.
#[derive(Debug, Clone, PartialEq)]
pub struct StageReport {
    /// Stage name.
    pub name: String,
    /// Wall time.
    pub wall: Duration,
    /// Rows the stage produced or processed.
    pub rows: u64,
    /// Peak resident memory of the process during the stage, bytes (Linux).
    pub peak_rss: Option<u64>,
}

impl StageReport {
    /// Rows per second.
    pub fn rows_per_s(&self) -> f64 {
        self.rows as f64 / self.wall.as_secs_f64().max(1e-9)
    }
}

/// A stage in progress.
#[derive(Debug)]
pub struct Stage {
    name: String,
    started: Instant,
}

/// Starts timing a stage and resets the process's peak-RSS mark, so the
/// stage's own peak is what gets reported.
pub fn start(name: &str) -> Stage {
    // Linux: writing 5 to clear_refs resets VmHWM. Elsewhere the peak is
    // simply the process-wide one.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    tracing::info!(stage = name, "started");
    Stage {
        name: name.to_owned(),
        started: Instant::now(),
    }
}

impl Stage {
    /// Ends the stage.
    pub fn finish(self, rows: u64) -> StageReport {
        let report = StageReport {
            name: self.name,
            wall: self.started.elapsed(),
            rows,
            peak_rss: peak_rss(),
        };
        tracing::info!(stage = %report.name, secs = report.wall.as_secs_f64(), rows, "finished");
        report
    }
}

/// The process's peak resident set size since the last reset (VmHWM), bytes.
pub fn peak_rss() -> Option<u64> {
    status_bytes("VmHWM")
}

/// The process's resident set size now (VmRSS), bytes.
pub fn current_rss() -> Option<u64> {
    status_bytes("VmRSS")
}

/// A size field of /proc/self/status (Linux), bytes.
fn status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| {
        l.strip_prefix(field)
            .is_some_and(|rest| rest.starts_with(':'))
    })?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Hands memory the process has freed back to the system. glibc keeps
/// freed blocks in its per-thread arenas; after the feature SQL that is
/// gigabytes the next stage would otherwise stack its own on top of.
pub fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages of the allocator's own
    // arenas to the kernel; no live allocation is touched.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Renders stage reports as a table, with a total row.
pub fn render_stage_table(stages: &[StageReport]) -> String {
    let mut out = format!(
        "{:<22} {:>10} {:>12} {:>12} {:>13}\n",
        "stage", "wall_s", "rows", "rows_per_s", "peak_rss_mib"
    );
    let mib =
        |b: Option<u64>| b.map_or("-".to_owned(), |b| format!("{:.0}", b as f64 / 1_048_576.0));
    for s in stages {
        out.push_str(&format!(
            "{:<22} {:>10.1} {:>12} {:>12.0} {:>13}\n",
            s.name,
            s.wall.as_secs_f64(),
            s.rows,
            s.rows_per_s(),
            mib(s.peak_rss)
        ));
    }
    let total: Duration = stages.iter().map(|s| s.wall).sum();
    let peak = stages.iter().filter_map(|s| s.peak_rss).max();
    out.push_str(&format!(
        "{:<22} {:>10.1} {:>12} {:>12} {:>13}\n",
        "total",
        total.as_secs_f64(),
        "",
        "",
        mib(peak)
    ));
    out
}
