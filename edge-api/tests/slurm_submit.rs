//! Slurm at submit time, on the real one-node cluster: the job_submit.lua
//! plugin under `deploy/slurm/` annotates jobs, fills in and lowers time
//! limits by policy, and leaves jobs alone (quickly) when the edge is down;
//! the jobcomp/script feed reports every finished job to the edge, keeping
//! what the edge cannot take in its spool until it is back.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rtp_edge_api::{EdgeConfig, RunningServer, start};
use rtp_scoring::Value;

use crate::common;
use crate::slurm::{Cluster, ONE_CLUSTER, history, wait_until};

/// The plugin's settings file, beside slurm.conf.
fn settings(dir: &Path, edge: &str, policy: &str) {
    std::fs::write(
        dir.join("rtp_submit.conf"),
        format!(
            "suggest = {}\nedge = {edge}\npolicy = {policy}\nbudget_ms = 500\n",
            env!("CARGO_BIN_EXE_rtp-suggest")
        ),
    )
    .unwrap();
}

/// The cluster directory: the plugin and the completion script from
/// `deploy/slurm/`, pointed at this test's binaries and edge.
fn cluster_dir(edge: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let deploy = test_support::repo_root().join("deploy/slurm");
    std::fs::copy(
        deploy.join("job_submit.lua"),
        dir.path().join("job_submit.lua"),
    )
    .unwrap();
    settings(dir.path(), edge, "annotate");
    let spool = dir.path().join("rtp-jobcomp.spool");
    let script = std::fs::read_to_string(deploy.join("jobcomp.sh"))
        .unwrap()
        .lines()
        .map(|line| match line.split_once('=') {
            Some(("RTP_JOBCOMP", _)) => {
                format!("RTP_JOBCOMP={}", env!("CARGO_BIN_EXE_rtp-jobcomp"))
            }
            Some(("RTP_EDGE", _)) => format!("RTP_EDGE={edge}"),
            Some(("RTP_JOBCOMP_SPOOL", _)) => format!("RTP_JOBCOMP_SPOOL={}", spool.display()),
            _ => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    let jobcomp = dir.path().join("jobcomp.sh");
    std::fs::write(&jobcomp, script + "\n").unwrap();
    std::fs::set_permissions(
        &jobcomp,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let extra = dir.path().join("extra.conf");
    std::fs::write(
        &extra,
        format!(
            "JobSubmitPlugins=lua\nJobCompType=jobcomp/script\nJobCompLoc={}\nAccountingStoreFlags=job_comment\n",
            jobcomp.display()
        ),
    )
    .unwrap();
    (dir, extra)
}

/// `Key=value` of `scontrol show job id`.
fn job_field(cluster: &Cluster, id: &str, key: &str) -> String {
    let text = cluster.run(None, "scontrol", &["show", "job", id]);
    let needle = format!("{key}=");
    let start = text
        .find(&needle)
        .unwrap_or_else(|| panic!("no {key} in {text}"))
        + needle.len();
    // Comments run to the end of their line; other fields to a space.
    let rest = &text[start..];
    let end = if key.ends_with("Comment") {
        rest.find('\n')
    } else {
        rest.find(char::is_whitespace)
    };
    rest[..end.unwrap_or(rest.len())].to_owned()
}

/// sbatch as `user` with `args`; the job id.
fn sbatch(cluster: &Cluster, user: &str, args: &[&str]) -> String {
    let mut all = vec!["--parsable", "--chdir=/tmp", "--output=/dev/null"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--wrap", "sleep 1"]);
    cluster.run(Some(user), "sbatch", &all).trim().to_owned()
}

/// Minutes of a Slurm limit (`HH:MM:SS` or `D-HH:MM:SS`).
fn minutes(limit: &str) -> u64 {
    let seconds = rtp_jobs::slurm::parse_duration(limit, rtp_jobs::slurm::BareNumber::Minutes)
        .unwrap()
        .unwrap();
    (seconds / 60.0).ceil() as u64
}

/// The suggestion written into an annotation, in minutes.
fn suggested_minutes(annotation: &str) -> u64 {
    let value = annotation
        .split_whitespace()
        .find_map(|w| w.strip_prefix("suggest="))
        .unwrap_or_else(|| panic!("no suggestion in {annotation:?}"));
    minutes(value)
}

fn ended(server: &RunningServer, user: &str) -> i64 {
    match history(server, user) {
        Some((Value::Int(n), _)) => n,
        _ => 0,
    }
}

async fn edge_at(config: &EdgeConfig) -> RunningServer {
    start(config).await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_submit_plugin_annotates_sets_limits_by_policy_and_never_blocks_a_submit() {
    let _one = ONE_CLUSTER.lock().await;
    let work = tempfile::tempdir().unwrap();
    let mut config = common::config(&common::store_copy(work.path()));
    config.events.store = work.path().join("events.redb");
    let edge = edge_at(&config).await;
    // The edge comes back on the same address.
    config.listen = edge.grpc_addr;
    let address = format!("http://{}", edge.grpc_addr);
    let (dir, extra) = cluster_dir(&address);
    let cluster = tokio::task::spawn_blocking(move || Cluster::start_in(dir, Some(&extra)))
        .await
        .unwrap();
    let dir = cluster.dir.path().to_owned();
    let version = edge.live.current().version().to_owned();

    // annotate: the prediction is in the admin comment, the limit untouched.
    let id = sbatch(&cluster, "rtpslurm1", &["-p", "long", "-t", "45"]);
    let note = job_field(&cluster, &id, "AdminComment");
    assert!(note.starts_with("rtp p50="), "{note}");
    assert!(note.contains(&format!("model={version}")), "{note}");
    assert_eq!(job_field(&cluster, &id, "TimeLimit"), "00:45:00");
    let suggestion = suggested_minutes(&note);
    assert!((1..=45).contains(&suggestion), "{note}");

    // fill: a job without a limit gets the suggestion, made from the
    // partition's limit (24 h), instead of that limit.
    settings(&dir, &address, "fill");
    let id = sbatch(&cluster, "rtpslurm1", &["-p", "day"]);
    let note = job_field(&cluster, &id, "AdminComment");
    let limit = job_field(&cluster, &id, "TimeLimit");
    assert_eq!(
        minutes(&limit),
        suggested_minutes(&note),
        "{note} / {limit}"
    );
    assert!(minutes(&limit) < 24 * 60, "{note} / {limit}");
    // A job with a limit keeps it.
    let id = sbatch(&cluster, "rtpslurm1", &["-p", "long", "-t", "50"]);
    assert_eq!(job_field(&cluster, &id, "TimeLimit"), "00:50:00");

    // lower: only for jobs that opted in.
    settings(&dir, &address, "lower");
    let id = sbatch(
        &cluster,
        "rtpslurm1",
        &["-p", "day", "-t", "1-00:00:00", "--comment=rtp:lower"],
    );
    let note = job_field(&cluster, &id, "AdminComment");
    let lowered = minutes(&job_field(&cluster, &id, "TimeLimit"));
    assert_eq!(lowered, suggested_minutes(&note), "{note}");
    assert!(lowered < 24 * 60, "{note}");
    let id = sbatch(&cluster, "rtpslurm1", &["-p", "day", "-t", "1-00:00:00"]);
    assert_eq!(job_field(&cluster, &id, "TimeLimit"), "1-00:00:00");

    // Completions reach the edge through jobcomp/script.
    wait_until(
        "five completions at the edge",
        Duration::from_secs(60),
        || ended(&edge, "rtpslurm1") >= 5,
    )
    .await;

    // The edge down: the job goes in unchanged, within the budget, and
    // its completion waits in the spool.
    edge.shutdown().await.unwrap();
    settings(&dir, &address, "annotate");
    let started = Instant::now();
    let id = sbatch(&cluster, "rtpslurm2", &["-p", "short", "-t", "5"]);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "sbatch took {took:?}");
    let text = cluster.run(None, "scontrol", &["show", "job", &id]);
    assert!(!text.contains("rtp p50="), "{text}");
    let spool = dir.join("rtp-jobcomp.spool");
    wait_until("the completion spooled", Duration::from_secs(60), || {
        std::fs::metadata(&spool).is_ok_and(|m| m.len() > 0)
    })
    .await;
    let log = std::fs::read_to_string(dir.join("log/slurmctld.log")).unwrap();
    assert!(
        log.contains("rtp: job of uid"),
        "no line in the slurmctld log"
    );

    // Back up: the next completion brings the spooled one with it.
    let edge = edge_at(&config).await;
    sbatch(&cluster, "rtpslurm2", &["-p", "short", "-t", "5"]);
    wait_until(
        "both completions at the edge",
        Duration::from_secs(60),
        || ended(&edge, "rtpslurm2") >= 2,
    )
    .await;
    assert_eq!(std::fs::metadata(&spool).unwrap().len(), 0);
    edge.shutdown().await.unwrap();
}

/// The plugin's cost at submit: 200 `sbatch` calls each with the plugin
/// off, with the edge up, with it down (refused at once) and 20 with it
/// silent (the budget runs out), as p50 and p99 wall times. A measurement,
/// not a check: `cargo test --workspace --test integration --
/// --ignored submit_latency --nocapture` prints the table.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "a measurement: run it on purpose"]
async fn submit_latency_with_the_plugin() {
    let _one = ONE_CLUSTER.lock().await;
    let work = tempfile::tempdir().unwrap();
    let config = common::config(&common::store_copy(work.path()));
    let edge = edge_at(&config).await;
    let up = format!("http://{}", edge.grpc_addr);
    let (dir, extra) = cluster_dir(&up);
    let cluster = tokio::task::spawn_blocking(move || Cluster::start_in(dir, Some(&extra)))
        .await
        .unwrap();
    let dir = cluster.dir.path().to_owned();
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down = format!("http://{}", free.local_addr().unwrap());
    drop(free);
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let quiet = format!("http://{}", silent.local_addr().unwrap());
    println!(
        "{:<34} {:>6} {:>9} {:>9}",
        "sbatch --hold, 1 task", "calls", "p50 ms", "p99 ms"
    );
    for (name, edge, policy, calls) in [
        ("plugin off", up.as_str(), "off", 200),
        ("plugin on, edge up", up.as_str(), "annotate", 200),
        (
            "plugin on, edge down (refused)",
            down.as_str(),
            "annotate",
            200,
        ),
        (
            "plugin on, edge silent (budget)",
            quiet.as_str(),
            "annotate",
            20,
        ),
    ] {
        settings(&dir, edge, policy);
        let mut took: Vec<f64> = Vec::with_capacity(calls);
        for _ in 0..calls {
            let started = Instant::now();
            cluster.run(
                None,
                "sbatch",
                &[
                    "--hold",
                    "--output=/dev/null",
                    "-p",
                    "day",
                    "-t",
                    "120",
                    "--wrap",
                    "true",
                ],
            );
            took.push(started.elapsed().as_secs_f64() * 1e3);
        }
        took.sort_by(f64::total_cmp);
        let at = |q: f64| took[((took.len() - 1) as f64 * q).round() as usize];
        println!("{name:<34} {calls:>6} {:>9.1} {:>9.1}", at(0.5), at(0.99));
        cluster.run(None, "scancel", &["--state=PENDING", "--user=root"]);
    }
    drop(silent);
    edge.shutdown().await.unwrap();
}
