//! How the dashboard reaches a gRPC service (the edge, the Flight server):
//! a lazily connected endpoint, over TLS with a given CA when one is set,
//! and the `authorization` header its token becomes. Both clients build
//! theirs here, so the settings mean the same for both.

use std::path::Path;

use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};

/// The endpoint at `address`, trusting `ca` when given; `section` names the
/// settings in errors.
pub fn endpoint(section: &str, address: &str, ca: Option<&Path>) -> Result<Endpoint, String> {
    let mut endpoint = Endpoint::from_shared(address.to_owned())
        .map_err(|e| format!("{section}.address {address:?}: {e}"))?
        .tcp_nodelay(true);
    if let Some(ca) = ca {
        let pem = std::fs::read(ca).map_err(|e| format!("{section}.ca {}: {e}", ca.display()))?;
        endpoint = endpoint
            .tls_config(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem)))
            .map_err(|e| format!("{section} TLS: {e}"))?;
    }
    Ok(endpoint)
}

/// The `authorization` header value for `token`, if one is set.
pub fn bearer(section: &str, token: Option<&str>) -> Result<Option<MetadataValue<Ascii>>, String> {
    token
        .map(|t| {
            format!("Bearer {t}")
                .parse::<MetadataValue<Ascii>>()
                .map_err(|_| format!("{section}.token has characters a header cannot carry"))
        })
        .transpose()
}
