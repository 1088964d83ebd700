//! The `sacct` follower: polls Slurm's accounting for jobs that changed
//! since its watermark and applies them as job events, through the same
//! path as pushed and uploaded events.
//!
//! Each poll asks `sacct --parsable2 --allusers` for every job in any
//! state between the watermark, less an overlap, and now; sacct reports
//! some jobs late, and re-reading the overlap costs only duplicates, which
//! change nothing. The watermark moves only once a poll's jobs are stored,
//! and is stored beside them, so a restart resumes where the last complete
//! poll ended. Lines sacct prints that are not jobs are counted as refused
//! and logged by line and field; they never stop the follower, nor does a
//! failed poll (it is retried at the next tick, and the lag shows it).

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rtp_jobs::Job;
use rtp_jobs::sacct::{FOLLOW_FORMAT, SacctColumns};

use crate::event_feed::EventSource;
use crate::live_model::LiveModel;

/// The name the watermark is stored under.
const MARK: &str = "sacct";

/// How a server follows `sacct`.
#[derive(Debug, Clone, PartialEq)]
pub struct FollowSettings {
    /// The program and any leading arguments (`sacct`, `sacct -M eagle`).
    pub command: Vec<String>,
    /// Time between polls.
    pub interval: Duration,
    /// How far before the watermark each poll reads again.
    pub overlap: Duration,
    /// Where to start when no watermark is stored (None: the serving
    /// bundle's data end, else a day ago).
    pub start_s: Option<i64>,
    /// The longest a poll may run before it is killed.
    pub timeout: Duration,
    /// Lag beyond which the follower reports itself behind.
    pub max_lag: Duration,
    /// The cluster the jobs are keyed under.
    pub cluster: String,
}

/// Why a poll failed.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    /// The command could not run.
    #[error("`{command}` could not run: {source}")]
    Spawn {
        /// The program.
        command: String,
        /// Why.
        source: std::io::Error,
    },
    /// The command ran past the timeout and was killed.
    #[error("`{command}` ran longer than {timeout:?} and was killed")]
    Timeout {
        /// The program.
        command: String,
        /// The timeout.
        timeout: Duration,
    },
    /// The command failed.
    #[error("`{command}` exited with {status}: {stderr}")]
    Failed {
        /// The program.
        command: String,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// The first line of what it printed on stderr.
        stderr: String,
    },
    /// The output's header lacks a column the reader needs.
    #[error("sacct's output does not read: {0}")]
    Header(#[from] rtp_jobs::sacct::MissingColumn),
    /// Storing or applying the jobs failed.
    #[error("the jobs could not be applied: {0}")]
    Apply(#[from] crate::ScoringError),
}

/// What one poll did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PollReport {
    /// The window read, Unix seconds.
    pub since_s: i64,
    /// Its end, the new watermark.
    pub until_s: i64,
    /// Jobs read.
    pub jobs: usize,
    /// Lines that were not jobs (refused).
    pub bad_lines: usize,
    /// Events that changed the state.
    pub applied: u64,
    /// Events that said nothing new.
    pub duplicated: u64,
    /// Events the state refused.
    pub refused: usize,
}

/// A running follower's progress, for metrics and `/readyz`.
#[derive(Debug)]
pub struct SacctFollower {
    settings: FollowSettings,
    watermark_s: AtomicI64,
    polls_ok: AtomicU64,
    polls_failed: AtomicU64,
    last_error: Mutex<Option<String>>,
}

/// A follower's polling task.
#[derive(Debug)]
pub struct FollowerTask {
    stop: tokio::sync::watch::Sender<bool>,
    handle: tokio::task::JoinHandle<()>,
}

impl FollowerTask {
    /// Stops polling once the poll in progress, if any, has ended (so
    /// nothing holds the model or its event store after this returns).
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.handle.await;
    }
}

