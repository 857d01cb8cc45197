//! [`RequestBody`]: the body of a client's request.

use std::future::Future as _;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;
use grpcx_status::Status;
use http_body::{Frame, SizeHint};

/// A stream of encoded (framed) request messages.
pub(crate) type EncodedStream = Pin<Box<dyn Stream<Item = Result<Bytes, Status>> + Send>>;

/// Where a streaming request body leaves the status of a message it could
/// not encode, for the call to report instead of the reset it causes.
pub(crate) type EncodeError = Arc<Mutex<Option<Status>>>;

/// The body of a gRPC request: one framed message, or a stream of them.
pub struct RequestBody {
    kind: Kind,
}

enum Kind {
    Done,
    Unary(Bytes),
    Streaming {
        messages: EncodedStream,
        error: EncodeError,
        /// Resolves when the response side is dropped or cancelled: the
        /// stream is then reset with CANCEL.
        cancel: tokio::sync::oneshot::Receiver<()>,
    },
}

impl RequestBody {
    pub(crate) fn unary(data: Bytes) -> RequestBody {
        RequestBody {
            kind: Kind::Unary(data),
        }
    }

    pub(crate) fn streaming(
        messages: EncodedStream,
        error: EncodeError,
        cancel: tokio::sync::oneshot::Receiver<()>,
    ) -> RequestBody {
        RequestBody {
            kind: Kind::Streaming {
                messages,
                error,
                cancel,
            },
        }
    }
}

/// The error a request body fails with when a message cannot be encoded;
/// the call reports the status kept in a slot it shares with the call.
#[derive(Debug, thiserror::Error)]
#[error("the request stream failed: {0}")]
pub struct RequestBodyError(Status);

impl http_body::Body for RequestBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match &mut self.kind {
            Kind::Done => Poll::Ready(None),
            Kind::Unary(data) => {
                let data = std::mem::take(data);
                self.kind = Kind::Done;
                Poll::Ready(Some(Ok(Frame::data(data))))
            }
            Kind::Streaming {
                messages,
                error,
                cancel,
            } => {
                if Pin::new(cancel).poll(cx).is_ready() {
                    self.kind = Kind::Done;
                    // hyper resets the stream with the reason of an h2 error.
                    return Poll::Ready(Some(Err(Box::new(h2::Error::from(h2::Reason::CANCEL)))));
                }
                match messages.as_mut().poll_next(cx) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(Some(Ok(data))) => Poll::Ready(Some(Ok(Frame::data(data)))),
                    Poll::Ready(Some(Err(status))) => {
                        if let Ok(mut slot) = error.lock() {
                            *slot = Some(status.clone());
                        }
                        self.kind = Kind::Done;
                        Poll::Ready(Some(Err(Box::new(RequestBodyError(status)))))
                    }
                    Poll::Ready(None) => {
                        self.kind = Kind::Done;
                        Poll::Ready(None)
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.kind, Kind::Done)
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Done => SizeHint::with_exact(0),
            // Not exact, so no `content-length` goes out (gRPC sends none).
            Kind::Unary(data) => {
                let mut hint = SizeHint::new();
                hint.set_lower(data.len() as u64);
                hint
            }
            Kind::Streaming { .. } => SizeHint::default(),
        }
    }
}
