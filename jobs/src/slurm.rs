//! Slurm's value formats, parsed once for every reader: durations
//! (`--time`, `Timelimit`, `Elapsed`), memory sizes (`--mem`, `ReqMem`),
//! job states and TRES strings.

use crate::units::{KB_PER_MB, MB_PER_GB, SECONDS_PER_DAY, SECONDS_PER_HOUR, SECONDS_PER_MINUTE};
use crate::values::is_blank;

/// What a bare number in a duration counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BareNumber {
    /// Minutes, as Slurm reads `--time=90` and writes limits.
    Minutes,
    /// Seconds, as the Eagle data set's `wallclock_req` column holds them.
    Seconds,
}

/// Parses a Slurm duration (`[D-]HH:MM:SS`, `MM:SS`, `D-HH`, `D-HH:MM`,
/// `HH:MM:SS.mmm`, or a bare number counted as `bare` says) into seconds.
/// `UNLIMITED`, `Partition_Limit` and blanks mean None.
pub fn parse_duration(s: &str, bare: BareNumber) -> Result<Option<f64>, String> {
    let s = s.trim();
    if is_blank(s) || s.eq_ignore_ascii_case("UNLIMITED") || s == "Partition_Limit" {
        return Ok(None);
    }
    let bad = || {
        format!(
            "unknown duration format {s:?} (expected [D-]HH:MM:SS, MM:SS or a number of {bare})"
        )
    };
    let (days, clock) = match s.split_once('-') {
        Some((d, rest)) => (d.parse::<u64>().map_err(|_| bad())?, rest),
        None => (0, s),
    };
    let parts: Vec<&str> = clock.split(':').collect();
    let num = |p: &str| p.parse::<f64>().ok().filter(|v| *v >= 0.0 && v.is_finite());
    let clock = |h: Option<f64>, m: Option<f64>, s: Option<f64>| match (h, m, s) {
        (Some(h), Some(m), Some(s)) if m < 60.0 && s < 60.0 => {
            Some(h * SECONDS_PER_HOUR + m * SECONDS_PER_MINUTE + s)
        }
        _ => None,
    };
    let seconds = match parts.as_slice() {
        [h, m, sec] => clock(num(h), num(m), num(sec)),
        // Slurm reads "MM:SS" with any number of minutes (`--time=90:00`).
        [m, sec] if days == 0 => match (num(m), num(sec)) {
            (Some(m), Some(sec)) if sec < 60.0 => Some(m * SECONDS_PER_MINUTE + sec),
            _ => None,
        },
        // With a day prefix, "D-HH" and "D-HH:MM" are also valid.
        [h, m] => clock(num(h), num(m), Some(0.0)),
        [h] if days > 0 => num(h).map(|h| h * SECONDS_PER_HOUR),
        [number] => num(number).map(|n| match bare {
            BareNumber::Minutes => n * SECONDS_PER_MINUTE,
            BareNumber::Seconds => n,
        }),
        _ => None,
    };
    // Finite parts can still multiply out to infinity ("1e308" minutes).
    seconds
        .map(|s| days as f64 * SECONDS_PER_DAY + s)
        .filter(|total| total.is_finite())
        .map(Some)
        .ok_or_else(bad)
}

/// Seconds as Slurm writes a limit and `--time` reads it: `HH:MM:SS`, or
/// `D-HH:MM:SS` from a day on; a fraction of a second rounds up.
pub fn format_duration(seconds: f64) -> String {
    let total = seconds.max(0.0).ceil() as u64;
    let (days, rest) = (total / 86_400, total % 86_400);
    let clock = format!("{:02}:{:02}:{:02}", rest / 3_600, rest / 60 % 60, rest % 60);
    if days > 0 {
        format!("{days}-{clock}")
    } else {
        clock
    }
}

impl std::fmt::Display for BareNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Minutes => "minutes",
            Self::Seconds => "seconds",
        })
    }
}

/// How a Slurm memory request is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemPer {
    /// Per node (`n` suffix, and Slurm's default).
    Node,
    /// Per allocated CPU (`c` suffix).
    Cpu,
}

/// Parses Slurm's `ReqMem` (`4000M`, `4Gn`, `2Gc`, `512K`, `1T`) into MB and
/// what it is counted per; blank or `0` means None.
pub fn parse_memory(s: &str) -> Result<Option<(f64, MemPer)>, String> {
    let s = s.trim();
    if is_blank(s) {
        return Ok(None);
    }
    let bad = || format!("unknown memory format {s:?} (expected e.g. 4000M, 4Gn, 2Gc)");
    let (body, per) = match s.as_bytes().last() {
        Some(b'n') => (&s[..s.len() - 1], MemPer::Node),
        Some(b'c') => (&s[..s.len() - 1], MemPer::Cpu),
        _ => (s, MemPer::Node),
    };
    let (digits, factor) = match body.as_bytes().last() {
        Some(b'K') => (&body[..body.len() - 1], 1.0 / KB_PER_MB),
        Some(b'M') => (&body[..body.len() - 1], 1.0),
        Some(b'G') => (&body[..body.len() - 1], MB_PER_GB),
        Some(b'T') => (&body[..body.len() - 1], MB_PER_GB * MB_PER_GB),
        Some(c) if c.is_ascii_digit() => (body, 1.0),
        _ => return Err(bad()),
    };
    let value: f64 = digits.parse().map_err(|_| bad())?;
    if !value.is_finite() || value < 0.0 {
        return Err(bad());
    }
    let mb = value * factor;
    if !mb.is_finite() {
        return Err(bad());
    }
    Ok((value > 0.0).then_some((mb, per)))
}

