//! [`ClientCallMetricsLayer`], [`ClientAttemptMetricsLayer`] and their
//! [`ClientMetrics`] service: A66's client metrics.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Instant;

use bytes::Bytes;
use grpcx_status::{Code, Status};
use grpcx_transport::{Body, BoxError, GrpcMethod, status_from_layer_error};
use http_body::{Frame, SizeHint};
use metrics::SharedString;
use pin_project::pin_project;
use tower::{Layer, Service};

use super::size::{CountedBody, MessageBytes};
use super::{
    CLIENT_ATTEMPT_DURATION, CLIENT_ATTEMPT_RCVD_SIZE, CLIENT_ATTEMPT_SENT_SIZE,
    CLIENT_ATTEMPT_STARTED, CLIENT_CALL_DURATION, METHOD, OTHER_METHOD, STATUS, TARGET,
};
use crate::outcome::{EndBody, EndFuture, OnEnd};

/// Records `grpc.client.call.duration`: place it **outside** the retry
/// layer, so that one call with all its attempts is measured once (see
/// the [module docs](super)).
///
/// `target` is the `grpc.target` attribute: the URI the channel was made
/// for (`http://users.internal:50051`), as A66 asks.
#[derive(Clone, Debug)]
pub struct ClientCallMetricsLayer {
    target: SharedString,
}

impl ClientCallMetricsLayer {
    /// A layer for the calls of a channel to `target`.
    pub fn new(target: impl Into<String>) -> ClientCallMetricsLayer {
        ClientCallMetricsLayer {
            target: SharedString::from(target.into()),
        }
    }
}

/// Records `grpc.client.attempt.started`, `grpc.client.attempt.duration`
/// and the attempt's message sizes
/// (`grpc.client.attempt.sent_total_compressed_message_size`,
/// `grpc.client.attempt.rcvd_total_compressed_message_size`): place it
/// **inside** the retry layer, so that it sees every attempt (without a
/// retry layer, a call is one attempt).
///
/// The sizes are counted from the bodies' chunks as they go by. A request
/// of one chunk (a unary or server-streaming call's) is counted as it
/// starts; a stream of requests goes down wrapped in a counting body (one
/// allocation per attempt).
#[derive(Clone, Debug)]
pub struct ClientAttemptMetricsLayer {
    target: SharedString,
}

impl ClientAttemptMetricsLayer {
    /// A layer for the attempts of a channel to `target`.
    pub fn new(target: impl Into<String>) -> ClientAttemptMetricsLayer {
        ClientAttemptMetricsLayer {
            target: SharedString::from(target.into()),
        }
    }
}

impl<S> Layer<S> for ClientCallMetricsLayer {
    type Service = ClientMetrics<S>;

    fn layer(&self, inner: S) -> ClientMetrics<S> {
        ClientMetrics {
            inner,
            target: self.target.clone(),
            scope: Scope::Call,
        }
    }
}

impl<S> Layer<S> for ClientAttemptMetricsLayer {
    type Service = ClientMetrics<S>;

    fn layer(&self, inner: S) -> ClientMetrics<S> {
        ClientMetrics {
            inner,
            target: self.target.clone(),
            scope: Scope::Attempt,
        }
    }
}

/// The service of a [`ClientCallMetricsLayer`] or a
/// [`ClientAttemptMetricsLayer`]: records each call (or attempt) as it
/// starts and ends. Requests pass on with their body as a [`Body`] (for
/// an attempt's stream of requests, one that counts what it sends);
/// responses carry a [`ClientMetricsBody`], the inner body unchanged.
#[derive(Clone)]
pub struct ClientMetrics<S> {
    inner: S,
    target: SharedString,
    scope: Scope,
}

/// What a [`ClientMetrics`] measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scope {
    Call,
    Attempt,
}

