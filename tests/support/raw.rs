//! Raw HTTP/2: a client that sends exactly what a test wants (bad framing,
//! bad headers) and a server that answers exactly what a test wants (HTTP
//! errors, resets, a dropped connection), both on the `h2` crate.
//!
//! [`RawClient::connect_with`] also reports the GOAWAY and RST_STREAM frames
//! the server sends, as read off the socket ([`WireEvents`]), and can hold
//! the connection back until the test has queued its requests.

use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{BufMut, Bytes, BytesMut};
use grpcx::{Code, Status};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use prost::Message;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::probe::{Action, ProbeReply, ProbeRequest, SERVICE};
use crate::within;

/// Frames `message` as one gRPC message: flag 0, big-endian length, bytes.
pub fn frame(message: &impl Message) -> Bytes {
    frame_bytes(0, &message.encode_to_vec())
}

/// A gRPC message frame with `flag` and `payload`, length from the payload.
pub fn frame_bytes(flag: u8, payload: &[u8]) -> Bytes {
    let mut buf = BytesMut::with_capacity(5 + payload.len());
    buf.put_u8(flag);
    buf.put_u32(u32::try_from(payload.len()).expect("a payload under 4 GiB"));
    buf.put_slice(payload);
    buf.freeze()
}

/// A gRPC message header announcing `len` bytes, with no body.
pub fn header_only(flag: u8, len: u32) -> Bytes {
    let mut buf = BytesMut::with_capacity(5);
    buf.put_u8(flag);
    buf.put_u32(len);
    buf.freeze()
}

/// An h2 connection to a server, driven by a background task.
pub struct RawClient {
    sender: h2::client::SendRequest<Bytes>,
    authority: String,
    connection: JoinHandle<()>,
    ping_pong: Option<h2::PingPong>,
}

impl std::fmt::Debug for RawClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawClient")
            .field("authority", &self.authority)
            .finish_non_exhaustive()
    }
}

/// What a raw request received.
#[derive(Debug, Default)]
pub struct RawResponse {
    /// The HTTP status, when response headers arrived.
    pub http_status: Option<StatusCode>,
    /// The response headers.
    pub headers: HeaderMap,
    /// Whether the response headers ended the stream (Trailers-Only, or a
    /// bodiless HTTP error).
    pub headers_ended_stream: bool,
    /// Every DATA byte received.
    pub data: BytesMut,
    /// The trailers, when they arrived.
    pub trailers: Option<HeaderMap>,
    /// The reset reason, when the stream or connection failed.
    pub reset: Option<h2::Reason>,
    /// The h2 error's text, when the stream or connection failed.
    pub error: Option<String>,
}

impl RawResponse {
    /// The gRPC status: from the trailers, or from the headers of a
    /// Trailers-Only response.
    pub fn status(&self) -> Option<Status> {
        self.trailers
            .as_ref()
            .and_then(Status::from_header_map)
            .or_else(|| Status::from_header_map(&self.headers))
    }

    /// The gRPC status, which must be there.
    #[track_caller]
    pub fn expect_status(&self) -> Status {
        self.status()
            .unwrap_or_else(|| panic!("no grpc-status in the response: {self:?}"))
    }

    /// The messages in the DATA received (uncompressed frames only).
    pub fn messages<T: Message + Default>(&self) -> Vec<T> {
        let mut data = &self.data[..];
        let mut messages = Vec::new();
        while data.len() >= 5 {
            let len = u32::from_be_bytes([data[1], data[2], data[3], data[4]]) as usize;
            assert_eq!(data[0], 0, "a compressed response message");
            assert!(data.len() >= 5 + len, "a truncated response message");
            messages.push(T::decode(&data[5..5 + len]).expect("a response that decodes"));
            data = &data[5 + len..];
        }
        assert!(data.is_empty(), "a partial response frame header");
        messages
    }
}

/// A request being sent: the rest of its body can follow.
pub struct RawCall {
    /// The request body's send half.
    pub body: h2::SendStream<Bytes>,
    response: h2::client::ResponseFuture,
}

impl RawCall {
    /// Sends `data`, ending the request when `end` is set.
    pub fn send(&mut self, data: Bytes, end: bool) {
        self.body.send_data(data, end).expect("send request data");
    }

    /// Reads the whole response (bounded by [`WAIT`](crate::WAIT)), keeping
    /// the request open meanwhile.
    pub async fn response(self) -> RawResponse {
        let RawCall { body, response } = self;
        let received = within("the raw response", read_response(response)).await;
        drop(body);
        received
    }
}

