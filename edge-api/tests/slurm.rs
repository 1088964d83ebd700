//! The `sacct` follower against a real one-node Slurm
//! (`scripts/slurm-cluster.sh`: Debian's munge, MariaDB, slurmdbd,
//! slurmctld and slurmd on loopback): jobs that really ran reach the live
//! state exactly as `sacct` reports them, and the next prediction of their
//! user reflects them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rtp_edge_api::{RunningServer, start};
use rtp_proto::v1::PredictRequest;
use rtp_scoring::Value;
use rtp_scoring::live::HistoryStat;

use crate::common;

/// One cluster at a time in this test binary: two would compete for the
/// machine's cores and make each other's jobs late.
pub static ONE_CLUSTER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A running cluster, stopped when dropped.
pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub conf: PathBuf,
}

impl Cluster {
    fn script() -> PathBuf {
        test_support::repo_root().join("scripts/slurm-cluster.sh")
    }

    fn start() -> Self {
        Self::start_in(tempfile::tempdir().unwrap(), None)
    }

    /// A cluster in `dir` (which may hold files the configuration names),
    /// with the slurm.conf lines of `extra` added.
    pub fn start_in(dir: tempfile::TempDir, extra: Option<&Path>) -> Self {
        let output = Command::new(Self::script())
            .arg("start")
            .arg(dir.path())
            .args(extra)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "the Slurm cluster did not start (scripts/setup-tests.sh installs its packages):\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let conf = dir.path().join("slurm.conf");
        Self { dir, conf }
    }

