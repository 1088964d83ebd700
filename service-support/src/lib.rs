//! What every rt-predictor service shares: layered settings, who may call
//! it (token and TLS), logging, the frame of a service program (its error,
//! runtime and stop signal), the line it announces readiness with, how a
//! binary reports the error it ends on, `/proc` figures, the job-event
//! settings and metrics of the scoring servers, and how a client reaches
//! one of them.
#![deny(missing_docs)]

pub mod access;
pub mod events;
pub mod exit;
pub mod grpc_target;
pub mod logging;
pub mod proc_stats;
pub mod program;
pub mod ready;
pub mod settings;
pub mod shutdown;

pub use events::{EventMetrics, EventsSettings};
pub use exit::{describe, exit_code};
pub use logging::{LogFormat, init_logging};
pub use program::{RunError, announce, runtime, stop_on_signal};
pub use ready::Ready;
pub use settings::{ConfigError, Layer, Settings, overrides_from};
pub use shutdown::shutdown_signal;