impl<S> ClientMetrics<S> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, to change it.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The wrapped service, consuming this one.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: fmt::Debug> fmt::Debug for ClientMetrics<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientMetrics")
            .field("inner", &self.inner)
            .field("target", &&*self.target)
            .field("scope", &self.scope)
            .finish()
    }
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for ClientMetrics<S>
where
    S: Service<http::Request<Body>, Response = http::Response<ResBody>>,
    S::Error: Into<BoxError>,
    ReqBody: http_body::Body<Data = Bytes> + Send + 'static,
    ReqBody::Error: Into<Status>,
{
    type Response = http::Response<ClientMetricsBody<ResBody>>;
    type Error = Status;
    type Future = ClientMetricsFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
        self.inner
            .poll_ready(cx)
            .map_err(|err| status_from_layer_error(err.into()))
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let method = match request.extensions().get::<GrpcMethod>() {
            Some(method) => {
                let path = method.path();
                SharedString::from(path.strip_prefix('/').unwrap_or(path).to_owned())
            }
            None => SharedString::const_str(OTHER_METHOD),
        };
        // A `Body` passes as is, with no allocation.
        let mut request = request.map(Body::new);
        let (duration, sizes) = match self.scope {
            Scope::Call => (CLIENT_CALL_DURATION, None),
            Scope::Attempt => {
                metrics::counter!(
                    CLIENT_ATTEMPT_STARTED,
                    METHOD => method.clone(),
                    TARGET => self.target.clone()
                )
                .increment(1);
                let sent = count_sent(&mut request);
                (
                    CLIENT_ATTEMPT_DURATION,
                    Some(Sizes {
                        sent,
                        rcvd: MessageBytes::default(),
                    }),
                )
            }
        };
        let recording = Recording {
            duration,
            method,
            target: self.target.clone(),
            start: Instant::now(),
            sizes,
            recorded: false,
        };
        ClientMetricsFuture {
            inner: EndFuture::new(self.inner.call(request), recording),
        }
    }
}

/// The future of a call through a [`ClientMetrics`].
#[pin_project]
pub struct ClientMetricsFuture<F> {
    #[pin]
    inner: EndFuture<F, Recording>,
}

impl<F, B, E> Future for ClientMetricsFuture<F>
where
    F: Future<Output = Result<http::Response<B>, E>>,
    E: Into<BoxError>,
{
    type Output = Result<http::Response<ClientMetricsBody<B>>, Status>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let response = ready!(self.project().inner.poll(cx))?;
        Poll::Ready(Ok(response.map(|inner| ClientMetricsBody { inner })))
    }
}

impl<F> fmt::Debug for ClientMetricsFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientMetricsFuture")
            .finish_non_exhaustive()
    }
}

/// The response body of a call through a [`ClientMetrics`]: the inner
/// body, unchanged, recording the call's end when its trailers arrive or it
/// fails. Dropped before its end, the call counts as `CANCELLED`.
#[pin_project]
pub struct ClientMetricsBody<B> {
    #[pin]
    inner: EndBody<B, Recording>,
}

impl<B> ClientMetricsBody<B> {
    /// The inner body.
    pub fn get_ref(&self) -> &B {
        self.inner.get_ref()
    }
}

impl<B> http_body::Body for ClientMetricsBody<B>
where
    B: http_body::Body,
    B::Error: Into<Status>,
{
    type Data = B::Data;
    type Error = Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, Status>>> {
        self.project().inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B: fmt::Debug> fmt::Debug for ClientMetricsBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientMetricsBody")
            .field("inner", self.inner.get_ref())
            .finish()
    }
}

/// One call (or attempt) being measured: recorded once, at its end, or as
/// `CANCELLED` when dropped before.
struct Recording {
    duration: &'static str,
    method: SharedString,
    target: SharedString,
    start: Instant,
    /// An attempt's message sizes (not counted for a call).
    sizes: Option<Sizes>,
    recorded: bool,
}

