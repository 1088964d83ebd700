//! Wallclock limits as users write them: plain seconds, or Slurm's `--time`
//! formats (`MM`, `MM:SS`, `HH:MM:SS`, `D-HH`, `D-HH:MM`, `D-HH:MM:SS`).

/// Seconds of `text`, or why it is not a wallclock limit.
pub fn parse_wallclock(text: &str) -> Result<f64, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("missing".into());
    }
    let bad =
        || format!("{text:?} is not seconds or a Slurm time (e.g. 3600, 01:00:00, 2-00:00:00)");
    let number =
        |s: &str| -> Result<f64, String> { s.parse::<u64>().map(|v| v as f64).map_err(|_| bad()) };
    let seconds = if let Some((days, rest)) = text.split_once('-') {
        let days = number(days)?;
        let parts: Vec<&str> = rest.split(':').collect();
        let hms = match parts.as_slice() {
            [h] => number(h)? * 3600.0,
            [h, m] => number(h)? * 3600.0 + number(m)? * 60.0,
            [h, m, s] => number(h)? * 3600.0 + number(m)? * 60.0 + number(s)?,
            _ => return Err(bad()),
        };
        days * 86_400.0 + hms
    } else if text.contains(':') {
        let parts: Vec<&str> = text.split(':').collect();
        match parts.as_slice() {
            [m, s] => number(m)? * 60.0 + number(s)?,
            [h, m, s] => number(h)? * 3600.0 + number(m)? * 60.0 + number(s)?,
            _ => return Err(bad()),
        }
    } else {
        // A bare number: seconds, as in the Eagle `wallclock_req` column.
        text.parse::<f64>().map_err(|_| bad())?
    };
    if seconds.is_finite() && seconds > 0.0 {
        Ok(seconds)
    } else {
        Err(format!("{text:?} must be more than zero"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slurm_formats_and_seconds() {
        assert_eq!(parse_wallclock("3600").unwrap(), 3600.0);
        assert_eq!(parse_wallclock("172800.0").unwrap(), 172_800.0);
        assert_eq!(parse_wallclock("01:30:00").unwrap(), 5400.0);
        assert_eq!(parse_wallclock("90:00").unwrap(), 5400.0);
        assert_eq!(parse_wallclock("2-00:00:00").unwrap(), 172_800.0);
        assert_eq!(parse_wallclock("1-12").unwrap(), 129_600.0);
        assert!(parse_wallclock("0").is_err());
        assert!(parse_wallclock("-5").is_err());
        assert!(
            parse_wallclock("1:2:3:4")
                .unwrap_err()
                .contains("Slurm time")
        );
        assert_eq!(parse_wallclock(" ").unwrap_err(), "missing");
    }
}
