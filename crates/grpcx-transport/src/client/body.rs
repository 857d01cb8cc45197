//! The client's own kinds of [`Body`](crate::Body): a stream of encoded
//! request messages, and a response received on a [`Channel`](super::Channel)
//! that ends with `DEADLINE_EXCEEDED` when the call's deadline passes.

use std::future::Future as _;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use futures_core::Stream;
use grpcx_status::__private::StatusInternals as _;
use grpcx_status::{Origin, Status};
use http_body::{Body as _, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::time::{Instant, Sleep};

use super::connect::OpenCall;
use super::errors::{deadline_status, status_from_hyper};

/// A stream of encoded (framed) request messages.
pub(crate) type EncodedStream = Pin<Box<dyn Stream<Item = Result<Bytes, Status>> + Send>>;

/// Where a streaming request body leaves the status of a message it could
/// not encode, for the call to report instead of the reset it causes.
pub(crate) type EncodeError = Arc<Mutex<Option<Status>>>;

/// The body of a streaming request: framed messages as the caller's stream
/// yields them.
pub(crate) struct EncodedBody {
    messages: EncodedStream,
    error: EncodeError,
    /// Resolves when the response side is dropped or cancelled: the stream
    /// is then reset with CANCEL.
    cancel: tokio::sync::oneshot::Receiver<()>,
    done: bool,
}

impl EncodedBody {
    pub(crate) fn new(
        messages: EncodedStream,
        error: EncodeError,
        cancel: tokio::sync::oneshot::Receiver<()>,
    ) -> EncodedBody {
        EncodedBody {
            messages,
            error,
            cancel,
            done: false,
        }
    }

    pub(crate) fn poll_frame(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        if self.done {
            return Poll::Ready(None);
        }
        if Pin::new(&mut self.cancel).poll(cx).is_ready() {
            self.done = true;
            // hyper resets the stream with the reason of an h2 error it
            // finds among the error's sources.
            let status = Status::cancelled("the call was cancelled by the client")
                .with_origin(Origin::Cancelled)
                .with_source(h2::Error::from(h2::Reason::CANCEL));
            return Poll::Ready(Some(Err(status)));
        }
        match ready!(self.messages.as_mut().poll_next(cx)) {
            Some(Ok(data)) => Poll::Ready(Some(Ok(Frame::data(data)))),
            Some(Err(status)) => {
                if let Ok(mut slot) = self.error.lock() {
                    *slot = Some(status.clone());
                }
                self.done = true;
                Poll::Ready(Some(Err(status)))
            }
            None => {
                self.done = true;
                Poll::Ready(None)
            }
        }
    }

    pub(crate) fn is_end_stream(&self) -> bool {
        self.done
    }
}

/// A response body received on a channel: its failures become statuses,
/// and it fails with `DEADLINE_EXCEEDED` (made locally) when the call's
/// deadline passes before it ends.
pub(crate) struct ResponseBody {
    body: Incoming,
    deadline: Option<(Pin<Box<Sleep>>, Instant)>,
    /// The time the call had, for the deadline's message.
    timeout: Option<Duration>,
    /// Counts the call as open on its connection while the body lives.
    _open: OpenCall,
}

impl ResponseBody {
    pub(crate) fn new(
        body: Incoming,
        deadline: Option<Instant>,
        timeout: Option<Duration>,
        open: OpenCall,
    ) -> ResponseBody {
        ResponseBody {
            body,
            deadline: deadline.map(|at| (Box::pin(tokio::time::sleep_until(at)), at)),
            timeout,
            _open: open,
        }
    }

    pub(crate) fn poll_frame(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        if let Some((sleep, _)) = &mut self.deadline {
            if sleep.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Some(Err(deadline_status(self.timeout))));
            }
        }
        match ready!(Pin::new(&mut self.body).poll_frame(cx)) {
            Some(Ok(frame)) => Poll::Ready(Some(Ok(frame))),
            Some(Err(err)) => {
                let passed = self
                    .deadline
                    .as_ref()
                    .is_some_and(|(_, at)| Instant::now() >= *at);
                Poll::Ready(Some(Err(if passed {
                    deadline_status(self.timeout)
                } else {
                    status_from_hyper(&err)
                })))
            }
            None => Poll::Ready(None),
        }
    }

    pub(crate) fn is_end_stream(&self) -> bool {
        http_body::Body::is_end_stream(&self.body)
    }

    pub(crate) fn size_hint(&self) -> SizeHint {
        http_body::Body::size_hint(&self.body)
    }
}
