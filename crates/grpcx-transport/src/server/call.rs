//! The outermost service of a connection: from an HTTP/2 request to a call,
//! through the server's layers and routes, and back to HTTP/2.
//!
//! [`CallService`] checks the request (POST, a gRPC content-type,
//! `grpc-timeout`), makes the call's [`CallContext`] and puts it in the
//! request's extensions, then drives the layered service with
//! [`CallFuture`]: the deadline, aborts and panics end the call there
//! while the handler runs (with the statuses of [`finish`]), and a layer's
//! error becomes a status. Once the handler has answered, the response
//! waits for its first frame: a message sends the headers with it, a
//! status alone goes out Trailers-Only (gRFC A6 asks servers to, so such
//! calls stay retryable).

use std::any::Any;
use std::convert::Infallible;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use grpcx_status::__private::StatusInternals as _;
use grpcx_status::{Origin, Status};
use http::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use http::{Method, StatusCode};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use tokio::time::{Instant, Sleep};
use tower::Service;

use super::Config;
use super::body::ResponseBody;
use super::finish;
use crate::body::Body;
use crate::context::{CallContext, CallGuard, Peer, Signal};
use crate::error::{BoxError, status_from_layer_error};
use crate::panic::describe_panic;
use crate::protocol::{GRPC_PREVIOUS_RPC_ATTEMPTS, is_grpc_content_type};
use crate::timeout::{GRPC_TIMEOUT, parse_timeout};

/// The per-connection hyper service around the server's layered routes.
#[derive(Clone)]
pub(crate) struct CallService<S> {
    service: S,
    config: Arc<Config>,
    peer: Peer,
    /// Whether layers wrap the routes, and so may read the context from
    /// the request's extensions; without layers, the routes find it as
    /// `CallContext::current()` and the extensions cost no allocation.
    layered: bool,
}

impl<S> CallService<S> {
    pub(crate) fn new(service: S, config: Arc<Config>, peer: Peer, layered: bool) -> Self {
        CallService {
            service,
            config,
            peer,
            layered,
        }
    }
}

impl<S, B> hyper::service::Service<http::Request<Incoming>> for CallService<S>
where
    S: Service<http::Request<Body>, Response = http::Response<B>> + Clone,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    type Response = http::Response<WireBody<B>>;
    type Error = Infallible;
    type Future = CallFuture<S, B>;

    fn call(&self, request: http::Request<Incoming>) -> Self::Future {
        let (mut parts, body) = request.into_parts();
        let head = CallHeaders::scan(&parts.headers);
        if let Some(response) = check_request(&parts.method, head.content_type) {
            return CallFuture::refused(response);
        }
        let path = parts
            .uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/"));
        let deadline = match head.timeout {
            None => None,
            Some(value) => match parse_timeout(value.as_bytes()) {
                // A deadline too far to represent is no deadline at all.
                Ok(timeout) => Instant::now().checked_add(timeout),
                Err(err) => {
                    let span = call_span(path.path(), &self.peer);
                    let context =
                        CallContext::new(path, self.peer.clone(), None, 0, self.config.clone())
                            .with_span(span);
                    let status = Status::internal(err.to_string()).with_origin(Origin::Protocol);
                    return CallFuture::refused(trailers_only(status, &context));
                }
            },
        };
        let previous_attempts = head
            .previous_attempts
            .and_then(|value| std::str::from_utf8(value.as_bytes()).ok())
            .and_then(|value| value.parse().ok())
            .unwrap_or(0);
        let span = call_span(path.path(), &self.peer);
        let context = CallContext::new(
            path,
            self.peer.clone(),
            deadline,
            previous_attempts,
            self.config.clone(),
        )
        .with_span(span);
        if self.layered {
            parts.extensions.insert(context.clone());
        }
        let request = http::Request::from_parts(parts, Body::request(body));
        // One allocation: hyper moves the future around before it runs, and
        // a pointer moves faster than the call's state.
        CallFuture::Call(Box::pin(CallState {
            phase: Phase::Ready {
                service: self.service.clone(),
                request: Some(request),
            },
            deadline: deadline.map(tokio::time::sleep_until),
            // The guard marks the call cancelled if hyper drops this future
            // (the client reset the stream) before the call ended; it moves
            // into the response body, whose end ends the call.
            guard: Some(CallGuard::new(context.clone())),
            context,
        }))
    }
}

