//! `rtp up`: the whole system on one machine, without containers. Trains a
//! demo bundle when the store has none, starts the Flight server, the gRPC
//! edge and the dashboard as child processes (their binaries sit beside
//! `rtp`), points the dashboard at the other two, and stops all three
//! cleanly on Ctrl-C or SIGTERM.
//!
//! Each service reads its own configuration (`configs/*.toml` defaults, and
//! the `RTP_*` environment variables, which the children inherit); `rtp up`
//! only adds the addresses the dashboard needs, taken from the ready lines
//! the other two print once they listen.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use rtp_bundle::BundleStore;
use rtp_service_support::Ready;

use crate::error::{PipelineError, Result};

/// How long a service may take to drain after being told to stop.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// A started service.
#[derive(Debug)]
pub struct Service {
    /// Binary name.
    pub name: &'static str,
    child: Child,
    /// What it announced once listening.
    pub ready: Ready,
}

impl Service {
    /// Starts `name` (beside this executable) with `env`, passes its output
    /// through, and waits for its ready line.
    pub fn start(name: &'static str, env: &[(&str, String)]) -> Result<Self> {
        let exe = std::env::current_exe().map_err(PipelineError::io("current executable"))?;
        let binary = exe.with_file_name(name);
        let mut command = Command::new(&binary);
        command.stdout(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().map_err(|e| {
            PipelineError::Config(format!(
                "starting {}: {e} (build it with `cargo build --workspace`)",
                binary.display()
            ))
        })?;
        let stdout = child.stdout.take().expect("piped stdout");
        let mut reader = BufReader::new(stdout);
        let ready = Ready::wait_for(&mut reader, |line| println!("{line}"))
            .map_err(PipelineError::io(&binary))?;
        let Some(ready) = ready else {
            let status = child.wait().map_err(PipelineError::io(&binary))?;
            return Err(PipelineError::Config(format!(
                "{name} exited before listening ({status}); its log is above"
            )));
        };
        // Keep forwarding what it prints after the ready line.
        std::thread::spawn(move || {
            for line in reader.lines().map_while(std::result::Result::ok) {
                println!("{line}");
            }
        });
        Ok(Self { name, child, ready })
    }

    /// The URL of its endpoint `role`, or an error naming what is missing.
    pub fn url(&self, role: &str) -> Result<&str> {
        self.ready.url(role).ok_or_else(|| {
            PipelineError::Config(format!(
                "{} announced no {role} endpoint: {:?}",
                self.name, self.ready
            ))
        })
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
}

impl Drop for Service {
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

/// The three running services.
#[derive(Debug)]
pub struct Stack {
    /// Flight server, edge, dashboard, in start order.
    pub services: Vec<Service>,
    /// Where the dashboard is.
    pub dashboard_url: String,
}

impl Stack {
    /// Starts Flight, the edge, then the dashboard pointed at both, all
    /// serving `bundle_dir`.
    pub fn start(bundle_dir: &Path) -> Result<Self> {
        let bundles = bundle_dir.display().to_string();
        let flight = Service::start("rtp-flight-server", &[("RTP_BUNDLE_DIR", bundles.clone())])?;
        let edge = Service::start("rtp-edge-api", &[("RTP_BUNDLE_DIR", bundles.clone())])?;
        let flight_grpc = flight.url("flight")?.to_owned();
        let edge_grpc = edge.url("grpc")?.to_owned();
        let edge_address = match edge_grpc.strip_prefix("grpc+tls://") {
            Some(host) => format!("https://{host}"),
            None => edge_grpc.replacen("grpc://", "http://", 1),
        };
        let dashboard = Service::start(
            "rtp-dashboard",
            &[
                ("RTP_BUNDLE_DIR", bundles),
                ("RTP_DASHBOARD_EDGE", edge_address),
                (
                    "RTP_DASHBOARD_EDGE_METRICS",
                    edge.url("metrics")?.to_owned(),
                ),
                (
                    "RTP_DASHBOARD_FLIGHT",
                    flight_grpc.replacen("grpc://", "http://", 1),
                ),
                (
                    "RTP_DASHBOARD_FLIGHT_METRICS",
                    flight.url("metrics")?.to_owned(),
                ),
            ],
        )?;
        let dashboard_url = dashboard.url("http")?.trim_end_matches('/').to_owned();
        Ok(Self {
            services: vec![flight, edge, dashboard],
            dashboard_url,
        })
    }

    /// The first service that exited on its own, if any.
    pub fn failed(&mut self) -> Option<(&'static str, ExitStatus)> {
        self.services
            .iter_mut()
            .find_map(|s| s.exited().map(|status| (s.name, status)))
    }

    /// Stops the dashboard first, then the servers it calls.
    pub fn stop(mut self) -> Vec<(&'static str, Option<ExitStatus>)> {
        let mut stopped = Vec::new();
        while let Some(mut service) = self.services.pop() {
            stopped.push((service.name, service.stop()));
        }
        stopped
    }
}

/// Whether the store at `bundle_dir` has a bundle to serve.
pub fn has_bundle(bundle_dir: &Path) -> bool {
    BundleStore::new(bundle_dir).open_latest().is_ok()
}
