//! How numbers read on the pages: durations in the unit a user would pick,
//! shares as percentages, node-hours with thousands separators.

/// A duration in seconds as `42 s`, `12 min`, `3.4 h` or `2.1 d`.
pub fn duration(seconds: f64) -> String {
    if !seconds.is_finite() {
        return "–".to_owned();
    }
    let s = seconds.abs();
    let text = if s < 90.0 {
        format!("{s:.0} s")
    } else if s < 5400.0 {
        format!("{:.0} min", s / 60.0)
    } else if s < 172_800.0 {
        format!("{:.1} h", s / 3600.0)
    } else {
        format!("{:.1} d", s / 86_400.0)
    };
    if seconds < 0.0 {
        format!("−{text}")
    } else {
        text
    }
}

/// Seconds as `HH:MM:SS` (hours may exceed 24), as `sbatch --time` takes it.
pub fn clock(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "–".to_owned();
    }
    let s = seconds.round() as u64;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// A share in [0, 1] as a percentage.
pub fn percent(share: f64) -> String {
    if share.is_finite() {
        // + 0.0 turns −0.0 (an empty sum) into 0.0
        format!("{:.1}%", share * 100.0 + 0.0)
    } else {
        "–".to_owned()
    }
}

/// A number with `digits` decimals, `–` when not finite.
pub fn fixed(value: f64, digits: usize) -> String {
    if value.is_finite() {
        let value = value + 0.0;
        format!("{value:.digits$}")
    } else {
        "–".to_owned()
    }
}

/// A large quantity with thousands separators, no decimals.
pub fn thousands(value: f64) -> String {
    if !value.is_finite() {
        return "–".to_owned();
    }
    let digits = format!("{:.0}", value.abs());
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if value < 0.0 {
        format!("−{out}")
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readable_numbers() {
        assert_eq!(duration(42.0), "42 s");
        assert_eq!(duration(720.0), "12 min");
        assert_eq!(duration(12_240.0), "3.4 h");
        assert_eq!(duration(181_440.0), "2.1 d");
        assert_eq!(duration(f64::NAN), "–");
        assert_eq!(clock(93_784.0), "26:03:04");
        assert_eq!(percent(0.8), "80.0%");
        assert_eq!(percent(-0.0), "0.0%");
        assert_eq!(fixed(-0.0, 1), "0.0");
        assert_eq!(thousands(1_234_567.4), "1,234,567");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(-4200.0), "−4,200");
    }
}
