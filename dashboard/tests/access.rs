//! A dashboard with a token in front of a Flight server with one: pages
//! need the token (HTTP Basic or Bearer), probes do not, and uploads are
//! scored through the protected Flight server with the dashboard's token
//! for it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rtp_service_support::Settings;

use crate::common::{Stack, bundles, get, multipart, request, upload_csv};

#[tokio::test(flavor = "multi_thread")]
async fn pages_need_the_token_and_uploads_reach_a_protected_flight_server() {
    let mut flight_config = rtp_flight_server::FlightConfig::load(None, &[]).unwrap();
    flight_config.listen = "127.0.0.1:0".parse().unwrap();
    flight_config.metrics_listen = "127.0.0.1:0".parse().unwrap();
    flight_config.bundle_dir = bundles();
    flight_config.access.token = Some("flight-token".into());
    let protected = rtp_flight_server::start(&flight_config).await.unwrap();
    let stack = Stack::start(|c| {
        c.token = Some("page-token".into());
        c.flight.address = format!("http://{}", protected.flight_addr);
        c.flight.token = Some("flight-token".into());
    })
    .await;
    let addr = stack.dashboard.addr;

    let refused = get(addr, "/predict", &[]).await;
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert!(
        refused
            .header("www-authenticate")
            .unwrap()
            .starts_with("Basic realm="),
        "the browser is asked for the token"
    );
    let wrong = format!("Basic {}", STANDARD.encode("alice:page-tokeN"));
    assert_eq!(
        get(addr, "/batch", &[("authorization", &wrong)])
            .await
            .status,
        401
    );
    for probe in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(get(addr, probe, &[]).await.status, 200, "{probe}");
    }
    let basic = format!("Basic {}", STANDARD.encode("alice:page-token"));
    assert_eq!(
        get(addr, "/batch", &[("authorization", "Bearer page-token")])
            .await
            .status,
        200
    );
    let page = get(addr, "/predict", &[("authorization", &basic)]).await;
    assert_eq!(page.status, 200, "{}", page.body);

    // An upload, with the page's CSRF token, scored by the protected server.
    let cookie = page
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap();
    let csrf = cookie.split_once('=').unwrap().1;
    let (content_type, body) = multipart("jobs.csv", upload_csv(20, None).as_bytes());
    let scored = request(
        addr,
        "POST",
        "/batch",
        &[
            ("authorization", &basic),
            ("content-type", &content_type),
            ("cookie", cookie),
            ("x-csrf-token", csrf),
            ("hx-request", "true"),
        ],
        &body,
    )
    .await;
    assert_eq!(scored.status, 200, "{}", scored.body);
    assert!(
        scored.body.contains("id=\"rows-scored\">20<"),
        "{}",
        scored.body
    );
    stack.stop().await;
    protected.shutdown().await.unwrap();
}