/// The tracing span of a server call of `path` from `peer`, named and
/// attributed after OpenTelemetry's RPC conventions: `otel.name` is
/// `package.Service/Method` (tracing's own span name is static:
/// `grpc.server`), `rpc.grpc.status_code` is recorded as the call ends
/// (`CallContext::finish`). When no subscriber is interested it is
/// `Span::none()`: no field is computed and nothing allocated.
fn call_span(path: &str, peer: &Peer) -> tracing::Span {
    use tracing::field::{Empty, display};
    let span = tracing::info_span!(
        target: "grpcx::server",
        "grpc.server",
        otel.name = Empty,
        otel.kind = "server",
        rpc.system = "grpc",
        rpc.service = Empty,
        rpc.method = Empty,
        rpc.grpc.status_code = Empty,
        client.address = Empty,
        client.port = Empty,
        network.peer.address = Empty,
        network.peer.port = Empty,
    );
    if span.is_none() {
        return span;
    }
    span.record("otel.name", path.strip_prefix('/').unwrap_or(path));
    if let Some((service, method)) = super::routes::split_path(path) {
        span.record("rpc.service", service);
        span.record("rpc.method", method);
    }
    if let Some(addr) = peer.addr {
        span.record("client.address", display(addr.ip()));
        span.record("client.port", addr.port());
        span.record("network.peer.address", display(addr.ip()));
        span.record("network.peer.port", addr.port());
    }
    span
}

/// One call, from the request to the response head.
pub(crate) enum CallFuture<S: Service<http::Request<Body>>, B> {
    /// Refused before any call existed: not a gRPC request. Boxed, as
    /// rare: hyper keeps this future in every call's task, which should
    /// stay small.
    Refused(Option<Box<http::Response<()>>>),
    /// A call.
    Call(Pin<Box<CallState<S, B>>>),
}

impl<S, B> Future for CallFuture<S, B>
where
    S: Service<http::Request<Body>, Response = http::Response<B>>,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    type Output = Result<http::Response<WireBody<B>>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Both variants are `Unpin`: a response, or a pinned box.
        match self.get_mut() {
            CallFuture::Refused(response) => Poll::Ready(Ok(match response.take() {
                Some(response) => response.map(|()| WireBody::done()),
                None => http::Response::new(WireBody::done()),
            })),
            CallFuture::Call(state) => state.as_mut().poll(cx),
        }
    }
}

/// The state of one call, from the request to the response head.
#[pin_project::pin_project]
pub(crate) struct CallState<S: Service<http::Request<Body>>, B> {
    #[pin]
    phase: Phase<S, B>,
    #[pin]
    deadline: Option<Sleep>,
    guard: Option<CallGuard>,
    context: CallContext,
}

