//! Cross-site request forgery protection, by double submission: every page
//! sets a random token in a `SameSite=Strict` cookie and puts the same token
//! in the page, and htmx sends it back as the `X-CSRF-Token` header on every
//! post. Another site can make a browser send the cookie, but it can neither
//! read it nor set that header without a CORS preflight we never grant.
//! Posts from another origin (`Origin`, `Sec-Fetch-Site`) are refused too.

use axum::http::HeaderMap;
use axum::http::header::{COOKIE, HOST, ORIGIN};

/// Cookie holding the token.
pub const COOKIE_NAME: &str = "rtp_csrf";
/// Header htmx sends the token in.
pub const HEADER_NAME: &str = "x-csrf-token";

/// A new random token (32 bytes, hex).
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The token of the request's cookie, if it has a well-formed one.
pub fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.to_owned())
        .filter(|t| t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The `Set-Cookie` value that stores `token`.
pub fn set_cookie(token: &str) -> String {
    format!("{COOKIE_NAME}={token}; Path=/; SameSite=Strict; HttpOnly")
}

/// Whether a post carries the page's token and comes from this origin.
pub fn post_allowed(headers: &HeaderMap) -> bool {
    let Some(cookie) = cookie_token(headers) else {
        return false;
    };
    let sent = headers.get(HEADER_NAME).and_then(|v| v.to_str().ok());
    if !sent.is_some_and(|s| constant_time_eq(s.as_bytes(), cookie.as_bytes())) {
        return false;
    }
    if headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|site| site != "same-origin")
    {
        return false;
    }
    match (
        headers.get(ORIGIN).and_then(|v| v.to_str().ok()),
        headers.get(HOST).and_then(|v| v.to_str().ok()),
    ) {
        (Some(origin), Some(host)) => origin
            .split_once("://")
            .is_some_and(|(_, authority)| authority == host),
        (Some(_), None) => false,
        (None, _) => true,
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn only_same_origin_posts_with_the_cookie_token_pass() {
        let t = new_token();
        let cookie = format!("theme=dark; {COOKIE_NAME}={t}");
        let ok = [
            ("cookie", cookie.as_str()),
            (HEADER_NAME, t.as_str()),
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080"),
            ("sec-fetch-site", "same-origin"),
        ];
        assert!(post_allowed(&headers(&ok)));
        // no header, wrong header, no cookie
        assert!(!post_allowed(&headers(&ok[..1])));
        let other = new_token();
        assert!(!post_allowed(&headers(&[ok[0], (HEADER_NAME, &other)])));
        assert!(!post_allowed(&headers(&ok[1..])));
        // another origin, even with the token (a stolen page)
        let cross = [ok[0], ok[1], ok[2], ("origin", "http://evil.example")];
        assert!(!post_allowed(&headers(&cross)));
        let cross_site = [ok[0], ok[1], ("sec-fetch-site", "cross-site")];
        assert!(!post_allowed(&headers(&cross_site)));
    }

    #[test]
    fn malformed_cookies_are_ignored() {
        assert_eq!(
            cookie_token(&headers(&[("cookie", "rtp_csrf=<script>")])),
            None
        );
        assert_eq!(cookie_token(&headers(&[("cookie", "rtp_csrf")])), None);
        assert_ne!(new_token(), new_token());
    }
}
