//! rt-predictor's services on one machine. Each service runs as a child
//! process of the calling binary (`rtp serve <service>`), so its CPU time
//! and memory are its own and Cargo sees every service the binary starts;
//! the supervisor behind `rtp up` runs all three together, and the serving
//! benchmarks (`rtp bench edge`, `rtp bench flight`) measure them against
//! in-process scoring of the same jobs, and the soak (`rtp bench soak`) runs
//! both under mixed traffic, counting errors and watching their memory;
//! `rtp bench events` times the job-event path and Predict beside it.
#![deny(missing_docs)]

pub mod client;
pub mod edge_bench;
pub mod error;
pub mod events_bench;
pub mod flight_bench;
pub mod process;
pub mod program;
pub mod replay;
pub mod soak;
pub mod supervisor;

pub use error::{Result, StackError};
pub use process::ServiceProcess;
pub use program::{Launcher, Program};
pub use replay::JobReplay;
pub use supervisor::{Stack, has_bundle};
