//! Integration tests of the Flight server: one test binary (one bundle
//! trained for all of them), one module per area.

mod common;
mod events;
mod faults;
mod flight;
mod pyarrow_client;
mod regression;
mod reload;
mod scale_out;
mod tls_auth;
