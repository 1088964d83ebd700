//! Fuzz targets of the job model: the value parsers on mutated values, and
//! the rules on jobs built from mutated bytes. Each either answers or
//! refuses with a reason; none may panic. `RTP_FUZZ_ITERATIONS` runs longer.

use rtp_jobs::slurm::{BareNumber, gpus_from_tres, parse_duration, parse_memory};
use rtp_jobs::values::{parse_f64, parse_i64, parse_timestamp};
use rtp_jobs::{Job, Purpose};

#[test]
fn fuzz_value_parsers_answer_or_refuse() {
    let seeds: Vec<Vec<u8>> = [
        "2019-01-01 08:55:55",
        "2019-01-01T08:55:55",
        "2019-01-01 08:55",
        "1546332955",
        "3600.5",
        "-1",
        "1-12:30:00",
        "90:00",
        "UNLIMITED",
        "4000Mc",
        "16Gn",
        "billing=36,cpu=36,gres/gpu=2,mem=90G,node=1",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    let iterations = test_support::fuzz_iterations(2000);
    test_support::fuzz("values", &seeds, iterations, |bytes| {
        let text = String::from_utf8_lossy(bytes);
        let _ = parse_timestamp(&text);
        let _ = parse_f64(&text);
        let _ = parse_i64(&text);
        for bare in [BareNumber::Minutes, BareNumber::Seconds] {
            if let Ok(Some(seconds)) = parse_duration(&text, bare) {
                assert!(
                    seconds.is_finite() && seconds >= 0.0,
                    "{text:?} -> {seconds}"
                );
            }
        }
        if let Ok(Some((mb, _))) = parse_memory(&text) {
            assert!(mb.is_finite() && mb >= 0.0, "{text:?} -> {mb}");
        }
        let _ = gpus_from_tres(&text);
    });
}

/// A job whose numbers come from `bytes`, eight at a time, with the
/// extremes a mutated message reaches (i64::MIN, NaN, infinities).
fn job_from_bytes(bytes: &[u8]) -> Job<&'static str> {
    let mut words = bytes.chunks(8).map(|c| {
        let mut word = [0u8; 8];
        word[..c.len()].copy_from_slice(c);
        word
    });
    let mut int = || words.next().map(i64::from_le_bytes);
    let (a, b, c, d, e, f, g, h, i) = (
        int(),
        int(),
        int(),
        int(),
        int(),
        int(),
        int(),
        int(),
        int(),
    );
    let float = |v: Option<i64>| v.map(|v| f64::from_bits(v as u64));
    Job {
        wallclock_req_s: float(a),
        nodes_req: b,
        processors_req: c,
        gpus_req: d,
        mem_req_mb: float(e),
        submit_time: f,
        start_time: g,
        end_time: h,
        run_time_s: float(i),
        state: Some("COMPLETED"),
        ..Job::default()
    }
}

#[test]
fn fuzz_the_rules_answer_every_job() {
    let ordinary: Vec<u8> = [
        3600.0f64.to_bits() as i64,
        1,
        36,
        0,
        2048.0f64.to_bits() as i64,
        1_700_000_000,
        1_700_000_010,
        1_700_003_000,
        2990.0f64.to_bits() as i64,
    ]
    .iter()
    .flat_map(|v| v.to_le_bytes())
    .collect();
    let extremes: Vec<u8> = [i64::MIN, i64::MAX, -1, 0, f64::NAN.to_bits() as i64]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let iterations = test_support::fuzz_iterations(4000);
    test_support::fuzz("rules", &[ordinary, extremes], iterations, |bytes| {
        let job = job_from_bytes(bytes);
        for purpose in [Purpose::History, Purpose::Scoring] {
            match job.validated(purpose) {
                Ok(valid) => {
                    // What passes is usable: finite, in range, consistent.
                    assert!(valid.wallclock_req_s.is_none_or(|w| w > 0.0 && w <= 1e9));
                    assert!(valid.mem_req_mb.is_none_or(|m| m.is_finite() && m > 0.0));
                    assert!(valid.run_time_s.is_none_or(|r| r.is_finite() && r >= 0.0));
                }
                Err(problems) => assert!(!problems.to_string().is_empty()),
            }
        }
    });
}