impl RawCall {
    /// Reads the whole response, then waits (bounded by
    /// [`WAIT`](crate::WAIT)) for the server to reset the request stream,
    /// as a server that answered early must; gives the reset's reason, or
    /// `None` when none came.
    pub async fn response_then_reset(self) -> (RawResponse, Option<h2::Reason>) {
        let RawCall { mut body, response } = self;
        let received = within("the raw response", read_response(response)).await;
        let reset =
            tokio::time::timeout(crate::WAIT, std::future::poll_fn(|cx| body.poll_reset(cx))).await;
        let reset = match reset {
            Ok(Ok(reason)) => Some(reason),
            Ok(Err(err)) => err.reason(),
            Err(_) => None,
        };
        (received, reset)
    }
}

async fn read_response(response: h2::client::ResponseFuture) -> RawResponse {
    let mut received = RawResponse::default();
    let response = match response.await {
        Ok(response) => response,
        Err(err) => {
            received.reset = err.reason();
            received.error = Some(err.to_string());
            return received;
        }
    };
    let (parts, mut body) = response.into_parts();
    received.http_status = Some(parts.status);
    received.headers = parts.headers;
    received.headers_ended_stream = body.is_end_stream();
    while let Some(chunk) = body.data().await {
        match chunk {
            Ok(chunk) => {
                let _ = body.flow_control().release_capacity(chunk.len());
                received.data.extend_from_slice(&chunk);
            }
            Err(err) => {
                received.reset = err.reason();
                received.error = Some(err.to_string());
                return received;
            }
        }
    }
    match body.trailers().await {
        Ok(trailers) => received.trailers = trailers,
        Err(err) => {
            received.reset = err.reason();
            received.error = Some(err.to_string());
        }
    }
    received
}

impl RawClient {
    /// Connects to `addr` and does the HTTP/2 handshake.
    pub async fn connect(addr: SocketAddr) -> RawClient {
        RawClient::connect_with(addr, &h2::client::Builder::new(), None)
            .await
            .0
    }

    /// Connects to `addr` with the client settings of `builder`; gives the
    /// client and what the server sends on the wire ([`WireEvents`]).
    ///
    /// With `hold`, the connection is not driven (nothing but the preface
    /// is sent, nothing is read) until `hold` fires: the requests started
    /// meanwhile go out together, before the client has seen the server's
    /// SETTINGS, so they are bound only by `builder`'s
    /// `initial_max_send_streams`, not by the server's
    /// `SETTINGS_MAX_CONCURRENT_STREAMS`.
    pub async fn connect_with(
        addr: SocketAddr,
        builder: &h2::client::Builder,
        hold: Option<oneshot::Receiver<()>>,
    ) -> (RawClient, WireEvents) {
        let tcp = within("TCP connect", TcpStream::connect(addr))
            .await
            .expect("TCP connect");
        // Frames go out as h2 writes them, not held back by Nagle.
        let _ = tcp.set_nodelay(true);
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let io = Sniffed {
            io: tcp,
            parser: FrameParser::default(),
            events: events_tx,
            closed: false,
        };
        let (sender, mut connection) = within("h2 handshake", builder.handshake(io))
            .await
            .expect("h2 handshake");
        let ping_pong = connection.ping_pong();
        let connection = tokio::spawn(async move {
            if let Some(hold) = hold {
                let _ = hold.await;
            }
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "raw client connection ended");
            }
        });
        let client = RawClient {
            sender,
            authority: addr.to_string(),
            connection,
            ping_pong,
        };
        (
            client,
            WireEvents {
                rx: events_rx,
                seen: VecDeque::new(),
            },
        )
    }

    /// A gRPC request head for `/grpcx.test.Probe/<method>`: POST, the
    /// URI, `content-type: application/grpc`, `te: trailers`.
    pub fn request(&self, method: &str) -> http::request::Builder {
        self.request_path(&format!("/{SERVICE}/{method}"))
    }

    /// A gRPC request head for `path`.
    pub fn request_path(&self, path: &str) -> http::request::Builder {
        http::Request::builder()
            .method(Method::POST)
            .uri(format!("http://{}{path}", self.authority))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
    }

    /// Sends a request head; the body follows through [`RawCall::send`].
    pub async fn start(&mut self, head: http::request::Builder) -> RawCall {
        self.try_start(head)
            .await
            .expect("the raw connection is usable")
    }

    /// Sends a request head, or gives the error that keeps the connection
    /// from opening a stream (a GOAWAY, a lost connection). Waiting for the
    /// connection to be ready is bounded by [`WAIT`](crate::WAIT).
    pub async fn try_start(&mut self, head: http::request::Builder) -> Result<RawCall, h2::Error> {
        let request = head.body(()).expect("a valid request head");
        let mut sender = within("the connection being ready", self.sender.clone().ready()).await?;
        let (response, body) = sender.send_request(request, false)?;
        Ok(RawCall { body, response })
    }

    /// Sends a PING and waits (bounded by [`WAIT`](crate::WAIT)) for its
    /// answer: once it came, the server has read every frame sent before
    /// it, and whatever it sent in return before the answer was read (and
    /// reported to the [`WireEvents`]).
    pub async fn ping(&mut self) -> Result<(), h2::Error> {
        let ping_pong = self
            .ping_pong
            .as_mut()
            .expect("the connection's PingPong was taken");
        within("a PING's answer", ping_pong.ping(h2::Ping::opaque()))
            .await
            .map(|_pong| ())
    }

    /// Sends a whole request: `head`, then `chunks` of body, ending the
    /// request after the last when `end` is set; reads the response.
    pub async fn send(
        &mut self,
        head: http::request::Builder,
        chunks: &[Bytes],
        end: bool,
    ) -> RawResponse {
        let mut call = self.start(head).await;
        for (i, chunk) in chunks.iter().enumerate() {
            call.send(chunk.clone(), end && i + 1 == chunks.len());
        }
        if chunks.is_empty() && end {
            call.send(Bytes::new(), true);
        }
        call.response().await
    }

    /// Makes a well-formed unary call on this connection and checks it
    /// succeeds: the connection still works.
    pub async fn check_unary_ok(&mut self, id: &str) {
        let request = ProbeRequest::new(id, Action::Reply);
        let response = self
            .send(self.request("Unary"), &[frame(&request)], true)
            .await;
        assert_eq!(response.http_status, Some(StatusCode::OK), "{response:?}");
        let status = response.expect_status();
        assert_eq!(status.code(), Code::Ok, "{status:?}");
        let replies: Vec<ProbeReply> = response.messages();
        assert_eq!(replies.len(), 1, "{response:?}");
        assert_eq!(replies[0].id, id);
    }
}

