//! The `rtp` binary as users call it.

use std::process::Command;

/// Runs `cmd`, asserts it succeeded, returns its stdout.
fn succeed(cmd: &mut Command) -> String {
    let output = cmd.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn rtp() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rtp"));
    cmd.current_dir(test_support::repo_root());
    cmd
}

#[test]
fn ingest_reports_counts_and_strict_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("jobs.parquet");
    let fixture = test_support::fixture("eagle_broken.csv");
    let stdout = succeed(rtp().args(["ingest"]).arg(&fixture).arg("--out").arg(&out));
    assert!(
        stdout.contains("5 jobs kept, 4 rows quarantined"),
        "{stdout}"
    );
    assert!(stdout.contains("jobs.quarantine.csv"), "{stdout}");

    let output = rtp()
        .args(["ingest", "--strict"])
        .arg(&fixture)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "{}:5: field `wallclock_req`: not a number",
            fixture.display()
        )),
        "{stderr}"
    );
}

#[test]
fn the_chain_runs_outside_the_repository_with_the_built_in_sql() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rtp"));
        cmd.current_dir(dir.path());
        cmd
    };
    succeed(elsewhere().args([
        "generate",
        "--rows",
        "3000",
        "--seed",
        "5",
        "--out",
        "gen.parquet",
    ]));
    succeed(elsewhere().args(["ingest", "gen.parquet", "--out", "jobs.parquet"]));
    succeed(elsewhere().args([
        "features",
        "--jobs",
        "jobs.parquet",
        "--out",
        "features.parquet",
    ]));
    succeed(elsewhere().args([
        "--members",
        "lightgbm",
        "train",
        "--features",
        "features.parquet",
        "--bundle-dir",
        "bundles",
    ]));
    // The bundle carries exactly the repository's SQL.
    let latest = std::fs::read_to_string(dir.path().join("bundles/latest")).unwrap();
    let version = dir.path().join("bundles").join(latest.trim());
    let sql_dir = test_support::sql_dir();
    let mut names: Vec<_> = std::fs::read_dir(&sql_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().ends_with(".sql"))
        .collect();
    names.sort();
    assert!(!names.is_empty());
    for name in &names {
        assert_eq!(
            std::fs::read_to_string(version.join("sql").join(name)).unwrap(),
            std::fs::read_to_string(sql_dir.join(name)).unwrap(),
            "{name:?}"
        );
    }

    // A configured directory that is missing is an error naming it, once.
    std::fs::write(
        dir.path().join("c.toml"),
        "[features]\nsql_dir = \"my_sql\"\n",
    )
    .unwrap();
    let output = elsewhere()
        .args([
            "--config",
            "c.toml",
            "features",
            "--jobs",
            "jobs.parquet",
            "--out",
            "f2.parquet",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("my_sql"), "{stderr}");
    assert_eq!(stderr.matches("No such file").count(), 1, "{stderr}");

    // A disk that fills while a bundle is written: files may grow to 64 KiB
    // only (RLIMIT_FSIZE, with SIGXFSZ ignored so a write fails with EFBIG
    // as on a full disk). The publish fails naming the file, and the store
    // keeps its bundle, its `latest` and no staging directory.
    let store = dir.path().join("bundles");
    let listing = || {
        let mut names: Vec<String> = std::fs::read_dir(&store)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let before = listing();
    let output = Command::new("bash")
        .current_dir(dir.path())
        .arg("-c")
        .arg("trap '' XFSZ; ulimit -f 64; exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_rtp"))
        .args([
            "--members",
            "lightgbm",
            "train",
            "--features",
            "features.parquet",
            "--bundle-dir",
            "bundles",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "published on a full disk: {stderr}"
    );
    assert!(stderr.contains("File too large"), "{stderr}");
    assert_eq!(listing(), before, "{stderr}");
    assert_eq!(
        std::fs::read_to_string(store.join("latest")).unwrap(),
        latest
    );
}

#[test]
fn generate_is_deterministic_per_seed() {
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str, seed: &str| {
        let path = dir.path().join(name);
        let status = rtp()
            .args(["generate", "--rows", "3000", "--seed", seed, "--out"])
            .arg(&path)
            .status()
            .unwrap();
        assert!(status.success());
        std::fs::read(path).unwrap()
    };
    assert_eq!(run("a.parquet", "1"), run("b.parquet", "1"));
    assert_ne!(run("a.parquet", "1"), run("c.parquet", "2"));
}

#[test]
fn evaluate_writes_the_metrics_json() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("eagle.parquet");
    let status = rtp()
        .args(["generate", "--rows", "6000", "--seed", "3", "--out"])
        .arg(&input)
        .status()
        .unwrap();
    assert!(status.success());
    // No Python anywhere: the LightGBM member alone needs none.
    let config = dir.path().join("no-python.toml");
    std::fs::write(
        &config,
        format!(
            "[train.python]\ninterpreter = \"/nonexistent/python3\"\nenv_dir = \"{}\"\n",
            dir.path().join("venv").display()
        ),
    )
    .unwrap();
    let json = dir.path().join("out.json");
    let stdout = succeed(
        rtp()
            .arg("--config")
            .arg(&config)
            .args(["--members", "lightgbm", "evaluate", "--input"])
            .arg(&input)
            .arg("--json")
            .arg(&json),
    );
    assert!(
        stdout.contains("predictor") && stdout.contains("last2") && stdout.contains("blend"),
        "{stdout}"
    );
    // The Python members say what they need when it is missing.
    let output = rtp()
        .arg("--config")
        .arg(&config)
        .args(["evaluate", "--input"])
        .arg(&input)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("/nonexistent/python3"), "{stderr}");
    let value: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert!(value["n_test"].as_u64().unwrap() > 0);
    let keys = [
        "mae_h",
        "medae_min",
        "rmse_h",
        "r2",
        "within_2x",
        "within_10min",
        "under_rate",
        "mape_pct",
    ];
    for predictor in [
        &value["model"],
        &value["baselines"]["user_request"],
        &value["baselines"]["last2"],
    ] {
        for key in keys {
            assert!(predictor[key].is_f64(), "{key} missing in {predictor}");
        }
    }
    assert!(value["model"]["coverage_p10_p90"].is_f64());
    assert!(value["members"]["lightgbm"]["mae_h"].is_f64());
    assert!(
        value["baselines"]["last2"]
            .get("coverage_p10_p90")
            .is_none()
    );
}

