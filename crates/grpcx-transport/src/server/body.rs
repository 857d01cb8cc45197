//! [`ResponseBody`]: the body of a server's response, messages then the
//! final status, which stays a [`Status`] value until it is rendered.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;
use grpcx_status::Status;
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt as _;
use tokio::time::Sleep;

use super::finish;
use crate::context::{CallContext, Signal};
use crate::error::{BoxError, status_from_layer_error};

/// A stream of encoded (framed) response messages.
pub(crate) type EncodedStream = Pin<Box<dyn Stream<Item = Result<Bytes, Status>> + Send>>;

/// A body a layer put in place of a [`ResponseBody`].
type ForeignBody = Pin<Box<dyn http_body::Body<Data = Bytes, Error = BoxError> + Send>>;

/// A function a layer applies to the final status of a call.
type MapStatus = Box<dyn FnOnce(Status) -> Status + Send>;

/// A function a layer sees each outgoing chunk of messages with.
type InspectData = Box<dyn FnMut(&Bytes) + Send>;

/// The body of a gRPC response: framed messages, then the final status.
///
/// The method adapters build it; a server layer may look at it and change
/// how the call ends before anything is written:
/// [`status`](ResponseBody::status) is the final status when it is
/// already known (an error, or a unary answer whose handler returned), and
/// [`map_status`](ResponseBody::map_status) replaces the final status
/// whenever it comes, including the one that ends a stream that fails
/// midway. The status is rendered into trailers (or, when no message went
/// out, into a Trailers-Only answer) by the server, in one place, as the
/// last frame is written.
///
/// ```
/// use grpcx_status::{Code, Status};
/// use grpcx_transport::server::ResponseBody;
///
/// /// Hides the message of every INTERNAL status a service sends.
/// fn redact(body: ResponseBody) -> ResponseBody {
///     body.map_status(|status| {
///         if status.code() == Code::Internal {
///             status.with_message("internal error")
///         } else {
///             status
///         }
///     })
/// }
/// # drop(redact);
/// ```
pub struct ResponseBody {
    state: State,
    context: Option<CallContext>,
    map: Option<MapStatus>,
    inspect: Option<InspectData>,
}

enum State {
    /// Nothing more to send.
    Done,
    /// The call ended with this status; no message goes out.
    Status(Status),
    /// One message, then the status: `None` for a plain `OK`, made only
    /// if a layer asks for it.
    Unary {
        data: Option<Bytes>,
        status: Option<Status>,
    },
    /// Messages from a handler's stream, then the status it ends with.
    Messages(Box<MessageStream>),
    /// A body a layer supplied instead.
    Foreign(ForeignBody),
}

struct MessageStream {
    messages: EncodedStream,
    deadline: Option<Pin<Box<Sleep>>>,
}

impl ResponseBody {
    /// A body with nothing in it: the response's headers say everything.
    pub(crate) fn empty() -> ResponseBody {
        ResponseBody {
            state: State::Done,
            context: None,
            map: None,
            inspect: None,
        }
    }

    /// A call that ends with `status` and no message.
    pub(crate) fn ended(status: Status, context: &CallContext) -> ResponseBody {
        ResponseBody {
            state: State::Status(status),
            context: Some(context.clone()),
            map: None,
            inspect: None,
        }
    }

    /// One framed message followed by `status` (`None`: a plain `OK`).
    pub(crate) fn unary(
        data: Bytes,
        status: Option<Status>,
        context: &CallContext,
    ) -> ResponseBody {
        ResponseBody {
            state: State::Unary {
                data: Some(data),
                status,
            },
            context: Some(context.clone()),
            map: None,
            inspect: None,
        }
    }

    /// Framed messages from a handler's stream, then the status the stream
    /// ends with; the call's deadline and aborts end it early.
    pub(crate) fn messages(messages: EncodedStream, context: &CallContext) -> ResponseBody {
        let deadline = context
            .deadline()
            .map(|deadline| Box::pin(tokio::time::sleep_until(deadline)));
        ResponseBody {
            state: State::Messages(Box::new(MessageStream { messages, deadline })),
            context: Some(context.clone()),
            map: None,
            inspect: None,
        }
    }

