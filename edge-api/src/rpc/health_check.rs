//! `HealthCheck`: the contract's own health call, with process usage and
//! the model's reload history. (`grpc.health.v1` is served too, for
//! standard probes.)

use std::collections::HashMap;

use rtp_proto::v1::HealthCheckResponse;
use rtp_proto::v1::health_check_response::ServingStatus;

use crate::process_stats::{cpu_percent, resident_mib};
use crate::service::EdgeState;

/// The RPC's name on the wire and in metrics.
pub const METHOD: &str = "HealthCheck";

/// Answers one HealthCheck call.
pub fn handle(state: &EdgeState) -> HealthCheckResponse {
    let call = state.metrics.call(METHOD);
    let scorer = state.live.current();
    let uptime = state.started.elapsed();
    let model_status = HashMap::from([
        ("version".to_owned(), scorer.version().to_owned()),
        ("created".to_owned(), scorer.manifest().created.clone()),
        ("bundle_dir".to_owned(), scorer.dir().display().to_string()),
        ("reloads".to_owned(), state.live.reloads().to_string()),
        (
            "reload_failures".to_owned(),
            state.live.reload_failures().to_string(),
        ),
        ("explains".to_owned(), scorer.explains().to_string()),
    ]);
    let answer = HealthCheckResponse {
        status: ServingStatus::Serving as i32,
        message: format!("serving {}", scorer.version()),
        uptime_seconds: uptime.as_secs() as i64,
        memory_usage_mb: resident_mib(),
        cpu_usage_percent: cpu_percent(uptime),
        model_status,
    };
    call.finish(tonic::Code::Ok, true);
    answer
}