/// A log without requested times (-1 everywhere, as at sites that enforce
/// no limit) evaluates end to end: the request is a missing feature, and
/// the baselines that need it are named as not compared.
#[test]
fn a_log_without_requests_evaluates_end_to_end() {
    let Some(kth) = test_support::shared_data("KTH-SP2-1996-2.1-cln.swf.gz") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let blanked = dir.path().join("kth-no-requests.swf");
    crate::util::blank_swf_field(&kth, &blanked, crate::util::SWF_REQUESTED_TIME);
    let json = dir.path().join("out.json");
    let stdout = succeed(
        rtp()
            .args(["--members", "lightgbm", "evaluate", "--input"])
            .arg(&blanked)
            .arg("--json")
            .arg(&json),
    );
    assert!(
        stdout.contains("predictor") && stdout.contains("blend"),
        "{stdout}"
    );
    for needs_request in ["user_request", "max_ratio5"] {
        assert!(
            stdout.contains(&format!("{needs_request}: not compared, no prediction for")),
            "{stdout}"
        );
    }
    let value: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert!(value["n_test"].as_u64().unwrap() > 5_000, "{value}");
    assert!(value["baselines"].get("user_request").is_none(), "{value}");
    assert!(
        value["baselines_dropped"]["max_ratio5"].is_string(),
        "{value}"
    );
    // The model still learns from history alone: better than a constant
    // (r2 > 0) and with an interval near its nominal coverage.
    let model = &value["model"];
    assert!(model["r2"].as_f64().unwrap() > 0.0, "{model}");
    let coverage = model["coverage_p10_p90"].as_f64().unwrap();
    assert!((coverage - 0.8).abs() <= 0.05, "{model}");
}
