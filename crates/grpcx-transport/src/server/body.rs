//! [`ResponseBody`]: the body of a server's response, messages then trailers.

use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use bytes::Bytes;
use futures_core::Stream;
use grpcx_status::Status;
use http::HeaderMap;
use http_body::{Frame, SizeHint};
use tokio::time::Sleep;

use super::dispatch::{deadline_exceeded, log_handler_error, merge_trailers, panicked};
use crate::context::{CallGuard, CallOutcome, Context};
use crate::panic::describe_panic;

/// A stream of encoded (framed) response messages.
pub(crate) type EncodedStream = Pin<Box<dyn Stream<Item = Result<Bytes, Status>> + Send>>;

/// The body of a gRPC response: framed messages, then the trailers that
/// carry the status. Built by the server; a handler never sees it.
pub struct ResponseBody {
    state: State,
    guard: Option<CallGuard>,
}

enum State {
    /// Nothing to send: a Trailers-Only or refused response, or the end.
    Done,
    /// One message, then the trailers.
    Unary {
        data: Option<Bytes>,
        trailers: Option<HeaderMap>,
    },
    Streaming(Box<Streaming>),
}

struct Streaming {
    messages: EncodedStream,
    context: Context,
    deadline: Option<Pin<Box<Sleep>>>,
    aborted: Pin<Box<dyn Future<Output = Status> + Send>>,
}

impl ResponseBody {
    /// A body with no frames: the response's headers end the stream.
    pub(crate) fn empty() -> ResponseBody {
        ResponseBody {
            state: State::Done,
            guard: None,
        }
    }

    /// One framed message followed by `trailers`.
    pub(crate) fn unary(data: Bytes, trailers: HeaderMap) -> ResponseBody {
        ResponseBody {
            state: State::Unary {
                data: Some(data),
                trailers: Some(trailers),
            },
            guard: None,
        }
    }

    /// Framed messages from a handler's stream, then trailers with the
    /// status the stream ended with; the call's deadline and aborts end it
    /// early.
    pub(crate) fn streaming(messages: EncodedStream, context: Context) -> ResponseBody {
        let deadline = context
            .deadline()
            .map(|deadline| Box::pin(tokio::time::sleep_until(deadline)));
        let aborted = {
            let context = context.clone();
            Box::pin(async move { context.aborted().await })
        };
        ResponseBody {
            state: State::Streaming(Box::new(Streaming {
                messages,
                context,
                deadline,
                aborted,
            })),
            guard: None,
        }
    }

    /// Ties the call's lifetime to the body: dropping the body before the
    /// trailers are sent marks the call cancelled.
    pub(crate) fn attach(&mut self, guard: CallGuard) {
        match self.state {
            // Nothing more will be polled: the call is already finished.
            State::Done => drop(guard),
            _ => self.guard = Some(guard),
        }
    }

    fn finish(&mut self, outcome: CallOutcome) {
        if let Some(guard) = self.guard.take() {
            guard.context().finish(outcome);
        }
    }
}

impl Streaming {
    fn poll_frame(&mut self, cx: &mut TaskContext<'_>) -> Poll<(Option<Bytes>, Option<Status>)> {
        if let Poll::Ready(status) = self.aborted.as_mut().poll(cx) {
            return Poll::Ready((None, Some(status)));
        }
        if let Some(deadline) = &mut self.deadline {
            if deadline.as_mut().poll(cx).is_ready() {
                return Poll::Ready((None, Some(deadline_exceeded())));
            }
        }
        let messages = &mut self.messages;
        match catch_unwind(AssertUnwindSafe(|| messages.as_mut().poll_next(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(Some(Ok(data)))) => Poll::Ready((Some(data), None)),
            Ok(Poll::Ready(Some(Err(status)))) => {
                log_handler_error(&status, &self.context);
                Poll::Ready((None, Some(self.context.error_status(status))))
            }
            Ok(Poll::Ready(None)) => Poll::Ready((None, Some(self.context.final_status()))),
            Err(panic) => {
                tracing::error!(
                    method = %self.context.method(),
                    panic = %describe_panic(&*panic),
                    "response stream panicked"
                );
                Poll::Ready((None, Some(panicked())))
            }
        }
    }
}

impl http_body::Body for ResponseBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        match &mut this.state {
            State::Done => Poll::Ready(None),
            State::Unary { data, trailers } => {
                if let Some(data) = data.take() {
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                let trailers = trailers.take().unwrap_or_default();
                this.state = State::Done;
                let code = grpcx_status::Code::from_header_bytes(
                    trailers
                        .get(grpcx_status::wire::GRPC_STATUS)
                        .map_or(&b"0"[..], |v| v.as_bytes()),
                );
                this.finish(CallOutcome::Completed(code));
                Poll::Ready(Some(Ok(Frame::trailers(trailers))))
            }
            State::Streaming(streaming) => {
                let (data, status) = match streaming.poll_frame(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(frame) => frame,
                };
                if let Some(data) = data {
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                let status = status.unwrap_or_else(Status::ok);
                let context = streaming.context.clone();
                this.state = State::Done;
                let outcome = match status.origin() {
                    grpcx_status::Origin::Deadline => CallOutcome::DeadlineExceeded,
                    _ => CallOutcome::Completed(status.code()),
                };
                let status = merge_trailers(status, context.take_trailers());
                let trailers = status.to_header_map();
                this.finish(outcome);
                Poll::Ready(Some(Ok(Frame::trailers(trailers))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.state, State::Done)
    }

    fn size_hint(&self) -> SizeHint {
        match &self.state {
            State::Done => SizeHint::with_exact(0),
            // Not exact: an exact hint makes hyper send `content-length` and
            // end the stream after the data, without the trailers.
            State::Unary { data, .. } => {
                let mut hint = SizeHint::new();
                hint.set_lower(data.as_ref().map_or(0, |d| d.len() as u64));
                hint
            }
            State::Streaming(_) => SizeHint::default(),
        }
    }
}

impl fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Done => "done",
            State::Unary { .. } => "unary",
            State::Streaming(_) => "streaming",
        };
        f.debug_struct("ResponseBody")
            .field("state", &state)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body::Body as _;

    #[test]
    fn unary_bodies_have_no_exact_size_so_no_content_length_hides_the_trailers() {
        let body = ResponseBody::unary(Bytes::from_static(b"12345"), HeaderMap::new());
        let hint = body.size_hint();
        assert_eq!(hint.lower(), 5);
        assert_eq!(hint.exact(), None);
        assert!(!body.is_end_stream());
    }
}
