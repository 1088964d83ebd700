//! Unit conversions, each written once. The job table holds seconds and MB
//! for the whole job; the gRPC wire carries memory in GB.

/// MB per GB (Slurm's convention: `1G` = `1024M`).
pub const MB_PER_GB: f64 = 1024.0;

/// KB per MB.
pub const KB_PER_MB: f64 = 1024.0;

/// Seconds per minute, hour and day.
pub const SECONDS_PER_MINUTE: f64 = 60.0;
/// Seconds per hour.
pub const SECONDS_PER_HOUR: f64 = 3_600.0;
/// Seconds per day.
pub const SECONDS_PER_DAY: f64 = 86_400.0;

/// MB of `gb` gigabytes.
pub fn mb_from_gb(gb: f64) -> f64 {
    gb * MB_PER_GB
}

/// GB of `mb` megabytes.
pub fn gb_from_mb(mb: f64) -> f64 {
    mb / MB_PER_GB
}

/// MB of `kb` kilobytes.
pub fn mb_from_kb(kb: f64) -> f64 {
    kb / KB_PER_MB
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_round_trips() {
        assert_eq!(mb_from_gb(2.0), 2048.0);
        assert_eq!(gb_from_mb(mb_from_gb(96.5)), 96.5);
        assert_eq!(mb_from_kb(1024.0), 1.0);
    }
}
