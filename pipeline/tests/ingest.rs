//! Ingest: every format reads good rows, quarantines bad ones with file, line
//! and reason, and `--strict` stops at the first bad row naming it.

use std::path::Path;

use rtp_pipeline::PipelineError;
use rtp_pipeline::ingest::{IngestOptions, InputFormat, ingest, quarantine_path_for};

use crate::util::read_batches;

fn quarantined(out: &Path) -> Vec<(String, u64, String, String)> {
    let mut reader = csv::Reader::from_path(quarantine_path_for(out)).unwrap();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (
                r[0].to_owned(),
                r[1].parse().unwrap(),
                r[2].to_owned(),
                r[3].to_owned(),
            )
        })
        .collect()
}

fn rows_in(path: &Path) -> usize {
    read_batches(path).iter().map(|b| b.num_rows()).sum()
}

#[test]
fn eagle_sample_reads_all_1000_rows() {
    let Some(sample) = test_support::shared_data("eagle_sample.csv") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("jobs.parquet");
    let summary = ingest(&[sample], &out, &IngestOptions::default()).unwrap();
    assert_eq!(summary.files[0].format, InputFormat::Eagle);
    assert_eq!(summary.kept(), 1000);
    assert_eq!(summary.quarantined(), 0);
    assert!(summary.quarantine.is_none());
    assert_eq!(rows_in(&out), 1000);
}

/// Expected (line, field, reason fragment) of each bad row of a fixture.
type Expected<'a> = &'a [(u64, &'a str, &'a str)];

fn check_broken_fixture(
    name: &str,
    format: InputFormat,
    kept: u64,
    skipped: u64,
    expected: Expected<'_>,
) {
    let input = test_support::fixture(name);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("jobs.parquet");
    let options = IngestOptions {
        format,
        ..Default::default()
    };
    let summary = ingest(std::slice::from_ref(&input), &out, &options).unwrap();
    assert_eq!(summary.kept(), kept, "{name}: kept rows");
    assert_eq!(summary.files[0].skipped, skipped, "{name}: skipped lines");
    assert_eq!(
        summary.quarantined(),
        expected.len() as u64,
        "{name}: quarantined rows"
    );
    assert_eq!(rows_in(&out) as u64, kept);
    let rows = quarantined(&out);
    assert_eq!(rows.len(), expected.len());
    for ((file, line, field, reason), (want_line, want_field, want_reason)) in
        rows.iter().zip(expected)
    {
        assert_eq!(file, &input.display().to_string());
        assert_eq!(line, want_line, "{name}: {field} {reason}");
        assert_eq!(field, want_field, "{name}:{line}");
        assert!(
            reason.contains(want_reason),
            "{name}:{line}: {reason:?} lacks {want_reason:?}"
        );
    }

    // --strict: the first bad row is an error naming file:line and field.
    let strict = IngestOptions {
        strict: true,
        ..options
    };
    let err = ingest(
        std::slice::from_ref(&input),
        &dir.path().join("strict.parquet"),
        &strict,
    )
    .unwrap_err();
    let (line, field, _) = expected[0];
    assert!(
        matches!(&err, PipelineError::BadRow { line: l, .. } if *l == line),
        "{err}"
    );
    let message = err.to_string();
    assert!(
        message.starts_with(&format!("{}:{line}: field `{field}`", input.display())),
        "{message}"
    );
}

#[test]
fn eagle_csv_bad_rows_are_quarantined() {
    check_broken_fixture(
        "eagle_broken.csv",
        InputFormat::Auto,
        5,
        0,
        &[
            (5, "wallclock_req", "not a number"),
            (6, "(row)", "missing field"),
            (7, "end_time", "before start time"),
            (8, "submit_time", "unknown time format"),
        ],
    );
}

#[test]
fn swf_bad_rows_are_quarantined() {
    check_broken_fixture(
        "broken.swf",
        InputFormat::Swf,
        2,
        0,
        &[
            (5, "wait_time", "not a number"),
            (6, "(row)", "missing field"),
            (7, "run_time", "negative value"),
            (8, "submit_time", "unknown submit time"),
        ],
    );
}

#[test]
fn sacct_bad_rows_are_quarantined_and_steps_skipped() {
    check_broken_fixture(
        "sacct_broken.txt",
        InputFormat::Auto,
        4,
        2,
        &[
            (7, "Timelimit", "unknown duration format"),
            (8, "(row)", "missing field"),
            (9, "end_time", "before start time"),
            (10, "Submit", "unknown time format"),
            (11, "ReqMem", "unknown memory format"),
        ],
    );
}

