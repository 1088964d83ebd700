//! `rtp bench flight`, `rtp bench edge`, `rtp bench events` and `rtp bench soak`: each starts
//! its servers as child processes of `rtp` (`rtp serve`) and prints its
//! table. `rtp bench features` runs the feature SQL on DataFusion and on
//! DuckDB in the client environment, `rtp bench train` the LightGBM member
//! in rtp and in that environment's LightGBM.

use std::process::Command;

fn bench(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_rtp"))
        .current_dir(test_support::repo_root())
        .args(["--members", "lightgbm", "bench"])
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The rows/s (or predictions/s) column of the line starting with `path`.
fn rate(table: &str, path: &str, column: usize) -> f64 {
    let line = table
        .lines()
        .find(|l| l.starts_with(path))
        .unwrap_or_else(|| panic!("no `{path}` line in\n{table}"));
    let rest = line[path.len()..].split_whitespace().collect::<Vec<_>>();
    rest[column]
        .parse()
        .unwrap_or_else(|_| panic!("`{line}` has no number at {column}"))
}

/// Both engines run every materialised step of the same SQL, write the
/// same number of rows (the command fails otherwise), and are timed.
#[test]
fn bench_features_runs_the_same_sql_on_datafusion_and_duckdb() {
    let python = std::env::var("RTP_CLIENT_PYTHON").unwrap_or_else(|_| {
        panic!("RTP_CLIENT_PYTHON is not set: run `. scripts/setup-tests.sh`, which creates the Python client environment")
    });
    let table = bench(&["features", "--rows", "3000", "--python", &python]);
    for step in [
        "entity_end_stats",
        "entity_asof",
        "history_wide",
        "queue_at_submit",
        "queue_wide",
        "features",
        "history_state",
        "queue_state",
        "total",
    ] {
        // seconds on DataFusion and on DuckDB, and their ratio
        let column = if step == "total" { 0 } else { 1 };
        for offset in 0..3 {
            assert!(
                rate(&table, &format!("{step} "), column + offset).is_finite(),
                "{step}: {table}"
            );
        }
    }
    assert_eq!(rate(&table, "features ", 0), 3000.0, "{table}");
    assert!(rate(&table, "peak RSS MiB", 1) > 0.0, "{table}");
}

/// rtp and Python's LightGBM train the same member on the same matrix: each
/// phase is timed on both sides, and the deterministic trainings of one
/// library version agree on every model.
#[test]
fn bench_train_trains_the_same_models_in_rtp_and_in_python() {
    let python = std::env::var("RTP_CLIENT_PYTHON").unwrap_or_else(|_| {
        panic!("RTP_CLIENT_PYTHON is not set: run `. scripts/setup-tests.sh`, which creates the Python client environment")
    });
    let table = bench(&["train", "--rows", "6000", "--python", &python]);
    for phase in [
        "datasets",
        "p10 fit",
        "p10 refit",
        "p50 fit",
        "p50 refit",
        "p90 fit",
        "p90 refit",
        "total",
    ] {
        for column in 0..3 {
            assert!(
                rate(&table, &format!("{phase} "), column).is_finite(),
                "{phase}: {table}"
            );
        }
    }
    let iterations = table
        .lines()
        .find_map(|l| l.strip_prefix("best iterations (rtp/python): "))
        .unwrap_or_else(|| panic!("no best iterations in\n{table}"));
    for pair in iterations.split(", ") {
        let (_, counts) = pair.split_once(' ').unwrap();
        let (ours, theirs) = counts.split_once('/').unwrap();
        assert_eq!(ours, theirs, "{table}");
    }
    let diff = table
        .lines()
        .find_map(|l| l.strip_prefix("validation predictions: max |rtp - python| = "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no prediction difference in\n{table}"));
    assert!(diff < 1e-6, "{table}");
}

#[test]
fn bench_flight_streams_through_a_served_flight_server() {
    let table = bench(&[
        "flight",
        "--rows",
        "4000",
        "--batch-rows",
        "1000",
        "--pool-rows",
        "3000",
    ]);
    for path in [
        "in-process Scorer::score (features + model)",
        "native engine, LightGBM p50 model only",
        "lightgbm3 batch predict, LightGBM p50 model only",
        "Flight DoExchange, Rust client",
    ] {
        assert!(rate(&table, path, 0) > 0.0, "{path}: {table}");
    }
    // The server line carries the server process's own CPU and memory.
    let rust = table
        .lines()
        .find(|l| l.starts_with("Flight DoExchange, Rust client"))
        .unwrap();
    assert!(rust.contains("MiB"), "{rust}");
}

#[test]
fn bench_edge_calls_a_served_edge() {
    let table = bench(&[
        "edge",
        "--concurrency",
        "1",
        "--duration",
        "0.3",
        "--warmup",
        "0.1",
        "--pool-rows",
        "3000",
    ]);
    assert!(rate(&table, "Predict", 1) > 0.0, "{table}");
    assert!(
        rate(&table, "grpc.health.v1 Check (no scoring)", 1) > 0.0,
        "{table}"
    );
    assert!(table.contains("in-process, 1 job, row form"), "{table}");
}

#[test]
fn bench_events_applies_every_event_and_times_predict_beside_them() {
    let table = bench(&[
        "events",
        "--events",
        "3000",
        "--events-per-s",
        "500",
        "--duration",
        "0.3",
        "--warmup",
        "0.1",
        "--pool-rows",
        "3000",
    ]);
    for line in [
        "in memory, 1 event per apply",
        "in memory, 1024 events per apply",
        "redb, 1024 events per commit",
    ] {
        // Every event changes the state: none is refused or a duplicate.
        assert_eq!(rate(&table, line, 0), 3000.0, "{line}: {table}");
        assert!(rate(&table, line, 1) > 0.0, "{line}: {table}");
    }
    assert!(rate(&table, "Predict, no events", 1) > 0.0, "{table}");
    assert!(
        table.contains("Predict, 500 events/s (50 per 100 ms)"),
        "{table}"
    );
}

/// The soak: the edge and Flight together under mixed traffic for 60 s
/// (`RTP_SOAK_SECONDS` changes it), with no error and flat memory. The
/// command itself fails otherwise; the table is checked as well.
#[test]
fn bench_soak_keeps_both_servers_error_free_and_flat() {
    let seconds = std::env::var("RTP_SOAK_SECONDS").unwrap_or_else(|_| "60".into());
    let table = bench(&["soak", "--seconds", &seconds, "--pool-rows", "6000"]);
    for server in [
        "edge (Predict, PredictBatch)",
        "Flight (DoExchange, DoAction)",
    ] {
        let calls = rate(&table, server, 0);
        let errors = rate(&table, server, 2);
        assert!(calls > 10.0 && errors == 0.0, "{server}: {table}");
    }
    assert!(
        table.contains("passed: no errors, the last version served, memory flat and given back"),
        "{table}"
    );
    let republished = table
        .lines()
        .find_map(|l| l.strip_prefix("bundle republished "))
        .and_then(|l| l.split(' ').next()?.parse::<u32>().ok())
        .unwrap_or_else(|| panic!("{table}"));
    assert!(republished >= 3, "{table}");
    println!("{table}");
}