/// What the follower reports of itself.
#[derive(Debug, Clone, PartialEq)]
pub struct FollowStatus {
    /// The time sacct has been read up to, Unix seconds.
    pub watermark_s: i64,
    /// Seconds from the watermark to now.
    pub lag_s: f64,
    /// Whether the lag is beyond `max_lag`.
    pub behind: bool,
    /// Complete polls.
    pub polls_ok: u64,
    /// Failed polls.
    pub polls_failed: u64,
    /// Why the last poll failed, while it is the latest outcome.
    pub last_error: Option<String>,
}

impl SacctFollower {
    /// A follower for `live`, starting from the stored watermark, else
    /// the configured start, else the serving bundle's data end.
    pub fn new(settings: FollowSettings, live: &LiveModel) -> crate::Result<Self> {
        let stored = live.event_feed().mark(MARK)?;
        let start = stored
            .or(settings.start_s)
            .or_else(|| live.current().live_state().base_until_s())
            .unwrap_or_else(|| now_s() - 86_400);
        Ok(Self {
            settings,
            watermark_s: AtomicI64::new(start),
            polls_ok: AtomicU64::new(0),
            polls_failed: AtomicU64::new(0),
            last_error: Mutex::new(None),
        })
    }

    /// The settings followed.
    pub fn settings(&self) -> &FollowSettings {
        &self.settings
    }

    /// Progress so far.
    pub fn status(&self) -> FollowStatus {
        let watermark_s = self.watermark_s.load(Ordering::Relaxed);
        let lag_s = (now_s() - watermark_s).max(0) as f64;
        FollowStatus {
            watermark_s,
            lag_s,
            behind: lag_s > self.settings.max_lag.as_secs_f64(),
            polls_ok: self.polls_ok.load(Ordering::Relaxed),
            polls_failed: self.polls_failed.load(Ordering::Relaxed),
            last_error: self.lock_error().clone(),
        }
    }

    fn lock_error(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        self.last_error.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Polls every `interval` until the returned task is stopped.
    pub fn spawn(self: &Arc<Self>, live: Arc<LiveModel>) -> FollowerTask {
        let follower = Arc::clone(self);
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let handle = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(follower.settings.interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = stopped.changed() => break,
                    _ = ticker.tick() => {}
                }
                let (f, l) = (Arc::clone(&follower), Arc::clone(&live));
                // sacct and the store's commit block: off the async workers.
                if let Err(e) = tokio::task::spawn_blocking(move || f.poll(&l)).await {
                    tracing::error!(error = %e, "sacct poll panicked");
                }
            }
        });
        FollowerTask { stop, handle }
    }

    /// One poll: read, apply, move the watermark. Failures are counted,
    /// logged and kept for the status, and returned.
    pub fn poll(&self, live: &LiveModel) -> Result<PollReport, PollError> {
        let result = self.try_poll(live);
        match &result {
            Ok(report) => {
                self.polls_ok.fetch_add(1, Ordering::Relaxed);
                *self.lock_error() = None;
                tracing::debug!(?report, "sacct poll");
            }
            Err(e) => {
                self.polls_failed.fetch_add(1, Ordering::Relaxed);
                *self.lock_error() = Some(e.to_string());
                tracing::warn!(error = %e, "sacct poll failed; retried at the next tick");
            }
        }
        result
    }

    fn try_poll(&self, live: &LiveModel) -> Result<PollReport, PollError> {
        let watermark = self.watermark_s.load(Ordering::Relaxed);
        let since_s = watermark - self.settings.overlap.as_secs() as i64;
        let until_s = now_s();
        let output = self.run_sacct(since_s, until_s)?;
        let mut lines = output.lines();
        let Some(header) = lines.next() else {
            // sacct prints its header even when no job matched.
            return Err(PollError::Header(rtp_jobs::sacct::MissingColumn("JobID")));
        };
        let columns = SacctColumns::from_header(header)?;
        let mut jobs: Vec<Job> = Vec::new();
        let mut bad_lines = 0;
        for (i, line) in lines.enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match columns.parse_line(line) {
                Ok(Some(job)) => jobs.push(job),
                Ok(None) => {}
                Err(problem) => {
                    bad_lines += 1;
                    tracing::warn!(line = i + 2, field = problem.field, reason = %problem.reason,
                        text = line, "sacct line refused");
                }
            }
        }
        let feed = live.event_feed();
        feed.count_refused(EventSource::Sacct, bad_lines as u64);
        let report = live.report_events(EventSource::Sacct, &self.settings.cluster, &jobs)?;
        for (i, problem) in &report.refused {
            tracing::warn!(job = %jobs[*i].job_id, field = problem.field, reason = %problem.reason,
                "sacct job refused");
        }
        feed.set_mark(MARK, until_s)?;
        self.watermark_s.fetch_max(until_s, Ordering::Relaxed);
        Ok(PollReport {
            since_s,
            until_s,
            jobs: jobs.len(),
            bad_lines,
            applied: report.applied,
            duplicated: report.duplicated,
            refused: report.refused.len(),
        })
    }

    /// Runs sacct for jobs in any state between `since_s` and `until_s`,
    /// times in UTC; its standard output.
    fn run_sacct(&self, since_s: i64, until_s: i64) -> Result<String, PollError> {
        let (program, leading) = self
            .settings
            .command
            .split_first()
            .expect("a follower has a command");
        let mut command = Command::new(program);
        command
            .args(leading)
            .args(["--parsable2", "--allusers", "--format", FOLLOW_FORMAT])
            .args(["--starttime", &sacct_time(since_s)])
            .args(["--endtime", &sacct_time(until_s)])
            // Times in and out are UTC, in ISO form, whatever the host's zone.
            .env("TZ", "UTC")
            .env("SLURM_TIME_FORMAT", "standard")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        run_with_timeout(command, program, self.settings.timeout)
    }
}

