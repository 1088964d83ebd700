//! The gRPC edge of rt-predictor: `rtpredictor.v1.JobRuntimePredictor` for
//! submit tooling that asks, while a user waits, how long a job will run.
//!
//! Predictions come from the shared scoring core, so a job gets the
//! features the batch pipeline would compute for it and the bundle's
//! calibrated p10–p90. The server also speaks `grpc.health.v1` and server
//! reflection, exports Prometheus metrics, follows the bundle store's
//! `latest` without restarting, and optionally requires TLS and a bearer
//! token. `ReportJobs` takes the cluster's job events, so history and
//! queue features follow the cluster.
#![deny(missing_docs)]

pub mod config;
pub mod edge_client;
pub mod job_event;
pub mod job_request;
pub mod jobcomp;
pub mod metrics;
pub mod prediction;
pub mod process_stats;
pub mod program;
pub mod rpc;
pub mod server;
pub mod service;
pub mod suggest;
pub mod undecodable;

pub use config::{EdgeConfig, LogFormat};
pub use server::{RunningServer, ServerError, start};