/// The message bytes an attempt sent and received.
struct Sizes {
    sent: Sent,
    rcvd: MessageBytes,
}

/// The message bytes an attempt sent: known when it started (one chunk),
/// or counted by its request body as it goes.
enum Sent {
    Known(u64),
    Counted(Arc<AtomicU64>),
}

impl Sent {
    fn total(&self) -> u64 {
        match self {
            Sent::Known(total) => *total,
            Sent::Counted(total) => total.load(Ordering::Relaxed),
        }
    }
}

/// How the message bytes of `request`'s body are counted: a body of one
/// chunk at once; any other wrapped in a [`CountedBody`].
fn count_sent(request: &mut http::Request<Body>) -> Sent {
    if let Some(bytes) = request.body().as_bytes() {
        return Sent::Known(MessageBytes::default().feed(bytes));
    }
    if http_body::Body::is_end_stream(request.body()) {
        return Sent::Known(0);
    }
    let total = Arc::new(AtomicU64::new(0));
    let body = std::mem::take(request.body_mut());
    *request.body_mut() = Body::new(CountedBody::new(body, total.clone(), |total| total));
    Sent::Counted(total)
}

impl Recording {
    fn record(&mut self, code: Code) {
        if std::mem::replace(&mut self.recorded, true) {
            return;
        }
        let status = code.as_str();
        metrics::histogram!(
            self.duration,
            METHOD => self.method.clone(),
            TARGET => self.target.clone(),
            STATUS => status
        )
        .record(self.start.elapsed().as_secs_f64());
        if let Some(sizes) = &self.sizes {
            for (name, total) in [
                (CLIENT_ATTEMPT_SENT_SIZE, sizes.sent.total()),
                (CLIENT_ATTEMPT_RCVD_SIZE, sizes.rcvd.total()),
            ] {
                metrics::histogram!(
                    name,
                    METHOD => self.method.clone(),
                    TARGET => self.target.clone(),
                    STATUS => status
                )
                .record(total as f64);
            }
        }
    }
}

impl OnEnd for Recording {
    fn code(mut self, code: Code) {
        self.record(code);
    }

    fn data(&mut self, chunk: &[u8]) {
        if let Some(sizes) = &mut self.sizes {
            sizes.rcvd.feed(chunk);
        }
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        self.record(Code::Cancelled);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use bytes::Bytes;
    use grpcx_transport::descriptor::MethodKind;
    use http::HeaderMap;
    use http_body_util::{BodyExt as _, StreamBody};
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    use super::*;

    /// `ServiceExt::ready`, for requests of `Body`.
    trait Ready: tower::Service<http::Request<Body>> + Sized {
        fn ready(&mut self) -> tower::util::Ready<'_, Self, http::Request<Body>> {
            tower::ServiceExt::ready(self)
        }
    }
    impl<S: tower::Service<http::Request<Body>>> Ready for S {}

    type TestBody =
        StreamBody<futures_util::stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, Status>>>>;

    /// How a scripted call ends.
    #[derive(Clone, Copy)]
    enum End {
        Err(Code),
        Head(Code),
        Trailers(Code),
        BodyError(Code),
        NoTrailers,
    }

    fn respond(end: End) -> Result<http::Response<TestBody>, Status> {
        let message = Ok(Frame::data(Bytes::from_static(b"\0\0\0\0\0")));
        let frames = match end {
            End::Err(code) => return Err(Status::new(code, "scripted")),
            End::Head(code) => {
                let mut response =
                    http::Response::new(StreamBody::new(futures_util::stream::iter(Vec::new())));
                response
                    .headers_mut()
                    .insert("grpc-status", code.header_value().parse().unwrap());
                return Ok(response);
            }
            End::Trailers(code) => {
                let mut trailers = HeaderMap::new();
                trailers.insert("grpc-status", code.header_value().parse().unwrap());
                vec![message, Ok(Frame::trailers(trailers))]
            }
            End::BodyError(code) => vec![message, Err(Status::new(code, "scripted body"))],
            End::NoTrailers => vec![message],
        };
        Ok(http::Response::new(StreamBody::new(
            futures_util::stream::iter(frames),
        )))
    }

