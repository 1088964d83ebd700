//! Values as the sources write them: timestamps, numbers, and the words
//! that mean "no value". Each parser returns a reason a person can act on;
//! callers attach the file, line and field.

use chrono::NaiveDateTime;

/// Values that mean "no value" in the sources.
pub fn is_blank(s: &str) -> bool {
    matches!(s, "" | "None" | "Unknown" | "NaT" | "nan" | "NULL" | "null")
}

/// Parses a timestamp without zone (`2019-01-01 08:55:55`, ISO `T` form,
/// optional fractional seconds, or to the minute) or integer Unix seconds,
/// on the cluster's clock; blank means None.
pub fn parse_timestamp(s: &str) -> Result<Option<i64>, String> {
    let s = s.trim();
    if is_blank(s) {
        return Ok(None);
    }
    if let Ok(epoch) = s.parse::<i64>() {
        return Ok(Some(epoch));
    }
    for format in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
            return Ok(Some(t.and_utc().timestamp()));
        }
    }
    Err(format!(
        "unknown time format {s:?} (expected YYYY-MM-DD HH:MM:SS or Unix seconds)"
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
        assert_eq!(
            parse_timestamp("2019-01-01 08:55").unwrap(),
            Some(1_546_332_900)
        );
        assert_eq!(parse_timestamp("1546332955").unwrap(), Some(1_546_332_955));
        assert_eq!(parse_timestamp("Unknown").unwrap(), None);
        assert!(parse_timestamp("01/01/2019 08:55").is_err());
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_i64("4.0").unwrap(), Some(4));
        assert_eq!(parse_i64("nan").unwrap(), None);
        assert!(parse_i64("4.5").is_err());
        assert_eq!(parse_f64(" 2.5 ").unwrap(), Some(2.5));
        assert!(parse_f64("x").is_err());
    }
}
