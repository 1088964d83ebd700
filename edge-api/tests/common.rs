//! Shared by the edge's tests: a small bundle trained once per test binary,
//! edges on loopback ports, clients and jobs.

use rtp_service_support::Settings;
use std::path::{Path, PathBuf};

use rtp_edge_api::{EdgeConfig, RunningServer, start};
use rtp_proto::v1::JobFeatures;
use rtp_proto::v1::job_runtime_predictor_client::JobRuntimePredictorClient;
use tonic::transport::Channel;

/// Submit times of test jobs: after the generated history.
pub const SUBMIT: i64 = 1_900_000_000;

/// Seed of the generated jobs the test bundle is trained on.
const SEED: u64 = 5;

/// A copy of the trained bundle store in `dir`, for tests that change it.
pub fn store_copy(dir: &Path) -> PathBuf {
    test_bundles::store_copy(SEED, dir)
}

pub use test_bundles::{copy_by_hand, rename_manifest, republish, truncate};

/// The default configuration on ephemeral loopback ports, serving `bundles`.
pub fn config(bundles: &Path) -> EdgeConfig {
    let mut config = EdgeConfig::load(None, &[]).unwrap();
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.metrics_listen = "127.0.0.1:0".parse().unwrap();
    config.bundle_dir = bundles.to_owned();
    config.watch_interval = std::time::Duration::from_millis(200);
    config
}

/// An edge over a copy of the trained store in `dir`.
pub async fn server(dir: &Path) -> RunningServer {
    start(&config(&store_copy(dir))).await.unwrap()
}

/// A plaintext client of `server`.
pub async fn client(server: &RunningServer) -> JobRuntimePredictorClient<Channel> {
    JobRuntimePredictorClient::new(channel(server).await)
}

/// A plaintext channel to `server`.
pub async fn channel(server: &RunningServer) -> Channel {
    Channel::from_shared(format!("http://{}", server.grpc_addr))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// Job `i` of a small, varied set, submitted a minute after job `i - 1`.
pub fn job(i: usize) -> JobFeatures {
    JobFeatures {
        processors_req: 36 * (1 + (i % 4) as i32),
        nodes_req: 1 + (i % 4) as i32,
        mem_req: [0.0, 16.0, 96.0][i % 3],
        wallclock_req: [3600.0, 14400.0, 86400.0][i % 3],
        partition: ["short", "standard", "long"][i % 3].into(),
        qos: "normal".into(),
        submit_time: SUBMIT + 60 * i as i64,
        user: format!("user{:04}", i % 17),
        account: format!("acct{:02}", i % 5),
        job_id: format!("j{i}"),
        ..Default::default()
    }
}

/// The text of `/metrics`.
pub async fn scrape(server: &RunningServer) -> String {
    http_get(server.metrics_addr, "/metrics").await
}

/// A plain HTTP/1.1 GET over loopback that must answer 200; its body.
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    let (status, body) = http_response(addr, path).await;
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    body
}

/// A plain HTTP/1.1 GET over loopback: the status line and the body.
pub async fn http_response(addr: std::net::SocketAddr, path: &str) -> (String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head.lines().next().unwrap_or("").to_owned();
    (status, body.to_owned())
}

/// The value of a sample (name with its labels, as exposed).
pub fn sample(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no sample {name} in\n{metrics}"))
}

/// Waits until the watcher has refused `n` bundles in all.
pub async fn reload_failures_reach(server: &RunningServer, n: u64) {
    // Generous: the watcher polls every 200 ms, but CI machines stall.
    for _ in 0..1200 {
        if server.live.reload_failures() >= n {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the watcher did not refuse bundle {n}");
}
