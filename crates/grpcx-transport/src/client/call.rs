//! The four kinds of call, as methods of [`Channel`].

use std::time::Duration;

use futures_core::Stream;
use grpcx_codec::{Codec, CompressionEncoding, GRPC_ACCEPT_ENCODING, GRPC_ENCODING};
use grpcx_status::{Code, Metadata, Origin, Status};
use http::header::{CONTENT_TYPE, HeaderValue, TE, USER_AGENT};
use http::uri::PathAndQuery;
use hyper::body::Incoming;
use tokio::time::Instant;

use super::body::{EncodeError, RequestBody};
use super::channel::Channel;
use super::errors::{deadline_status, status_from_hyper};
use crate::glue;
use crate::request::{Request, Response};
use crate::streaming::Streaming;
use crate::timeout::{GRPC_TIMEOUT, format_timeout};

/// What a call knows once the response head has arrived.
struct Head {
    metadata: Metadata,
    body: Incoming,
    encoding: CompressionEncoding,
    deadline: Option<Instant>,
    timeout: Option<Duration>,
}

enum Started {
    /// Response headers arrived; messages and trailers follow.
    Streaming(Head),
    /// A Trailers-Only response with status `OK`: no message at all.
    Empty(Metadata),
}

impl Channel {
    /// Makes a unary call: one request, one response.
    ///
    /// # Errors
    ///
    /// The status the server sent, or one made locally: `DEADLINE_EXCEEDED`
    /// when the timeout passed, `UNAVAILABLE` when no connection could be
    /// made or it was lost, `RESOURCE_EXHAUSTED` for a message over a size
    /// limit, `INTERNAL` for a protocol violation, `UNIMPLEMENTED` when the
    /// server sent no message or more than one.
    pub async fn unary<C>(
        &self,
        path: PathAndQuery,
        request: Request<C::Encode>,
        mut codec: C,
    ) -> Result<Response<C::Decode>, Status>
    where
        C: Codec,
        C::Encode: Send + 'static,
        C::Decode: Send + 'static,
    {
        let (outgoing, message) = self.split(request);
        let mut frames = self.frame_encoder(outgoing.encoding);
        let data = glue::encode(&mut frames, &mut codec.encoder(), message)?;
        let started = self
            .start(path, outgoing, RequestBody::unary(data), None)
            .await?;
        let stream = self.response_stream(started, codec)?;
        single_response(stream).await
    }

    /// Makes a server-streaming call: one request, a stream of responses.
    ///
    /// # Errors
    ///
    /// As for [`Channel::unary`], for the response head; the stream reports
    /// what happens later.
    pub async fn server_streaming<C>(
        &self,
        path: PathAndQuery,
        request: Request<C::Encode>,
        mut codec: C,
    ) -> Result<Response<Streaming<C::Decode>>, Status>
    where
        C: Codec,
        C::Encode: Send + 'static,
        C::Decode: Send + 'static,
    {
        let (outgoing, message) = self.split(request);
        let mut frames = self.frame_encoder(outgoing.encoding);
        let data = glue::encode(&mut frames, &mut codec.encoder(), message)?;
        let started = self
            .start(path, outgoing, RequestBody::unary(data), None)
            .await?;
        let metadata = started_metadata(&started);
        let stream = self.response_stream(started, codec)?;
        Ok(Response::from_parts(stream, metadata, Metadata::new()))
    }

    /// Makes a client-streaming call: a stream of requests, one response.
    ///
    /// # Errors
    ///
    /// As for [`Channel::unary`].
    pub async fn client_streaming<C, S>(
        &self,
        path: PathAndQuery,
        request: Request<S>,
        codec: C,
    ) -> Result<Response<C::Decode>, Status>
    where
        C: Codec,
        C::Encode: Send + 'static,
        C::Decode: Send + 'static,
        S: Stream<Item = C::Encode> + Send + 'static,
    {
        let stream = self.streaming_inner(path, request, codec).await?;
        single_response(stream).await
    }

    /// Makes a bidirectional-streaming call: requests and responses flow
    /// independently.
    ///
    /// # Errors
    ///
    /// As for [`Channel::unary`], for the response head; the stream reports
    /// what happens later.
    pub async fn streaming<C, S>(
        &self,
        path: PathAndQuery,
        request: Request<S>,
        codec: C,
    ) -> Result<Response<Streaming<C::Decode>>, Status>
    where
        C: Codec,
        C::Encode: Send + 'static,
        C::Decode: Send + 'static,
        S: Stream<Item = C::Encode> + Send + 'static,
    {
        let (metadata, stream) = self.streaming_head(path, request, codec).await?;
        Ok(Response::from_parts(stream, metadata, Metadata::new()))
    }

