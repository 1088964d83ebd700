//! The real grpcio client against real edges: runs
//! `clients/python/tests/edge_grpc.py` (stubs generated with grpcio-tools,
//! reflection, TLS with a bearer token) in the client environment that
//! `scripts/setup-tests.sh` creates (its interpreter in `RTP_CLIENT_PYTHON`).

use std::process::Command;

use rtp_edge_api::start;

use crate::common::{config, store_copy};
use crate::tls_auth::certificates;

#[tokio::test(flavor = "multi_thread")]
async fn grpcio_calls_every_method_reflects_and_authenticates() {
    let python = std::env::var("RTP_CLIENT_PYTHON").unwrap_or_else(|_| {
        panic!("RTP_CLIENT_PYTHON is not set: run `. scripts/setup-tests.sh`, which creates the Python client environment")
    });
    let dir = tempfile::tempdir().unwrap();
    let plain = start(&config(&store_copy(&dir.path().join("plain"))))
        .await
        .unwrap();
    let (files, _) = certificates(dir.path());
    let mut secure_config = config(&store_copy(&dir.path().join("secure")));
    secure_config.access.tls = Some(files);
    secure_config.access.token = Some("py-token".into());
    let secure = start(&secure_config).await.unwrap();

    let script = test_support::repo_root().join("clients/python/tests/edge_grpc.py");
    let address = plain.grpc_addr.to_string();
    let tls_address = format!("localhost:{}", secure.grpc_addr.port());
    let ca = dir.path().join("ca.pem");
    let stubs = dir.path().join("stubs");
    let output = tokio::task::spawn_blocking(move || {
        Command::new(&python)
            .arg(&script)
            .args(["--address", &address, "--tls-address", &tls_address])
            .arg("--ca")
            .arg(&ca)
            .args(["--token", "py-token"])
            .env("RTP_EDGE_STUBS", &stubs)
            .output()
            .unwrap_or_else(|e| panic!("running {python}: {e}"))
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "edge_grpc.py failed\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("all checks passed"), "{stdout}");
    plain.shutdown().await.unwrap();
    secure.shutdown().await.unwrap();
}
