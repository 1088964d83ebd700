//! Optional bearer-token check for the prediction service. Health and
//! reflection are served without it, so probes and `grpcurl list` work on
//! a protected server.

use std::sync::Arc;

use tonic::service::Interceptor;
use tonic::{Request, Status};

use crate::metrics::Metrics;

/// Requires `authorization: Bearer <token>` when a token is configured.
#[derive(Debug, Clone)]
pub struct BearerAuth {
    expected: Option<Arc<[u8]>>,
    metrics: Arc<Metrics>,
}

impl BearerAuth {
    /// A check against `token`; `None` lets every call through.
    pub fn new(token: Option<&str>, metrics: Arc<Metrics>) -> Self {
        Self {
            expected: token.map(|t| Arc::from(format!("Bearer {t}").into_bytes())),
            metrics,
        }
    }
}

impl Interceptor for BearerAuth {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let Some(expected) = &self.expected else {
            return Ok(request);
        };
        let given = request
            .metadata()
            .get("authorization")
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        if constant_time_eq(given, expected) {
            Ok(request)
        } else {
            self.metrics.auth_failures.inc();
            Err(Status::unauthenticated(
                "missing or wrong bearer token (send `authorization: Bearer <token>`)",
            ))
        }
    }
}

/// Compares without stopping at the first difference, so the time taken
/// does not reveal how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(header: Option<&str>) -> Request<()> {
        let mut r = Request::new(());
        if let Some(h) = header {
            r.metadata_mut().insert("authorization", h.parse().unwrap());
        }
        r
    }

    #[test]
    fn only_the_configured_token_passes() {
        let metrics = Arc::new(Metrics::new());
        let mut auth = BearerAuth::new(Some("s3cret"), Arc::clone(&metrics));
        assert!(auth.call(request(Some("Bearer s3cret"))).is_ok());
        for bad in [
            None,
            Some("Bearer s3cre"),
            Some("Bearer s3cret2"),
            Some("s3cret"),
        ] {
            let status = auth.call(request(bad)).unwrap_err();
            assert_eq!(status.code(), tonic::Code::Unauthenticated, "{bad:?}");
        }
        assert_eq!(metrics.auth_failures.get(), 4);
        let mut open = BearerAuth::new(None, metrics);
        assert!(open.call(request(None)).is_ok());
    }
}
