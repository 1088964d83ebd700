//! The three services as programs one binary can run (`rtp serve
//! <service>`), and how a supervisor or a benchmark starts one as a child
//! process of that binary.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A service of rt-predictor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Program {
    /// The Arrow Flight bulk-scoring server.
    Flight,
    /// The gRPC prediction edge.
    Edge,
    /// The web dashboard.
    Dashboard,
}

/// Why a service stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The Flight server.
    #[error(transparent)]
    Flight(#[from] rtp_flight_server::program::RunError),
    /// The edge.
    #[error(transparent)]
    Edge(#[from] rtp_edge_api::program::RunError),
    /// The dashboard.
    #[error(transparent)]
    Dashboard(#[from] rtp_dashboard::program::RunError),
}

impl Program {
    /// The service's own binary name, as its ready line names it.
    pub fn binary(self) -> &'static str {
        match self {
            Self::Flight => rtp_flight_server::program::PROGRAM,
            Self::Edge => rtp_edge_api::program::PROGRAM,
            Self::Dashboard => rtp_dashboard::program::PROGRAM,
        }
    }

    /// The word that names it after `serve`.
    pub fn word(self) -> &'static str {
        match self {
            Self::Flight => "flight",
            Self::Edge => "edge",
            Self::Dashboard => "dashboard",
        }
    }

    /// The service's settings overrides found through `lookup` (the
    /// environment, as the binary reads it): its `RTP_*` variables.
    pub fn overrides<E>(
        self,
        lookup: impl Fn(&str) -> Result<String, E>,
    ) -> Vec<(&'static str, String)> {
        let mapping: &[(&str, &'static str)] = match self {
            Self::Flight => &rtp_flight_server::config::ENV_OVERRIDES,
            Self::Edge => &rtp_edge_api::config::ENV_OVERRIDES,
            Self::Dashboard => &rtp_dashboard::config::ENV_OVERRIDES,
        };
        rtp_service_support::overrides_from(mapping, lookup)
    }

    /// Runs the service in this process until SIGTERM or Ctrl-C, exactly
    /// as its own binary does.
    pub fn serve(
        self,
        config_file: Option<&Path>,
        overrides: &[(&str, String)],
    ) -> Result<(), ServeError> {
        match self {
            Self::Flight => rtp_flight_server::program::run(config_file, overrides)?,
            Self::Edge => rtp_edge_api::program::run(config_file, overrides)?,
            Self::Dashboard => rtp_dashboard::program::run(config_file, overrides)?,
        }
        Ok(())
    }
}

/// How a service is started as a child process: an executable that serves
/// a program when given its word after some leading arguments
/// (`rtp serve edge`).
#[derive(Debug, Clone)]
pub struct Launcher {
    executable: PathBuf,
    leading: Vec<OsString>,
}

impl Launcher {
    /// `executable <leading…> <word>` serves the program named by `word`.
    pub fn new(executable: impl Into<PathBuf>, leading: &[&str]) -> Self {
        Self {
            executable: executable.into(),
            leading: leading.iter().map(OsString::from).collect(),
        }
    }

    /// The command that serves `program`.
    pub fn command(&self, program: Program) -> Command {
        let mut command = Command::new(&self.executable);
        command.args(&self.leading).arg(program.word());
        command
    }

    /// The executable, for messages.
    pub fn executable(&self) -> &Path {
        &self.executable
    }
}
