//! What every rt-predictor service shares: layered settings and the signal
//! that stops a service binary.
#![deny(missing_docs)]

pub mod logging;
pub mod settings;
pub mod shutdown;

pub use logging::{LogFormat, init_logging};
pub use settings::{ConfigError, Layered, load, overrides_from};
pub use shutdown::shutdown_signal;
