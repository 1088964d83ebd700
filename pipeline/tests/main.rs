//! Integration tests of the pipeline: one test binary, one module per area.

mod bench;
mod bundle;
mod cli;
mod ensemble;
mod feature_digests;
mod features;
mod fuzz;
mod ingest;
mod live_state;
mod model;
mod plans;
mod replay;
mod serving;
mod up;
mod util;
