//! The process's own memory and CPU use, from Linux `/proc`, for the
//! HealthCheck response.

use std::time::Duration;

/// Resident memory in MiB (0 where `/proc` is unavailable).
pub fn resident_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

/// CPU time (user + system) used by the process so far.
pub fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
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

/// Average CPU use over `uptime`, percent of one core.
pub fn cpu_percent(uptime: Duration) -> f64 {
    if uptime.is_zero() {
        return 0.0;
    }
    100.0 * cpu_time().as_secs_f64() / uptime.as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_memory_and_cpu() {
        assert!(resident_mib() > 1.0);
        let spin = std::time::Instant::now();
        while spin.elapsed() < Duration::from_millis(30) {}
        assert!(cpu_time() > Duration::ZERO);
    }
}
