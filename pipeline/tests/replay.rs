//! `rtp replay`: the simulator against the published EASY figures for
//! KTH-SP2, the model's suggestions made from what was known at each
//! submit, and the command's table and JSON.

use std::collections::HashMap;
use std::process::Command;

use rtp_bundle::manifest::SchedulingReplay;
use rtp_pipeline::chain;
use rtp_pipeline::evaluate::serving::read_jobs;
use rtp_pipeline::ingest::declared_processors;
use rtp_pipeline::replay::{
    Estimates, Overrun, Policy, ReplayOptions, TraceJob, run_all, trace_jobs,
};

use crate::util::config;

/// Published: KTH-SP2 under EASY, average bounded slowdown (10 s) 92.6
/// with the users' requests and 49.8 with perfect knowledge (Gaussier et
/// al., SC'15). The simulator lands within 5 % of both: requests with
/// backfilling in queue order, perfect knowledge with the shortest
/// estimate backfilled first.
#[tokio::test]
async fn kth_replay_matches_published_easy_figures_and_suggests_from_the_past() {
    let Some(kth) = test_support::shared_data("KTH-SP2-1996-2.1-cln.swf.gz") else {
        return;
    };
    assert_eq!(declared_processors(&kth).unwrap(), Some(100));
    let dir = tempfile::tempdir().unwrap();
    let config = config();
    let (prepared, mut evaluation) = crate::util::evaluate_holdout(&kth, dir.path(), &config).await;
    let mut stages = Vec::new();
    chain::replay_stage(
        &prepared,
        &mut evaluation,
        ReplayOptions::default(),
        &config.features.sql_dir,
        &mut stages,
    )
    .await
    .unwrap();
    let replay = evaluation.summary.replay.as_ref().unwrap();
    eprintln!("{}", rtp_pipeline::replay::render_replay(replay));
    assert_eq!(replay.processors, 100);
    assert_eq!(replay.processors_from, "the trace's header");
    let whole = |name: &str| {
        replay
            .whole_trace
            .iter()
            .find(|r| r.estimates == name)
            .unwrap()
    };
    let requests = whole("requests");
    assert!(requests.jobs > 28_000);
    assert!(
        (requests.bounded_slowdown / 92.6 - 1.0).abs() < 0.05,
        "EASY with requests: {}",
        requests.bounded_slowdown
    );

    let jobs = read_jobs(&prepared.ingest.output).unwrap();
    let (all, _) = trace_jobs(&jobs.rows(), i64::MIN, 100, &HashMap::new());
    let perfect = &run_all(
        &all,
        &[Estimates::Perfect],
        100,
        Policy::EasyShortestFirst,
        Overrun::KillAndResubmit,
        false,
    )[0];
    assert!(
        (perfect.bounded_slowdown / 49.8 - 1.0).abs() < 0.05,
        "EASY-SJBF with perfect knowledge: {}",
        perfect.bounded_slowdown
    );

    // The test period: every job simulated four times; the suggestions
    // are real (some too short, so killed) and never above the request.
    let runs: Vec<&str> = replay.runs.iter().map(|r| r.estimates.as_str()).collect();
    assert_eq!(runs, ["requests", "suggestions", "predictions", "perfect"]);
    assert!(replay.runs.iter().all(|r| r.jobs == replay.runs[0].jobs));
    assert!(replay.runs[0].jobs as f64 >= 0.2 * 28_000.0);
    for run in [0, 2, 3] {
        assert_eq!(replay.runs[run].killed_share, 0.0);
    }
    // The gain: the model's medians as the scheduler's estimates make
    // jobs wait less than the users' requests do.
    let (requests, predictions) = (&replay.runs[0], &replay.runs[2]);
    assert!(
        predictions.bounded_slowdown < 0.9 * requests.bounded_slowdown,
        "{} against {}",
        predictions.bounded_slowdown,
        requests.bounded_slowdown
    );
    let suggestions = &replay.runs[1];
    assert!(
        suggestions.killed_share > 0.0 && suggestions.killed_share < 0.3,
        "{}",
        suggestions.killed_share
    );
    assert!(!suggestions.daily.is_empty());
    let days: u64 = suggestions.daily.iter().map(|d| d.jobs).sum();
    assert_eq!(days, suggestions.jobs);
}

/// Suggestions are the limits of the suggestions run: the one below its
/// job's runtime is killed, the one above is not.
#[test]
fn suggestions_are_the_limits_the_replay_kills_at() {
    let job = |submit, run, request, suggestion| TraceJob {
        submit,
        run,
        procs: 1,
        request: Some(request),
        suggestion: Some(suggestion),
        prediction: None,
    };
    let jobs = [job(0, 100, 600, 60), job(10, 100, 600, 120)];
    let runs = run_all(
        &jobs,
        &[Estimates::Suggestions],
        1,
        Policy::Easy,
        Overrun::KillAndResubmit,
        false,
    );
    assert_eq!(runs[0].killed_share, 0.5);
}

#[test]
fn rtp_replay_prints_the_table_and_writes_json() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("eagle.parquet");
    let status = Command::new(env!("CARGO_BIN_EXE_rtp"))
        .current_dir(test_support::repo_root())
        .args(["generate", "--rows", "6000", "--seed", "3", "--out"])
        .arg(&raw)
        .status()
        .unwrap();
    assert!(status.success());
    let json = dir.path().join("replay.json");
    let output = Command::new(env!("CARGO_BIN_EXE_rtp"))
        .current_dir(test_support::repo_root())
        .args(["--members", "lightgbm", "replay", "--policy", "fcfs"])
        .args(["--underestimate", "extend", "--input"])
        .arg(&raw)
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("replay: FCFS on ") && stdout.contains("(the log's peak use)"),
        "{stdout}"
    );
    for line in [
        "test period, requests",
        "test period, suggestions",
        "test period, predictions",
        "test period, perfect",
        "whole trace, requests",
        "suggestions against requests: wait ",
    ] {
        assert!(stdout.contains(line), "{line}: {stdout}");
    }
    let written: SchedulingReplay =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(written.policy, "fcfs");
    assert_eq!(written.overrun, "extend");
    assert_eq!(written.runs.len(), 4);
    // Jobs run on past a short suggestion: none is killed.
    assert!(written.runs.iter().all(|r| r.killed_share == 0.0));
}