impl Drop for RawClient {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

/// A frame the server sent, as a [`RawClient`] read it off the socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WireEvent {
    /// A GOAWAY frame.
    GoAway {
        /// The last stream the server says it processed (or may process).
        last_stream_id: u32,
        /// Its error code.
        reason: h2::Reason,
    },
    /// A RST_STREAM frame.
    Reset {
        /// The stream reset.
        stream_id: u32,
        /// Its error code.
        reason: h2::Reason,
    },
    /// A PING frame (not an acknowledgement).
    Ping {
        /// Its opaque data.
        payload: [u8; 8],
    },
    /// The server closed the connection (end of file), or reading failed.
    Closed,
}

/// What a [`RawClient`]'s server sent, in order.
#[derive(Debug)]
pub struct WireEvents {
    rx: mpsc::UnboundedReceiver<WireEvent>,
    /// Events received by [`peek`](WireEvents::peek), not yet taken.
    seen: VecDeque<WireEvent>,
}

impl WireEvents {
    /// The first event already received that `matches`, without waiting
    /// and without taking it: a later [`wait_for`](WireEvents::wait_for)
    /// still finds it.
    pub fn peek(&mut self, matches: impl Fn(&WireEvent) -> bool) -> Option<WireEvent> {
        while let Ok(event) = self.rx.try_recv() {
            self.seen.push_back(event);
        }
        self.seen.iter().find(|e| matches(e)).cloned()
    }

    /// Waits (bounded by [`WAIT`](crate::WAIT)) for the first event that
    /// `matches`, dropping the events before it; gives the events skipped
    /// and the one that matched.
    pub async fn wait_for(
        &mut self,
        what: &str,
        matches: impl Fn(&WireEvent) -> bool,
    ) -> (Vec<WireEvent>, WireEvent) {
        let mut skipped = Vec::new();
        while let Some(event) = self.seen.pop_front() {
            if matches(&event) {
                return (skipped, event);
            }
            skipped.push(event);
        }
        let rx = &mut self.rx;
        within(what, async {
            loop {
                match rx.recv().await {
                    Some(event) if matches(&event) => return (skipped, event),
                    Some(event) => skipped.push(event),
                    None => panic!("{what}: the connection ended without it; saw {skipped:?}"),
                }
            }
        })
        .await
    }
}

/// A socket whose incoming bytes are parsed as HTTP/2 frames on the way,
/// to report GOAWAY, RST_STREAM and the end of the connection.
struct Sniffed {
    io: TcpStream,
    parser: FrameParser,
    events: mpsc::UnboundedSender<WireEvent>,
    closed: bool,
}

impl Sniffed {
    fn report_closed(&mut self) {
        if !self.closed {
            self.closed = true;
            let _ = self.events.send(WireEvent::Closed);
        }
    }
}

