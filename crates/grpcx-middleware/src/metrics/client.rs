//! [`ClientCallMetricsLayer`], [`ClientAttemptMetricsLayer`] and their
//! [`ClientMetrics`] service: A66's client metrics.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use grpcx_status::{Code, Status};
use grpcx_transport::{BoxError, GrpcMethod, status_from_layer_error};
use http_body::{Frame, SizeHint};
use metrics::SharedString;
use pin_project::pin_project;
use tower::{Layer, Service};

use super::{
    CLIENT_ATTEMPT_DURATION, CLIENT_ATTEMPT_STARTED, CLIENT_CALL_DURATION, METHOD, OTHER_METHOD,
    STATUS, TARGET,
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

/// Records `grpc.client.attempt.started` and `grpc.client.attempt.duration`:
/// place it **inside** the retry layer, so that it sees every attempt
/// (without a retry layer, a call is one attempt).
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
/// starts and ends. Requests pass unchanged; responses carry a
/// [`ClientMetricsBody`], the inner body unchanged.
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
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Error: Into<BoxError>,
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
        let duration = match self.scope {
            Scope::Call => CLIENT_CALL_DURATION,
            Scope::Attempt => {
                metrics::counter!(
                    CLIENT_ATTEMPT_STARTED,
                    METHOD => method.clone(),
                    TARGET => self.target.clone()
                )
                .increment(1);
                CLIENT_ATTEMPT_DURATION
            }
        };
        let recording = Recording {
            duration,
            method,
            target: self.target.clone(),
            start: Instant::now(),
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
    recorded: bool,
}

impl Recording {
    fn record(&mut self, code: Code) {
        if std::mem::replace(&mut self.recorded, true) {
            return;
        }
        metrics::histogram!(
            self.duration,
            METHOD => self.method.clone(),
            TARGET => self.target.clone(),
            STATUS => code.as_str()
        )
        .record(self.start.elapsed().as_secs_f64());
    }
}

impl OnEnd for Recording {
    fn code(mut self, code: Code) {
        self.record(code);
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
    use tower::ServiceExt as _;

    use super::*;

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

    fn request(end: End, named: bool) -> http::Request<End> {
        let mut request = http::Request::new(end);
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
                let inner = tower::service_fn(|request: http::Request<End>| async move {
                    respond(*request.body())
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
                    if let Ok(response) = service
                        .ready()
                        .await
                        .unwrap()
                        .call(request(end, true))
                        .await
                    {
                        let _ = response.into_body().collect().await;
                    }
                }
                // A response dropped before its end: cancelled.
                let response = service
                    .ready()
                    .await
                    .unwrap()
                    .call(request(End::Trailers(Code::Ok), true))
                    .await
                    .unwrap();
                drop(response);
                // A request no typed client named: "other".
                let _ = service
                    .ready()
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
}