#[test]
fn sacct_values_follow_slurm_semantics() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("jobs.parquet");
    ingest(
        &[test_support::fixture("sacct_broken.txt")],
        &out,
        &IngestOptions::default(),
    )
    .unwrap();
    let rows = crate::util::feature_rows(&out);
    let by_id = |id: &str| rows.values().find(|r| r["job_id"] == id).unwrap().clone();
    let alice = by_id("1001");
    assert_eq!(alice["wallclock_req_s"], "86400.0");
    assert_eq!(alice["mem_req_mb"], "8192.0"); // 4 GB per node × 2 nodes
    assert_eq!(alice["run_time_s"], "7200.0");
    let bob = by_id("1002_3");
    assert_eq!(bob["state"], "TIMEOUT");
    assert_eq!(bob["gpus_req"], "2");
    assert_eq!(bob["mem_req_mb"], "16384.0"); // 2 GB per CPU × 8 CPUs
    let carol = by_id("1003");
    assert_eq!(carol["state"], "CANCELLED");
    assert_eq!(carol["start_time"], "NULL");
    assert_eq!(carol["run_time_s"], "NULL");
    assert_eq!(carol["wallclock_req_s"], "1800.0");
    assert_eq!(by_id("1009")["wallclock_req_s"], "NULL"); // UNLIMITED
}

#[test]
fn kth_swf_reads_every_job() {
    let Some(kth) = test_support::shared_data("KTH-SP2-1996-2.1-cln.swf.gz") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("jobs.parquet");
    let summary = ingest(&[kth], &out, &IngestOptions::default()).unwrap();
    assert_eq!(summary.files[0].format, InputFormat::Swf);
    assert_eq!(summary.kept() + summary.quarantined(), 28_476);
    assert_eq!(summary.quarantined(), 0);
}

#[test]
fn generated_eagle_parquet_streams_through_ingest() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = crate::util::generated_jobs(dir.path(), 20_000, 3);
    let rows = crate::util::feature_rows(&jobs);
    // array tasks share job ids; job_key stays unique (feature_rows asserts it)
    let distinct_ids: std::collections::HashSet<_> =
        rows.values().map(|r| r["job_id"].clone()).collect();
    assert!(distinct_ids.len() < rows.len());
    let timeouts: Vec<_> = rows.values().filter(|r| r["state"] == "TIMEOUT").collect();
    assert!(!timeouts.is_empty());
    for t in timeouts {
        let over =
            t["run_time_s"].parse::<f64>().unwrap() - t["wallclock_req_s"].parse::<f64>().unwrap();
        assert!((0.0..=30.0).contains(&over), "TIMEOUT overran by {over}s");
    }
}

/// `n` good Eagle CSV rows (distinct job ids) behind the fixture's header.
fn eagle_csv(n: usize) -> String {
    let fixture = std::fs::read_to_string(test_support::fixture("eagle_broken.csv")).unwrap();
    let mut lines = fixture.lines();
    let header = lines.next().unwrap();
    let row = lines.next().unwrap();
    let rest = row.split_once(',').unwrap().1;
    let mut text = format!("{header}\n");
    for i in 0..n {
        text.push_str(&format!("{},{rest}\n", 900_000 + i));
    }
    text
}

#[test]
fn a_truncated_gzip_input_fails_naming_its_line_and_writes_nothing() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(eagle_csv(5000).as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    let out = dir.path().join("jobs.parquet");

    // An earlier good run's table and quarantine.
    let whole = dir.path().join("whole.csv.gz");
    std::fs::write(&whole, &gz).unwrap();
    ingest(
        std::slice::from_ref(&whole),
        &out,
        &IngestOptions::default(),
    )
    .unwrap();
    std::fs::write(quarantine_path_for(&out), "file,line,field,reason,raw\n").unwrap();
    let before = std::fs::read(&out).unwrap();

    let cut = dir.path().join("cut.csv.gz");
    std::fs::write(&cut, &gz[..gz.len() / 2]).unwrap();
    let err = ingest(std::slice::from_ref(&cut), &out, &IngestOptions::default()).unwrap_err();
    let PipelineError::Unreadable { line, .. } = &err else {
        panic!("expected an unreadable input, got {err}")
    };
    // Rows before the cut were read (so the line is well past the header).
    assert!(*line > 100 && *line < 5002, "{err}");
    assert!(
        err.to_string()
            .starts_with(&format!("{}:{line}: unreadable", cut.display()))
    );
    // Nothing partial is left, and the earlier run's files are as they were.
    assert_eq!(std::fs::read(&out).unwrap(), before);
    assert!(quarantine_path_for(&out).is_file());
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.contains("partial")), "{names:?}");
}

#[test]
fn random_bytes_as_csv_fail_at_line_one_and_leave_no_table() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("noise.csv");
    // Deterministic noise that is not UTF-8.
    let noise: Vec<u8> = (0..3000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8 | 0x80)
        .collect();
    std::fs::write(&input, noise).unwrap();
    let out = dir.path().join("jobs.parquet");
    let options = IngestOptions {
        format: InputFormat::Eagle,
        ..Default::default()
    };
    let err = ingest(std::slice::from_ref(&input), &out, &options).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("{}:1: unreadable: header", input.display())),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "only the input remains"
    );
}
