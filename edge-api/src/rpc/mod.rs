//! One module per RPC, each with one `handle` function; metrics are
//! counted on entry.

pub mod health_check;
pub mod model_info;
pub mod predict;
pub mod predict_batch;
pub mod predict_stream;
pub mod report_jobs;

pub use rtp_scoring::status_of;

/// Unix seconds now.
pub fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