    /// `program args…` with this cluster's configuration, run as `user`
    /// (root when None); its standard output.
    pub fn run(&self, user: Option<&str>, program: &str, args: &[&str]) -> String {
        let mut command = match user {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--", program]);
                c
            }
            None => Command::new(program),
        };
        let output = command
            .args(args)
            .env("SLURM_CONF", &self.conf)
            .env("TZ", "UTC")
            .env("SLURM_TIME_FORMAT", "standard")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{program} {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// Submits `sleep seconds` as `user`; the job id.
    pub fn submit(&self, user: &str, partition: &str, limit_min: u32, seconds: u32) -> String {
        let limit = limit_min.to_string();
        let wrap = format!("sleep {seconds}");
        let args = [
            "--parsable",
            "--chdir=/tmp",
            "--output=/dev/null",
            "--job-name=sim",
            "-p",
            partition,
            "-t",
            &limit,
            "--wrap",
            &wrap,
        ];
        self.run(Some(user), "sbatch", &args).trim().to_owned()
    }

    /// Jobs in the queue (pending or running).
    fn queued(&self) -> usize {
        self.run(None, "squeue", &["-h", "-o", "%i"])
            .lines()
            .count()
    }

    /// (jobs ended, runtime of the latest end) of `user`, as `sacct` says.
    fn ended(&self, user: &str) -> (i64, f64) {
        let text = self.run(
            None,
            "sacct",
            &[
                "--parsable2",
                "--noheader",
                "--allusers",
                "--starttime=2000-01-01",
                "--format=JobID,User,End,ElapsedRaw,State",
                "--user",
                user,
            ],
        );
        let mut ends: Vec<(String, f64)> = text
            .lines()
            .map(|l| l.split('|').collect::<Vec<_>>())
            .filter(|f| !f[0].contains('.') && f[2] != "Unknown" && f[4] != "PENDING")
            .map(|f| (f[2].to_owned(), f[3].parse().unwrap()))
            .collect();
        ends.sort_by(|a, b| a.0.cmp(&b.0));
        (ends.len() as i64, ends.last().map_or(0.0, |e| e.1))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(Self::script())
            .arg("stop")
            .arg(self.dir.path())
            .status();
    }
}

fn kind(server: &RunningServer, name: &str) -> usize {
    let scorer = server.live.current();
    let state = scorer.live_state();
    state.layout().kinds.iter().position(|k| k == name).unwrap()
}

/// (jobs ended, last runtime) of `user` in the live state, if known.
pub fn history(server: &RunningServer, user: &str) -> Option<(Value, Value)> {
    let kind = kind(server, "user");
    let scorer = server.live.current();
    let state = scorer.live_state();
    state
        .history(kind, user)
        .map(|h| (h.stat(HistoryStat::NEnded), h.stat(HistoryStat::LastRt)))
}

/// Jobs pending in partition `name`, as the live state counts them.
fn pending(server: &RunningServer, name: &str) -> i64 {
    let kind = kind(server, "partition");
    let scorer = server.live.current();
    let state = scorer.live_state();
    state.queue(kind, name).map_or(0, |q| q.pending)
}

async fn p50_of_next(server: &RunningServer, user: &str) -> f64 {
    let mut job = common::job(1);
    job.user = user.into();
    job.partition = "short".into();
    job.submit_time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let request = PredictRequest {
        features: Some(job),
        explain: Some(false),
        ..Default::default()
    };
    common::client(server)
        .await
        .predict(request)
        .await
        .unwrap()
        .into_inner()
        .p50_seconds
}

pub async fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn follow(config: &mut rtp_edge_api::EdgeConfig, conf: &Path, store: &Path) {
    // The follower's command carries the cluster's configuration.
    config.events.sacct = format!("env SLURM_CONF={} sacct", conf.display());
    config.events.sacct_interval_s = 0.5;
    config.events.sacct_start = "2000-01-01T00:00:00".into();
    config.events.store = store.to_owned();
}

#[tokio::test(flavor = "multi_thread")]
async fn jobs_a_real_slurm_ran_reach_the_next_prediction_as_sacct_reports_them() {
    let _one = ONE_CLUSTER.lock().await;
    let cluster = tokio::task::spawn_blocking(Cluster::start).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(&common::store_copy(dir.path()));
    follow(&mut config, &cluster.conf, &dir.path().join("events.redb"));
    let server = start(&config).await.unwrap();
    let before = p50_of_next(&server, "rtpslurm1").await;
    let pending_before = pending(&server, "short");
    assert_eq!(history(&server, "rtpslurm1"), None);

    // Different users, requests and partitions; one job over the short
    // partition's 10 min MaxTime stays pending.
    for (user, partition, limit, seconds) in [
        ("rtpslurm1", "short", 2, 1),
        ("rtpslurm1", "long", 30, 3),
        ("rtpslurm2", "short", 5, 2),
        ("rtpslurm1", "short", 1, 2),
    ] {
        cluster.submit(user, partition, limit, seconds);
    }
    let stuck = cluster.submit("rtpslurm2", "short", 20, 1);
    wait_until("the jobs to end", Duration::from_secs(60), || {
        cluster.queued() == 1
    })
    .await;

    // slurmctld forwards each end to slurmdbd on its own schedule, so a job
    // can leave the queue a moment before sacct reports it.
    wait_until(
        "sacct to report rtpslurm1's three ends",
        Duration::from_secs(30),
        || cluster.ended("rtpslurm1").0 == 3,
    )
    .await;
    let (count, last_rt) = cluster.ended("rtpslurm1");
    wait_until("the follower to see them", Duration::from_secs(30), || {
        history(&server, "rtpslurm1").is_some_and(|(n, _)| n == Value::Int(count))
    })
    .await;
    assert_eq!(
        history(&server, "rtpslurm1"),
        Some((Value::Int(count), Value::Float(last_rt)))
    );
    wait_until(
        "sacct to report rtpslurm2's end",
        Duration::from_secs(30),
        || cluster.ended("rtpslurm2").0 == 1,
    )
    .await;
    wait_until("rtpslurm2's job", Duration::from_secs(30), || {
        history(&server, "rtpslurm2").is_some_and(|(n, _)| n == Value::Int(1))
    })
    .await;
    assert_eq!(
        pending(&server, "short"),
        pending_before + 1,
        "job {stuck} is pending"
    );
    let after = p50_of_next(&server, "rtpslurm1").await;
    assert_ne!(
        before, after,
        "the user's history must change their prediction"
    );

    // A repeat of every poll changes nothing, and the metrics say so.
    let status = server.live.follower_status().unwrap();
    assert!(
        status.polls_ok >= 2 && status.polls_failed == 0,
        "{status:?}"
    );
    assert!(!status.behind);
    let metrics = common::scrape(&server).await;
    assert!(
        metrics.contains(r#"rtp_edge_job_events_total{source="sacct",outcome="duplicated"}"#),
        "{metrics}"
    );
    common::http_get(server.metrics_addr, "/readyz").await;

    // A new server on the same store resumes from the stored watermark
    // with the same state.
    let watermark = status.watermark_s;
    let state = (history(&server, "rtpslurm1"), history(&server, "rtpslurm2"));
    server.shutdown().await.unwrap();
    config.events.sacct_start = String::new();
    let server = start(&config).await.unwrap();
    assert!(server.live.follower_status().unwrap().watermark_s >= watermark);
    assert_eq!(
        (history(&server, "rtpslurm1"), history(&server, "rtpslurm2")),
        state
    );
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_follower_that_cannot_reach_sacct_makes_the_server_unready_and_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(&common::store_copy(dir.path()));
    // A cluster that is not there: sacct fails at every poll.
    follow(
        &mut config,
        &dir.path().join("absent/slurm.conf"),
        &dir.path().join("events.redb"),
    );
    config.events.max_lag_s = 1.0;
    // Without its configuration sacct looks for a cluster for a minute.
    config.events.sacct_timeout_s = 1.0;
    config.events.sacct_start = String::new();
    let server = start(&config).await.unwrap();
    wait_until("a failed poll", Duration::from_secs(20), || {
        server
            .live
            .follower_status()
            .is_some_and(|s| s.polls_failed > 0)
    })
    .await;
    let (status, why) = common::http_response(server.metrics_addr, "/readyz").await;
    assert!(status.starts_with("HTTP/1.1 503"), "{status}");
    assert!(why.contains("sacct follower is"), "{why}");
    let metrics = common::scrape(&server).await;
    assert!(
        metrics.contains(r#"rtp_edge_sacct_polls_total{outcome="failed"}"#),
        "{metrics}"
    );
    // Predictions go on.
    assert!(p50_of_next(&server, "rtpslurm1").await > 0.0);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_sacct_line_is_refused_by_field_and_the_follower_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    // What a sacct could print: a good job, a line with an unreadable
    // limit, a step, and a line cut short.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let at = |t: i64| {
        chrono::DateTime::from_timestamp(t, 0)
            .unwrap()
            .format("%Y-%m-%dT%H:%M:%S")
            .to_string()
    };
    let header = rtp_jobs::sacct::FOLLOW_FORMAT.replace(',', "|");
    let (submit, started, end) = (at(now - 300), at(now - 290), at(now - 200));
    let output = format!(
        "{header}\n\
         41|rtpfake|research|short|normal|00:05:00|1|1||1000M|{submit}|{started}|{end}|00:01:30|COMPLETED|sim|/tmp\n\
         42|rtpfake|research|short|normal|soon|1|1||1000M|{submit}|{started}|{end}|00:01:30|COMPLETED|sim|/tmp\n\
         41.batch||research||||1|1|||{started}|{started}|{end}|00:01:30|COMPLETED|batch|\n\
         43|rtpfake|research\n"
    );
    let fake = dir.path().join("sacct-output");
    std::fs::write(&fake, output).unwrap();
    let mut config = common::config(&common::store_copy(dir.path()));
    // A script in sacct's place prints it, ignoring the follower's arguments.
    let script = dir.path().join("sacct");
    std::fs::write(&script, format!("#!/bin/sh\ncat {}\n", fake.display())).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    config.events.sacct = script.display().to_string();
    config.events.sacct_interval_s = 0.3;
    let server = start(&config).await.unwrap();
    wait_until("two polls", Duration::from_secs(20), || {
        server
            .live
            .follower_status()
            .is_some_and(|s| s.polls_ok >= 2)
    })
    .await;
    assert_eq!(
        history(&server, "rtpfake"),
        Some((Value::Int(1), Value::Float(90.0)))
    );
    let stats = server.live.event_stats();
    let sacct = stats
        .sources
        .iter()
        .find(|s| s.source == rtp_scoring::EventSource::Sacct)
        .unwrap();
    // Every poll refuses the two bad lines again and repeats the good job.
    assert!(sacct.applied == 1 && sacct.duplicated >= 1, "{sacct:?}");
    assert_eq!(sacct.refused % 2, 0, "{sacct:?}");
    assert!(sacct.refused >= 4, "{sacct:?}");
    server.shutdown().await.unwrap();
}