    /// Starts a bidirectional-streaming call and returns at once: a
    /// sender for the requests and the stream of responses.
    ///
    /// Nothing waits for the server: inside a tokio runtime the call
    /// starts at once in its own task, so a client may send requests before
    /// the server has answered anything (some servers send no response
    /// headers until their first response); outside one it starts when the
    /// response stream is first polled. Dropping the sender
    /// ends the request stream; dropping the response stream cancels the
    /// call. Errors, including ones that prevent the call from starting,
    /// come out of the response stream.
    ///
    /// ```no_run
    /// # use grpcx_transport::{Channel, Request};
    /// # use grpcx_codec::ProstCodec;
    /// # async fn chat(channel: Channel) -> Result<(), grpcx_status::Status> {
    /// let (requests, mut responses) = channel.bidi(
    ///     http::uri::PathAndQuery::from_static("/chat.Chat/Talk"),
    ///     Request::new(()),
    ///     ProstCodec::<String, String>::default(),
    /// );
    /// requests.send("hello".to_owned()).await.ok();
    /// while let Some(reply) = responses.message().await? {
    ///     println!("{reply}");
    /// }
    /// # Ok(()) }
    /// ```
    pub fn bidi<C>(
        &self,
        path: PathAndQuery,
        request: Request<()>,
        codec: C,
    ) -> (RequestSender<C::Encode>, Streaming<C::Decode>)
    where
        C: Codec + Send + 'static,
    {
        let (tx, rx) = tokio::sync::mpsc::channel(REQUEST_BUFFER);
        let request = request.map(|()| ReceiverStream(rx));
        let channel = self.clone();
        let head = async move { channel.streaming_inner(path, request, codec).await };
        let stream = match tokio::runtime::Handle::try_current() {
            // Started at once in a task, so that requests flow (and the
            // sender does not fill up) before anyone reads a response.
            Ok(runtime) => {
                let task = AbortOnDrop(runtime.spawn(head));
                Streaming::pending(Box::pin(async move {
                    let mut task = task;
                    match (&mut task.0).await {
                        Ok(started) => started,
                        Err(_) => Err(Status::cancelled("the call's task ended before it started")
                            .with_origin(Origin::Cancelled)),
                    }
                }))
            }
            // Outside a runtime nothing can run yet: the call starts when
            // the response stream is first polled.
            Err(_) => Streaming::pending(Box::pin(head)),
        };
        (RequestSender { tx }, stream)
    }

    async fn streaming_inner<C, S>(
        &self,
        path: PathAndQuery,
        request: Request<S>,
        codec: C,
    ) -> Result<Streaming<C::Decode>, Status>
    where
        C: Codec,
        C::Encode: Send + 'static,
        C::Decode: Send + 'static,
        S: Stream<Item = C::Encode> + Send + 'static,
    {
        Ok(self.streaming_head(path, request, codec).await?.1)
    }

    async fn streaming_head<C, S>(
        &self,
        path: PathAndQuery,
        request: Request<S>,
        mut codec: C,
    ) -> Result<(Metadata, Streaming<C::Decode>), Status>
    where
        C: Codec,
        C::Encode: Send + 'static,
        C::Decode: Send + 'static,
        S: Stream<Item = C::Encode> + Send + 'static,
    {
        let (outgoing, messages) = self.split(request);
        let frames = self.frame_encoder(outgoing.encoding);
        let encoded = glue::encode_stream(messages, codec.encoder(), frames);
        let error = EncodeError::default();
        let (cancel, cancelled) = tokio::sync::oneshot::channel();
        let body = RequestBody::streaming(encoded, error.clone(), cancelled);
        let started = self.start(path, outgoing, body, Some(error)).await?;
        let metadata = started_metadata(&started);
        let mut stream = self.response_stream(started, codec)?;
        // Dropping or cancelling the response stream resets the call.
        stream.cancel_request_with(cancel);
        Ok((metadata, stream))
    }

