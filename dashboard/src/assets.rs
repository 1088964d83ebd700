//! Static files compiled into the binary: the vendored htmx and the style
//! sheet. Each is referenced with a content-hash cache-buster, and htmx with
//! a subresource-integrity hash, both computed once from the embedded bytes.

use std::sync::LazyLock;

use base64::Engine;
use sha2::{Digest, Sha256, Sha384};

/// One embedded file.
#[derive(Debug)]
pub struct Asset {
    /// Name under `/static/`.
    pub name: &'static str,
    /// Content type served.
    pub content_type: &'static str,
    /// The bytes.
    pub body: &'static [u8],
}

/// htmx 2.0.11 from the npm package `htmx.org` (Zero-Clause BSD; see
/// `static/vendor/README.md`).
pub const HTMX: Asset = Asset {
    name: "htmx-2.0.11.min.js",
    content_type: "text/javascript; charset=utf-8",
    body: include_bytes!("../static/vendor/htmx-2.0.11.min.js"),
};

/// The dashboard's style sheet.
pub const STYLE: Asset = Asset {
    name: "style.css",
    content_type: "text/css; charset=utf-8",
    body: include_bytes!("../static/style.css"),
};

/// The tab icon.
pub const FAVICON: Asset = Asset {
    name: "favicon.svg",
    content_type: "image/svg+xml",
    body: include_bytes!("../static/favicon.svg"),
};

/// Every embedded file.
pub const ALL: [&Asset; 3] = [&HTMX, &STYLE, &FAVICON];

/// What a page needs to reference the assets.
#[derive(Debug, Clone)]
pub struct AssetLinks {
    /// URL of htmx with its cache-buster.
    pub htmx_url: String,
    /// `sha384-…` integrity of htmx.
    pub htmx_integrity: String,
    /// URL of the style sheet with its cache-buster.
    pub style_url: String,
    /// URL of the tab icon.
    pub favicon_url: String,
}

/// The links, computed on first use.
pub fn links() -> &'static AssetLinks {
    static LINKS: LazyLock<AssetLinks> = LazyLock::new(|| AssetLinks {
        htmx_url: url(&HTMX),
        htmx_integrity: format!(
            "sha384-{}",
            base64::engine::general_purpose::STANDARD.encode(Sha384::digest(HTMX.body))
        ),
        style_url: url(&STYLE),
        favicon_url: url(&FAVICON),
    });
    &LINKS
}

fn url(asset: &Asset) -> String {
    let hash = hex_prefix(&Sha256::digest(asset.body));
    format!("/static/{}?v={hash}", asset.name)
}

fn hex_prefix(bytes: &[u8]) -> String {
    bytes.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// The asset called `name`.
pub fn find(name: &str) -> Option<&'static Asset> {
    ALL.into_iter().find(|a| a.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn htmx_is_the_vendored_release() {
        let text = std::str::from_utf8(HTMX.body).unwrap();
        assert!(text.contains("2.0.11"), "htmx version string missing");
        assert!(links().htmx_integrity.starts_with("sha384-"));
        assert!(
            links()
                .htmx_url
                .starts_with("/static/htmx-2.0.11.min.js?v=")
        );
        assert!(find("style.css").is_some());
        assert!(find("../Cargo.toml").is_none());
    }
}
