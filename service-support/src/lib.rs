//! What every rt-predictor service shares: layered settings, logging, the
//! signal that stops a service binary, and how a binary reports the error
//! it ends on.
#![deny(missing_docs)]

pub mod exit;
pub mod logging;
pub mod settings;
pub mod shutdown;

pub use exit::{describe, exit_code};
pub use logging::{LogFormat, init_logging};
pub use settings::{ConfigError, Layered, load, overrides_from};
pub use shutdown::shutdown_signal;
