//! Raw HTTP/2: a client that sends exactly what a test wants (bad framing,
//! bad headers) and a server that answers exactly what a test wants (HTTP
//! errors, resets, a dropped connection), both on the `h2` crate.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use grpcx_status::{Code, Status};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use prost::Message;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
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
        let tcp = within("TCP connect", TcpStream::connect(addr))
            .await
            .expect("TCP connect");
        let (sender, connection) = within("h2 handshake", h2::client::handshake(tcp))
            .await
            .expect("h2 handshake");
        let connection = tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "raw client connection ended");
            }
        });
        RawClient {
            sender,
            authority: addr.to_string(),
            connection,
        }
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
        let request = head.body(()).expect("a valid request head");
        let mut sender = within("the connection being ready", self.sender.clone().ready())
            .await
            .expect("the raw connection is usable");
        let (response, body) = sender
            .send_request(request, false)
            .expect("send the request head");
        RawCall { body, response }
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