    fn frame_encoder(&self, encoding: CompressionEncoding) -> grpcx_codec::FrameEncoder {
        let endpoint = self.endpoint();
        glue::frame_encoder(
            &endpoint.compression,
            encoding,
            endpoint.max_encode_message_size,
        )
    }

    /// Splits a request into what goes in the request head and the
    /// message(s).
    fn split<T>(&self, request: Request<T>) -> (Outgoing, T) {
        let timeout = request.timeout().or(self.endpoint().timeout);
        let encoding = request
            .compression()
            .unwrap_or(self.endpoint().compression.send);
        let (metadata, message) = request.into_parts();
        let outgoing = Outgoing {
            metadata,
            timeout,
            encoding,
        };
        (outgoing, message)
    }

    fn response_stream<C>(
        &self,
        started: Started,
        mut codec: C,
    ) -> Result<Streaming<C::Decode>, Status>
    where
        C: Codec,
        C::Decode: Send + 'static,
    {
        Ok(match started {
            Started::Empty(trailers) => Streaming::finished(trailers),
            Started::Streaming(head) => Streaming::client(
                crate::body::Body::response(head.body),
                head.encoding,
                self.endpoint().max_decode_message_size,
                codec.decoder(),
                head.deadline,
                head.timeout,
                head.metadata,
            ),
        })
    }

    /// Sends the request and waits for the response head.
    async fn start(
        &self,
        path: PathAndQuery,
        outgoing: Outgoing,
        body: RequestBody,
        encode_error: Option<EncodeError>,
    ) -> Result<Started, Status> {
        let endpoint = self.endpoint();
        let Outgoing {
            metadata,
            timeout,
            encoding,
        } = outgoing;
        // A timeout too long to represent is no deadline at all.
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));

        let mut headers = metadata.into_headers();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        headers.insert(TE, HeaderValue::from_static("trailers"));
        headers.insert(USER_AGENT, endpoint.user_agent.clone());
        if let Some(timeout) = timeout {
            headers.insert(GRPC_TIMEOUT, format_timeout(timeout));
        }
        if encoding.is_compressed() {
            headers.insert(GRPC_ENCODING, encoding.to_header_value());
        }
        headers.insert(GRPC_ACCEPT_ENCODING, endpoint.compression.accept_encoding());
        let uri = http::Uri::builder()
            .scheme(endpoint.scheme.clone())
            .authority(endpoint.authority.clone())
            .path_and_query(path)
            .build()
            .map_err(|err| Status::internal(format!("invalid request URI: {err}")))?;
        let mut request = http::Request::new(body);
        *request.method_mut() = http::Method::POST;
        *request.uri_mut() = uri;
        *request.headers_mut() = headers;

        let exchange = async {
            let mut sender = self.sender().await?;
            sender.send_request(request).await.map_err(|err| {
                let encode_failure = encode_error
                    .as_ref()
                    .and_then(|slot| slot.lock().ok().and_then(|mut s| s.take()));
                encode_failure.unwrap_or_else(|| status_from_hyper(&err))
            })
        };
        let response = match deadline {
            Some(deadline) => match tokio::time::timeout_at(deadline, exchange).await {
                Ok(result) => result,
                Err(_) => Err(deadline_status(timeout)),
            },
            None => exchange.await,
        };
        let response = response.map_err(|status| after_deadline(status, deadline, timeout))?;
        let (parts, body) = response.into_parts();
        // A status in the headers: Trailers-Only (or an error page that
        // still speaks gRPC).
        if let Some(status) = Status::from_header_map(&parts.headers) {
            if status.code() == Code::Ok && parts.status == http::StatusCode::OK {
                return Ok(Started::Empty(status.metadata().clone()));
            }
            return Err(after_deadline(status, deadline, timeout));
        }
        // No gRPC status, and either an HTTP error or a response that
        // already ended: the code comes from the HTTP status (200 gives
        // UNKNOWN), as gRPC's http-grpc-status-mapping says.
        if parts.status != http::StatusCode::OK || http_body::Body::is_end_stream(&body) {
            let code = Code::from_http(parts.status.as_u16()).unwrap_or(Code::Unknown);
            return Err(Status::new(
                code,
                format!(
                    "the server answered HTTP {} without a gRPC status",
                    parts.status
                ),
            )
            .with_origin(Origin::Peer));
        }
        let content_type = parts.headers.get(CONTENT_TYPE).map(HeaderValue::as_bytes);
        if !content_type.is_some_and(crate::server::is_grpc_content_type) {
            let shown = content_type.map_or_else(
                || "none".to_owned(),
                |v| String::from_utf8_lossy(v).into_owned(),
            );
            return Err(Status::unknown(format!(
                "the server answered with content-type {shown:?}, not application/grpc"
            ))
            .with_origin(Origin::Protocol));
        }
        let encoding = endpoint
            .compression
            .response_encoding(&parts.headers)
            .map_err(|status| status.with_origin(Origin::Protocol))?;
        Ok(Started::Streaming(Head {
            metadata: Metadata::from_headers(parts.headers),
            body,
            encoding,
            deadline,
            timeout,
        }))
    }
}