    /// The body of a response a layer returned: a [`ResponseBody`] as is,
    /// any other body boxed, its error mapped to a status at its end.
    pub(crate) fn from_body<B>(body: B, context: &CallContext) -> ResponseBody
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let mut slot = Some(body);
        if let Some(body) = (&mut slot as &mut dyn Any).downcast_mut::<Option<ResponseBody>>() {
            if let Some(body) = body.take() {
                return body;
            }
        }
        let Some(body) = slot else {
            return ResponseBody::empty();
        };
        ResponseBody {
            state: State::Foreign(Box::pin(body.map_err(Into::into))),
            context: Some(context.clone()),
            map: None,
            inspect: None,
        }
    }

    /// The call's final status, when it is already known: the call failed
    /// before any message, or a unary handler returned. `None` while a
    /// response stream runs (use [`ResponseBody::map_status`]).
    pub fn status(&self) -> Option<&Status> {
        match &self.state {
            State::Status(status) => Some(status),
            State::Unary { status, .. } => Some(status.as_ref().unwrap_or_else(|| ok())),
            _ => None,
        }
    }

    /// The call's final status, to change it, when it is already known (see
    /// [`ResponseBody::status`]).
    pub fn status_mut(&mut self) -> Option<&mut Status> {
        match &mut self.state {
            State::Status(status) => Some(status),
            State::Unary { status, .. } => Some(status.get_or_insert_with(Status::ok)),
            _ => None,
        }
    }

    /// Applies `f` to the call's final status when it comes: an error, the
    /// end of a stream, a failure midway, the deadline or an abort; after
    /// the functions applied before. The trailing metadata set through the
    /// handler's context is already in the status `f` receives.
    pub fn map_status(mut self, f: impl FnOnce(Status) -> Status + Send + 'static) -> ResponseBody {
        self.map = Some(match self.map.take() {
            None => Box::new(f),
            Some(before) => Box::new(move |status| f(before(status))),
        });
        self
    }

    /// Calls `f` with each chunk of the response's framed messages (5-byte
    /// prefixes included, compressed as they are sent) as it goes out,
    /// before the final status; after the functions set before. For a
    /// layer that counts what a call sends: `f` runs on the per-message
    /// path, so it should be cheap and never block.
    pub fn inspect_data(&mut self, f: impl FnMut(&Bytes) + Send + 'static) {
        self.inspect = Some(match self.inspect.take() {
            None => Box::new(f),
            Some(mut before) => {
                let mut f = f;
                Box::new(move |data| {
                    before(data);
                    f(data);
                })
            }
        });
    }

    /// Ends a body that holds a status and no message (a Trailers-Only
    /// answer) by rendering the status into the response's `headers`;
    /// `false`, and nothing done, for any other body.
    pub(crate) fn end_into(&mut self, headers: &mut http::HeaderMap) -> bool {
        if !matches!(self.state, State::Status(_)) {
            return false;
        }
        let State::Status(status) = std::mem::replace(&mut self.state, State::Done) else {
            return false;
        };
        let status = self.mapped(status);
        match &self.context {
            Some(context) => finish::render_into(status, context, headers),
            None => status.write_headers(headers),
        }
        true
    }

    /// `status` after what layers set with [`ResponseBody::map_status`].
    fn mapped(&mut self, status: Status) -> Status {
        match self.map.take() {
            Some(map) => map(status),
            None => status,
        }
    }

    /// Ends the body with `status` (`None`: a plain `OK`): the trailers
    /// frame that carries it.
    fn end(&mut self, status: Option<Status>) -> Frame<Bytes> {
        self.state = State::Done;
        // A plain `OK` is made only for a layer that maps the status.
        let status = if self.map.is_some() {
            Some(self.mapped(status.unwrap_or_else(Status::ok)))
        } else {
            status
        };
        let trailers = match (&self.context, status) {
            (Some(context), Some(status)) => finish::render(status, context),
            (Some(context), None) => finish::render_ok(context),
            (None, status) => status.unwrap_or_else(Status::ok).to_header_map(),
        };
        Frame::trailers(trailers)
    }

    fn poll_messages(&mut self, cx: &mut Context<'_>) -> Poll<Option<Frame<Bytes>>> {
        let State::Messages(streaming) = &mut self.state else {
            return Poll::Ready(None);
        };
        if let Some(context) = &self.context {
            match context.poll_signal(cx, true) {
                Poll::Ready(Signal::Aborted(status)) => {
                    return Poll::Ready(Some(self.end(Some(status))));
                }
                // An empty chunk releases the response headers (see the
                // dispatcher); it is not sent.
                Poll::Ready(Signal::SendHeaders) => {
                    return Poll::Ready(Some(Frame::data(Bytes::new())));
                }
                Poll::Pending => {}
            }
        }
        if let Some(deadline) = &mut streaming.deadline {
            if deadline.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Some(self.end(Some(finish::deadline_exceeded()))));
            }
        }
        // The encoder catches a panic of the handler's stream and ends it
        // with `INTERNAL`.
        let messages = streaming.messages.as_mut();
        let _entered = self.context.as_ref().map(CallContext::enter);
        let polled = messages.poll_next(cx);
        let status = match polled {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Some(Ok(data))) => return Poll::Ready(Some(Frame::data(data))),
            Poll::Ready(Some(Err(status))) => match &self.context {
                Some(context) => Some(finish::from_handler_error(status, context)),
                None => Some(status),
            },
            Poll::Ready(None) => self.context.as_ref().and_then(finish::from_context),
        };
        Poll::Ready(Some(self.end(status)))
    }
}

/// The plain `OK` a unary body without a status stands for, for
/// [`ResponseBody::status`].
fn ok() -> &'static Status {
    static OK: OnceLock<Status> = OnceLock::new();
    OK.get_or_init(Status::ok)
}

