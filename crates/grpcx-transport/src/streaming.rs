//! [`Streaming`]: a stream of messages received on a call, on either side.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use futures_core::Stream;
use grpcx_codec::{CompressionEncoding, Decoder, FrameDecoder};
use grpcx_status::__private::StatusInternals as _;
use grpcx_status::{Code, Metadata, Origin, Status};
use http_body::Body as _;
use tokio::time::Instant;

use crate::body::Body;
use crate::client::CallSpan;

/// The messages of a call's incoming stream: the requests a server handler
/// reads, or the responses a client reads.
///
/// Use it as a [`Stream`] of `Result<T, Status>`, or call
/// [`Streaming::message`]. On the client, the stream ends with `None`
/// when the server's status is `OK` (its trailers are then in
/// [`Streaming::trailers`]) and with one `Err(status)` otherwise; dropping
/// it cancels the call.
pub struct Streaming<T> {
    /// A client call whose response head has not arrived yet.
    pending: Option<PendingHead<T>>,
    body: Option<Body>,
    frames: FrameDecoder,
    /// What the buffered request bytes hold of the server's memory budgets
    /// (a server's stream only).
    charge: Option<crate::server::Charge>,
    decoder: Option<Box<dyn Decoder<Item = T> + Send>>,
    role: Role,
    initial_metadata: Metadata,
    trailers: Option<Metadata>,
    /// Dropped to reset a client's request stream along with the call.
    cancel_request: Option<tokio::sync::oneshot::Sender<()>>,
    /// A status to report on the next poll (after [`Streaming::cancel`]).
    queued: Option<Status>,
    done: bool,
    /// A client call's span, ended with the stream (dropped before its
    /// end, the call counts as cancelled).
    span: CallSpan,
}

/// The rest of a call that is still waiting for its response head.
pub(crate) type PendingHead<T> = Pin<Box<dyn Future<Output = Result<Streaming<T>, Status>> + Send>>;

enum Role {
    /// A server reading requests: the end of the body ends the stream.
    Server,
    /// A client reading responses: trailers carry the status. The body
    /// ends the call at its deadline; a status the server sends after it
    /// is reported as the deadline's.
    Client {
        deadline: Option<Instant>,
        timeout: Option<std::time::Duration>,
    },
}

impl<T> Streaming<T> {
    /// The requests a server handler reads from `body`, whose messages use
    /// `encoding`; a failure of the body (the client reset the stream) ends
    /// the stream with the body's status. The bytes of a message being
    /// received are held in `charge`, if any; past its budgets the stream
    /// ends with `RESOURCE_EXHAUSTED`.
    pub(crate) fn server(
        body: Body,
        encoding: CompressionEncoding,
        max_message_size: usize,
        decoder: impl Decoder<Item = T> + Send + 'static,
        charge: Option<crate::server::Charge>,
    ) -> Streaming<T> {
        Streaming {
            pending: None,
            body: Some(body),
            frames: crate::glue::frame_decoder(max_message_size, encoding),
            charge,
            decoder: Some(Box::new(decoder)),
            role: Role::Server,
            initial_metadata: Metadata::new(),
            trailers: None,
            cancel_request: None,
            queued: None,
            done: false,
            span: CallSpan::default(),
        }
    }

    /// The responses a client reads from `body` (which enforces the
    /// deadline).
    pub(crate) fn client(
        body: Body,
        encoding: CompressionEncoding,
        max_message_size: usize,
        decoder: impl Decoder<Item = T> + Send + 'static,
        deadline: Option<Instant>,
        timeout: Option<std::time::Duration>,
        initial_metadata: Metadata,
    ) -> Streaming<T> {
        Streaming {
            pending: None,
            body: Some(body),
            frames: crate::glue::frame_decoder(max_message_size, encoding),
            charge: None,
            decoder: Some(Box::new(decoder)),
            role: Role::Client { deadline, timeout },
            initial_metadata,
            trailers: None,
            cancel_request: None,
            queued: None,
            done: false,
            span: CallSpan::default(),
        }
    }