#[pin_project::pin_project(project = PhaseProj)]
enum Phase<S: Service<http::Request<Body>>, B> {
    /// The call has ended; nothing more to do.
    Done,
    /// Waiting for the layers to be ready (a concurrency limit, say).
    Ready {
        service: S,
        request: Option<http::Request<Body>>,
    },
    /// The layers and the handler run.
    Running(#[pin] S::Future),
    /// The handler answered; the headers wait for the first frame.
    Peeking(Option<(http::response::Parts, B)>),
}

impl<S: Service<http::Request<Body>>, B> CallFuture<S, B> {
    fn refused(response: http::Response<()>) -> Self {
        CallFuture::Refused(Some(Box::new(response)))
    }
}

impl<S, B> Future for CallState<S, B>
where
    S: Service<http::Request<Body>, Response = http::Response<B>>,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    type Output = Result<http::Response<WireBody<B>>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        // Whether this poll has checked for an abort or the deadline (and
        // so registered for their wake-ups) already.
        let mut interruption_checked = false;
        loop {
            let status = match this.phase.as_mut().project() {
                PhaseProj::Done => return Poll::Pending,
                PhaseProj::Peeking(peeking) => {
                    let Some((parts, body)) = peeking else {
                        return Poll::Pending;
                    };
                    // A status alone in grpcx's own body is rendered straight
                    // into the head (Trailers-Only): no trailers map is made
                    // to be merged into it.
                    if let Some(own) = (body as &mut dyn Any).downcast_mut::<ResponseBody>() {
                        if own.end_into(&mut parts.headers) {
                            let Some((parts, _)) = peeking.take() else {
                                return Poll::Pending;
                            };
                            this.phase.set(Phase::Done);
                            if let Some(guard) = this.guard.take() {
                                guard.complete(&parts.headers);
                            }
                            return Poll::Ready(Ok(http::Response::from_parts(
                                parts,
                                WireBody::done(),
                            )));
                        }
                    }
                    let first = ready!(poll_body(Pin::new(body), cx));
                    let Some((parts, body)) = peeking.take() else {
                        return Poll::Pending;
                    };
                    this.phase.set(Phase::Done);
                    return Poll::Ready(Ok(head(parts, body, first, this.guard.take())));
                }
                PhaseProj::Ready { service, request } => {
                    let context = &*this.context;
                    match interrupted(context, this.deadline.as_mut(), cx) {
                        Some(status) => status,
                        None => {
                            // The layers' `poll_ready` and `call` run in the
                            // context entered once.
                            let entered = context.enter();
                            let called = catch_unwind(AssertUnwindSafe(|| {
                                ready!(service.poll_ready(cx))?;
                                Poll::<Result<_, S::Error>>::Ready(Ok(request
                                    .take()
                                    .map(|r| service.call(r))))
                            }));
                            drop(entered);
                            match called {
                                Ok(Poll::Ready(Ok(Some(future)))) => {
                                    this.phase.set(Phase::Running(future));
                                    // Checked just now, in this same poll.
                                    interruption_checked = true;
                                    continue;
                                }
                                Ok(Poll::Pending | Poll::Ready(Ok(None))) => return Poll::Pending,
                                Ok(Poll::Ready(Err(err))) => status_from_layer_error(err.into()),
                                Err(panic) => panic_status(context, &*panic),
                            }
                        }
                    }
                }
                PhaseProj::Running(future) => {
                    let context = &*this.context;
                    let interruption = if interruption_checked {
                        None
                    } else {
                        interrupted(context, this.deadline.as_mut(), cx)
                    };
                    if let Some(status) = interruption {
                        status
                    } else {
                        // The handler is never polled again after a panic:
                        // it is dropped, so unwind safety is not a concern.
                        let entered = context.enter();
                        let polled = catch_unwind(AssertUnwindSafe(|| future.poll(cx)));
                        drop(entered);
                        match polled {
                            Ok(Poll::Pending) => return Poll::Pending,
                            Ok(Poll::Ready(Ok(response))) => {
                                let (parts, body) = response.into_parts();
                                this.phase.set(Phase::Peeking(Some((parts, body))));
                                continue;
                            }
                            Ok(Poll::Ready(Err(err))) => status_from_layer_error(err.into()),
                            Err(panic) => panic_status(context, &*panic),
                        }
                    }
                }
            };
            // The call ended before the handler answered: Trailers-Only.
            let response = trailers_only(status, this.context);
            drop(this.guard.take());
            this.phase.set(Phase::Done);
            return Poll::Ready(Ok(response.map(|()| WireBody::done())));
        }
    }
}

