//! The rt-predictor dashboard: server-rendered pages (askama templates,
//! htmx for partial updates, SVG charts) over the gRPC edge, the Flight
//! server and the active bundle's evaluation.
#![deny(missing_docs)]

pub mod access;
pub mod assets;
pub mod batch_results;
pub mod bundle_view;
pub mod charts;
pub mod config;
pub mod csrf;
pub mod edge_client;
pub mod error;
pub mod flight_client;
pub mod format;
pub mod live;
pub mod metrics;
pub mod program;
pub mod prom_text;
pub mod routes;
pub mod scrape;
pub mod server;
pub mod upload;
pub mod views;

pub use config::{DashboardConfig, LogFormat};
pub use server::{RunningServer, start};
