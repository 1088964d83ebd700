//! Integration tests of the dashboard: a trained bundle, a real edge, a real
//! Flight server and the dashboard on loopback ports.

mod access;
mod browser;
mod common;
mod http;
mod prometheus;
