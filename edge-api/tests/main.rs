//! Integration tests of the gRPC edge: one binary, real servers on
//! loopback, real clients.

mod common;
mod events;
mod fuzz;
mod predict;
mod python_client;
mod regression;
mod reload;
mod slurm;
mod slurm_submit;
mod suggest;
mod tls_auth;
