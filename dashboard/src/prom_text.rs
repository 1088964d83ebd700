//! A reader for the Prometheus text exposition format, enough to compute
//! rates and latency quantiles from the services' `/metrics`.

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Metric name, with any `_total`/`_bucket` suffix.
    pub name: String,
    /// Label pairs in order.
    pub labels: Vec<(String, String)>,
    /// The value.
    pub value: f64,
}

impl Sample {
    /// The value of label `name`.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Why a line cannot be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("metrics line {line}: {reason}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub reason: &'static str,
}

/// Every sample of `text`; comments and blank lines are skipped.
pub fn parse(text: &str) -> Result<Vec<Sample>, ParseError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fail = |reason| ParseError {
            line: i + 1,
            reason,
        };
        let (name, rest) = match line.find(['{', ' ']) {
            Some(at) => line.split_at(at),
            None => return Err(fail("no value")),
        };
        let (labels, rest) = if let Some(body) = rest.strip_prefix('{') {
            let (labels, used) = parse_labels(body).ok_or_else(|| fail("bad labels"))?;
            (labels, &body[used..])
        } else {
            (Vec::new(), rest)
        };
        let value_text = rest
            .split_whitespace()
            .next()
            .ok_or_else(|| fail("no value"))?;
        let value = match value_text {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().map_err(|_| fail("bad value"))?,
        };
        out.push(Sample {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    Ok(out)
}

/// Labels up to the closing brace; returns them and the bytes consumed.
fn parse_labels(body: &str) -> Option<(Vec<(String, String)>, usize)> {
    let mut labels = Vec::new();
    let bytes = body.as_bytes();
    let mut i = 0;
    loop {
        while i < bytes.len() && (bytes[i] == b',' || bytes[i] == b' ') {
            i += 1;
        }
        if bytes.get(i) == Some(&b'}') {
            return Some((labels, i + 1));
        }
        let eq = body[i..].find('=')? + i;
        let key = body[i..eq].trim().to_owned();
        if bytes.get(eq + 1) != Some(&b'"') {
            return None;
        }
        let mut value = String::new();
        let mut j = eq + 2;
        loop {
            match bytes.get(j)? {
                b'\\' => {
                    match bytes.get(j + 1)? {
                        b'n' => value.push('\n'),
                        &c => value.push(c as char),
                    }
                    j += 2;
                }
                b'"' => break,
                _ => {
                    let c = body[j..].chars().next()?;
                    value.push(c);
                    j += c.len_utf8();
                }
            }
        }
        labels.push((key, value));
        i = j + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_counters_histograms_and_escaped_labels() {
        let text = "# HELP x_total X.\n# TYPE x_total counter\n\
                    x_total{method=\"Predict\",code=\"Ok\"} 12\n\
                    lat_bucket{le=\"0.005\"} 3\nlat_bucket{le=\"+Inf\"} 4\n\
                    v{version=\"a\\\"b\"} 1\nup 1.5e3\n";
        let s = parse(text).unwrap();
        assert_eq!(s.len(), 5);
        assert_eq!(s[0].label("code"), Some("Ok"));
        assert_eq!(s[0].value, 12.0);
        assert_eq!(s[2].label("le"), Some("+Inf"));
        assert_eq!(s[3].label("version"), Some("a\"b"));
        assert_eq!(s[4].value, 1500.0);
        assert_eq!(parse("x{a=\"1\" 2\n").unwrap_err().line, 1);
        assert_eq!(parse("ok 1\nbad\n").unwrap_err().line, 2);
    }
}
