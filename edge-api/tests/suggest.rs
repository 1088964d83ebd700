//! `rtp-suggest` against a running edge: a prediction and a suggested
//! `--time` from sbatch options or a batch script, a bad option named, and
//! an edge that is down or silent costing one line and exit code 3 within
//! the time budget.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use rtp_jobs::slurm::{BareNumber, parse_duration};

use crate::common::server;

async fn suggest(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_rtp-suggest"))
            .args(&args)
            .env_remove("RTP_EDGE")
            .env("USER", "user3")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn args(edge: &str, rest: &[&str]) -> Vec<String> {
    let mut all = vec!["--edge".to_owned(), edge.to_owned()];
    all.extend(rest.iter().map(|s| s.to_string()));
    all
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suggests_a_time_from_options_and_from_a_script() {
    let dir = tempfile::tempdir().unwrap();
    let edge = server(dir.path()).await;
    let address = format!("http://{}", edge.grpc_addr);

    let out = suggest(args(
        &address,
        &["--time", "4:00:00", "-N", "1", "-n", "36", "--json"],
    ))
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let number = |key: &str| answer[key].as_f64().unwrap();
    assert!(number("p10_s") <= number("p50_s") && number("p50_s") <= number("p90_s"));
    assert!(number("p10_s") <= number("likely_s") && number("likely_s") <= number("p90_s"));
    assert_eq!(number("requested_s"), 14_400.0);
    assert!(number("suggested_s") > 0.0 && number("suggested_s") <= 14_400.0);
    let time = answer["suggested_time"].as_str().unwrap();
    assert_eq!(
        parse_duration(time, BareNumber::Minutes).unwrap(),
        Some(number("suggested_s").ceil())
    );
    assert!(!answer["model_version"].as_str().unwrap().is_empty());

    let script = dir.path().join("job.sh");
    std::fs::write(
        &script,
        "#!/bin/bash\n#SBATCH --time=1-00:00:00\n#SBATCH --nodes=2\n#SBATCH --mem=96G\n#SBATCH --output=job.out\nsrun ./solver\n",
    )
    .unwrap();
    let out = suggest(args(&address, &[script.to_str().unwrap()])).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    assert!(printed.contains("likely runtime "), "{printed}");
    assert!(printed.contains("suggested --time="), "{printed}");
    assert!(printed.contains("(requested 1-00:00:00"), "{printed}");

    // The command line wins over the script.
    let out = suggest(args(
        &address,
        &["--time", "30", "--json", script.to_str().unwrap()],
    ))
    .await;
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["requested_s"].as_f64(), Some(1_800.0));

    let out = suggest(args(&address, &["--time", "soon"])).await;
    assert_eq!(out.status.code(), Some(2));
    let error = text(&out.stderr);
    assert!(error.starts_with("rtp-suggest: --time: "), "{error}");
    assert_eq!(error.lines().count(), 1, "{error}");
    edge.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_down_or_silent_costs_one_line_and_exit_3() {
    // Nothing listens on a port just released.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down = format!("http://{}", free.local_addr().unwrap());
    drop(free);
    let out = suggest(args(&down, &["--time", "60"])).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let error = text(&out.stderr);
    assert!(
        error.contains("unreachable") && error.ends_with("submit as usual\n"),
        "{error}"
    );
    assert_eq!(error.lines().count(), 1);
    assert!(out.stdout.is_empty());

    // A listener that accepts and never answers: the budget ends the wait.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", silent.local_addr().unwrap());
    let started = Instant::now();
    let out = suggest(args(&address, &["--time", "60", "--timeout-ms", "300"])).await;
    let waited = started.elapsed();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("did not answer within 300 ms"));
    // Generous: the point is that it does not hang, not how fast it is.
    assert!(waited < Duration::from_secs(10), "{waited:?}");
    drop(silent);
}