/// A task that is aborted when its handle is dropped: dropping a pending
/// response stream cancels the call it started.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How many requests a [`RequestSender`] buffers before `send` waits.
const REQUEST_BUFFER: usize = 16;

/// The sending half of a call made with [`Channel::bidi`].
#[derive(Debug)]
pub struct RequestSender<T> {
    tx: tokio::sync::mpsc::Sender<T>,
}

/// The call a [`RequestSender`] sends on has ended; its status is on the
/// response stream. Holds the message that was not sent.
#[derive(Debug, thiserror::Error)]
#[error("the call has ended; its status is on the response stream")]
pub struct SendError<T>(pub T);

impl<T> RequestSender<T> {
    /// Sends a request, waiting while the buffer is full (flow control).
    ///
    /// # Errors
    ///
    /// The call has ended ([`SendError`] gives the message back).
    pub async fn send(&self, message: T) -> Result<(), SendError<T>> {
        self.tx.send(message).await.map_err(|err| SendError(err.0))
    }

    /// Sends a request from a thread outside any async runtime, blocking
    /// while the buffer is full.
    ///
    /// # Errors
    ///
    /// The call has ended ([`SendError`] gives the message back). Called
    /// from inside an async runtime, where blocking would stall it, the
    /// message is refused the same way and nothing is sent.
    pub fn blocking_send(&self, message: T) -> Result<(), SendError<T>> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(SendError(message));
        }
        self.tx
            .blocking_send(message)
            .map_err(|err| SendError(err.0))
    }

    /// Whether the call has ended, so that sending would fail.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Ends the request stream (the same as dropping the sender).
    pub fn close(self) {}
}

/// A receiver as a stream of requests.
struct ReceiverStream<T>(tokio::sync::mpsc::Receiver<T>);

impl<T> Stream for ReceiverStream<T> {
    type Item = T;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<T>> {
        self.0.poll_recv(cx)
    }
}

/// A cancellation or deadline seen once this client's own deadline has
/// passed is the deadline's doing: reported as `DEADLINE_EXCEEDED`, made
/// locally, whichever side's timer fired first (PROTOCOL-HTTP2.md).
pub(crate) fn after_deadline(
    status: Status,
    deadline: Option<Instant>,
    timeout: Option<Duration>,
) -> Status {
    match deadline {
        Some(d)
            if Instant::now() >= d
                && matches!(status.code(), Code::Cancelled | Code::DeadlineExceeded) =>
        {
            deadline_status(timeout)
        }
        _ => status,
    }
}

/// What a call sends in its request head.
struct Outgoing {
    metadata: Metadata,
    /// The call's timeout, or the endpoint's default.
    timeout: Option<Duration>,
    /// The compression of the request messages.
    encoding: CompressionEncoding,
}

fn started_metadata(started: &Started) -> Metadata {
    match started {
        Started::Streaming(head) => head.metadata.clone(),
        Started::Empty(_) => Metadata::new(),
    }
}

/// Reads exactly one message and the `OK` status after it.
async fn single_response<T>(mut stream: Streaming<T>) -> Result<Response<T>, Status> {
    let metadata = stream.initial_metadata().clone();
    let Some(message) = stream.message().await? else {
        return Err(Status::unimplemented("the server sent no response message")
            .with_origin(Origin::Protocol)
            .with_initial_metadata(metadata));
    };
    if stream.message().await?.is_some() {
        return Err(
            Status::unimplemented("the server sent more than one response message")
                .with_origin(Origin::Protocol)
                .with_initial_metadata(metadata),
        );
    }
    let trailers = stream.trailers().cloned().unwrap_or_default();
    Ok(Response::from_parts(message, metadata, trailers))
}
