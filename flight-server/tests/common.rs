//! Shared by the Flight server's tests: a small bundle trained once per
//! test binary, servers on loopback ports, and job batches.

use rtp_service_support::Settings;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, Float64Array, Int64Array, RecordBatch, StringArray, TimestampSecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use rtp_flight_server::{FlightConfig, RunningServer, start};

/// Seed of the generated jobs the test bundle is trained on.
const SEED: u64 = 3;

/// A copy of the trained bundle store in `dir`, for tests that change it.
pub fn store_copy(dir: &Path) -> PathBuf {
    test_bundles::store_copy(SEED, dir)
}

pub use test_bundles::{copy_by_hand, rename_manifest, republish, truncate};

/// The default configuration on ephemeral loopback ports, serving `bundles`.
pub fn config(bundles: &Path) -> FlightConfig {
    let mut config = FlightConfig::load(None, &[]).unwrap();
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.metrics_listen = "127.0.0.1:0".parse().unwrap();
    config.bundle_dir = bundles.to_owned();
    config.watch_interval_s = 0.2;
    config
}

/// A server over a copy of the trained store in `dir`.
pub async fn server(dir: &Path) -> RunningServer {
    start(&config(&store_copy(dir))).await.unwrap()
}

/// `n` jobs submitted a minute apart from `start_s`, as a client sends them.
pub fn jobs(n: usize, start_s: i64) -> RecordBatch {
    let users: Vec<String> = (0..n).map(|i| format!("user{:04}", i % 17)).collect();
    let partitions = ["short", "standard", "long"];
    let schema = Arc::new(Schema::new(vec![
        Field::new("job_key", DataType::Int64, false),
        Field::new("job_id", DataType::Utf8, false),
        Field::new("user", DataType::Utf8, true),
        Field::new("partition", DataType::Utf8, true),
        Field::new(
            "submit_time",
            DataType::Timestamp(TimeUnit::Second, None),
            false,
        ),
        Field::new("wallclock_req_s", DataType::Float64, true),
        Field::new("nodes_req", DataType::Int64, true),
        Field::new("processors_req", DataType::Int64, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from_iter_values(0..n as i64)),
            Arc::new(StringArray::from_iter_values(
                (0..n).map(|i| format!("j{i}")),
            )),
            Arc::new(StringArray::from(users)),
            Arc::new(StringArray::from_iter_values(
                (0..n).map(|i| partitions[i % 3]),
            )),
            Arc::new(TimestampSecondArray::from_iter_values(
                (0..n as i64).map(|i| start_s + 60 * i),
            )),
            Arc::new(Float64Array::from_iter_values(
                (0..n).map(|i| [3600.0, 14400.0, 86400.0][i % 3]),
            )),
            Arc::new(Int64Array::from_iter_values(
                (0..n).map(|i| 1 + (i % 4) as i64),
            )),
            Arc::new(Int64Array::from_iter_values(
                (0..n).map(|i| 36 * (1 + (i % 4) as i64)),
            )),
        ],
    )
    .unwrap()
}

/// `batch` with its column `name` replaced by `column`.
pub fn with_column(batch: &RecordBatch, name: &str, column: Arc<dyn Array>) -> RecordBatch {
    let i = batch.schema().index_of(name).unwrap();
    let mut columns = batch.columns().to_vec();
    columns[i] = column;
    RecordBatch::try_new(batch.schema(), columns).unwrap()
}

/// A Flight client of `server`.
pub async fn client(server: &RunningServer) -> arrow_flight::FlightClient {
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", server.flight_addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    arrow_flight::FlightClient::new(channel)
}

/// The text of `/metrics`.
pub async fn scrape(server: &RunningServer) -> String {
    http_get(server.metrics_addr, "/metrics").await
}

/// A plain HTTP/1.1 GET over loopback; returns the body.
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_owned()
}

/// The value of an unlabelled sample in a metrics exposition.
pub fn sample(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no sample {name} in\n{metrics}"))
}