    /// A client stream that already ended with `OK` and these trailers
    /// (the server answered Trailers-Only).
    pub(crate) fn finished(trailers: Metadata) -> Streaming<T> {
        Streaming {
            pending: None,
            body: None,
            frames: FrameDecoder::new(),
            charge: None,
            decoder: None,
            role: Role::Server,
            initial_metadata: Metadata::new(),
            trailers: Some(trailers),
            cancel_request: None,
            queued: None,
            done: true,
            span: CallSpan::default(),
        }
    }

    /// A client stream whose call is still starting: `head` sends the
    /// request and waits for the response head, when the stream is first
    /// polled.
    pub(crate) fn pending(head: PendingHead<T>) -> Streaming<T> {
        let mut stream = Streaming::finished(Metadata::new());
        stream.trailers = None;
        stream.done = false;
        stream.pending = Some(head);
        stream
    }

    /// The initial metadata (response headers) of a client's call; empty
    /// until they arrive (for a call made with [`Channel::bidi_streaming`], until
    /// the first message or the end is received).
    ///
    /// [`Channel::bidi_streaming`]: crate::Channel::bidi_streaming
    pub fn initial_metadata(&self) -> &Metadata {
        &self.initial_metadata
    }

    /// Hands the call's span to the stream, which ends it with the call.
    pub(crate) fn set_span(&mut self, span: CallSpan) {
        self.span = span;
    }

    /// Whether the stream has ended already (a Trailers-Only answer).
    pub(crate) fn is_finished(&self) -> bool {
        self.done && self.pending.is_none() && self.queued.is_none()
    }

    /// Records in the call's span that the call ended with `error` (or
    /// `OK`), and closes it: for a failure the stream's reader finds.
    pub(crate) fn end_span(&mut self, error: Option<&Status>) {
        self.span.end(error);
    }

    /// Ties the request stream of the call to this response stream: when
    /// this one is dropped or cancelled, the call is reset.
    pub(crate) fn cancel_request_with(&mut self, cancel: tokio::sync::oneshot::Sender<()>) {
        self.cancel_request = Some(cancel);
    }

    /// Cancels the call (a client's): the HTTP/2 stream is reset with
    /// CANCEL, the server's handler is told, and the stream then yields one
    /// `CANCELLED` status with [`Origin::Cancelled`] and ends. Dropping the
    /// stream cancels the call the same way, without the status.
    pub fn cancel(&mut self) {
        if self.done && self.pending.is_none() {
            return;
        }
        self.pending = None;
        self.body = None;
        self.cancel_request = None;
        self.queued = Some(
            Status::cancelled("the call was cancelled by the client")
                .with_origin(Origin::Cancelled),
        );
        self.done = false;
    }

