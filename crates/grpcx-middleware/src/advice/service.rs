//! [`ErrorAdvice`]: the service that applies an [`Advice`] to its calls.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::task::{Context, Poll};

use grpcx_status::Status;
use grpcx_transport::server::ResponseBody;
use grpcx_transport::{BoxError, status_from_layer_error};
use http::HeaderValue;
use http::uri::PathAndQuery;
use tower::Service;

use super::future::ResponseFuture;
use super::handlers::{Advice, CallInfo, panic_status};

/// The header whose value, when a client sends it, is logged next to the
/// advice's correlation id.
const CLIENT_REQUEST_ID: &str = "x-request-id";

/// The longest client request id logged; a longer one is not.
const MAX_CLIENT_REQUEST_ID: usize = 128;

/// A server service that applies an [`Advice`] to the final status of each
/// call of the service it wraps, and turns its panics into the advice's
/// redacted `INTERNAL` status.
///
/// It wraps a service answering `http::Response<ResponseBody>` (a server's
/// routes, one service's route, or a layer over them that keeps the body)
/// and answers the same: the body is the inner one, given the advice with
/// [`ResponseBody::map_status`], so the status that ends the call is mapped
/// whenever it comes (a unary error, a stream failing midway, the deadline,
/// an abort). When the inner service fails or panics before answering, the
/// call fails with the advised `Status` as the service error, which the
/// server sends as it is.
#[derive(Clone)]
pub struct ErrorAdvice<S> {
    inner: S,
    advice: Arc<Advice>,
}

impl<S> ErrorAdvice<S> {
    /// Wraps `inner` in `advice`.
    pub fn new(inner: S, advice: impl Into<Arc<Advice>>) -> ErrorAdvice<S> {
        ErrorAdvice {
            inner,
            advice: advice.into(),
        }
    }

    /// The advice applied.
    pub fn advice(&self) -> &Advice {
        &self.advice
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, to change it.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The wrapped service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, B> Service<http::Request<B>> for ErrorAdvice<S>
where
    S: Service<http::Request<B>, Response = http::Response<ResponseBody>>,
    S::Error: Into<BoxError>,
{
    type Response = http::Response<ResponseBody>;
    type Error = Status;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
        let inner = &mut self.inner;
        let status = match catch_unwind(AssertUnwindSafe(|| inner.poll_ready(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(Ok(()))) => return Poll::Ready(Ok(())),
            Ok(Poll::Ready(Err(err))) => status_from_layer_error(err.into()),
            Err(panic) => panic_status(&*panic),
        };
        Poll::Ready(Err(self.advice.advise(status, &CallInfo::default())))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let call = Call::of(&request);
        let inner = &mut self.inner;
        match catch_unwind(AssertUnwindSafe(|| inner.call(request))) {
            Ok(future) => ResponseFuture::new(future, self.advice.clone(), call),
            Err(panic) => {
                ResponseFuture::failed(self.advice.advise(panic_status(&*panic), &call.info()))
            }
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for ErrorAdvice<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ErrorAdvice")
            .field("inner", &self.inner)
            .field("advice", &self.advice)
            .finish()
    }
}

/// What a call's advice keeps of its request, for handlers and the log:
/// reference-counted clones, no copy.
#[derive(Default)]
pub(crate) struct Call {
    path: Option<PathAndQuery>,
    client_request_id: Option<HeaderValue>,
}

impl Call {
    fn of<B>(request: &http::Request<B>) -> Call {
        Call {
            path: request.uri().path_and_query().cloned(),
            client_request_id: request
                .headers()
                .get(CLIENT_REQUEST_ID)
                .filter(|value| value.len() <= MAX_CLIENT_REQUEST_ID)
                .cloned(),
        }
    }

    pub(crate) fn info(&self) -> CallInfo<'_> {
        CallInfo {
            method: self.path.as_ref().map_or("", PathAndQuery::path),
            client_request_id: self
                .client_request_id
                .as_ref()
                .and_then(|value| value.to_str().ok()),
        }
    }
}