    fn request(end: End, named: bool) -> http::Request<Body> {
        let mut request = http::Request::new(Body::empty());
        request.extensions_mut().insert(end);
        *request.uri_mut() = http::Uri::from_static("/pkg.Svc/Get");
        if named {
            request.extensions_mut().insert(GrpcMethod::new(
                http::uri::PathAndQuery::from_static("/pkg.Svc/Get"),
                MethodKind::Unary,
            ));
        }
        request
    }

    /// Histogram sample counts and counter values by metric name and
    /// sorted labels.
    fn snapshot(recorder: &DebuggingRecorder) -> HashMap<(String, Vec<String>), u64> {
        let mut seen = HashMap::new();
        for (key, _, _, value) in recorder.snapshotter().snapshot().into_vec() {
            let key = key.key();
            let mut labels: Vec<String> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            labels.sort();
            let count = match value {
                DebugValue::Counter(n) => n,
                DebugValue::Histogram(samples) => samples.len() as u64,
                DebugValue::Gauge(_) => 0,
            };
            seen.insert((key.name().to_owned(), labels), count);
        }
        seen
    }

    fn labels(method: &str, status: Option<&str>) -> Vec<String> {
        let mut labels = vec![
            format!("grpc.method={method}"),
            "grpc.target=dns:///users:50051".to_owned(),
        ];
        if let Some(status) = status {
            labels.push(format!("grpc.status={status}"));
        }
        labels.sort();
        labels
    }

