//! Regression tests named after the defects they pin down.

use futures::StreamExt;
use prost::Message;
use rtp_proto::v1::{PredictRequest, PredictResponse};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;

use crate::common::{
    channel, client, copy_by_hand, job, reload_failures_reach, rename_manifest, sample, scrape,
    server, truncate,
};

/// Sends request messages as given bytes, decodes answers as the contract's.
#[derive(Debug, Default, Clone)]
struct RawRequests;

#[derive(Debug, Default, Clone)]
struct RawEncoder;

#[derive(Debug, Default, Clone)]
struct AnswerDecoder;

impl Codec for RawRequests {
    type Encode = Vec<u8>;
    type Decode = PredictResponse;
    type Encoder = RawEncoder;
    type Decoder = AnswerDecoder;
    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }
    fn decoder(&mut self) -> AnswerDecoder {
        AnswerDecoder
    }
}

impl Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(&mut self, item: Vec<u8>, buf: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        bytes::BufMut::put_slice(buf, &item);
        Ok(())
    }
}

impl Decoder for AnswerDecoder {
    type Item = PredictResponse;
    type Error = tonic::Status;
    fn decode(
        &mut self,
        buf: &mut DecodeBuf<'_>,
    ) -> Result<Option<PredictResponse>, tonic::Status> {
        PredictResponse::decode(buf)
            .map(Some)
            .map_err(|e| tonic::Status::internal(e.to_string()))
    }
}

/// Bytes that are no protobuf message: a field tag whose varint never ends.
const GARBAGE: &[u8] = b"\xff\xff\xff";

fn valid(i: usize) -> Vec<u8> {
    PredictRequest {
        features: Some(job(i)),
        request_id: format!("r{i}"),
        ..Default::default()
    }
    .encode_to_vec()
}

/// A client of `server` that sends requests as raw bytes.
async fn raw_client(
    server: &rtp_edge_api::RunningServer,
) -> tonic::client::Grpc<tonic::transport::Channel> {
    let mut grpc = tonic::client::Grpc::new(channel(server).await);
    grpc.ready().await.unwrap();
    grpc
}

#[tokio::test]
async fn a_stream_with_a_malformed_message_ends_in_invalid_argument_not_ok() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let mut grpc = raw_client(&server).await;
    let messages = vec![valid(0), GARBAGE.to_vec(), valid(1), valid(2)];
    let path = PathAndQuery::from_static("/rtpredictor.v1.JobRuntimePredictor/PredictStream");
    let mut answers = grpc
        .streaming(
            tonic::Request::new(futures::stream::iter(messages)),
            path,
            RawRequests,
        )
        .await
        .unwrap()
        .into_inner();
    let first = answers.next().await.unwrap().unwrap();
    assert_eq!(first.request_id, "r0");
    assert!(first.error.is_empty(), "{first:?}");
    let ended = answers
        .next()
        .await
        .expect("the stream ended with OK after dropping messages");
    let status = ended.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status}");
    assert!(status.message().contains("message 2"), "{status}");
    assert!(answers.next().await.is_none());

    let metrics = scrape(&server).await;
    assert!(
        metrics.contains(
            "rtp_edge_requests_total{method=\"PredictStream\",code=\"InvalidArgument\"} 1"
        ),
        "{metrics}"
    );
    assert!(!metrics.contains("code=\"Internal\""), "{metrics}");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_malformed_unary_predict_is_invalid_argument_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let mut grpc = raw_client(&server).await;
    let path = PathAndQuery::from_static("/rtpredictor.v1.JobRuntimePredictor/Predict");
    let status = grpc
        .unary(
            tonic::Request::new(GARBAGE.to_vec()),
            path.clone(),
            RawRequests,
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status}");
    grpc.ready().await.unwrap();
    let answer = grpc
        .unary(tonic::Request::new(valid(3)), path, RawRequests)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.request_id, "r3");

    let metrics = scrape(&server).await;
    let count = |code: &str| {
        sample(
            &metrics,
            &format!("rtp_edge_requests_total{{method=\"Predict\",code=\"{code}\"}}"),
        )
    };
    assert_eq!(count("InvalidArgument"), 1.0);
    assert_eq!(count("Ok"), 1.0);
    assert!(!metrics.contains("code=\"Internal\""), "{metrics}");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_bundle_changed_after_publishing_is_refused_by_the_watcher() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let store = dir.path().join("bundles");
    let serving = server.live.current().version().to_owned();
    let mut client = client(&server).await;
    let ask = || PredictRequest {
        features: Some(job(2)),
        ..Default::default()
    };
    let before = client.predict(ask()).await.unwrap().into_inner();

    copy_by_hand(&store, &serving, "v-truncated", |dir| {
        rename_manifest(dir, "v-truncated");
        truncate(&dir.join("lightgbm_p50.txt"), 1000);
    });
    reload_failures_reach(&server, 1).await;
    copy_by_hand(&store, &serving, "v-copied", |_| {});
    reload_failures_reach(&server, 2).await;

    let after = client.predict(ask()).await.unwrap().into_inner();
    assert_eq!(after.model_version, serving);
    assert_eq!(after.p50_seconds, before.p50_seconds);
    let metrics = scrape(&server).await;
    assert_eq!(sample(&metrics, "rtp_edge_model_reloads_total"), 0.0);
    assert_eq!(
        sample(&metrics, "rtp_edge_model_reload_failures_total"),
        2.0
    );
    // Refused bundles are no unreadable store.
    assert_eq!(sample(&metrics, "rtp_edge_model_store_readable"), 1.0);
    server.shutdown().await.unwrap();
}
