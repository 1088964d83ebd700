//! Fuzz targets of the input side: every reader on mutated copies of its
//! fixture. Each input either ingests, with every row counted once, or
//! fails with a named error and leaves nothing behind; none may panic. `RTP_FUZZ_ITERATIONS` runs longer.

use rtp_pipeline::ingest::{IngestOptions, InputFormat, ingest, quarantine_path_for};

#[test]
fn fuzz_every_reader_counts_each_row_or_fails_cleanly() {
    let iterations = test_support::fuzz_iterations(150);
    for (fixture, format, extension) in [
        ("eagle_broken.csv", InputFormat::Eagle, "csv"),
        ("broken.swf", InputFormat::Swf, "swf"),
        ("sacct_broken.txt", InputFormat::Sacct, "txt"),
    ] {
        let seed = std::fs::read(test_support::fixture(fixture)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join(format!("input.{extension}"));
        let out = dir.path().join("jobs.parquet");
        let options = IngestOptions {
            format,
            ..Default::default()
        };
        test_support::fuzz(fixture, &[seed], iterations, |bytes| {
            std::fs::write(&input, bytes).unwrap();
            let _ = std::fs::remove_file(&out);
            let _ = std::fs::remove_file(quarantine_path_for(&out));
            match ingest(std::slice::from_ref(&input), &out, &options) {
                Ok(summary) => {
                    let file = &summary.files[0];
                    let lines = bytes.split(|&b| b == b'\n').count() as u64;
                    assert!(file.kept + file.quarantined + file.skipped <= lines);
                    assert!(out.is_file());
                    assert_eq!(
                        summary.quarantine.is_some(),
                        file.quarantined > 0,
                        "a quarantine file exactly when rows were set aside"
                    );
                }
                Err(e) => {
                    assert!(!e.to_string().is_empty());
                    assert!(!out.exists(), "a failed ingest left {}", out.display());
                }
            }
            let left: Vec<String> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains("partial"))
                .collect();
            assert!(left.is_empty(), "partial files left: {left:?}");
        });
    }
}

/// Inputs the fuzz targets found that once panicked.
#[test]
fn fuzz_findings_are_set_aside_or_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("overflow.swf");
    std::fs::write(
        &input,
        "; UnixStartTime: 843480031\n\
         1 100 10 3600 4 -1 -1 4 7200 -1 1 12 12 -1 -1 -1 -1 -1\n\
         2 100 10 9223372036854775000 4 -1 -1 4 7200 -1 1 12 12 -1 -1 -1 -1 -1\n",
    )
    .unwrap();
    let out = dir.path().join("jobs.parquet");
    let summary = ingest(
        std::slice::from_ref(&input),
        &out,
        &IngestOptions::default(),
    )
    .unwrap();
    assert_eq!((summary.kept(), summary.quarantined()), (1, 1));
    let quarantine = std::fs::read_to_string(quarantine_path_for(&out)).unwrap();
    assert!(
        quarantine.contains("run_time,time out of range"),
        "{quarantine}"
    );
}
