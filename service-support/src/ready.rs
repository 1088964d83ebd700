//! The line a service prints on stdout once it listens, defined once for
//! the services that write it and the tools that wait for it (`rtp up`,
//! the benchmarks): `rtp-ready ` and a JSON object naming the service, its
//! endpoints by role and the model it serves. People read the banner
//! printed just before it; programs read this.

use std::collections::BTreeMap;
use std::io::BufRead;

use serde::{Deserialize, Serialize};

/// What starts the line.
pub const READY_PREFIX: &str = "rtp-ready ";

/// A service's announcement that it listens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ready {
    /// The binary's name.
    pub service: String,
    /// Endpoint URLs by role: `grpc` (the edge), `flight`, `http` (the
    /// dashboard), `metrics`.
    pub endpoints: BTreeMap<String, String>,
    /// The bundle version served, when the service serves one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_version: Option<String>,
}

impl Ready {
    /// An announcement for `service`, with no endpoints yet.
    pub fn new(service: &str) -> Self {
        Self {
            service: service.to_owned(),
            endpoints: BTreeMap::new(),
            model_version: None,
        }
    }

    /// The same with endpoint `role` at `url`.
    pub fn endpoint(mut self, role: &str, url: impl Into<String>) -> Self {
        self.endpoints.insert(role.to_owned(), url.into());
        self
    }

    /// The same, serving bundle `version`.
    pub fn serving(mut self, version: impl Into<String>) -> Self {
        self.model_version = Some(version.into());
        self
    }

    /// The URL of endpoint `role`.
    pub fn url(&self, role: &str) -> Option<&str> {
        self.endpoints.get(role).map(String::as_str)
    }

    /// The `host:port` of endpoint `role`, without scheme or path.
    pub fn authority(&self, role: &str) -> Option<&str> {
        let url = self.url(role)?;
        let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
        Some(rest.split('/').next().unwrap_or(rest))
    }

    /// The line to print.
    pub fn line(&self) -> String {
        let json = serde_json::to_string(self).expect("strings and maps serialise");
        format!("{READY_PREFIX}{json}")
    }

    /// The announcement `line` holds, if it is one.
    pub fn parse(line: &str) -> Option<Result<Self, serde_json::Error>> {
        line.trim_end()
            .strip_prefix(READY_PREFIX)
            .map(serde_json::from_str)
    }

    /// Reads `output` up to the announcement, handing every other line to
    /// `other`; `None` when the output ends first (the service exited).
    pub fn wait_for(
        output: &mut impl BufRead,
        mut other: impl FnMut(&str),
    ) -> std::io::Result<Option<Self>> {
        let mut line = String::new();
        loop {
            line.clear();
            if output.read_line(&mut line)? == 0 {
                return Ok(None);
            }
            match Self::parse(&line) {
                Some(Ok(ready)) => return Ok(Some(ready)),
                Some(Err(e)) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("unreadable ready line {line:?}: {e}"),
                    ));
                }
                None => other(line.trim_end()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_round_trips_and_other_output_passes_by() {
        let ready = Ready::new("rtp-edge-api")
            .endpoint("grpc", "grpc+tls://127.0.0.1:50051")
            .endpoint("metrics", "http://127.0.0.1:9851/metrics")
            .serving("20261202T101500Z-1a2b3c4d");
        let output = format!("rtp-edge-api: gRPC on …\n{}\nlater\n", ready.line());
        let mut seen = Vec::new();
        let read = Ready::wait_for(&mut output.as_bytes(), |l| seen.push(l.to_owned()))
            .unwrap()
            .unwrap();
        assert_eq!(read, ready);
        assert_eq!(seen, vec!["rtp-edge-api: gRPC on …"]);
        assert_eq!(read.authority("grpc"), Some("127.0.0.1:50051"));
        assert_eq!(read.authority("metrics"), Some("127.0.0.1:9851"));
        assert_eq!(read.url("http"), None);
        let ended = Ready::wait_for(&mut "only a banner\n".as_bytes(), |_| {}).unwrap();
        assert_eq!(ended, None);
        assert!(Ready::wait_for(&mut "rtp-ready {\n".as_bytes(), |_| {}).is_err());
    }
}
