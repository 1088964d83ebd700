//! Arrow Flight service for bulk scoring: clients (pyarrow, pandas) stream
//! batches of job rows and get the same rows back with p10/p50/p90,
//! a suggested wallclock request and an overestimation flag.
#![deny(missing_docs)]

pub mod config;
pub mod memory;
pub mod metrics;
pub mod program;
pub mod rpc;
pub mod server;
pub mod service;
pub mod shared_tables;
pub mod tables;

pub use config::FlightConfig;
pub use server::{RunningServer, start};
