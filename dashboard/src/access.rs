//! Who may open the dashboard. With `auth.token` set, every page, fragment,
//! upload and download needs the token, sent as HTTP Basic credentials
//! (any user name, the token as password: the browser asks once and
//! resends them) or as `Authorization: Bearer <token>` (scripts, a reverse
//! proxy that authenticates users itself and adds the header). The probes
//! and `/metrics` stay open, as on the other services' metrics ports.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rtp_service_support::access::constant_time_eq;

use crate::routes::Route;

/// The realm the browser names in its prompt.
pub const REALM: &str = "rt-predictor dashboard";

/// Whether a request to `path` with `headers` may pass.
pub fn allowed(token: Option<&str>, path: &str, headers: &HeaderMap) -> bool {
    let Some(token) = token else {
        return true;
    };
    if [Route::Healthz, Route::Readyz, Route::Metrics]
        .iter()
        .any(|r| r.path() == path)
    {
        return true;
    }
    let Some(given) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    if let Some(bearer) = given.strip_prefix("Bearer ") {
        return constant_time_eq(bearer.as_bytes(), token.as_bytes());
    }
    let Some(basic) = given.strip_prefix("Basic ") else {
        return false;
    };
    let Ok(decoded) = STANDARD.decode(basic.trim()) else {
        return false;
    };
    // user:password; the user name is not checked.
    match decoded.iter().position(|&b| b == b':') {
        Some(colon) => constant_time_eq(&decoded[colon + 1..], token.as_bytes()),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn with(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn the_token_opens_pages_by_basic_or_bearer_and_probes_stay_open() {
        let token = Some("s3cret");
        let basic = |pair: &str| with(&format!("Basic {}", STANDARD.encode(pair)));
        assert!(allowed(token, "/predict", &basic("alice:s3cret")));
        assert!(allowed(token, "/predict", &basic(":s3cret")));
        assert!(allowed(token, "/predict", &with("Bearer s3cret")));
        for refused in [
            basic("alice:s3cre"),
            basic("s3cret"),
            with("Bearer s3cret "),
            with("Basic !!!"),
            with("s3cret"),
            HeaderMap::new(),
        ] {
            assert!(!allowed(token, "/batch", &refused), "{refused:?}");
        }
        for probe in ["/healthz", "/readyz", "/metrics"] {
            assert!(allowed(token, probe, &HeaderMap::new()));
        }
        assert!(allowed(None, "/predict", &HeaderMap::new()));
    }
}
