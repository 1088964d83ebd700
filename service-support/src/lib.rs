//! What every rt-predictor service shares: layered settings, logging, the
//! signal that stops a service binary, the line it announces readiness
//! with, and how a binary reports the error it ends on.
#![deny(missing_docs)]

pub mod exit;
pub mod logging;
pub mod ready;
pub mod settings;
pub mod shutdown;

pub use exit::{describe, exit_code};
pub use logging::{LogFormat, init_logging};
pub use ready::Ready;
pub use settings::{ConfigError, Layer, Settings, overrides_from};
pub use shutdown::shutdown_signal;
