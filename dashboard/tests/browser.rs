//! The dashboard in a real browser: headless Debian chromium, driven through
//! chromedriver by `tests/browser/dashboard_pages.py` (selenium, from the
//! client environment `scripts/setup-tests.sh` creates), against a real edge and
//! Flight server. Screenshots of every page land in
//! `$CARGO_TARGET_DIR/dashboard-screenshots/`.

use std::path::PathBuf;
use std::process::Command;

use crate::common::{Stack, upload_csv};

const UPLOAD_ROWS: usize = 45;
const BAD_ROW: usize = 7;
const PAGE_ROWS: usize = 20;

fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| test_support::repo_root().join("target"));
    target.join("dashboard-screenshots")
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_work_in_headless_chromium() {
    let python = std::env::var("RTP_CLIENT_PYTHON").unwrap_or_else(|_| {
        panic!("RTP_CLIENT_PYTHON is not set: run `. scripts/setup-tests.sh`, which creates the Python client environment")
    });
    for binary in ["/usr/bin/chromium", "/usr/bin/chromedriver"] {
        assert!(
            std::path::Path::new(binary).exists(),
            "{binary} is missing: install Debian's chromium and chromium-driver (scripts/setup-tests.sh does)"
        );
    }
    let stack = Stack::start(|c| {
        c.page_rows = PAGE_ROWS;
        c.poll_interval = std::time::Duration::from_millis(700);
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let upload = dir.path().join("jobs.csv");
    std::fs::write(&upload, upload_csv(UPLOAD_ROWS, Some(BAD_ROW))).unwrap();
    let shots = screenshot_dir();
    let script = test_support::repo_root().join("dashboard/tests/browser/dashboard_pages.py");
    let url = stack.url();
    let output = {
        let shots = shots.clone();
        tokio::task::spawn_blocking(move || {
            Command::new(&python)
                .arg(&script)
                .env("RTP_DASHBOARD_URL", url)
                .env("RTP_SCREENSHOTS", &shots)
                .env("RTP_UPLOAD", &upload)
                .env("RTP_UPLOAD_ROWS", UPLOAD_ROWS.to_string())
                // the header is line 1, row i is line i + 2
                .env("RTP_BAD_LINE", (BAD_ROW + 2).to_string())
                .env("RTP_PAGE_ROWS", PAGE_ROWS.to_string())
                .output()
                .unwrap_or_else(|e| panic!("running {python}: {e}"))
        })
        .await
        .unwrap()
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "dashboard_pages.py failed\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("all checks passed"), "{stdout}");
    for page in ["predict", "batch", "analytics", "whatif", "live"] {
        let png = shots.join(format!("{page}.png"));
        let bytes = std::fs::read(&png).unwrap_or_else(|e| panic!("{}: {e}", png.display()));
        assert!(
            bytes.starts_with(b"\x89PNG"),
            "{} is not a PNG",
            png.display()
        );
    }
    stack.stop().await;
}
