//! The dashboard over plain HTTP against a real edge and Flight server:
//! pages, fragments, cross-site protection, escaping, upload limits and
//! per-row errors, downloads, metrics and probes.

use crate::common::{Stack, get, multipart, request, session, upload_csv};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread")]
async fn pages_render_with_the_model_and_assets() {
    let stack = Stack::start(|_| {}).await;
    let addr = stack.dashboard.addr;
    let version = std::fs::read_to_string(crate::common::bundles().join("latest")).unwrap();
    for path in ["/predict", "/batch", "/analytics", "/whatif", "/live"] {
        let page = get(addr, path, &[]).await;
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        assert!(
            page.body.contains(version.trim()),
            "{path} names the model version"
        );
        assert!(
            page.body.contains("trained 20"),
            "{path} shows the training date"
        );
        assert!(
            page.header("server-timing")
                .unwrap()
                .starts_with("app;dur=")
        );
        let csp = page.header("content-security-policy").unwrap();
        assert!(csp.contains("default-src 'self'"), "{csp}");
        assert!(
            !page.body.contains("https://"),
            "{path} references another host"
        );
    }
    let root = get(addr, "/", &[]).await;
    assert_eq!(
        (root.status, root.header("location")),
        (303, Some("/predict"))
    );

    // htmx is served from the binary, with its integrity in the page
    let page = get(addr, "/predict", &[]).await;
    let src = page
        .body
        .split("<script src=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let htmx = get(addr, src, &[]).await;
    assert_eq!(htmx.status, 200);
    assert!(htmx.body.contains("htmx"));
    assert!(page.body.contains("integrity=\"sha384-"));

    // analytics carries the evaluation stored in the bundle
    let analytics = get(addr, "/analytics", &[]).await.body;
    for needle in [
        "ensemble",
        "user_request",
        "last2",
        "id=\"buckets\"",
        "circle class=\"point\"",
        "served live",
        "served frozen",
        "id=\"serving-gap\"",
        "id=\"interval-buckets\"",
        "limits enforced",
    ] {
        assert!(analytics.contains(needle), "analytics lacks {needle}");
    }

    // the what-if page carries the replay stored in the bundle
    let whatif = get(addr, "/whatif", &[]).await.body;
    for needle in [
        "id=\"runs\"",
        "<td>test period</td><td>requests</td>",
        "<td>test period</td><td>suggestions</td>",
        "<td>test period</td><td>predictions</td>",
        "<td>test period</td><td>perfect</td>",
        "<td>whole trace</td><td>requests</td>",
        "id=\"verdict\"",
        "path class=\"line s0\"",
    ] {
        assert!(whatif.contains(needle), "what-if lacks {needle}");
    }
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn predictions_need_the_page_token_and_escape_input() {
    let stack = Stack::start(|_| {}).await;
    let addr = stack.dashboard.addr;
    let form = "nodes=2&processors=72&gpus=0&mem_gb=0&wallclock=10-00%3A00%3A00&partition=standard&qos=normal&user=%3Cscript%3Ealert(1)%3C%2Fscript%3E&account=acct01";
    let form_type = ("content-type", "application/x-www-form-urlencoded");

    // no token, or a post from another site: refused, nothing predicted
    let refused = request(addr, "POST", "/predict", &[form_type], form.as_bytes()).await;
    assert_eq!(refused.status, 403);
    let (cookie, token) = session(addr).await;
    let cross = request(
        addr,
        "POST",
        "/predict",
        &[
            form_type,
            ("cookie", &cookie),
            ("x-csrf-token", &token),
            ("origin", "http://evil.example"),
        ],
        form.as_bytes(),
    )
    .await;
    assert_eq!(cross.status, 403);

    let headers = [
        form_type,
        ("cookie", cookie.as_str()),
        ("x-csrf-token", token.as_str()),
        ("hx-request", "true"),
    ];
    let ok = request(addr, "POST", "/predict", &headers, form.as_bytes()).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert!(ok.body.contains("id=\"p50\""));
    assert!(ok.body.contains("id=\"likely\""));
    assert!(
        ok.body.contains("overestimation-alert"),
        "a 10-day request is flagged"
    );
    assert!(
        ok.body
            .contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
        "{}",
        ok.body
    );
    assert!(!ok.body.contains("<script>alert"));

    // every bad field is named
    let bad = request(
        addr,
        "POST",
        "/predict",
        &headers,
        b"nodes=0&processors=x&wallclock=soon",
    )
    .await;
    assert_eq!(bad.status, 422);
    for field in ["nodes:", "processors:", "wallclock:"] {
        assert!(bad.body.contains(field), "{field} not named: {}", bad.body);
    }
    let metrics = get(addr, "/metrics", &[]).await.body;
    assert!(
        metrics.contains("rtp_dashboard_requests_total{route=\"/predict\",status=\"403\"} 2"),
        "{metrics}"
    );
    assert!(metrics.contains("rtp_dashboard_requests_total{route=\"/predict\",status=\"200\"}"));
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn uploads_score_good_rows_report_bad_ones_and_respect_the_limit() {
    let stack = Stack::start(|c| {
        c.page_rows = 10;
        c.max_upload_bytes = 8 * 1024;
    })
    .await;
    let addr = stack.dashboard.addr;
    let (cookie, token) = session(addr).await;
    let post = |content_type: String, body: Vec<u8>| {
        let cookie = cookie.clone();
        let token = token.clone();
        async move {
            request(
                addr,
                "POST",
                "/batch",
                &[
                    ("content-type", &content_type),
                    ("cookie", &cookie),
                    ("x-csrf-token", &token),
                    ("hx-request", "true"),
                ],
                &body,
            )
            .await
        }
    };
    let (content_type, body) = multipart("jobs.csv", upload_csv(25, Some(3)).as_bytes());
    let scored = post(content_type, body).await;
    assert_eq!(scored.status, 200, "{}", scored.body);
    assert!(
        scored.body.contains("id=\"rows-scored\">24<"),
        "{}",
        scored.body
    );
    assert!(scored.body.contains("id=\"rows-failed\">1<"));
    assert!(scored.body.contains("data-line=\"5\""));
    assert!(
        scored
            .body
            .contains("nodes_req: must be at least 1 (got 0)")
    );
    assert!(scored.body.contains("page 1 of 3"));
    let csv_url = scored.body.split("id=\"csv-download\"").next().unwrap();
    let csv_url = csv_url
        .rsplit("href=\"")
        .next()
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let csv = get(addr, &csv_url, &[]).await;
    assert_eq!(csv.status, 200);
    assert!(
        csv.header("content-disposition")
            .unwrap()
            .contains("jobs-scored.csv")
    );
    let lines: Vec<&str> = csv.body.lines().collect();
    assert_eq!(lines.len(), 26);
    assert!(
        lines[4].starts_with("5,bad3,")
            && lines[4].ends_with("nodes_req: must be at least 1 (got 0)")
    );
    let header: Vec<&str> = lines[0].split(',').collect();
    assert_eq!(header.len(), 13);
    assert_eq!(lines[1].split(',').count(), 13);
    let likely = header.iter().position(|&c| c == "pred_likely_s").unwrap();
    assert!(
        lines[1]
            .split(',')
            .nth(likely)
            .unwrap()
            .parse::<f64>()
            .unwrap()
            > 0.0,
        "{}",
        lines[1]
    );

    // paging is an htmx fragment; a plain GET goes back to the page
    let page_url = csv_url.replace("scored.csv", "page/3");
    let third = get(addr, &page_url, &[("hx-request", "true")]).await;
    assert!(third.body.contains("page 3 of 3"));
    assert_eq!(
        third.body.matches("<tr data-line").count()
            + third.body.matches("class=\"row-error\"").count(),
        5
    );
    let plain = get(addr, &page_url, &[]).await;
    assert_eq!(
        (plain.status, plain.header("location")),
        (303, Some("/batch"))
    );

    // over the limit: a clear refusal naming the limit
    let (content_type, body) = multipart("big.csv", upload_csv(400, None).as_bytes());
    let big = post(content_type, body).await;
    assert_eq!(big.status, 413, "{}", big.body);
    assert!(
        big.body.contains("larger than the 0.01 MiB upload limit"),
        "{}",
        big.body
    );

    // a file without a required column fails as a whole, by name
    let (content_type, body) = multipart("cols.csv", b"job_id,nodes_req\n1,2\n");
    let missing = post(content_type, body).await;
    assert_eq!(missing.status, 422);
    assert!(missing.body.contains("processors_req"), "{}", missing.body);

    let template = get(addr, "/batch/template.csv", &[]).await;
    assert!(template.body.starts_with("job_id,user,account,partition"));
    let metrics = get(addr, "/metrics", &[]).await.body;
    assert!(
        metrics.contains("rtp_dashboard_upload_rows_total{outcome=\"scored\"} 24"),
        "{metrics}"
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_live_page_reads_both_services_and_survives_one_down() {
    let stack = Stack::start(|c| c.poll_interval = Duration::from_millis(200)).await;
    let addr = stack.dashboard.addr;
    // The sampler runs before anyone opens the page, so the first view
    // already draws the rate's recent history.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let live = get(addr, "/live/partial", &[("hx-request", "true")]).await;
    assert_eq!(live.status, 200);
    assert_eq!(live.body.matches("class=\"card service\"").count(), 2);
    assert_eq!(
        live.body.matches("<path class=\"spark\"").count(),
        2,
        "{}",
        live.body
    );
    assert!(!live.body.contains("service-down"), "{}", live.body);
    let plain = get(addr, "/live/partial", &[]).await;
    assert_eq!(plain.status, 303);

    let Stack {
        edge,
        flight,
        dashboard,
    } = stack;
    flight.shutdown().await.unwrap();
    // The next sample finds the Flight server gone; the page keeps serving.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let live = get(addr, "/live/partial", &[("hx-request", "true")]).await;
        assert_eq!(live.status, 200);
        if live.body.matches("service-down").count() == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "{}", live.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(get(addr, "/healthz", &[]).await.status, 200);
    let ready = get(addr, "/readyz", &[]).await;
    assert_eq!(ready.status, 200);
    assert!(ready.body.starts_with("ready: "));
    dashboard.shutdown().await.unwrap();
    edge.shutdown().await.unwrap();
}

/// One job with zero nodes, sent over every surface: Flight, gRPC and the
/// dashboard (its upload and its form) each refuse it, naming the field,
/// because they share one set of rules.
#[tokio::test(flavor = "multi_thread")]
async fn a_job_with_zero_nodes_gets_the_same_answer_from_flight_grpc_and_the_dashboard() {
    use arrow_array::cast::AsArray;
    use rtp_dashboard::config::FlightTarget;
    use rtp_dashboard::flight_client::FlightScorer;
    use rtp_jobs::{Job, jobs_batch};
    use rtp_proto::v1::job_runtime_predictor_client::JobRuntimePredictorClient;
    use rtp_proto::v1::{JobFeatures, PredictRequest};

    let stack = Stack::start(|_| {}).await;
    let job = Job::<&str> {
        job_id: "zero",
        user: Some("alice"),
        wallclock_req_s: Some(3600.0),
        nodes_req: Some(0),
        processors_req: Some(36),
        submit_time: Some(1_700_000_000),
        ..Job::default()
    };

    let flight = FlightScorer::new(&FlightTarget {
        address: format!("http://{}", stack.flight.flight_addr),
        token: None,
        ca: None,
        metrics_url: String::new(),
        timeout: std::time::Duration::from_secs(30),
    })
    .unwrap();
    let scored = flight.score(&jobs_batch([job]).unwrap()).await.unwrap();
    let errors = scored[0]
        .column_by_name("error")
        .unwrap()
        .as_string::<i32>();
    assert_eq!(errors.value(0), "nodes_req: must be at least 1 (got 0)");
    let p50 = scored[0].column_by_name("pred_p50").unwrap();
    assert!(p50.is_null(0), "a refused job has no prediction");

    let mut edge = JobRuntimePredictorClient::connect(format!("http://{}", stack.edge.grpc_addr))
        .await
        .unwrap();
    let refused = edge
        .predict(PredictRequest {
            features: Some(JobFeatures {
                job_id: "zero".into(),
                user: "alice".into(),
                wallclock_req: 3600.0,
                nodes_req: 0,
                processors_req: 36,
                submit_time: 1_700_000_000,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    // proto3 cannot tell 0 from "not set": the same rule, read as absent.
    assert_eq!(refused.message(), "features.nodes_req: missing");

    let addr = stack.dashboard.addr;
    let (cookie, token) = session(addr).await;
    let headers = [
        ("cookie", cookie.as_str()),
        ("x-csrf-token", token.as_str()),
        ("hx-request", "true"),
    ];
    let csv = "job_id,user,wallclock_req,nodes_req,processors_req,submit_time\n\
               zero,alice,3600,0,36,1700000000\n";
    let (content_type, body) = multipart("zero.csv", csv.as_bytes());
    let mut upload_headers = headers.to_vec();
    upload_headers.push(("content-type", &content_type));
    let uploaded = request(addr, "POST", "/batch", &upload_headers, &body).await;
    assert_eq!(uploaded.status, 200, "{}", uploaded.body);
    assert!(uploaded.body.contains("id=\"rows-failed\">1<"));
    assert!(
        uploaded
            .body
            .contains("nodes_req: must be at least 1 (got 0)"),
        "{}",
        uploaded.body
    );
    let mut form_headers = headers.to_vec();
    form_headers.push(("content-type", "application/x-www-form-urlencoded"));
    let form = request(
        addr,
        "POST",
        "/predict",
        &form_headers,
        b"nodes=0&processors=36&wallclock=3600",
    )
    .await;
    assert_eq!(form.status, 422);
    assert!(
        form.body.contains("nodes: must be at least 1 (got 0)"),
        "{}",
        form.body
    );
    stack.stop().await;
}