/// Runs `command` to its end, killing it past `timeout`; its standard
/// output, or why it failed.
fn run_with_timeout(
    mut command: Command,
    program: &str,
    timeout: Duration,
) -> Result<String, PollError> {
    let mut child = command.spawn().map_err(|source| PollError::Spawn {
        command: program.to_owned(),
        source,
    })?;
    // Both pipes are drained as the command writes, so a large output
    // cannot block it.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut text);
            }
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(PollError::Timeout {
                    command: program.to_owned(),
                    timeout,
                });
            }
            Err(source) => {
                return Err(PollError::Spawn {
                    command: program.to_owned(),
                    source,
                });
            }
        }
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    if !status.success() {
        return Err(PollError::Failed {
            command: program.to_owned(),
            status,
            stderr: stderr.lines().next().unwrap_or("").to_owned(),
        });
    }
    Ok(stdout)
}

/// `t` as sacct reads a time, in UTC.
fn sacct_time(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string()
}

fn now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_utc_in_sacct_form() {
        assert_eq!(sacct_time(0), "1970-01-01T00:00:00");
        assert_eq!(sacct_time(1_764_842_400), "2025-12-04T10:00:00");
    }

    #[test]
    fn a_command_past_its_timeout_is_killed_and_failures_keep_stderr() {
        let mut sleep = Command::new("sleep");
        sleep.arg("5").stdout(Stdio::piped()).stderr(Stdio::piped());
        let started = Instant::now();
        let err = run_with_timeout(sleep, "sleep", Duration::from_millis(100)).unwrap_err();
        assert!(matches!(err, PollError::Timeout { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(4));
        let mut failing = Command::new("sh");
        failing
            .args([
                "-c",
                "echo 'sacct: error: Problem talking to the database' >&2; exit 1",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let err = run_with_timeout(failing, "sacct", Duration::from_secs(5)).unwrap_err();
        assert!(
            err.to_string().contains("Problem talking to the database"),
            "{err}"
        );
    }
}
