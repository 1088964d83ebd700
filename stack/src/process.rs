//! A service running as a child process: started through a [`Launcher`],
//! ready once it prints its ready line, measured through `/proc` and its
//! metrics endpoint, stopped with SIGTERM and a grace period.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use rtp_service_support::Ready;
use rtp_service_support::proc_stats::{Pid, cpu_time, resident_bytes};

use crate::error::{Result, StackError};
use crate::program::{Launcher, Program};

/// How long a service may take to drain after being told to stop.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// What becomes of what a service prints on standard output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Passed through to this process's standard output (`rtp up`).
    Forward,
    /// Kept quiet, and the service logs warnings only (benchmarks).
    Quiet,
}

/// A started service.
#[derive(Debug)]
pub struct ServiceProcess {
    /// Which service.
    pub program: Program,
    child: Child,
    /// What it announced once listening.
    pub ready: Ready,
}

impl ServiceProcess {
    /// Starts `program` with `env` added to this process's environment and
    /// waits for its ready line.
    pub fn start<V: AsRef<OsStr>>(
        launcher: &Launcher,
        program: Program,
        env: &[(&str, V)],
        output: Output,
    ) -> Result<Self> {
        let mut command = launcher.command(program);
        command.stdout(Stdio::piped());
        if output == Output::Quiet {
            command.env("RTP_LOG", "warn");
        }
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command
            .spawn()
            .map_err(StackError::io(launcher.executable()))?;
        let stdout = child.stdout.take().expect("piped stdout");
        let mut reader = BufReader::new(stdout);
        let mut printed = Vec::new();
        let ready = Ready::wait_for(&mut reader, |line| match output {
            Output::Forward => println!("{line}"),
            Output::Quiet => printed.push(line.to_owned()),
        })
        .map_err(StackError::io(launcher.executable()))?;
        let Some(ready) = ready else {
            let status = child
                .wait()
                .map_err(StackError::io(launcher.executable()))?;
            let detail = match output {
                Output::Forward => format!("exited ({status}); its log is above"),
                Output::Quiet => format!("exited ({status}) after printing {printed:?}"),
            };
            return Err(StackError::NotStarted {
                program: program.binary().to_owned(),
                detail,
            });
        };
        // Keep reading what it prints after the ready line, so it never
        // blocks on a full pipe.
        std::thread::spawn(move || {
            for line in reader.lines().map_while(std::result::Result::ok) {
                if output == Output::Forward {
                    println!("{line}");
                }
            }
        });
        Ok(Self {
            program,
            child,
            ready,
        })
    }

    /// The URL of its endpoint `role`.
    pub fn url(&self, role: &str) -> Result<&str> {
        self.ready.url(role).ok_or_else(|| self.missing(role))
    }

    /// The `host:port` of its endpoint `role`.
    pub fn authority(&self, role: &str) -> Result<&str> {
        self.ready.authority(role).ok_or_else(|| self.missing(role))
    }

    fn missing(&self, role: &str) -> StackError {
        StackError::MissingEndpoint {
            program: self.program.binary().to_owned(),
            role: role.to_owned(),
        }
    }

    /// Whether it has exited, and how.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Asks it to stop (SIGTERM), waits for the drain, kills it after the
    /// grace period.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        if let Some(status) = self.exited() {
            return Some(status);
        }
        terminate(self.child.id());
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        self.child.wait().ok()
    }

    /// CPU seconds used so far.
    pub fn cpu_seconds(&self) -> f64 {
        cpu_time(Pid::Of(self.child.id())).as_secs_f64()
    }

    /// (current, peak) resident memory, bytes.
    pub fn rss(&self) -> (u64, u64) {
        resident_bytes(Pid::Of(self.child.id()))
    }

    /// Resets the peak-RSS mark.
    pub fn reset_peak(&self) {
        let _ = std::fs::write(format!("/proc/{}/clear_refs", self.child.id()), "5");
    }

    /// The text its metrics endpoint serves.
    pub async fn metrics_text(&self) -> Result<String> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let address = self.authority("metrics")?.to_owned();
        let failed = StackError::call(&address);
        async {
            let mut stream = tokio::net::TcpStream::connect(&address).await?;
            let request =
                format!("GET /metrics HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
            stream.write_all(request.as_bytes()).await?;
            let mut body = String::new();
            stream.read_to_string(&mut body).await?;
            std::io::Result::Ok(body)
        }
        .await
        .map_err(failed)
    }

    /// The values of unlabelled samples `names` on its metrics endpoint
    /// (0 for a sample it does not export).
    pub async fn metric_values<const N: usize>(&self, names: [&str; N]) -> Result<[f64; N]> {
        let body = self.metrics_text().await?;
        Ok(names.map(|name| {
            body.lines()
                .find_map(|l| {
                    l.strip_prefix(name)?
                        .strip_prefix(' ')?
                        .trim()
                        .parse::<f64>()
                        .ok()
                })
                .unwrap_or(0.0)
        }))
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

fn terminate(pid: u32) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    // SAFETY: kill(2) takes a plain pid and signal number; a stale pid only
    // yields ESRCH, which is ignored.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
}
