//! How a client-side layer learns the final code of a call: from the
//! `Err` of the inner service, from a Trailers-Only head, or from the
//! trailers (or the error, or the end) of the response body.
//!
//! The breaker and the metrics layers both record outcomes this way; the
//! difference is what they do with it, which an [`OnEnd`] says.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Buf;
use grpcx_status::wire::GRPC_STATUS;
use grpcx_status::{Code, Status};
use grpcx_transport::{BoxError, status_from_layer_error};
use http::HeaderMap;
use http_body::{Frame, SizeHint};
use pin_project::pin_project;

/// What to do once a call's final code is known. Each method is called at
/// most once per call, and consumes the recorder.
pub(crate) trait OnEnd: Sized {
    /// The call ended with `code` (from a head or trailers, or `INTERNAL`
    /// for a body that ended without trailers).
    fn code(self, code: Code);

    /// The call failed with `status` (an `Err` of the inner service, or
    /// an error of the response body).
    fn status(self, status: &Status) {
        self.code(status.code());
    }

    /// A chunk of the response body went by, before the end. Nothing by
    /// default.
    fn data(&mut self, _chunk: &[u8]) {}
}

/// The code in a Trailers-Only head, if the head carries a status.
pub(crate) fn head_code(headers: &HeaderMap) -> Option<Code> {
    headers
        .get(GRPC_STATUS)
        .map(|code| Code::from_header_bytes(code.as_bytes()))
}

/// The code in a call's trailers: `INTERNAL` when they have none, as the
/// client reports it.
pub(crate) fn trailers_code(trailers: &HeaderMap) -> Code {
    head_code(trailers).unwrap_or(Code::Internal)
}

/// The inner future of a call, telling `on_end` how the call ended when it
/// fails or when its head carries the status; otherwise `on_end` moves
/// into the response body.
#[pin_project]
pub(crate) struct EndFuture<F, R> {
    #[pin]
    future: F,
    on_end: Option<R>,
}

impl<F, R> EndFuture<F, R> {
    pub(crate) fn new(future: F, on_end: R) -> EndFuture<F, R> {
        EndFuture {
            future,
            on_end: Some(on_end),
        }
    }
}

impl<F, B, E, R> Future for EndFuture<F, R>
where
    F: Future<Output = Result<http::Response<B>, E>>,
    E: Into<BoxError>,
    R: OnEnd,
{
    type Output = Result<http::Response<EndBody<B, R>>, Status>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.future.poll(cx));
        let on_end = this.on_end.take();
        match result {
            Err(err) => {
                let status = status_from_layer_error(err.into());
                if let Some(on_end) = on_end {
                    on_end.status(&status);
                }
                Poll::Ready(Err(status))
            }
            Ok(response) => {
                // A Trailers-Only answer ends the call in its head.
                let on_end = match (on_end, head_code(response.headers())) {
                    (Some(on_end), Some(code)) => {
                        on_end.code(code);
                        None
                    }
                    (on_end, _) => on_end,
                };
                Poll::Ready(Ok(response.map(|inner| EndBody { inner, on_end })))
            }
        }
    }
}

/// A response body, unchanged, telling `on_end` the call's final code when
/// its trailers arrive, it fails, or it ends without trailers. Dropped
/// before its end, it tells nothing (the recorder's own `Drop` may).
#[pin_project]
pub(crate) struct EndBody<B, R> {
    #[pin]
    inner: B,
    on_end: Option<R>,
}

impl<B, R> EndBody<B, R> {
    pub(crate) fn get_ref(&self) -> &B {
        &self.inner
    }

    pub(crate) fn into_inner(self) -> B {
        self.inner
    }

    pub(crate) fn is_recording(&self) -> bool {
        self.on_end.is_some()
    }
}

impl<B, R> http_body::Body for EndBody<B, R>
where
    B: http_body::Body,
    B::Error: Into<Status>,
    R: OnEnd,
{
    type Data = B::Data;
    type Error = Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, Status>>> {
        let this = self.project();
        let polled = ready!(this.inner.poll_frame(cx));
        match polled {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    // Every grpcx body's chunks are contiguous (`Bytes`).
                    if let Some(on_end) = this.on_end.as_mut() {
                        on_end.data(data.chunk());
                    }
                } else if let Some(trailers) = frame.trailers_ref() {
                    if let Some(on_end) = this.on_end.take() {
                        on_end.code(trailers_code(trailers));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Some(Err(err)) => {
                let status = err.into();
                if let Some(on_end) = this.on_end.take() {
                    on_end.status(&status);
                }
                Poll::Ready(Some(Err(status)))
            }
            None => {
                // Ended without trailers: the client fails such a call
                // with INTERNAL.
                if let Some(on_end) = this.on_end.take() {
                    on_end.code(Code::Internal);
                }
                Poll::Ready(None)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