/// Normalises a Slurm state (`CANCELLED by 123`, `CANCELLED+`, lower case)
/// to its bare upper-case name.
pub fn normalize_state(s: &str) -> String {
    let word = s.split_whitespace().next().unwrap_or("");
    word.trim_end_matches('+').to_ascii_uppercase()
}

/// Reads the GPU count from a Slurm TRES string (`cpu=4,gres/gpu=2,mem=16G`
/// or `gres/gpu:a100=2`); a string without GPUs means 0.
pub fn gpus_from_tres(s: &str) -> Result<i64, String> {
    let mut total = 0;
    for item in s.split(',') {
        let Some((key, value)) = item.split_once('=') else {
            continue;
        };
        if key == "gres/gpu" || key.starts_with("gres/gpu:") {
            // Typed entries repeat the total; count the untyped one when present.
            let n: i64 = value
                .trim()
                .parse()
                .map_err(|_| format!("bad GPU count in TRES {s:?}"))?;
            if key == "gres/gpu" {
                return Ok(n);
            }
            total += n;
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_format_as_slurm_reads_them() {
        assert_eq!(format_duration(0.0), "00:00:00");
        assert_eq!(format_duration(5_400.0), "01:30:00");
        assert_eq!(format_duration(59.2), "00:01:00");
        assert_eq!(format_duration(2.0 * 86_400.0 + 61.0), "2-00:01:01");
        for seconds in [60.0, 3_599.0, 86_399.0, 90_061.0] {
            let text = format_duration(seconds);
            assert_eq!(
                parse_duration(&text, BareNumber::Minutes).unwrap(),
                Some(seconds)
            );
        }
    }

    #[test]
    fn durations() {
        let d = |s| parse_duration(s, BareNumber::Minutes).unwrap();
        assert_eq!(d("01:02:03"), Some(3723.0));
        assert_eq!(d("2-00:00:00"), Some(172_800.0));
        assert_eq!(d("1-12"), Some(129_600.0));
        assert_eq!(d("05:30"), Some(330.0));
        assert_eq!(d("00:00:01.500"), Some(1.5));
        assert_eq!(d("60"), Some(3600.0));
        assert_eq!(d("UNLIMITED"), None);
        assert_eq!(d("Partition_Limit"), None);
        let bad = |s| parse_duration(s, BareNumber::Minutes).unwrap_err();
        assert!(bad("1:99:00").contains("unknown duration format"));
        assert!(bad("soon").contains("a number of minutes"));
        // Found by the fuzz target: finite parts, infinite total.
        assert!(parse_duration("1e308", BareNumber::Minutes).is_err());
        assert!(parse_memory("1e308T").is_err());
    }

    #[test]
    fn a_bare_number_counts_what_the_source_says() {
        let seconds = |s| parse_duration(s, BareNumber::Seconds).unwrap();
        assert_eq!(seconds("3600"), Some(3600.0));
        assert_eq!(seconds("172800.0"), Some(172_800.0));
        assert_eq!(seconds("90:00"), Some(5400.0));
        assert!(parse_duration("-5", BareNumber::Seconds).is_err());
        assert!(parse_duration("1:2:3:4", BareNumber::Seconds).is_err());
    }

    #[test]
    fn memory() {
        let m = |s| parse_memory(s).unwrap();
        assert_eq!(m("4000M"), Some((4000.0, MemPer::Node)));
        assert_eq!(m("4Gn"), Some((4096.0, MemPer::Node)));
        assert_eq!(m("2Gc"), Some((2048.0, MemPer::Cpu)));
        assert_eq!(m("512K"), Some((0.5, MemPer::Node)));
        assert_eq!(m("0n"), None);
        assert!(parse_memory("lots").is_err());
    }

    #[test]
    fn states_and_tres() {
        assert_eq!(normalize_state("CANCELLED by 123"), "CANCELLED");
        assert_eq!(normalize_state("cancelled+"), "CANCELLED");
        assert_eq!(
            gpus_from_tres("billing=4,cpu=4,gres/gpu=2,mem=16G").unwrap(),
            2
        );
        assert_eq!(gpus_from_tres("cpu=4,gres/gpu:a100=1").unwrap(), 1);
        assert_eq!(gpus_from_tres("cpu=4,mem=1G").unwrap(), 0);
    }
}
