//! [`Body`]: the body of a gRPC request or response as the transport's
//! tower services pass it.

use std::any::Any;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use grpcx_status::Status;
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt as _;

/// A boxed body with grpcx's error type.
type BoxBody = Pin<Box<dyn http_body::Body<Data = Bytes, Error = Status> + Send + 'static>>;

/// The body of a gRPC message stream: framed messages (and, for a
/// response, trailers), with every failure a [`Status`].
///
/// It is what a server's layers and routes receive as the request body, and
/// what a [`Channel`](crate::Channel) returns as the response body. Build
/// one with [`Body::empty`], [`Body::from`] a `Bytes` (one chunk, cheap to
/// clone for a retry) or [`Body::new`] around any other body, in a test
/// double of a channel for instance.
pub struct Body {
    kind: Kind,
}

enum Kind {
    Empty,
    /// One chunk, then the end.
    Full(Option<Bytes>),
    /// A request received by the server: a failure means the client reset
    /// the stream.
    Request(hyper::body::Incoming),
    /// A response received by the client, with the call's deadline.
    Response(crate::client::ResponseBody),
    /// A client's stream of encoded request messages.
    Encoded(crate::client::EncodedBody),
    /// Ended early (after a deadline or a failure): nothing more to read.
    Done,
    Boxed(BoxBody),
}

impl Body {
    /// A body with nothing in it.
    pub const fn empty() -> Body {
        Body { kind: Kind::Empty }
    }

    /// Wraps any body whose error converts into a [`Status`]. A [`Body`]
    /// passed in comes back as is, without a new allocation.
    pub fn new<B>(body: B) -> Body
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Status>,
    {
        // The common case, a `Body` handed back through a layer that did not
        // change it, costs no box.
        let mut slot = Some(body);
        if let Some(body) = (&mut slot as &mut dyn Any).downcast_mut::<Option<Body>>() {
            if let Some(body) = body.take() {
                return body;
            }
        }
        match slot {
            Some(body) => Body {
                kind: Kind::Boxed(Box::pin(body.map_err(Into::into))),
            },
            None => Body::empty(),
        }
    }

    pub(crate) fn request(body: hyper::body::Incoming) -> Body {
        Body {
            kind: Kind::Request(body),
        }
    }

    pub(crate) fn response(body: crate::client::ResponseBody) -> Body {
        Body {
            kind: Kind::Response(body),
        }
    }

    pub(crate) fn encoded(body: crate::client::EncodedBody) -> Body {
        Body {
            kind: Kind::Encoded(body),
        }
    }

    /// The one chunk of a body made from `Bytes`, still unread: what a
    /// retry sends again without encoding the message twice.
    pub fn as_bytes(&self) -> Option<&Bytes> {
        match &self.kind {
            Kind::Full(Some(bytes)) => Some(bytes),
            _ => None,
        }
    }

    /// A copy of a body made from `Bytes` (or an empty one), sharing the
    /// bytes; `None` for a streaming body, which cannot be read twice.
    pub fn try_clone(&self) -> Option<Body> {
        match &self.kind {
            Kind::Empty => Some(Body::empty()),
            Kind::Full(bytes) => Some(Body {
                kind: Kind::Full(bytes.clone()),
            }),
            _ => None,
        }
    }
}

impl Default for Body {
    fn default() -> Self {
        Body::empty()
    }
}

impl From<Bytes> for Body {
    fn from(bytes: Bytes) -> Self {
        Body {
            kind: Kind::Full(Some(bytes)),
        }
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let polled = match &mut self.kind {
            Kind::Empty | Kind::Done => return Poll::Ready(None),
            Kind::Full(bytes) => return Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Kind::Request(body) => {
                return Pin::new(body)
                    .poll_frame(cx)
                    .map_err(|err| crate::server::request_body_error(&err));
            }
            Kind::Response(body) => body.poll_frame(cx),
            Kind::Encoded(body) => body.poll_frame(cx),
            Kind::Boxed(body) => return body.as_mut().poll_frame(cx),
        };
        // A client body that failed is dropped at once: the HTTP/2 stream
        // is reset now, not when the caller lets go of the body.
        if let Poll::Ready(Some(Err(_))) = &polled {
            self.kind = Kind::Done;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Empty | Kind::Done => true,
            Kind::Full(bytes) => bytes.is_none(),
            Kind::Request(body) => body.is_end_stream(),
            Kind::Response(body) => body.is_end_stream(),
            Kind::Encoded(body) => body.is_end_stream(),
            Kind::Boxed(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Empty | Kind::Done => SizeHint::with_exact(0),
            // Not exact: an exact size makes hyper send `content-length`,
            // which gRPC does not use.
            Kind::Full(bytes) => {
                let mut hint = SizeHint::new();
                hint.set_lower(bytes.as_ref().map_or(0, |b| b.len() as u64));
                hint
            }
            Kind::Request(body) => body.size_hint(),
            Kind::Response(body) => body.size_hint(),
            Kind::Encoded(_) => SizeHint::default(),
            Kind::Boxed(body) => body.size_hint(),
        }
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            Kind::Empty => "empty",
            Kind::Full(_) => "full",
            Kind::Request(_) => "request",
            Kind::Response(_) => "response",
            Kind::Encoded(_) => "encoded",
            Kind::Done => "done",
            Kind::Boxed(_) => "boxed",
        };
        f.debug_struct("Body").field("kind", &kind).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body::Body as _;

    fn poll(body: &mut Body) -> Option<Result<Frame<Bytes>, Status>> {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        match Pin::new(body).poll_frame(&mut cx) {
            Poll::Ready(frame) => frame,
            Poll::Pending => panic!("a ready body was pending"),
        }
    }

    #[test]
    fn a_body_of_bytes_is_one_chunk_and_clones_cheaply() {
        let mut body = Body::from(Bytes::from_static(b"hello"));
        assert_eq!(body.as_bytes().map(|b| &b[..]), Some(&b"hello"[..]));
        assert!(!body.is_end_stream());
        assert_eq!(body.size_hint().exact(), None);
        let mut copy = body.try_clone().unwrap();
        for body in [&mut body, &mut copy] {
            let frame = poll(body).unwrap().unwrap();
            assert_eq!(frame.into_data().unwrap(), "hello");
            assert!(poll(body).is_none());
            assert!(body.is_end_stream());
        }
    }

    #[test]
    fn a_body_wrapped_again_is_not_boxed() {
        let body = Body::new(Body::from(Bytes::from_static(b"x")));
        assert!(matches!(body.kind, Kind::Full(_)));
        let boxed = Body::new(http_body_util::Full::new(Bytes::from_static(b"x")));
        assert!(matches!(boxed.kind, Kind::Boxed(_)));
        assert!(boxed.try_clone().is_none());
    }
}
