//! TLS and the bearer token on Flight: a server that requires both refuses
//! every call without the token (Rust and pyarrow clients alike), scores
//! with it, and keeps its probes open.

use std::process::Command;

use arrow_flight::FlightClient;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use futures::{StreamExt, TryStreamExt};
use rtp_flight_server::config::Access;
use rtp_flight_server::start;
use rtp_service_support::access::TlsFiles;
use tonic::Code;
use tonic::transport::{Certificate, Channel, ClientTlsConfig};

use crate::common::{config, http_get, jobs, sample, scrape, store_copy};

const TOKEN: &str = "flight-s3cret";
const SUBMIT: i64 = 1_900_000_000;

fn code(error: FlightError) -> Code {
    match error {
        FlightError::Tonic(status) => status.code(),
        other => panic!("not a gRPC status: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_and_a_bearer_token_are_required_when_configured() {
    let dir = tempfile::tempdir().unwrap();
    let certificates = test_support::certificates(dir.path());
    let mut config = config(&store_copy(dir.path()));
    config.access = Access {
        token: Some(TOKEN.into()),
        tls: Some(TlsFiles {
            cert: certificates.cert.clone(),
            key: certificates.key.clone(),
        }),
    };
    let server = start(&config).await.unwrap();
    assert!(server.tls);
    let port = server.flight_addr.port();
    let channel = Channel::from_shared(format!("https://localhost:{port}"))
        .unwrap()
        .tls_config(
            ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(&certificates.ca_pem))
                .domain_name("localhost"),
        )
        .unwrap()
        .connect()
        .await
        .unwrap();

    // No token, or a wrong one: refused before any work.
    for header in [None, Some(format!("Bearer {TOKEN}x"))] {
        let mut client = FlightClient::new(channel.clone());
        if let Some(value) = &header {
            client.add_header("authorization", value).unwrap();
        }
        let listed = client.list_flights("").await;
        assert_eq!(code(listed.err().unwrap()), Code::Unauthenticated);
        let input =
            FlightDataEncoderBuilder::new().build(futures::stream::iter([Ok(jobs(10, SUBMIT))]));
        let refused = match client.do_exchange(input).await {
            Err(e) => e,
            Ok(mut stream) => stream.next().await.unwrap().unwrap_err(),
        };
        assert_eq!(code(refused), Code::Unauthenticated);
    }

    // The token: scored.
    let mut client = FlightClient::new(channel);
    client
        .add_header("authorization", &format!("Bearer {TOKEN}"))
        .unwrap();
    let input =
        FlightDataEncoderBuilder::new().build(futures::stream::iter([Ok(jobs(50, SUBMIT))]));
    let scored: Vec<_> = client
        .do_exchange(input)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(scored.iter().map(|b| b.num_rows()).sum::<usize>(), 50);

    // Probes need no token; refusals are counted.
    assert!(
        http_get(server.metrics_addr, "/readyz")
            .await
            .contains("serving")
    );
    let metrics = scrape(&server).await;
    assert_eq!(sample(&metrics, "rtp_flight_auth_failures_total"), 4.0);

    // pyarrow, through rtp_client.connect(token=, tls_root_certs=).
    let python = std::env::var("RTP_CLIENT_PYTHON").unwrap_or_else(|_| {
        panic!("RTP_CLIENT_PYTHON is not set: run `. scripts/setup-tests.sh`, which creates the Python client environment")
    });
    let script = test_support::repo_root().join("clients/python/tests/secure.py");
    let ca = certificates.ca.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(&python)
            .arg(&script)
            .args(["--location", &format!("grpc+tls://localhost:{port}")])
            .arg("--ca")
            .arg(&ca)
            .args(["--token", TOKEN])
            .output()
            .unwrap_or_else(|e| panic!("running {python}: {e}"))
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("all checks passed"),
        "secure.py failed\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    server.shutdown().await.unwrap();
}
