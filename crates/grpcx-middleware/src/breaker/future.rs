//! [`ResponseFuture`] and [`RecordingBody`]: where a [`CircuitBreaker`]
//! learns how its calls end.
//!
//! [`CircuitBreaker`]: super::CircuitBreaker

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use grpcx_status::{Code, Status};
use grpcx_transport::BoxError;
use http_body::{Frame, SizeHint};
use pin_project::pin_project;

use super::layer::Recorder;
use crate::outcome::{EndBody, EndFuture, OnEnd};

/// The future of a call through a [`CircuitBreaker`](super::CircuitBreaker):
/// the refusal of an open breaker, or the inner call, whose outcome it
/// records.
#[pin_project]
pub struct ResponseFuture<F> {
    #[pin]
    kind: Kind<F>,
}

#[pin_project(project = KindProj)]
enum Kind<F> {
    Refused(Option<Status>),
    Called {
        #[pin]
        future: EndFuture<F, Recorder>,
    },
}

/// The response body of a call through a
/// [`CircuitBreaker`](super::CircuitBreaker): the inner body, unchanged,
/// recording the call's final code when its trailers arrive or it fails.
///
/// Dropped before its end, it records nothing: a call the caller gave up
/// on says nothing about the server. Its error is the inner body's, as a
/// [`Status`].
#[pin_project]
pub struct RecordingBody<B> {
    #[pin]
    inner: EndBody<B, Recorder>,
}

impl OnEnd for Recorder {
    fn code(self, code: Code) {
        self.record(code);
    }

    fn status(self, status: &Status) {
        self.record_status(status);
    }
}

impl<F> ResponseFuture<F> {
    pub(super) fn refused(status: Status) -> ResponseFuture<F> {
        ResponseFuture {
            kind: Kind::Refused(Some(status)),
        }
    }

    pub(super) fn called(future: F, recorder: Recorder) -> ResponseFuture<F> {
        ResponseFuture {
            kind: Kind::Called {
                future: EndFuture::new(future, recorder),
            },
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<http::Response<B>, E>>,
    E: Into<BoxError>,
{
    type Output = Result<http::Response<RecordingBody<B>>, Status>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Refused(status) => Poll::Ready(Err(status
                .take()
                .unwrap_or_else(|| Status::internal("a breaker's future was polled again")))),
            KindProj::Called { future } => {
                let response = ready!(future.poll(cx))?;
                Poll::Ready(Ok(response.map(|inner| RecordingBody { inner })))
            }
        }
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.kind {
            Kind::Refused(_) => "refused",
            Kind::Called { .. } => "called",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}

impl<B> RecordingBody<B> {
    /// The inner body.
    pub fn get_ref(&self) -> &B {
        self.inner.get_ref()
    }

    /// The inner body, consuming this one; the call's outcome is then no
    /// longer recorded.
    pub fn into_inner(self) -> B {
        self.inner.into_inner()
    }
}

impl<B> http_body::Body for RecordingBody<B>
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

impl<B: fmt::Debug> fmt::Debug for RecordingBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordingBody")
            .field("inner", self.inner.get_ref())
            .field("recording", &self.inner.is_recording())
            .finish()
    }
}
