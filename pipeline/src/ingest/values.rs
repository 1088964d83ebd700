//! Parsers for the value formats the sources use: timestamps, Slurm
//! durations and memory sizes, Slurm states. Each returns a reason string a
//! person can act on; callers attach the file, line and field.

use chrono::NaiveDateTime;

/// Values that mean "no value" in the sources.
fn is_blank(s: &str) -> bool {
    matches!(s, "" | "None" | "Unknown" | "NaT" | "nan" | "NULL" | "null")
}

/// Parses a timestamp without zone (`2019-01-01 08:55:55`, ISO `T` form,
/// optional fractional seconds) into epoch seconds; blank means None.
pub fn parse_timestamp(s: &str) -> Result<Option<i64>, String> {
    let s = s.trim();
    if is_blank(s) {
        return Ok(None);
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
            return Ok(Some(t.and_utc().timestamp()));
        }
    }
    Err(format!(
        "unknown time format {s:?} (expected YYYY-MM-DD HH:MM:SS)"
    ))
}

/// Parses a float; blank means None.
pub fn parse_f64(s: &str) -> Result<Option<f64>, String> {
    let s = s.trim();
    if is_blank(s) {
        return Ok(None);
    }
    s.parse::<f64>()
        .map(Some)
        .map_err(|_| format!("not a number: {s:?}"))
}

/// Parses an integer (accepting `4.0`); blank means None.
pub fn parse_i64(s: &str) -> Result<Option<i64>, String> {
    let s = s.trim();
    if is_blank(s) {
        return Ok(None);
    }
    if let Ok(v) = s.parse::<i64>() {
        return Ok(Some(v));
    }
    match s.parse::<f64>() {
        Ok(v) if v.fract() == 0.0 && v.abs() < 9.0e15 => Ok(Some(v as i64)),
        _ => Err(format!("not an integer: {s:?}")),
    }
}

/// Parses a Slurm duration (`[D-]HH:MM:SS`, `MM:SS`, `HH:MM:SS.mmm`, plain
/// minutes as Slurm accepts for limits) into seconds. `UNLIMITED`,
/// `Partition_Limit` and blanks mean None.
pub fn parse_slurm_duration(s: &str) -> Result<Option<f64>, String> {
    let s = s.trim();
    if is_blank(s) || s.eq_ignore_ascii_case("UNLIMITED") || s == "Partition_Limit" {
        return Ok(None);
    }
    let bad = || format!("unknown duration format {s:?} (expected [D-]HH:MM:SS or MM:SS)");
    let (days, clock) = match s.split_once('-') {
        Some((d, rest)) => (d.parse::<u64>().map_err(|_| bad())?, rest),
        None => (0, s),
    };
    let parts: Vec<&str> = clock.split(':').collect();
    let num = |p: &str| p.parse::<f64>().ok().filter(|v| *v >= 0.0 && v.is_finite());
    let clock = |h: Option<f64>, m: Option<f64>, s: Option<f64>| match (h, m, s) {
        (Some(h), Some(m), Some(s)) if m < 60.0 && s < 60.0 => Some(h * 3_600.0 + m * 60.0 + s),
        _ => None,
    };
    let seconds = match parts.as_slice() {
        [h, m, sec] => clock(num(h), num(m), num(sec)),
        [m, sec] if days == 0 => clock(Some(0.0), num(m), num(sec)),
        // With a day prefix, "D-HH" and "D-HH:MM" are also valid.
        [h, m] => clock(num(h), num(m), Some(0.0)),
        [h] if days > 0 => num(h).map(|h| h * 3_600.0),
        // A bare number is minutes, as Slurm reads limits.
        [minutes] => num(minutes).map(|m| m * 60.0),
        _ => None,
    };
    // Finite parts can still multiply out to infinity ("1e308" minutes).
    seconds
        .map(|s| days as f64 * 86_400.0 + s)
        .filter(|total| total.is_finite())
        .map(Some)
        .ok_or_else(bad)
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
pub fn parse_slurm_mem(s: &str) -> Result<Option<(f64, MemPer)>, String> {
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
        Some(b'K') => (&body[..body.len() - 1], 1.0 / 1024.0),
        Some(b'M') => (&body[..body.len() - 1], 1.0),
        Some(b'G') => (&body[..body.len() - 1], 1024.0),
        Some(b'T') => (&body[..body.len() - 1], 1024.0 * 1024.0),
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
    fn timestamps() {
        assert_eq!(
            parse_timestamp("2019-01-01 08:55:55").unwrap(),
            Some(1_546_332_955)
        );
        assert_eq!(
            parse_timestamp("2019-01-01T08:55:55").unwrap(),
            Some(1_546_332_955)
        );
        assert_eq!(parse_timestamp("Unknown").unwrap(), None);
        assert!(parse_timestamp("01/01/2019 08:55").is_err());
    }

    #[test]
    fn slurm_durations() {
        let d = |s| parse_slurm_duration(s).unwrap();
        assert_eq!(d("01:02:03"), Some(3723.0));
        assert_eq!(d("2-00:00:00"), Some(172_800.0));
        assert_eq!(d("1-12"), Some(129_600.0));
        assert_eq!(d("05:30"), Some(330.0));
        assert_eq!(d("00:00:01.500"), Some(1.5));
        assert_eq!(d("60"), Some(3600.0));
        assert_eq!(d("UNLIMITED"), None);
        assert_eq!(d("Partition_Limit"), None);
        assert!(parse_slurm_duration("1:99:00").is_err());
        assert!(parse_slurm_duration("soon").is_err());
        // Found by the fuzz target: finite parts, infinite total.
        assert!(parse_slurm_duration("1e308").is_err());
        assert!(parse_slurm_mem("1e308T").is_err());
    }

    #[test]
    fn slurm_memory() {
        let m = |s| parse_slurm_mem(s).unwrap();
        assert_eq!(m("4000M"), Some((4000.0, MemPer::Node)));
        assert_eq!(m("4Gn"), Some((4096.0, MemPer::Node)));
        assert_eq!(m("2Gc"), Some((2048.0, MemPer::Cpu)));
        assert_eq!(m("0n"), None);
        assert!(parse_slurm_mem("lots").is_err());
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
