//! The process's own memory and CPU use, for the HealthCheck response.

use std::time::Duration;

use rtp_service_support::proc_stats::{Pid, cpu_time, resident_bytes};

/// Resident memory in MiB (0 where `/proc` is unavailable).
pub fn resident_mib() -> f64 {
    resident_bytes(Pid::Own).0 as f64 / f64::from(1 << 20)
}

/// Average CPU use over `uptime`, percent of one core.
pub fn cpu_percent(uptime: Duration) -> f64 {
    if uptime.is_zero() {
        return 0.0;
    }
    100.0 * cpu_time(Pid::Own).as_secs_f64() / uptime.as_secs_f64()
}
