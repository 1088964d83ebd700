//! A process's CPU time and memory from Linux `/proc`: the edge reports
//! its own in HealthCheck, the benchmarks read their servers'. Where
//! `/proc` is unavailable every figure is zero.

use std::time::Duration;

/// Which process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pid {
    /// This process.
    Own,
    /// Another process, by id.
    Of(u32),
}

impl Pid {
    fn read(self, file: &str) -> String {
        let path = match self {
            Self::Own => format!("/proc/self/{file}"),
            Self::Of(pid) => format!("/proc/{pid}/{file}"),
        };
        std::fs::read_to_string(path).unwrap_or_default()
    }
}

/// CPU time (user + system) used by the process so far.
pub fn cpu_time(pid: Pid) -> Duration {
    let stat = pid.read("stat");
    // Fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime, in USER_HZ, which Linux fixes at 100 for /proc.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// Resident memory now and at its peak, bytes.
pub fn resident_bytes(pid: Pid) -> (u64, u64) {
    let status = pid.read("status");
    let kib = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    (kib("VmRSS:"), kib("VmHWM:"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_memory_and_cpu() {
        let (now, peak) = resident_bytes(Pid::Own);
        assert!(now > 1 << 20 && peak >= now, "{now} {peak}");
        let spin = std::time::Instant::now();
        while spin.elapsed() < Duration::from_millis(30) {}
        assert!(cpu_time(Pid::Own) > Duration::ZERO);
        assert!(cpu_time(Pid::Of(std::process::id())) > Duration::ZERO);
    }
}