    #[test]
    fn every_way_a_call_ends_is_recorded_once_with_its_code() {
        let recorder = DebuggingRecorder::new();
        metrics::with_local_recorder(&recorder, || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            runtime.block_on(async {
                let inner = tower::service_fn(|request: http::Request<Body>| async move {
                    respond(*request.extensions().get::<End>().unwrap())
                });
                let layers = tower::ServiceBuilder::new()
                    .layer(ClientCallMetricsLayer::new("dns:///users:50051"))
                    .layer(ClientAttemptMetricsLayer::new("dns:///users:50051"));
                let mut service = layers.service(inner);
                for end in [
                    End::Err(Code::Unavailable),
                    End::Head(Code::NotFound),
                    End::Trailers(Code::Ok),
                    End::Trailers(Code::Ok),
                    End::BodyError(Code::DataLoss),
                    End::NoTrailers,
                ] {
                    if let Ok(response) = Ready::ready(&mut service)
                        .await
                        .unwrap()
                        .call(request(end, true))
                        .await
                    {
                        let _ = response.into_body().collect().await;
                    }
                }
                // A response dropped before its end: cancelled.
                let response = Ready::ready(&mut service)
                    .await
                    .unwrap()
                    .call(request(End::Trailers(Code::Ok), true))
                    .await
                    .unwrap();
                drop(response);
                // A request no typed client named: "other".
                let _ = Ready::ready(&mut service)
                    .await
                    .unwrap()
                    .call(request(End::Err(Code::Internal), false))
                    .await;
            });
        });
        let seen = snapshot(&recorder);
        for name in [CLIENT_CALL_DURATION, CLIENT_ATTEMPT_DURATION] {
            for (status, count) in [
                ("UNAVAILABLE", 1),
                ("NOT_FOUND", 1),
                ("OK", 2),
                ("DATA_LOSS", 1),
                ("INTERNAL", 1),
                ("CANCELLED", 1),
            ] {
                assert_eq!(
                    seen.get(&(name.to_owned(), labels("pkg.Svc/Get", Some(status)))),
                    Some(&count),
                    "{name} {status}: {seen:?}"
                );
            }
            assert_eq!(
                seen.get(&(name.to_owned(), labels("other", Some("INTERNAL")))),
                Some(&1)
            );
        }
        assert_eq!(
            seen.get(&(
                CLIENT_ATTEMPT_STARTED.to_owned(),
                labels("pkg.Svc/Get", None)
            )),
            Some(&7)
        );
        assert_eq!(
            seen.get(&(CLIENT_ATTEMPT_STARTED.to_owned(), labels("other", None))),
            Some(&1)
        );
        assert!(
            !seen
                .keys()
                .any(|(name, _)| name == "grpc.client.call.started")
        );
    }

    /// The histograms' samples by name, for the calls that ended `OK`
    /// (taking a snapshot drains the samples).
    fn ok_samples(recorder: &DebuggingRecorder) -> HashMap<String, Vec<f64>> {
        let mut found: HashMap<String, Vec<f64>> = HashMap::new();
        for (key, _, _, value) in recorder.snapshotter().snapshot().into_vec() {
            let key = key.key();
            let ok = key.labels().any(|l| l.key() == STATUS && l.value() == "OK");
            if let (true, DebugValue::Histogram(values)) = (ok, value) {
                found
                    .entry(key.name().to_owned())
                    .or_default()
                    .extend(values.into_iter().map(|v| v.into_inner()));
            }
        }
        found
    }

    #[test]
    fn an_attempt_records_the_message_bytes_sent_and_received() {
        let recorder = DebuggingRecorder::new();
        metrics::with_local_recorder(&recorder, || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            runtime.block_on(async {
                // Two response messages of 3 and 4 bytes, their prefixes
                // and payloads split across chunks, then OK.
                let inner = tower::service_fn(|request: http::Request<Body>| async move {
                    // The request is read to its end, as a channel would.
                    let _ = request.into_body().collect().await;
                    let mut trailers = HeaderMap::new();
                    trailers.insert("grpc-status", "0".parse().unwrap());
                    let frames: Vec<Result<Frame<Bytes>, Status>> = vec![
                        Ok(Frame::data(Bytes::from_static(b"\0\0\0"))),
                        Ok(Frame::data(Bytes::from_static(b"\0\x03ab"))),
                        Ok(Frame::data(Bytes::from_static(b"c\x01\0\0\0\x04abcd"))),
                        Ok(Frame::trailers(trailers)),
                    ];
                    Ok::<_, Status>(http::Response::new(StreamBody::new(
                        futures_util::stream::iter(frames),
                    )))
                });
                let mut service = ClientAttemptMetricsLayer::new("dns:///users:50051").layer(inner);
                // One chunk: a unary request of 10 bytes.
                let mut unary = request(End::NoTrailers, true);
                *unary.body_mut() = Body::from(Bytes::from_static(b"\0\0\0\0\x0a0123456789"));
                // A stream of requests, 2 and 5 bytes, split anyhow.
                let chunks: Vec<Result<Frame<Bytes>, Status>> = vec![
                    Ok(Frame::data(Bytes::from_static(b"\0\0\0\0\x02x"))),
                    Ok(Frame::data(Bytes::from_static(b"y\0\0\0"))),
                    Ok(Frame::data(Bytes::from_static(b"\0\x05hello"))),
                ];
                let mut streaming = request(End::NoTrailers, true);
                *streaming.body_mut() =
                    Body::new(StreamBody::new(futures_util::stream::iter(chunks)));
                for request in [unary, streaming] {
                    let response = Ready::ready(&mut service)
                        .await
                        .unwrap()
                        .call(request)
                        .await
                        .unwrap();
                    let _ = response.into_body().collect().await;
                }
            });
        });
        let samples = ok_samples(&recorder);
        assert_eq!(samples[CLIENT_ATTEMPT_SENT_SIZE], [10.0, 7.0]);
        assert_eq!(samples[CLIENT_ATTEMPT_RCVD_SIZE], [7.0, 7.0]);
    }
}