/// Whether the call was aborted or its deadline passed while the handler
/// runs.
fn interrupted(
    context: &CallContext,
    deadline: Pin<&mut Option<Sleep>>,
    cx: &mut Context<'_>,
) -> Option<Status> {
    if let Poll::Ready(Signal::Aborted(status)) = context.poll_signal(cx, false) {
        return Some(status);
    }
    let deadline = deadline.as_pin_mut()?;
    deadline.poll(cx).is_ready().then(finish::deadline_exceeded)
}

fn panic_status(context: &CallContext, panic: &(dyn std::any::Any + Send)) -> Status {
    tracing::error!(method = %context.method(), panic = %describe_panic(panic), "handler panicked");
    finish::panicked()
}

/// Polls a body for its first frame worth sending: a message, a status, the
/// end, or an empty chunk (the handler called `send_headers`).
fn poll_body<B>(body: Pin<&mut B>, cx: &mut Context<'_>) -> Poll<First>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    Poll::Ready(match ready!(body.poll_frame(cx)) {
        None => First::End,
        Some(Err(err)) => First::Failed(status_from_layer_error(err.into())),
        Some(Ok(frame)) => match frame.into_data() {
            Ok(data) => First::Data(data),
            Err(frame) => match frame.into_trailers() {
                Ok(trailers) => First::Trailers(trailers),
                // An unknown kind of frame: nothing to send, the headers go.
                Err(_) => First::Data(Bytes::new()),
            },
        },
    })
}

/// The first frame of a response body.
enum First {
    Data(Bytes),
    Trailers(HeaderMap),
    Failed(Status),
    End,
}

/// The response head for a body whose first frame is `first`.
fn head<B>(
    mut parts: http::response::Parts,
    body: B,
    first: First,
    guard: Option<CallGuard>,
) -> http::Response<WireBody<B>> {
    let context = guard.as_ref().map(|guard| guard.context().clone());
    match first {
        First::Data(data) => {
            let first = (!data.is_empty()).then_some(data);
            http::Response::from_parts(
                parts,
                WireBody {
                    first,
                    body: Some(body),
                    guard,
                },
            )
        }
        // Trailers-Only: the status joins the response's headers.
        First::Trailers(trailers) => {
            if let Some(guard) = guard {
                guard.complete(&trailers);
            }
            parts.headers.extend(trailers);
            http::Response::from_parts(parts, WireBody::done())
        }
        First::Failed(status) => {
            let trailers = match &context {
                Some(context) => finish::render(status, context),
                None => status.to_header_map(),
            };
            parts.headers.extend(trailers);
            http::Response::from_parts(parts, WireBody::done())
        }
        // A body that ended without a status: a layer replaced the body
        // with one that does not speak gRPC. Its headers may carry the
        // status already; if not, the call fails.
        First::End => {
            if !parts.headers.contains_key(grpcx_status::wire::GRPC_STATUS) {
                let status = Status::internal("the response ended without a gRPC status");
                let trailers = match &context {
                    Some(context) => finish::render(status, context),
                    None => status.to_header_map(),
                };
                parts.headers.extend(trailers);
            }
            http::Response::from_parts(parts, WireBody::done())
        }
    }
}

/// What hyper writes: the first frame read while the headers waited, the
/// rest of the body, and the call's guard, which records a cancellation if
/// the stream goes before the body's end.
pub(crate) struct WireBody<B> {
    first: Option<Bytes>,
    body: Option<B>,
    guard: Option<CallGuard>,
}

impl<B> WireBody<B> {
    /// A body with nothing more to send (the headers said it all).
    fn done() -> WireBody<B> {
        WireBody {
            first: None,
            body: None,
            guard: None,
        }
    }
}

