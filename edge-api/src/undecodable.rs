//! Counts unary calls refused because their request message does not
//! decode. tonic answers those before any handler runs, so the handlers'
//! own counting never sees them; without this layer a stream of garbage
//! would move no request metric at all. Streaming calls need no help: their
//! handlers see the decoding error in the stream and count it themselves.

use std::sync::Arc;
use std::task::{Context, Poll};

use rtp_proto::codec::MALFORMED_MESSAGE;
use tonic::codegen::{BoxFuture, Service, http};
use tonic::server::NamedService;

use crate::metrics::Metrics;
use crate::rpc;

/// The unary methods of `JobRuntimePredictor`, by their wire name.
const UNARY_METHODS: [&str; 4] = [
    rpc::predict::METHOD,
    rpc::predict_batch::METHOD,
    rpc::model_info::METHOD,
    rpc::health_check::METHOD,
];

/// Wraps a gRPC service and counts its undecodable unary requests.
#[derive(Debug, Clone)]
pub struct CountUndecodable<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S> CountUndecodable<S> {
    /// `inner`, counted in `metrics`.
    pub fn new(inner: S, metrics: Arc<Metrics>) -> Self {
        Self { inner, metrics }
    }
}

impl<S: NamedService> NamedService for CountUndecodable<S> {
    const NAME: &'static str = S::NAME;
}

/// The unary method a request path names, if it names one.
fn unary_method(path: &str) -> Option<&'static str> {
    let name = path.rsplit('/').next()?;
    UNARY_METHODS.into_iter().find(|m| *m == name)
}

/// Whether a response is tonic's answer to an undecodable message: a
/// trailers-only response whose status the codec wrote.
fn undecodable<B>(response: &http::Response<B>) -> bool {
    tonic::Status::from_header_map(response.headers()).is_some_and(|status| {
        status.code() == tonic::Code::InvalidArgument
            && status.message().starts_with(MALFORMED_MESSAGE)
    })
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for CountUndecodable<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let method = unary_method(request.uri().path());
        let metrics = Arc::clone(&self.metrics);
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            if let Some(method) = method
                && undecodable(&response)
            {
                metrics
                    .call(method)
                    .finish(tonic::Code::InvalidArgument, true);
            }
            Ok(response)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unary_methods_are_named() {
        assert_eq!(
            unary_method("/rtpredictor.v1.JobRuntimePredictor/Predict"),
            Some("Predict")
        );
        assert_eq!(
            unary_method("/rtpredictor.v1.JobRuntimePredictor/PredictStream"),
            None
        );
    }

    #[test]
    fn only_the_codecs_refusals_count() {
        let response = |status: tonic::Status| status.into_http::<()>();
        let malformed = format!("{MALFORMED_MESSAGE}: invalid varint");
        assert!(undecodable(&response(tonic::Status::invalid_argument(
            malformed.clone()
        ))));
        assert!(!undecodable(&response(tonic::Status::invalid_argument(
            "features.nodes_req: missing"
        ))));
        assert!(!undecodable(&response(tonic::Status::internal(malformed))));
    }
}
