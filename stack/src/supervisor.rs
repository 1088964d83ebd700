//! `rtp up`: the whole system on one machine, without containers: the
//! Flight server, the gRPC edge and the dashboard as child processes of the
//! calling binary, the dashboard pointed at the other two, and all three
//! stopped cleanly, dashboard first.
//!
//! Each service reads its own configuration (`configs/*.toml` defaults, and
//! the `RTP_*` environment variables, which the children inherit); the
//! supervisor only adds the addresses the dashboard needs, taken from the
//! ready lines the other two print once they listen.

use std::path::Path;
use std::process::ExitStatus;

use rtp_bundle::BundleStore;

use crate::error::Result;
use crate::process::{Output, ServiceProcess};
use crate::program::{Launcher, Program};

/// The three running services.
#[derive(Debug)]
pub struct Stack {
    /// Flight server, edge, dashboard, in start order.
    pub services: Vec<ServiceProcess>,
    /// Where the dashboard is.
    pub dashboard_url: String,
}

impl Stack {
    /// Starts Flight, the edge, then the dashboard pointed at both, all
    /// serving `bundle_dir`.
    pub fn start(launcher: &Launcher, bundle_dir: &Path) -> Result<Self> {
        let bundles = bundle_dir.display().to_string();
        let start = |program, env: &[(&str, String)]| {
            ServiceProcess::start(launcher, program, env, Output::Forward)
        };
        let flight = start(Program::Flight, &[("RTP_BUNDLE_DIR", bundles.clone())])?;
        let edge = start(Program::Edge, &[("RTP_BUNDLE_DIR", bundles.clone())])?;
        let flight_grpc = flight.url("flight")?.to_owned();
        let edge_grpc = edge.url("grpc")?.to_owned();
        let edge_address = match edge_grpc.strip_prefix("grpc+tls://") {
            Some(host) => format!("https://{host}"),
            None => edge_grpc.replacen("grpc://", "http://", 1),
        };
        let dashboard = start(
            Program::Dashboard,
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
            .find_map(|s| s.exited().map(|status| (s.program.binary(), status)))
    }

    /// Stops the dashboard first, then the servers it calls.
    pub fn stop(mut self) -> Vec<(&'static str, Option<ExitStatus>)> {
        let mut stopped = Vec::new();
        while let Some(mut service) = self.services.pop() {
            stopped.push((service.program.binary(), service.stop()));
        }
        stopped
    }
}

/// Whether the store at `bundle_dir` has a bundle to serve.
pub fn has_bundle(bundle_dir: &Path) -> bool {
    BundleStore::new(bundle_dir).open_latest().is_ok()
}
