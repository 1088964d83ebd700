//! Fuzzing the wire job decoding: mutated `PredictRequest` and
//! `PredictBatchRequest` messages either fail to decode, or decode into jobs
//! that are refused naming a field, or are accepted and become job rows the
//! scoring core takes without a row error. None may panic.

use prost::Message;
use rtp_edge_api::job_request::{job_rows, validate};
use rtp_jobs::Purpose;
use rtp_proto::v1::{JobFeatures, PredictBatchRequest, PredictRequest};
use rtp_scoring::job_input::conform_for;

fn job(i: i32) -> JobFeatures {
    JobFeatures {
        job_id: format!("j{i}"),
        user: "alice".into(),
        account: "proj".into(),
        partition: "short".into(),
        qos: "normal".into(),
        job_name: "relax".into(),
        wallclock_req: 3600.0,
        nodes_req: 1 + i,
        processors_req: 36,
        gpus_req: 0,
        mem_req: 2.0,
        submit_time: 1_900_000_000,
        ..Default::default()
    }
}

/// Under both purposes (bundles with and without requests learned), the
/// edge's validation and the scoring core agree.
fn check(job: &JobFeatures, path: &str) {
    for purpose in [Purpose::Scoring, Purpose::ScoringWithoutRequest] {
        match validate(Some(job), path, purpose) {
            Ok(()) => {
                let rows = job_rows(std::iter::once(job), 1_900_000_000);
                let conformed = conform_for(&rows, 0, purpose).expect("an accepted job conforms");
                assert_eq!(conformed.errors, vec![None], "{job:?}");
            }
            Err(e) => {
                assert!(e.field.starts_with(path), "{e}");
                assert!(!e.reason.is_empty(), "{e}");
            }
        }
    }
}

#[test]
fn fuzz_wire_jobs_decode_and_are_refused_by_field_or_scored() {
    let unary = PredictRequest {
        features: Some(job(0)),
        request_id: "r1".into(),
        ..Default::default()
    }
    .encode_to_vec();
    let batch = PredictBatchRequest {
        jobs: (0..3).map(job).collect(),
        ..Default::default()
    }
    .encode_to_vec();
    let mut extreme = job(0);
    extreme.wallclock_req = 1e9;
    extreme.mem_req = f64::MIN_POSITIVE;
    extreme.submit_time = 253_402_300_799; // 9999-12-31T23:59:59Z
    let extreme = PredictRequest {
        features: Some(extreme),
        ..Default::default()
    }
    .encode_to_vec();
    let iterations = test_support::fuzz_iterations(3000);
    test_support::fuzz("wire jobs", &[unary, batch, extreme], iterations, |bytes| {
        if let Ok(request) = PredictRequest::decode(bytes)
            && let Some(features) = &request.features
        {
            check(features, "features");
        }
        if let Ok(request) = PredictBatchRequest::decode(bytes) {
            for (i, job) in request.jobs.iter().enumerate() {
                check(job, &format!("jobs[{i}]"));
            }
        }
    });
}