    /// The next message; `Ok(None)` at the end of a successful stream.
    ///
    /// # Errors
    ///
    /// The status the call failed with: sent by the peer, or made locally
    /// (deadline, cancellation, a broken connection, a message over the
    /// size limit or that does not decode).
    pub async fn message(&mut self) -> Result<Option<T>, Status> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx))
            .await
            .transpose()
    }

    /// The trailing metadata that came with an `OK` status, once the
    /// stream has ended (client side).
    pub fn trailers(&self) -> Option<&Metadata> {
        self.trailers.as_ref()
    }

    /// Ends the stream with `status`, dropping the body (which resets the
    /// HTTP/2 stream if it is still open).
    fn fail(&mut self, status: Status) -> Poll<Option<Result<T, Status>>> {
        let status = match &self.role {
            Role::Client { deadline, timeout } => {
                crate::client::after_deadline(status, *deadline, *timeout)
            }
            Role::Server => status,
        };
        self.done = true;
        self.body = None;
        self.cancel_request = None;
        self.charge = None;
        self.frames = FrameDecoder::new();
        let status = if self.initial_metadata.is_empty() {
            status
        } else {
            status.with_initial_metadata(self.initial_metadata.clone())
        };
        self.span.end(Some(&status));
        Poll::Ready(Some(Err(status)))
    }

    fn poll_body(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, Status>>> {
        loop {
            match self.frames.next_message() {
                Ok(Some(message)) => {
                    if let Some(charge) = &mut self.charge {
                        // Less is held now: this never fails.
                        let _ = charge.hold(self.frames.buffered_len());
                    }
                    return Poll::Ready(Some(self.decode(message)));
                }
                Ok(None) => {}
                Err(status) => return self.fail(status),
            }
            let Some(body) = self.body.as_mut() else {
                return Poll::Ready(None);
            };
            let frame = match ready!(Pin::new(body).poll_frame(cx)) {
                Some(Ok(frame)) => frame,
                Some(Err(status)) => return self.fail(status),
                None => return self.end_of_body(),
            };
            match frame.into_data() {
                Ok(data) => {
                    self.frames.push(data);
                    if let Some(charge) = &mut self.charge {
                        if let Err(status) = charge.hold(self.frames.buffered_len()) {
                            return self.fail(status);
                        }
                    }
                }
                Err(frame) => {
                    if let Ok(trailers) = frame.into_trailers() {
                        return self.on_trailers(trailers);
                    }
                }
            }
        }
    }

    fn decode(&mut self, message: Bytes) -> Result<T, Status> {
        match &mut self.decoder {
            Some(decoder) => decoder.decode(message),
            None => Err(Status::internal("no decoder for this stream")),
        }
    }

    fn end_of_body(&mut self) -> Poll<Option<Result<T, Status>>> {
        if let Err(status) = self.frames.finish() {
            return self.fail(status);
        }
        match self.role {
            Role::Server => {
                self.done = true;
                self.body = None;
                Poll::Ready(None)
            }
            Role::Client { .. } => self.fail(
                Status::internal("the server closed the stream without sending trailers")
                    .with_origin(Origin::Protocol),
            ),
        }
    }

    fn on_trailers(&mut self, trailers: http::HeaderMap) -> Poll<Option<Result<T, Status>>> {
        if let Err(status) = self.frames.finish() {
            return self.fail(status);
        }
        // How nearly every call ends: `grpc-status: 0`. Its trailers become
        // the metadata in place, without a status built and copied from.
        if trailers
            .get("grpc-status")
            .is_some_and(|code| code.as_bytes() == b"0")
        {
            return self.end_ok(Metadata::from_headers(trailers));
        }
        match Status::from_header_map(&trailers) {
            Some(status) if status.code() == Code::Ok => {
                let metadata = status.metadata().clone();
                self.end_ok(metadata)
            }
            Some(status) => self.fail(status),
            None => self.fail(
                Status::internal("the server's trailers have no grpc-status")
                    .with_origin(Origin::Protocol),
            ),
        }
    }
}

impl<T> Streaming<T> {
    /// Takes the initial metadata out, leaving it empty (for a caller that
    /// owns the stream and moves its parts into a response).
    pub(crate) fn take_initial_metadata(&mut self) -> Metadata {
        std::mem::replace(&mut self.initial_metadata, Metadata::new())
    }

    /// Takes the trailers out, once the stream has ended.
    pub(crate) fn take_trailers(&mut self) -> Option<Metadata> {
        self.trailers.take()
    }

    /// Ends a client's stream that finished with `OK` and these trailers.
    fn end_ok(&mut self, trailers: Metadata) -> Poll<Option<Result<T, Status>>> {
        self.done = true;
        self.body = None;
        self.cancel_request = None;
        self.trailers = Some(trailers);
        self.span.end(None);
        Poll::Ready(None)
    }
}

impl<T> Stream for Streaming<T> {
    type Item = Result<T, Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if let Some(status) = this.queued.take() {
            this.done = true;
            this.span.end(Some(&status));
            return Poll::Ready(Some(Err(status)));
        }
        if let Some(pending) = &mut this.pending {
            match pending.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(started)) => *this = started,
                Poll::Ready(Err(status)) => {
                    this.pending = None;
                    return this.fail(status);
                }
            }
        }
        if this.done {
            return Poll::Ready(None);
        }
        this.poll_body(cx)
    }
}

impl<T> Unpin for Streaming<T> {}

impl<T> fmt::Debug for Streaming<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Streaming")
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}