impl<B> http_body::Body for WireBody<B>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = &mut *self;
        if let Some(data) = this.first.take() {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        loop {
            let Some(body) = this.body.as_mut() else {
                return Poll::Ready(None);
            };
            // grpcx's own body contains the panics of a handler's stream; a
            // layer's body that panics fails its call, not the connection.
            let polled = catch_unwind(AssertUnwindSafe(|| {
                Pin::new(body)
                    .poll_frame(cx)
                    .map(|frame| frame.map(|frame| frame.map_err(Into::into)))
            }));
            let polled: Option<Result<Frame<Bytes>, BoxError>> = match polled {
                Ok(polled) => ready!(polled),
                Err(panic) => {
                    tracing::error!(panic = %describe_panic(&*panic), "a response body panicked");
                    Some(Err(Box::new(finish::panicked())))
                }
            };
            match polled {
                Some(Ok(frame)) => {
                    if frame.data_ref().is_some_and(Bytes::is_empty) {
                        // A `send_headers` that came after the headers.
                        continue;
                    }
                    if let Some(trailers) = frame.trailers_ref() {
                        this.body = None;
                        if let Some(guard) = this.guard.take() {
                            guard.complete(trailers);
                        }
                    }
                    return Poll::Ready(Some(Ok(frame)));
                }
                Some(Err(err)) => {
                    this.body = None;
                    let status = status_from_layer_error(err);
                    let trailers = match this.guard.take() {
                        Some(guard) => finish::render(status, guard.context()),
                        None => status.to_header_map(),
                    };
                    return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
                }
                None => {
                    this.body = None;
                    // The end without trailers: see `First::End`.
                    let status = Status::internal("the response ended without a gRPC status");
                    let trailers = match this.guard.take() {
                        Some(guard) => finish::render(status, guard.context()),
                        None => status.to_header_map(),
                    };
                    return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.first.is_none() && self.body.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        if self.is_end_stream() {
            return SizeHint::with_exact(0);
        }
        SizeHint::default()
    }
}

/// The request header fields the call service reads (the first value of
/// each), found in one pass over the request's few fields instead of a
/// hashed lookup each.
#[derive(Default)]
struct CallHeaders<'a> {
    content_type: Option<&'a HeaderValue>,
    timeout: Option<&'a HeaderValue>,
    previous_attempts: Option<&'a HeaderValue>,
}

impl<'a> CallHeaders<'a> {
    fn scan(headers: &'a HeaderMap) -> CallHeaders<'a> {
        let mut found = CallHeaders::default();
        for (name, value) in headers {
            let slot = if *name == CONTENT_TYPE {
                &mut found.content_type
            } else if name.as_str() == GRPC_TIMEOUT.as_str() {
                &mut found.timeout
            } else if name.as_str() == GRPC_PREVIOUS_RPC_ATTEMPTS.as_str() {
                &mut found.previous_attempts
            } else {
                continue;
            };
            slot.get_or_insert(value);
        }
        found
    }
}

/// Refuses what is not a gRPC request, as `PROTOCOL-HTTP2.md` prescribes.
fn check_request(
    method: &Method,
    content_type: Option<&HeaderValue>,
) -> Option<http::Response<()>> {
    if method != Method::POST {
        let status = Status::unimplemented(format!("gRPC requires POST, got {method}"));
        let mut response = http_error(StatusCode::METHOD_NOT_ALLOWED, status);
        response
            .headers_mut()
            .insert(http::header::ALLOW, HeaderValue::from_static("POST"));
        return Some(response);
    }
    let content_type = content_type.map(HeaderValue::as_bytes);
    if !content_type.is_some_and(is_grpc_content_type) {
        let shown = content_type.map_or_else(
            || "none".to_owned(),
            |v| format!("{:?}", String::from_utf8_lossy(v)),
        );
        let status = Status::internal(format!("invalid gRPC request content-type: {shown}"));
        return Some(http_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, status));
    }
    None
}

/// A non-200 answer that still carries a gRPC status for gRPC-aware peers.
fn http_error(code: StatusCode, status: Status) -> http::Response<()> {
    let mut response = http::Response::new(());
    *response.status_mut() = code;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    status.write_headers(headers);
    response
}

/// A Trailers-Only response made here, before or instead of the handler's:
/// one HEADERS frame with `:status 200`, the content-type and the status.
/// Ends the call.
fn trailers_only(status: Status, context: &CallContext) -> http::Response<()> {
    let mut headers = finish::render(status, context);
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    let mut response = http::Response::new(());
    *response.headers_mut() = headers;
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::{CallOutcome, test_context};
    use grpcx_status::Code;
    use http_body::Body as _;

    /// A body of a layer's own: one trailers frame, or a panic.
    struct Own(Option<HeaderMap>);

    impl http_body::Body for Own {
        type Data = Bytes;
        type Error = Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            match self.0.take() {
                Some(trailers) => Poll::Ready(Some(Ok(Frame::trailers(trailers)))),
                None => panic!("a layer's body panicked"),
            }
        }
    }

    fn poll(body: &mut WireBody<Own>) -> Option<Frame<Bytes>> {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        match Pin::new(body).poll_frame(&mut cx) {
            Poll::Ready(frame) => frame.map(|f| f.unwrap_or_else(|never| match never {})),
            Poll::Pending => panic!("pending"),
        }
    }

    #[test]
    fn a_layers_own_trailers_complete_the_call_and_its_panic_fails_only_the_call() {
        let context = test_context(None);
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", HeaderValue::from_static("5"));
        let mut body = WireBody {
            first: None,
            body: Some(Own(Some(trailers))),
            guard: Some(CallGuard::new(context.clone())),
        };
        let frame = poll(&mut body).unwrap();
        assert_eq!(frame.trailers_ref().unwrap()["grpc-status"], "5");
        assert_eq!(
            context.outcome(),
            Some(CallOutcome::Completed(Code::NotFound))
        );
        assert!(body.is_end_stream());

        let context = test_context(None);
        let mut body = WireBody {
            first: None,
            body: Some(Own(None)),
            guard: Some(CallGuard::new(context.clone())),
        };
        let trailers = poll(&mut body).unwrap().into_trailers().unwrap();
        assert_eq!(trailers["grpc-status"], "13");
        assert_eq!(trailers["grpc-message"], "internal server error");
        assert_eq!(
            context.outcome(),
            Some(CallOutcome::Completed(Code::Internal))
        );
    }

    #[test]
    fn non_grpc_requests_get_the_prescribed_http_status() {
        let grpc = HeaderValue::from_static("application/grpc");
        let response = check_request(&Method::GET, Some(&grpc)).unwrap();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);

        let html = HeaderValue::from_static("text/html");
        let response = check_request(&Method::POST, Some(&html)).unwrap();
        assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(response.headers()["grpc-status"], "13");
        assert_eq!(
            response.headers()["grpc-message"],
            "invalid gRPC request content-type: \"text/html\""
        );
        assert!(check_request(&Method::POST, None).is_some());
        assert!(check_request(&Method::POST, Some(&grpc)).is_none());
    }

    #[test]
    fn the_call_headers_are_the_first_value_of_each_field() {
        let mut headers = HeaderMap::new();
        headers.append("user-agent", HeaderValue::from_static("test"));
        headers.append("grpc-timeout", HeaderValue::from_static("1S"));
        headers.append(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        headers.append("grpc-timeout", HeaderValue::from_static("2S"));
        headers.append("grpc-previous-rpc-attempts", HeaderValue::from_static("2"));
        headers.append(CONTENT_TYPE, HeaderValue::from_static("text/html"));
        let head = CallHeaders::scan(&headers);
        assert_eq!(head.content_type, headers.get(CONTENT_TYPE));
        assert_eq!(head.timeout, headers.get("grpc-timeout"));
        assert_eq!(head.previous_attempts.unwrap(), "2");

        let none = HeaderMap::new();
        let head = CallHeaders::scan(&none);
        assert!(head.content_type.is_none() && head.timeout.is_none());
        assert!(head.previous_attempts.is_none());
    }
}
