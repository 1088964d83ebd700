//! TLS (rustls) and bearer-token auth, with a real tonic client trusting a
//! CA generated for the test.

use std::path::Path;

use rtp_edge_api::config::TlsFiles;
use rtp_edge_api::start;
use rtp_proto::v1::job_runtime_predictor_client::JobRuntimePredictorClient;
use rtp_proto::v1::{HealthCheckRequest, PredictRequest};
use tonic::Code;
use tonic::metadata::MetadataValue;
use tonic::transport::{Certificate, Channel, ClientTlsConfig};

use crate::common::{config, job, store_copy};

/// A server certificate for `localhost` and the CA that signed it, as PEM
/// files in `dir`; returns the CA certificate.
pub fn certificates(dir: &Path) -> (TlsFiles, String) {
    let made = test_support::certificates(dir);
    (
        TlsFiles {
            cert: made.cert,
            key: made.key,
        },
        made.ca_pem,
    )
}

#[tokio::test]
async fn tls_and_a_bearer_token_are_required_when_configured() {
    let dir = tempfile::tempdir().unwrap();
    let (files, ca) = certificates(dir.path());
    let mut config = config(&store_copy(dir.path()));
    config.access.tls = Some(files);
    config.access.token = Some("s3cret-token".into());
    let server = start(&config).await.unwrap();
    assert!(server.tls);
    let port = server.grpc_addr.port();

    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&ca))
        .domain_name("localhost");
    let channel = Channel::from_shared(format!("https://localhost:{port}"))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let ask = || PredictRequest {
        features: Some(job(1)),
        ..Default::default()
    };

    // No token: refused, before any scoring.
    let mut anonymous = JobRuntimePredictorClient::new(channel.clone());
    let status = anonymous.predict(ask()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    let status = anonymous
        .health_check(HealthCheckRequest {})
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);

    // A wrong token: refused too.
    let token = |t: &'static str| {
        let value: MetadataValue<_> = format!("Bearer {t}").parse().unwrap();
        move |mut r: tonic::Request<()>| {
            r.metadata_mut().insert("authorization", value.clone());
            Ok(r)
        }
    };
    let mut wrong = JobRuntimePredictorClient::with_interceptor(channel.clone(), token("guess"));
    assert_eq!(
        wrong.predict(ask()).await.unwrap_err().code(),
        Code::Unauthenticated
    );

    // The right token over TLS: served.
    let mut good =
        JobRuntimePredictorClient::with_interceptor(channel.clone(), token("s3cret-token"));
    let answer = good.predict(ask()).await.unwrap().into_inner();
    assert!(answer.p50_seconds > 0.0);

    // Probes need no token.
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    health
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap();

    // A plaintext client gets nowhere.
    let plaintext = Channel::from_shared(format!("http://127.0.0.1:{port}"))
        .unwrap()
        .connect()
        .await;
    if let Ok(channel) = plaintext {
        let mut client = JobRuntimePredictorClient::new(channel);
        assert!(client.predict(ask()).await.is_err());
    }
    let metrics = crate::common::scrape(&server).await;
    assert_eq!(
        crate::common::sample(&metrics, "rtp_edge_auth_failures_total"),
        3.0
    );
    server.shutdown().await.unwrap();
}
