//! The rtpredictor.v1 service over loopback with a real tonic client:
//! predictions, validation, batches, streams, model info, health, metrics.

use futures::StreamExt;
use rtp_edge_api::prediction::runtime_category;
use rtp_proto::v1::health_check_response::ServingStatus;
use rtp_proto::v1::{
    GetModelInfoRequest, HealthCheckRequest, JobFeatures, PredictBatchRequest, PredictRequest,
};
use tonic::Code;

use crate::common::{client, http_get, job, sample, scrape, server};

/// A change that makes a job invalid.
type Spoil = fn(&mut JobFeatures);

fn request(features: JobFeatures, id: &str) -> PredictRequest {
    PredictRequest {
        features: Some(features),
        request_id: id.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn predict_returns_the_calibrated_interval_category_and_contributions() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let mut client = client(&server).await;
    let scorer = server.live.current();
    let feature_names: Vec<&str> = scorer
        .manifest()
        .features
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    for i in 0..12 {
        let features = job(i);
        let answer = client
            .predict(request(features.clone(), &format!("r{i}")))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(answer.request_id, format!("r{i}"));
        assert_eq!(answer.job_id, features.job_id);
        assert_eq!(answer.model_version, scorer.version());
        let (p10, p50, p90) = (answer.p10_seconds, answer.p50_seconds, answer.p90_seconds);
        assert!(0.0 < p10 && p10 <= p50 && p50 <= p90, "{p10} {p50} {p90}");
        assert_eq!(answer.predicted_runtime_seconds, p50);
        let likely = answer.likely_seconds;
        assert!(p10 <= likely && likely <= p90, "{p10} {likely} {p90}");
        assert_eq!(answer.confidence_lower, p10 as f32);
        assert_eq!(answer.confidence_upper, p90 as f32);
        assert_eq!(answer.runtime_category, runtime_category(p50));
        assert_eq!(answer.prediction_confidence, 0.8);
        assert!(answer.suggested_wallclock_seconds <= features.wallclock_req);
        assert_eq!(
            answer.overestimated,
            features.wallclock_req > 2.0 * p90,
            "{answer:?}"
        );
        assert!(answer.error.is_empty());
        let importance = &answer.feature_importance;
        assert!(
            !importance.is_empty() && importance.len() <= 5,
            "{importance:?}"
        );
        for (name, value) in importance {
            assert!(feature_names.contains(&name.as_str()), "{name}");
            assert!(value.is_finite() && *value != 0.0);
        }
    }
    // Asking for no explanation gives the same prediction without one.
    let mut quiet = request(job(3), "q");
    quiet.explain = Some(false);
    let plain = client.predict(quiet).await.unwrap().into_inner();
    let explained = client
        .predict(request(job(3), "e"))
        .await
        .unwrap()
        .into_inner();
    assert!(plain.feature_importance.is_empty());
    assert_eq!(plain.p50_seconds, explained.p50_seconds);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_unknown_user_is_predicted_from_the_population_not_a_stand_in() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let mut client = client(&server).await;
    let mut never_seen = job(1);
    never_seen.user = "someone-the-history-never-saw".into();
    never_seen.account = "no-such-account".into();
    never_seen.job_name = String::new();
    let mut anonymous = never_seen.clone();
    anonymous.user = String::new();
    anonymous.account = String::new();
    let a = client
        .predict(request(never_seen, "a"))
        .await
        .unwrap()
        .into_inner();
    let b = client
        .predict(request(anonymous, "b"))
        .await
        .unwrap()
        .into_inner();
    // No per-user history either way: the same features, the same answer.
    assert_eq!(a.p10_seconds, b.p10_seconds);
    assert_eq!(a.p50_seconds, b.p50_seconds);
    assert_eq!(a.p90_seconds, b.p90_seconds);
    // A known user with history is predicted differently.
    let known = client
        .predict(request(job(1), "k"))
        .await
        .unwrap()
        .into_inner();
    assert_ne!(known.p50_seconds, a.p50_seconds);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn invalid_fields_are_refused_by_name_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let mut client = client(&server).await;
    let cases: [(Spoil, &str); 5] = [
        (|j| j.nodes_req = 0, "features.nodes_req"),
        (|j| j.processors_req = -2, "features.processors_req"),
        (|j| j.wallclock_req = f64::NAN, "features.wallclock_req"),
        (|j| j.wallclock_req = -60.0, "features.wallclock_req"),
        (|j| j.mem_req = f64::INFINITY, "features.mem_req"),
    ];
    for (spoil, field) in cases {
        let mut features = job(0);
        spoil(&mut features);
        let status = client.predict(request(features, "bad")).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(status.message().starts_with(field), "{}", status.message());
    }
    let missing = PredictRequest::default();
    let status = client.predict(missing).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().starts_with("features"),
        "{}",
        status.message()
    );
    client.predict(request(job(0), "good")).await.unwrap();
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_batch_predicts_the_valid_jobs_and_lists_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let mut client = client(&server).await;
    let mut jobs: Vec<JobFeatures> = (0..20).map(job).collect();
    jobs[4].nodes_req = -1;
    jobs[11].wallclock_req = f64::NAN;
    let answer = client
        .predict_batch(PredictBatchRequest {
            jobs: jobs.clone(),
            batch_id: "b1".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.batch_id, "b1");
    assert_eq!(answer.total_predictions, 18);
    assert_eq!(answer.failed_predictions, 2);
    assert_eq!(answer.errors.len(), 2);
    assert!(
        answer.errors[0].starts_with("jobs[4].nodes_req"),
        "{:?}",
        answer.errors
    );
    assert!(
        answer.errors[1].starts_with("jobs[11].wallclock_req"),
        "{:?}",
        answer.errors
    );
    let indices: Vec<i32> = answer.predictions.iter().map(|p| p.job_index).collect();
    let expected: Vec<i32> = (0..20).filter(|i| *i != 4 && *i != 11).collect();
    assert_eq!(indices, expected);
    for p in &answer.predictions {
        assert_eq!(p.job_id, jobs[p.job_index as usize].job_id);
        assert!(p.p10_seconds <= p.p50_seconds && p.p50_seconds <= p.p90_seconds);
    }
    // The first job of a batch has nothing before it: it is predicted as if
    // sent alone.
    let alone = client
        .predict(request(job(0), "x"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(alone.p50_seconds, answer.predictions[0].p50_seconds);

    let too_many = PredictBatchRequest {
        jobs: vec![job(0); 10_001],
        ..Default::default()
    };
    let status = client.predict_batch(too_many).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().starts_with("jobs:"),
        "{}",
        status.message()
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_stream_answers_every_message_in_order_even_the_invalid_ones() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let mut client = client(&server).await;
    let mut requests: Vec<PredictRequest> =
        (0..30).map(|i| request(job(i), &format!("s{i}"))).collect();
    requests[7].features.as_mut().unwrap().processors_req = 0;
    requests[19].features = None;
    let answers: Vec<_> = client
        .predict_stream(futures::stream::iter(requests.clone()))
        .await
        .unwrap()
        .into_inner()
        .collect()
        .await;
    assert_eq!(answers.len(), 30);
    for (i, answer) in answers.into_iter().enumerate() {
        let answer = answer.unwrap();
        assert_eq!(answer.request_id, format!("s{i}"));
        match i {
            7 => assert!(
                answer.error.starts_with("features.processors_req"),
                "{answer:?}"
            ),
            19 => assert!(answer.error.starts_with("features"), "{answer:?}"),
            _ => {
                assert!(answer.error.is_empty(), "{answer:?}");
                let alone = client
                    .predict(requests[i].clone())
                    .await
                    .unwrap()
                    .into_inner();
                assert_eq!(answer.p50_seconds, alone.p50_seconds, "message {i}");
            }
        }
    }
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn model_info_health_and_metrics_describe_the_serving_model() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let mut client = client(&server).await;
    for i in 0..5 {
        client.predict(request(job(i), "m")).await.unwrap();
    }
    let mut bad = job(0);
    bad.nodes_req = 0;
    client.predict(request(bad, "m")).await.unwrap_err();

    let scorer = server.live.current();
    let manifest = scorer.manifest();
    let info = client
        .get_model_info(GetModelInfoRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.model_version, manifest.version);
    assert_eq!(info.training_date, manifest.created);
    assert_eq!(info.training_samples, manifest.training.rows as i64);
    assert!(info.model_type.contains("lightgbm"), "{}", info.model_type);
    assert_eq!(info.num_features as usize, manifest.features.len());
    assert_eq!(info.feature_names.len(), manifest.features.len());
    assert!(info.is_loaded);
    assert_eq!(info.predictions_served, 5);
    assert!(info.average_latency_ms > 0.0);
    let test = &manifest.evaluation.as_ref().unwrap().model;
    let validation = manifest.training.validation.as_ref().unwrap();
    assert!((info.test_mae - test.mae_h * 3600.0).abs() < 1e-9);
    assert!((info.validation_mae - validation.mae_h * 3600.0).abs() < 1e-9);
    assert_eq!(info.test_mape, test.mape_pct);
    assert_eq!(info.validation_mape, validation.mape_pct);
    for value in [
        info.test_mae,
        info.validation_mae,
        info.test_mape,
        info.validation_mape,
    ] {
        assert!(value.is_finite() && value > 0.0, "{info:?}");
    }
    assert_eq!(info.ensemble_weights.get("lightgbm@p50"), Some(&1.0));

    let health = client
        .health_check(HealthCheckRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(health.status, ServingStatus::Serving as i32);
    assert!(health.memory_usage_mb > 1.0);
    assert_eq!(health.model_status["version"], manifest.version);
    assert_eq!(health.model_status["reload_failures"], "0");

    // The standard health service answers for the prediction service.
    let mut standard =
        tonic_health::pb::health_client::HealthClient::new(crate::common::channel(&server).await);
    let check = standard
        .check(tonic_health::pb::HealthCheckRequest {
            service: "rtpredictor.v1.JobRuntimePredictor".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        check.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );

    let metrics = scrape(&server).await;
    let ok = sample(
        &metrics,
        "rtp_edge_requests_total{method=\"Predict\",code=\"Ok\"}",
    );
    let invalid = sample(
        &metrics,
        "rtp_edge_requests_total{method=\"Predict\",code=\"InvalidArgument\"}",
    );
    assert_eq!((ok, invalid), (5.0, 1.0));
    assert_eq!(
        sample(
            &metrics,
            "rtp_edge_request_duration_seconds_count{method=\"Predict\"}"
        ),
        6.0
    );
    assert_eq!(sample(&metrics, "rtp_edge_in_flight_requests"), 0.0);
    assert_eq!(sample(&metrics, "rtp_edge_predictions_total"), 5.0);
    // jobs 0..5 request 1×1 h, 2×4 h, 3×24 h, 4×1 h and 1×4 h
    assert_eq!(
        sample(&metrics, "rtp_edge_requested_node_hours_total"),
        89.0
    );
    let suggested = sample(&metrics, "rtp_edge_suggested_node_hours_total");
    assert!(suggested > 0.0 && suggested <= 89.0, "{suggested}");
    assert!(sample(&metrics, "rtp_edge_overestimated_total") <= 5.0);
    let version = format!("rtp_edge_model_version{{version=\"{}\"}}", manifest.version);
    assert_eq!(sample(&metrics, &version), 1.0);
    assert!(
        http_get(server.metrics_addr, "/readyz")
            .await
            .contains(&manifest.version)
    );
    server.shutdown().await.unwrap();
}
