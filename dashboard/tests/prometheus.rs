//! A real Prometheus (Debian's package) scraping the edge, the Flight server
//! and the dashboard on loopback, with the committed scrape configuration
//! and alert rules: every target is up, the rules load, and the prediction
//! counter moves after traffic.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Stack, get, request, session, try_request};

const PROMETHEUS: &str = "/usr/bin/prometheus";

struct Prometheus {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> SocketAddr {
    // Prometheus cannot report a port it picked itself; take a free one.
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// The committed configuration, pointed at the loopback services and
/// scraping every second.
fn configuration(stack: &Stack) -> String {
    let committed = std::fs::read_to_string(
        test_support::repo_root().join("configs/prometheus/prometheus.yml"),
    )
    .unwrap();
    committed
        .replace("scrape_interval: 15s", "scrape_interval: 1s")
        .replace("evaluation_interval: 15s", "evaluation_interval: 1s")
        .replace("edge-api:9851", &stack.edge.metrics_addr.to_string())
        .replace("flight-server:9815", &stack.flight.metrics_addr.to_string())
        .replace("dashboard:8080", &stack.dashboard.addr.to_string())
}

async fn query(addr: SocketAddr, expr: &str) -> Option<f64> {
    let path = format!("/api/v1/query?query={}", expr.replace(' ', "%20"));
    let body: serde_json::Value = serde_json::from_str(&get(addr, &path, &[]).await.body).ok()?;
    body["data"]["result"][0]["value"][1].as_str()?.parse().ok()
}

async fn eventually<T>(what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn prometheus_scrapes_every_service_and_sees_predictions() {
    assert!(
        std::path::Path::new(PROMETHEUS).exists(),
        "{PROMETHEUS} is missing: install Debian's prometheus package (scripts/setup-tests.sh does)"
    );
    let stack = Stack::start(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("prometheus.yml"), configuration(&stack)).unwrap();
    std::fs::copy(
        test_support::repo_root().join("configs/prometheus/alerts.yml"),
        dir.path().join("alerts.yml"),
    )
    .unwrap();
    let addr = free_port();
    let child = Command::new(PROMETHEUS)
        .arg(format!(
            "--config.file={}",
            dir.path().join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address={addr}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let prometheus = Prometheus { child, addr };

    let jobs = eventually("all three targets are up", async || {
        let reply = try_request(prometheus.addr, "GET", "/api/v1/targets", &[], b"")
            .await
            .ok()?;
        let body: serde_json::Value = serde_json::from_str(&reply.body).ok()?;
        let targets = body["data"]["activeTargets"].as_array()?.clone();
        let up: Vec<String> = targets
            .iter()
            .filter(|t| t["health"] == "up")
            .filter_map(|t| t["labels"]["job"].as_str().map(str::to_owned))
            .collect();
        (up.len() == 3).then_some(up)
    })
    .await;
    assert!(
        jobs.contains(&"rtp-edge-api".to_owned()) && jobs.contains(&"rtp-dashboard".to_owned())
    );

    let rules = get(prometheus.addr, "/api/v1/rules", &[]).await.body;
    let rules: serde_json::Value = serde_json::from_str(&rules).unwrap();
    let loaded = rules["data"]["groups"][0]["rules"]
        .as_array()
        .unwrap()
        .len();
    let written =
        std::fs::read_to_string(test_support::repo_root().join("configs/prometheus/alerts.yml"))
            .unwrap()
            .lines()
            .filter(|l| l.trim_start().starts_with("- alert:"))
            .count();
    assert!(written >= 8, "{written} alert rules read from alerts.yml");
    assert_eq!(loaded, written, "every alert rule loads");

    let before = eventually("the prediction counter is scraped", async || {
        query(prometheus.addr, "sum(rtp_edge_predictions_total)").await
    })
    .await;
    // Traffic through the dashboard's predict form, which calls the edge.
    let dashboard = stack.dashboard.addr;
    let (cookie, token) = session(dashboard).await;
    for _ in 0..3 {
        let reply = request(
            dashboard,
            "POST",
            "/predict",
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("cookie", &cookie),
                ("x-csrf-token", &token),
            ],
            b"nodes=1&processors=36&wallclock=3600&partition=short&qos=normal",
        )
        .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    let after = eventually("the counter moves", async || {
        query(prometheus.addr, "sum(rtp_edge_predictions_total)")
            .await
            .filter(|v| *v >= before + 3.0)
    })
    .await;
    assert_eq!(after, before + 3.0);
    let dashboard_posts = eventually("the dashboard's own counter is scraped", async || {
        query(
            prometheus.addr,
            "sum(rtp_dashboard_requests_total{route=\"/predict\",status=\"200\"})",
        )
        .await
        .filter(|v| *v >= 3.0)
    })
    .await;
    assert!(dashboard_posts >= 3.0);
    drop(prometheus);
    stack.stop().await;
}
