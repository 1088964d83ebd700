//! Who may call a gRPC service, and over what: the `[auth]` and `[tls]`
//! settings the edge and the Flight server share, resolved and checked
//! once, the bearer-token check on every call, and the TLS identity.
//!
//! A token without TLS crosses the network readable by anyone on the path,
//! so it is refused at start on any address but loopback (where a
//! TLS-terminating proxy is expected in front) unless `allow_plaintext`
//! says so; on loopback it is accepted with a warning.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use prometheus_client::metrics::counter::Counter;
use serde::Deserialize;
use tonic::service::Interceptor;
use tonic::transport::{Identity, ServerTlsConfig};
use tonic::{Request, Status};

/// `[auth]` as the file spells it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// The bearer token callers must send; empty: no check.
    pub token: String,
    /// Accept a token over plaintext off loopback.
    pub allow_plaintext: bool,
}

/// `[tls]` as the file spells it: both paths empty, or both set.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

/// PEM files of a server's TLS identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// Certificate chain.
    pub cert: PathBuf,
    /// Private key.
    pub key: PathBuf,
}

/// The token and TLS identity a server runs with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Access {
    /// The bearer token callers must present, if any.
    pub token: Option<String>,
    /// TLS identity; plaintext when absent.
    pub tls: Option<TlsFiles>,
}

/// A TLS file could not be read.
#[derive(Debug, thiserror::Error)]
#[error("reading TLS {what} {path}: {source}")]
pub struct TlsFileError {
    /// Certificate or key.
    pub what: &'static str,
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub source: std::io::Error,
}

impl Access {
    /// The settings checked for a server listening on `listen`; the
    /// message names the key at fault.
    pub fn resolve(
        auth: &AuthSettings,
        tls: &TlsSettings,
        listen: SocketAddr,
    ) -> Result<Self, String> {
        let empty = |p: &Path| p.as_os_str().is_empty();
        let tls = match (empty(&tls.cert), empty(&tls.key)) {
            (true, true) => None,
            (false, false) => Some(TlsFiles {
                cert: tls.cert.clone(),
                key: tls.key.clone(),
            }),
            _ => return Err("tls.cert and tls.key must be given together".into()),
        };
        let token = auth.token.trim().to_owned();
        if !token.is_empty() && tls.is_none() && !listen.ip().is_loopback() && !auth.allow_plaintext
        {
            return Err(format!(
                "auth.token is set but TLS is not, so the token would cross the network in \
                 plaintext on {listen}: set tls.cert and tls.key, listen on loopback behind a \
                 TLS proxy, or set auth.allow_plaintext = true"
            ));
        }
        Ok(Self {
            token: (!token.is_empty()).then_some(token),
            tls,
        })
    }

    /// The server's TLS configuration, read from its files.
    pub fn server_tls(&self) -> Result<Option<ServerTlsConfig>, TlsFileError> {
        let Some(files) = &self.tls else {
            return Ok(None);
        };
        let read = |what: &'static str, path: &PathBuf| {
            std::fs::read(path).map_err(|source| TlsFileError {
                what,
                path: path.clone(),
                source,
            })
        };
        let identity =
            Identity::from_pem(read("certificate", &files.cert)?, read("key", &files.key)?);
        Ok(Some(ServerTlsConfig::new().identity(identity)))
    }

    /// The per-call check; refusals count on `failures`.
    pub fn bearer_auth(&self, failures: Counter) -> BearerAuth {
        BearerAuth {
            expected: self
                .token
                .as_ref()
                .map(|t| Arc::from(format!("Bearer {t}").into_bytes())),
            failures,
        }
    }

    /// Logs, once at start, a token accepted over plaintext.
    pub fn warn_if_plaintext(&self, addr: SocketAddr) {
        if self.token.is_some() && self.tls.is_none() {
            tracing::warn!(%addr, "the bearer token is accepted over plaintext; use TLS, or a TLS proxy in front of a loopback address");
        }
    }
}

/// Requires `authorization: Bearer <token>` when a token is configured.
#[derive(Debug, Clone)]
pub struct BearerAuth {
    expected: Option<Arc<[u8]>>,
    failures: Counter,
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
            self.failures.inc();
            Err(Status::unauthenticated(
                "missing or wrong bearer token (send `authorization: Bearer <token>`)",
            ))
        }
    }
}

/// Compares without stopping at the first difference, so the time taken
/// does not reveal how much of a guess was right.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
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

    fn settings(token: &str, cert: &str, key: &str, allow: bool) -> (AuthSettings, TlsSettings) {
        (
            AuthSettings {
                token: token.into(),
                allow_plaintext: allow,
            },
            TlsSettings {
                cert: cert.into(),
                key: key.into(),
            },
        )
    }

    #[test]
    fn only_the_configured_token_passes() {
        let failures = Counter::default();
        let access = Access {
            token: Some("s3cret".into()),
            tls: None,
        };
        let mut auth = access.bearer_auth(failures.clone());
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
        assert_eq!(failures.get(), 4);
        let mut open = Access::default().bearer_auth(failures);
        assert!(open.call(request(None)).is_ok());
    }

    #[test]
    fn a_token_off_loopback_needs_tls_or_an_explicit_choice() {
        let public: SocketAddr = "0.0.0.0:50051".parse().unwrap();
        let loopback: SocketAddr = "127.0.0.1:50051".parse().unwrap();
        let (auth, tls) = settings("t", "", "", false);
        let err = Access::resolve(&auth, &tls, public).unwrap_err();
        assert!(err.contains("auth.allow_plaintext"), "{err}");
        assert_eq!(
            Access::resolve(&auth, &tls, loopback)
                .unwrap()
                .token
                .as_deref(),
            Some("t")
        );
        let (auth, tls) = settings("t", "", "", true);
        assert!(Access::resolve(&auth, &tls, public).is_ok());
        let (auth, tls) = settings("t", "c.pem", "k.pem", false);
        let access = Access::resolve(&auth, &tls, public).unwrap();
        assert_eq!(access.tls.unwrap().key, PathBuf::from("k.pem"));
        let (auth, tls) = settings("", "c.pem", "", false);
        let err = Access::resolve(&auth, &tls, loopback).unwrap_err();
        assert!(err.contains("together"), "{err}");
        let (auth, tls) = settings("  ", "", "", false);
        assert_eq!(
            Access::resolve(&auth, &tls, public).unwrap(),
            Access::default()
        );
    }
}
