//! Shared by the dashboard's tests: one small trained bundle per test
//! binary, and the three services (edge, Flight, dashboard) on loopback.

use rtp_service_support::Settings;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use rtp_dashboard::DashboardConfig;

/// The trained test bundle's directory (see [`test_bundles`]).
pub fn trained_store() -> &'static Path {
    test_bundles::trained_store(11)
}

/// The trained bundle store.
pub fn bundles() -> PathBuf {
    trained_store().join("bundles")
}

/// The edge, Flight server and dashboard, serving the trained bundle.
pub struct Stack {
    pub edge: rtp_edge_api::RunningServer,
    pub flight: rtp_flight_server::RunningServer,
    pub dashboard: rtp_dashboard::RunningServer,
}

impl Stack {
    /// Starts all three on ephemeral loopback ports; `adjust` changes the
    /// dashboard's settings first.
    pub async fn start(adjust: impl FnOnce(&mut DashboardConfig)) -> Self {
        let bundles = bundles();
        let mut edge_config = rtp_edge_api::EdgeConfig::load(None, &[]).unwrap();
        edge_config.listen = "127.0.0.1:0".parse().unwrap();
        edge_config.metrics_listen = "127.0.0.1:0".parse().unwrap();
        edge_config.bundle_dir = bundles.clone();
        let edge = rtp_edge_api::start(&edge_config).await.unwrap();
        let mut flight_config = rtp_flight_server::FlightConfig::load(None, &[]).unwrap();
        flight_config.listen = "127.0.0.1:0".parse().unwrap();
        flight_config.metrics_listen = "127.0.0.1:0".parse().unwrap();
        flight_config.bundle_dir = bundles.clone();
        let flight = rtp_flight_server::start(&flight_config).await.unwrap();
        let mut config = DashboardConfig::load(None, &[]).unwrap();
        config.listen = "127.0.0.1:0".parse().unwrap();
        config.bundle_dir = bundles;
        config.edge.address = format!("http://{}", edge.grpc_addr);
        config.edge.metrics_url = format!("http://{}/metrics", edge.metrics_addr);
        config.flight.address = format!("http://{}", flight.flight_addr);
        config.flight.metrics_url = format!("http://{}/metrics", flight.metrics_addr);
        adjust(&mut config);
        let dashboard = rtp_dashboard::start(&config).await.unwrap();
        Self {
            edge,
            flight,
            dashboard,
        }
    }

    /// The dashboard's base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.dashboard.addr)
    }

    /// Stops all three.
    pub async fn stop(self) {
        self.dashboard.shutdown().await.unwrap();
        self.flight.shutdown().await.unwrap();
        self.edge.shutdown().await.unwrap();
    }
}

/// An HTTP response as the tests read it.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request over loopback (`Connection: close`, bodies with a
/// Content-Length, as the dashboard sends them).
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    try_request(addr, method, path, headers, body)
        .await
        .unwrap_or_else(|e| panic!("{method} http://{addr}{path}: {e}"))
}

/// As [`request`], but a refused connection is an error, for probing a
/// server that may not listen yet.
pub async fn try_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Reply> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect::<Vec<_>>();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Ok(Reply {
        status,
        headers,
        body,
    })
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        body = &rest[n + 2..];
    }
    out
}

/// A GET.
pub async fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Reply {
    request(addr, "GET", path, headers, b"").await
}

/// The CSRF token a page load gives a new browser: (cookie header, token).
pub async fn session(addr: SocketAddr) -> (String, String) {
    let page = get(addr, "/predict", &[]).await;
    let cookie = page.header("set-cookie").expect("a CSRF cookie").to_owned();
    let pair = cookie.split(';').next().unwrap().to_owned();
    let token = pair.split_once('=').unwrap().1.to_owned();
    assert!(page.body.contains(&token), "the page carries the token");
    (pair, token)
}

/// A multipart body with one file field; returns (content type, body).
pub fn multipart(name: &str, content: &[u8]) -> (String, Vec<u8>) {
    let boundary = "rtp-test-boundary-7d1f";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
         Content-Type: text/csv\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(content);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Jobs for uploads: `n` valid Eagle-style rows after the training history.
pub fn upload_csv(n: usize, bad_line_at: Option<usize>) -> String {
    let mut csv = String::from(
        "job_id,user,account,partition,qos,wallclock_req,nodes_req,processors_req,gpus_req,mem_req,submit_time,state\n",
    );
    for i in 0..n {
        if Some(i) == bad_line_at {
            csv.push_str(&format!(
                "bad{i},user0001,acct01,standard,normal,3600,0,36,0,0,2030-03-01 10:00:00,PENDING\n"
            ));
            continue;
        }
        csv.push_str(&format!(
            "j{i},user{:04},acct{:02},{},normal,{},{},{},0,0,2030-03-01 10:{:02}:00,PENDING\n",
            i % 13,
            i % 5,
            ["short", "standard", "long"][i % 3],
            [3600, 14400, 172800][i % 3],
            1 + i % 4,
            36 * (1 + i % 4),
            i % 60,
        ));
    }
    csv
}
