//! Scale-out: two replicas sharing a directory of Parquet job tables. The
//! first, told its peer, answers GetFlightInfo with one endpoint per replica
//! and disjoint tickets; fetching every endpoint from its own location
//! scores every row exactly once, half on each replica.

use std::collections::BTreeMap;
use std::path::Path;

use arrow_flight::FlightDescriptor;
use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::Int64Type;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::file::properties::WriterProperties;
use futures::TryStreamExt;
use rtp_flight_server::start;

use crate::common::{config, jobs, sample, scrape, store_copy};

const SUBMIT: i64 = 1_900_000_000;
const ROWS: usize = 3000;

fn write_shared(dir: &Path) {
    let file = std::fs::File::create(dir.join("jobs.parquet")).unwrap();
    let properties = WriterProperties::builder()
        .set_max_row_group_row_count(Some(500))
        .build();
    let batch = jobs(ROWS, SUBMIT);
    let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(properties)).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

async fn client_at(location: &str) -> arrow_flight::FlightClient {
    let channel =
        tonic::transport::Channel::from_shared(location.replacen("grpc://", "http://", 1))
            .unwrap()
            .connect()
            .await
            .unwrap();
    arrow_flight::FlightClient::new(channel)
}

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_score_every_row_of_a_shared_table_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().join("shared");
    std::fs::create_dir_all(&shared).unwrap();
    write_shared(&shared);

    let mut peer_config = config(&store_copy(&dir.path().join("peer")));
    peer_config.scale_out.shared_dir = shared.clone();
    let peer = start(&peer_config).await.unwrap();
    let mut first_config = config(&store_copy(&dir.path().join("first")));
    first_config.scale_out.shared_dir = shared.clone();
    first_config.scale_out.peers = vec![format!("grpc://{}", peer.flight_addr)];
    let first = start(&first_config).await.unwrap();

    let mut client = client_at(&format!("grpc://{}", first.flight_addr)).await;
    let info = client
        .get_flight_info(FlightDescriptor::new_path(vec![
            "shared".into(),
            "jobs.parquet".into(),
        ]))
        .await
        .unwrap();
    assert_eq!(info.total_records, ROWS as i64);
    assert_eq!(info.endpoint.len(), 2);
    let locations: Vec<String> = info
        .endpoint
        .iter()
        .map(|e| e.location[0].uri.clone())
        .collect();
    assert_eq!(
        locations,
        vec![
            format!("grpc://{}", first.flight_addr),
            format!("grpc://{}", peer.flight_addr)
        ]
    );
    assert_ne!(info.endpoint[0].ticket, info.endpoint[1].ticket);

    // Fetch each endpoint from its own replica, concurrently.
    let fetches = info.endpoint.iter().map(|endpoint| {
        let location = endpoint.location[0].uri.clone();
        let ticket = endpoint.ticket.clone().unwrap();
        async move {
            let mut client = client_at(&location).await;
            let batches: Vec<RecordBatch> = client
                .do_get(ticket)
                .await
                .unwrap()
                .try_collect()
                .await
                .unwrap();
            batches
        }
    });
    let parts = futures::future::join_all(fetches).await;
    let mut seen: BTreeMap<i64, usize> = BTreeMap::new();
    for batch in parts.iter().flatten() {
        let keys = batch
            .column_by_name("job_key")
            .unwrap()
            .as_primitive::<Int64Type>();
        assert_eq!(
            batch.column_by_name("error").unwrap().null_count(),
            batch.num_rows()
        );
        for key in keys.values() {
            *seen.entry(*key).or_default() += 1;
        }
    }
    assert_eq!(seen.len(), ROWS, "every row scored");
    assert!(seen.values().all(|n| *n == 1), "no row scored twice");
    assert!(seen.keys().copied().eq(0..ROWS as i64));
    // Row groups 0–2 on the first replica, 3–5 on its peer.
    for server in [&first, &peer] {
        assert_eq!(
            sample(&scrape(server).await, "rtp_flight_rows_scored_total"),
            1500.0
        );
    }

    // The pyarrow helper does the same from Python, in parallel threads.
    let python = std::env::var("RTP_CLIENT_PYTHON").unwrap_or_else(|_| {
        panic!("RTP_CLIENT_PYTHON is not set: run `. scripts/setup-tests.sh`, which creates the Python client environment")
    });
    let script = test_support::repo_root().join("clients/python/tests/scale_out.py");
    let location = format!("grpc://{}", first.flight_addr);
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(&python)
            .arg(&script)
            .args(["--location", &location, "--file", "jobs.parquet", "--rows"])
            .arg(ROWS.to_string())
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("all checks passed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // A name outside the shared directory is refused by name.
    let escape = client
        .get_flight_info(FlightDescriptor::new_path(vec![
            "shared".into(),
            "../jobs.parquet".into(),
        ]))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        escape.contains("give a file name inside the shared directory"),
        "{escape}"
    );
    first.shutdown().await.unwrap();
    peer.shutdown().await.unwrap();
}
