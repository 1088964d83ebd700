//! `rtp up`: trains a demo bundle into an empty store, starts the three
//! services, and stops them all on SIGTERM (as on Ctrl-C).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn http_get(url: &str, path: &str) -> String {
    let authority = url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(authority).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn up_trains_when_empty_serves_all_three_and_stops_them() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("pipeline.toml");
    std::fs::write(
        &config,
        format!(
            "[run]\nwork_dir = {:?}\nbundle_dir = {:?}\n[run.generate]\nrows = 3000\nseed = 4\n",
            dir.path().join("work"),
            dir.path().join("bundles")
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rtp"))
        .current_dir(test_support::repo_root())
        .args(["--members", "lightgbm", "--config"])
        .arg(&config)
        .arg("up")
        .envs([
            ("RTP_FLIGHT_LISTEN", "127.0.0.1:0"),
            ("RTP_FLIGHT_METRICS_LISTEN", "127.0.0.1:0"),
            ("RTP_EDGE_LISTEN", "127.0.0.1:0"),
            ("RTP_EDGE_METRICS_LISTEN", "127.0.0.1:0"),
            ("RTP_DASHBOARD_LISTEN", "127.0.0.1:0"),
        ])
        // The services log at their default level, as a user would see them.
        .env_remove("RTP_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines, output) = mpsc::channel::<String>();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let log_lines = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = log_lines.send(format!("log: {line}"));
        }
    });
    let mut seen = Vec::new();
    let url = loop {
        let line = output
            .recv_timeout(Duration::from_secs(600))
            .unwrap_or_else(|_| panic!("rtp up never came up: {seen:#?}"));
        seen.push(line.clone());
        if let Some(rest) = line.strip_prefix("rt-predictor is up: open ") {
            break rest
                .split_whitespace()
                .next()
                .unwrap()
                .trim_end_matches('/')
                .to_owned();
        }
    };
    let all = seen.join("\n");
    assert!(all.contains("training a demo bundle"), "{all}");
    assert!(
        all.contains("rtp-flight-server: Flight on grpc://127.0.0.1:"),
        "{all}"
    );
    assert!(
        all.contains("rtp-edge-api: gRPC on grpc://127.0.0.1:"),
        "{all}"
    );
    let ready = http_get(&url, "/readyz");
    assert!(
        ready.starts_with("HTTP/1.1 200") && ready.contains("ready: "),
        "{ready}"
    );
    let page = http_get(&url, "/live");
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(
        !page.contains("service-down"),
        "the dashboard reaches both servers: {page}"
    );

    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: signalling our own child process.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "rtp up did not stop");
        std::thread::sleep(Duration::from_millis(50));
    };
    // Everything it and its services printed, up to the pipes' ends.
    let mut rest = Vec::new();
    let drained = Instant::now() + Duration::from_secs(30);
    while let Ok(line) = output.recv_timeout(drained.saturating_duration_since(Instant::now())) {
        rest.push(line);
    }
    let rest = rest.join("\n");
    assert!(status.success(), "{rest}");
    for name in ["rtp-dashboard", "rtp-edge-api", "rtp-flight-server"] {
        assert!(
            rest.contains(&format!("{name} stopped (exit status: 0)")),
            "{rest}"
        );
    }
    assert!(rest.contains("rt-predictor is down"), "{rest}");
    let authority = url.trim_start_matches("http://");
    assert!(
        TcpStream::connect(authority).is_err(),
        "the dashboard still listens"
    );
}

#[test]
fn each_service_names_what_stops_it_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-bundles");
    let beside_rtp =
        |name: &str| std::path::Path::new(env!("CARGO_BIN_EXE_rtp")).with_file_name(name);
    let cases = [
        (
            "edge",
            "rtp-edge-api",
            "RTP_BUNDLE_DIR",
            missing.display().to_string(),
            "no bundle has been published",
        ),
        (
            "flight",
            "rtp-flight-server",
            "RTP_BUNDLE_DIR",
            missing.display().to_string(),
            "no bundle has been published",
        ),
        (
            "dashboard",
            "rtp-dashboard",
            "RTP_DASHBOARD_LISTEN",
            "not-an-address".to_owned(),
            "`listen` from the environment",
        ),
    ];
    // Each service's own binary, and the same program run by `rtp serve`.
    let commands = cases.iter().flat_map(|(word, name, var, value, cause)| {
        let mut serve = Command::new(env!("CARGO_BIN_EXE_rtp"));
        serve.args(["serve", word]);
        [
            (Command::new(beside_rtp(name)), name, var, value, cause),
            (serve, name, var, value, cause),
        ]
    });
    for (mut command, name, var, value, cause) in commands {
        let output = command
            .env(var, value)
            .env("RTP_LOG", "off")
            .env_remove("RUST_BACKTRACE")
            .env_remove("RUST_LIB_BACKTRACE")
            .output()
            .unwrap();
        assert!(
            !output.status.success(),
            "{name} started with {var}={value}"
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.starts_with(&format!("{name}: error: ")), "{stderr}");
        assert_eq!(stderr.matches(*cause).count(), 1, "{stderr}");
        assert!(!stderr.contains("Caused by"), "{stderr}");
        assert!(
            output.stdout.is_empty(),
            "{name} printed a banner: {stderr}"
        );
    }
}