impl AsyncRead for Sniffed {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let read = &buf.filled()[before..];
                if read.is_empty() {
                    this.report_closed();
                } else {
                    this.parser.feed(read, &this.events);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(err)) => {
                this.report_closed();
                Poll::Ready(Err(err))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncWrite for Sniffed {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// Splits a byte stream into HTTP/2 frames (RFC 9113 §4.1), keeping the
/// first bytes of each payload: enough for GOAWAY and RST_STREAM.
#[derive(Default)]
struct FrameParser {
    head: [u8; 9],
    head_len: usize,
    kind: u8,
    flags: u8,
    stream_id: u32,
    remaining: usize,
    payload: Vec<u8>,
}

impl FrameParser {
    const GOAWAY: u8 = 0x7;
    const RST_STREAM: u8 = 0x3;
    const PING: u8 = 0x6;

    fn feed(&mut self, mut bytes: &[u8], events: &mpsc::UnboundedSender<WireEvent>) {
        while !bytes.is_empty() {
            if self.head_len < self.head.len() {
                let n = (self.head.len() - self.head_len).min(bytes.len());
                self.head[self.head_len..self.head_len + n].copy_from_slice(&bytes[..n]);
                self.head_len += n;
                bytes = &bytes[n..];
                if self.head_len == self.head.len() {
                    let [l0, l1, l2, kind, flags, s0, s1, s2, s3] = self.head;
                    self.remaining = u32::from_be_bytes([0, l0, l1, l2]) as usize;
                    self.kind = kind;
                    self.flags = flags;
                    self.stream_id = u32::from_be_bytes([s0, s1, s2, s3]) & 0x7fff_ffff;
                    self.payload.clear();
                    if self.remaining == 0 {
                        self.finish(events);
                    }
                }
                continue;
            }
            let n = self.remaining.min(bytes.len());
            let keep = n.min(8usize.saturating_sub(self.payload.len()));
            self.payload.extend_from_slice(&bytes[..keep]);
            self.remaining -= n;
            bytes = &bytes[n..];
            if self.remaining == 0 {
                self.finish(events);
            }
        }
    }

    fn finish(&mut self, events: &mpsc::UnboundedSender<WireEvent>) {
        let word = |at: usize| {
            self.payload
                .get(at..at + 4)
                .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        };
        let event = match self.kind {
            Self::GOAWAY => word(0).zip(word(4)).map(|(last, code)| WireEvent::GoAway {
                last_stream_id: last & 0x7fff_ffff,
                reason: h2::Reason::from(code),
            }),
            Self::RST_STREAM => word(0).map(|code| WireEvent::Reset {
                stream_id: self.stream_id,
                reason: h2::Reason::from(code),
            }),
            Self::PING if self.flags & 0x1 == 0 => self
                .payload
                .as_slice()
                .try_into()
                .ok()
                .map(|payload| WireEvent::Ping { payload }),
            _ => None,
        };
        if let Some(event) = event {
            let _ = events.send(event);
        }
        self.head_len = 0;
    }
}

/// An h2 server answering each request with a test's handler.
///
/// The handler gets the request, the means to respond, and the server's
/// `close` switch: notifying it drops the connection (TCP and all, no
/// GOAWAY) at once.
pub struct RawServer {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// Notify it to drop the current connection abruptly.
    pub close: Arc<Notify>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for RawServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// What a [`RawServer`] handler is given.
pub type RawRequest = http::Request<h2::RecvStream>;
/// How a [`RawServer`] handler responds.
pub type RawRespond = h2::server::SendResponse<Bytes>;

impl RawServer {
    /// Starts a server on `127.0.0.1:0` that runs `handler` for each
    /// request of each connection.
    pub async fn start<F, Fut>(handler: F) -> RawServer
    where
        F: Fn(RawRequest, RawRespond, Arc<Notify>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local address");
        let close = Arc::new(Notify::new());
        let handler = Arc::new(handler);
        let task = {
            let close = close.clone();
            tokio::spawn(async move {
                loop {
                    let Ok((tcp, _)) = listener.accept().await else {
                        return;
                    };
                    let handler = handler.clone();
                    let close = close.clone();
                    tokio::spawn(async move {
                        let Ok(mut connection) = h2::server::handshake(tcp).await else {
                            return;
                        };
                        loop {
                            tokio::select! {
                                request = connection.accept() => match request {
                                    Some(Ok((request, respond))) => {
                                        tokio::spawn(handler(request, respond, close.clone()));
                                    }
                                    _ => return,
                                },
                                () = close.notified() => {
                                    // Dropping the connection closes the socket.
                                    return;
                                }
                            }
                        }
                    });
                }
            })
        };
        RawServer { addr, close, task }
    }
}

impl Drop for RawServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Response headers for a gRPC response: `:status` and `content-type`.
pub fn grpc_response_head(status: StatusCode, content_type: &str) -> http::Response<()> {
    let mut response = http::Response::new(());
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_str(content_type).unwrap());
    response
}