impl http_body::Body for ResponseBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        let frame = match &mut this.state {
            State::Done => None,
            State::Status(_) => {
                let State::Status(status) = std::mem::replace(&mut this.state, State::Done) else {
                    return Poll::Ready(None);
                };
                Some(this.end(Some(status)))
            }
            State::Unary { data, .. } => match data.take() {
                Some(data) => Some(Frame::data(data)),
                None => match std::mem::replace(&mut this.state, State::Done) {
                    State::Unary { status, .. } => Some(this.end(status)),
                    _ => None,
                },
            },
            State::Messages(_) => match this.poll_messages(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(frame) => frame,
            },
            State::Foreign(body) => match body.as_mut().poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(frame))) => Some(frame),
                Poll::Ready(Some(Err(err))) => Some(this.end(Some(status_from_layer_error(err)))),
                Poll::Ready(None) => {
                    this.state = State::Done;
                    None
                }
            },
        };
        if let (Some(inspect), Some(data)) =
            (&mut this.inspect, frame.as_ref().and_then(Frame::data_ref))
        {
            inspect(data);
        }
        Poll::Ready(frame.map(Ok))
    }

    fn is_end_stream(&self) -> bool {
        match &self.state {
            State::Done => true,
            State::Foreign(body) => body.is_end_stream(),
            _ => false,
        }
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
            _ => SizeHint::default(),
        }
    }
}

impl fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("ResponseBody");
        match &self.state {
            State::Done => d.field("state", &"done"),
            State::Status(status) => d.field("status", status),
            State::Unary { status, .. } => d.field("unary", status),
            State::Messages(_) => d.field("state", &"messages"),
            State::Foreign(_) => d.field("state", &"foreign"),
        };
        d.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::{CallOutcome, test_context};
    use grpcx_status::Code;
    use http_body::Body as _;

    fn poll(body: &mut ResponseBody) -> Option<Frame<Bytes>> {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        match Pin::new(body).poll_frame(&mut cx) {
            Poll::Ready(frame) => frame.map(|f| f.unwrap()),
            Poll::Pending => panic!("pending"),
        }
    }

    #[test]
    fn unary_bodies_have_no_exact_size_so_no_content_length_hides_the_trailers() {
        let context = test_context(None);
        let body = ResponseBody::unary(Bytes::from_static(b"12345"), None, &context);
        let hint = body.size_hint();
        assert_eq!(hint.lower(), 5);
        assert_eq!(hint.exact(), None);
        assert!(!body.is_end_stream());
    }

    #[test]
    fn a_layer_sees_and_replaces_the_final_status_before_it_is_rendered() {
        let context = test_context(None);
        let mut body = ResponseBody::ended(Status::internal("db password wrong"), &context);
        assert_eq!(body.status().unwrap().code(), Code::Internal);
        body.status_mut()
            .unwrap()
            .add_detail(grpcx_status::ErrorInfo::new("DB", "x.example"));
        let mut body = body
            .map_status(|s| s.with_message("internal error"))
            .map_status(|s| s.with_code(Code::Unavailable));
        let trailers = poll(&mut body).unwrap().into_trailers().unwrap();
        assert_eq!(trailers["grpc-status"], "14");
        assert_eq!(trailers["grpc-message"], "internal error");
        assert!(trailers.contains_key("grpc-status-details-bin"));
        assert_eq!(
            context.outcome(),
            Some(CallOutcome::Completed(Code::Unavailable))
        );
        assert!(poll(&mut body).is_none());
        assert!(body.is_end_stream());
    }

    #[test]
    fn a_layer_sees_each_chunk_of_data_before_the_status() {
        use std::sync::{Arc, Mutex};
        let context = test_context(None);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut body = ResponseBody::unary(Bytes::from_static(b"12345"), None, &context);
        let first = seen.clone();
        body.inspect_data(move |data| first.lock().unwrap().push(("first", data.len())));
        let second = seen.clone();
        body.inspect_data(move |data| second.lock().unwrap().push(("second", data.len())));
        assert!(poll(&mut body).unwrap().is_data());
        assert!(poll(&mut body).unwrap().is_trailers());
        assert_eq!(*seen.lock().unwrap(), [("first", 5), ("second", 5)]);
    }

    #[test]
    fn a_foreign_body_that_fails_ends_with_a_status() {
        struct Failing;
        impl http_body::Body for Failing {
            type Data = Bytes;
            type Error = std::io::Error;
            fn poll_frame(
                self: Pin<&mut Self>,
                _: &mut Context<'_>,
            ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
                Poll::Ready(Some(Err(std::io::Error::other("disk on fire"))))
            }
        }
        let context = test_context(None);
        let mut body = ResponseBody::from_body(Failing, &context);
        let trailers = poll(&mut body).unwrap().into_trailers().unwrap();
        assert_eq!(trailers["grpc-status"], "2");
        assert!(!trailers["grpc-message"].to_str().unwrap().contains("fire"));
        // A ResponseBody is taken as is.
        let inner = ResponseBody::ended(Status::aborted("x"), &context);
        let body = ResponseBody::from_body(inner, &context);
        assert_eq!(body.status().unwrap().code(), Code::Aborted);
    }
}
