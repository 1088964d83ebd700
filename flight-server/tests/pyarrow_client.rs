//! The real pyarrow client against the real server: runs
//! `clients/python/tests/roundtrip.py` in the client environment that
//! `scripts/setup-tests.sh` creates (its interpreter in `RTP_CLIENT_PYTHON`).

use std::process::Command;

#[tokio::test(flavor = "multi_thread")]
async fn pyarrow_round_trip() {
    let python = std::env::var("RTP_CLIENT_PYTHON").unwrap_or_else(|_| {
        panic!("RTP_CLIENT_PYTHON is not set: run `. scripts/setup-tests.sh`, which creates the Python client environment")
    });
    let dir = tempfile::tempdir().unwrap();
    let server = crate::common::server(dir.path()).await;
    let script = test_support::repo_root().join("clients/python/tests/roundtrip.py");
    let location = format!("grpc://{}", server.flight_addr);
    let output = tokio::task::spawn_blocking(move || {
        Command::new(&python)
            .arg(&script)
            .args(["--location", &location])
            .output()
            .unwrap_or_else(|e| panic!("running {python}: {e}"))
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "roundtrip.py failed\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("all checks passed"), "{stdout}");
    server.shutdown().await.unwrap();
}
