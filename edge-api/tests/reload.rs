//! Hot reload through the scoring core: a newly published bundle is served
//! without a restart; a corrupt one is refused while the old one serves.

use std::time::Duration;

use rtp_proto::v1::PredictRequest;

use crate::common::{client, job, reload_failures_reach, republish, sample, scrape, server};

#[tokio::test]
async fn a_published_bundle_is_served_and_a_corrupt_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let store = dir.path().join("bundles");
    let first = server.live.current().version().to_owned();
    let mut client = client(&server).await;
    let ask = || PredictRequest {
        features: Some(job(2)),
        ..Default::default()
    };

    republish(&store, &first, "v-broken", |d| {
        std::fs::write(d.join("lightgbm_p50.txt"), "tree\nversion=v4\n").unwrap();
    });
    // The watcher tries it and keeps the old model.
    reload_failures_reach(&server, 1).await;
    assert!(server.live.reload_failures() > 0);
    let answer = client.predict(ask()).await.unwrap().into_inner();
    assert_eq!(answer.model_version, first);

    republish(&store, &first, "v-next", |_| {});
    let mut served = String::new();
    for _ in 0..600 {
        served = client
            .predict(ask())
            .await
            .unwrap()
            .into_inner()
            .model_version;
        if served == "v-next" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(served, "v-next");
    let metrics = scrape(&server).await;
    assert_eq!(sample(&metrics, "rtp_edge_model_reloads_total"), 1.0);
    assert!(sample(&metrics, "rtp_edge_model_reload_failures_total") >= 1.0);
    assert_eq!(
        sample(&metrics, "rtp_edge_model_version{version=\"v-next\"}"),
        1.0
    );
    server.shutdown().await.unwrap();
}
