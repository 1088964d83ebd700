//! How a client reaches a gRPC service of ours (the edge, the Flight
//! server): its endpoint, over TLS with a given CA when one is set, and the
//! `authorization` header its bearer token becomes. The dashboard and the
//! thin command-line clients build theirs here, so an address, a CA and a
//! token mean the same to all of them.

use std::path::Path;

use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};

/// What errors call the settings: a config key (`edge.address`) or a flag
/// (`--edge`).
#[derive(Debug, Clone, Copy)]
pub struct SettingNames<'a> {
    /// The address.
    pub address: &'a str,
    /// The CA certificate.
    pub ca: &'a str,
    /// The bearer token.
    pub token: &'a str,
}

/// The endpoint at `address`, trusting `ca` when given.
pub fn endpoint(
    names: SettingNames<'_>,
    address: &str,
    ca: Option<&Path>,
) -> Result<Endpoint, String> {
    let mut endpoint = Endpoint::from_shared(address.to_owned())
        .map_err(|e| format!("{} {address:?}: {e}", names.address))?
        .tcp_nodelay(true);
    if let Some(ca) = ca {
        let pem = std::fs::read(ca).map_err(|e| format!("{} {}: {e}", names.ca, ca.display()))?;
        endpoint = endpoint
            .tls_config(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem)))
            .map_err(|e| format!("{} TLS: {e}", names.ca))?;
    }
    Ok(endpoint)
}

/// The `authorization` header value for `token`, if one is set.
pub fn bearer(
    names: SettingNames<'_>,
    token: Option<&str>,
) -> Result<Option<MetadataValue<Ascii>>, String> {
    token
        .map(|t| {
            format!("Bearer {t}")
                .parse::<MetadataValue<Ascii>>()
                .map_err(|_| format!("{} has characters a header cannot carry", names.token))
        })
        .transpose()
}
