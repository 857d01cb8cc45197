//! [`Grpc`]: the typed front of a client. It encodes requests and decodes
//! responses over any `tower::Service` of `http::Request`s whose bottom is
//! a [`Channel`], so that layers sit between the two.

use std::any::{Any, TypeId};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_core::Stream;
use futures_util::future::Either;
use futures_util::{FutureExt as _, TryFutureExt as _};
use grpcx_codec::{
    Codec, CompressionConfig, CompressionEncoding, EncodingSet, GRPC_ACCEPT_ENCODING, GRPC_ENCODING,
};
use grpcx_status::__private::StatusInternals as _;
use grpcx_status::{Code, Metadata, Origin, Status};
use http::header::{CONTENT_TYPE, HeaderValue};
use http::uri::PathAndQuery;
use tokio::time::Instant;

use super::body::{EncodeError, EncodedBody};
use super::channel::Channel;
use super::errors::{deadline_status, not_sent};
use super::span::CallSpan;
use crate::body::Body;
use crate::descriptor::MethodKind;
use crate::error::{BoxError, status_from_layer_error};
use crate::extensions::{Attempts, Deadline, GrpcMethod};
use crate::glue;
use crate::request::{Request, Response};
use crate::streaming::Streaming;
use tracing::Instrument as _;

pub use crate::protocol::GRPC_PREVIOUS_RPC_ATTEMPTS;

/// The services a [`Grpc`] (and a generated client) makes its calls on:
/// any `tower::Service<http::Request<Body>>` answering `http::Response`s
/// with a body of `Bytes` whose error converts into a [`Status`]. A
/// [`Channel`] is one, and so is any stack of tower layers over one.
///
/// It is implemented for every such service and cannot be implemented by
/// hand. The futures of a client's calls are `Send` when the service is
/// `Sync` as well (a `Channel` is; a service that is not can be made so
/// with `tower::util::BoxCloneSyncService`).
pub trait ClientService: Clone + Send + 'static + sealed::Sealed {
    /// The body of the responses.
    type ResponseBody: http_body::Body<Data = Bytes, Error = Self::BodyError> + Send + 'static;
    /// The error of the response body.
    type BodyError: Into<Status>;
    /// The error of the service.
    type Error: Into<BoxError>;
    /// The future of a call.
    type Future: Future<Output = Result<http::Response<Self::ResponseBody>, Self::Error>>
        + Send
        + 'static;

    /// `tower::Service::poll_ready`.
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>>;

    /// `tower::Service::call`.
    fn call(&mut self, request: http::Request<Body>) -> Self::Future;
}

mod sealed {
    pub trait Sealed {}
}

impl<S, B> sealed::Sealed for S
where
    S: tower::Service<http::Request<Body>, Response = http::Response<B>>,
    B: http_body::Body<Data = Bytes>,
{
}

impl<S, B> ClientService for S
where
    S: tower::Service<http::Request<Body>, Response = http::Response<B>> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Status>,
{
    type ResponseBody = B;
    type BodyError = B::Error;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        tower::Service::poll_ready(self, cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> S::Future {
        tower::Service::call(self, request)
    }
}

/// How a client encodes its requests and decodes its responses: message
/// size limits, compression and the default timeout.
///
/// An [`Endpoint`](super::Endpoint) holds one, which [`Channel::config`]
/// returns and a [`Grpc`] over a bare channel takes on by itself. A client
/// over layers (where the channel is out of sight) starts from
/// [`ClientConfig::default`]; pass it the channel's with
/// [`Grpc::with_config`] (or the generated client's `with_config`).
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct ClientConfig {
    /// The largest response message accepted (4 MiB by default).
    pub max_decode_message_size: usize,
    /// The largest request message sent (unlimited by default).
    pub max_encode_message_size: usize,
    /// The compression of requests, and the encodings accepted for
    /// responses.
    pub compression: CompressionConfig,
    /// The timeout of calls that set none themselves (none by default).
    pub timeout: Option<Duration>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            max_decode_message_size: crate::protocol::DEFAULT_MAX_DECODE_MESSAGE_SIZE,
            max_encode_message_size: usize::MAX,
            compression: CompressionConfig::default(),
            timeout: None,
        }
    }
}

impl ClientConfig {
    /// Sets [`ClientConfig::max_decode_message_size`].
    pub fn max_decode_message_size(mut self, limit: usize) -> ClientConfig {
        self.max_decode_message_size = limit;
        self
    }

    /// Sets [`ClientConfig::max_encode_message_size`].
    pub fn max_encode_message_size(mut self, limit: usize) -> ClientConfig {
        self.max_encode_message_size = limit;
        self
    }

    /// Compresses request messages with `encoding`.
    pub fn send_compression(mut self, encoding: CompressionEncoding) -> ClientConfig {
        self.compression.send = encoding;
        self
    }

    /// The encodings accepted for responses.
    pub fn accept_compression(mut self, encodings: EncodingSet) -> ClientConfig {
        self.compression.accept = encodings;
        self
    }

    /// Sets [`ClientConfig::timeout`].
    pub fn timeout(mut self, timeout: Duration) -> ClientConfig {
        self.timeout = Some(timeout);
        self
    }
}

/// The typed front of a client: makes calls of the four kinds over a
/// [`ClientService`], a [`Channel`] or tower layers over one.
///
/// It encodes the request message(s) (a unary request is encoded once into
/// `Bytes`, so a layer can send it again with [`Body::try_clone`]), puts
/// the method ([`GrpcMethod`]) and the call's absolute [`Deadline`] in the
/// request's extensions for layers to read, and decodes the response.
/// Over a bare [`Channel`], with no layer to read them, it fills no
/// extensions and calls the channel directly: no allocation is added for
/// the tower seam when no layer is set.
/// Generated clients wrap one.
///
/// The deadline is the earliest of: the request's timeout (or the
/// config's default) from now, the request's own deadline
/// ([`Request::with_deadline`]), and the deadline of the server call being
/// handled where the call is made ([`CallContext::current`](crate::CallContext::current)),
/// unless the request opts out with [`Request::inherit_deadline`].
///
/// ```
/// use grpcx_transport::client::Grpc;
/// use grpcx_transport::{Endpoint, GrpcMethod};
///
/// let channel = Endpoint::new("http://127.0.0.1:50051")?.connect_lazy();
/// // Any tower layers go between; this one only looks at the method.
/// let service = tower::ServiceBuilder::new()
///     .map_request(|request: http::Request<grpcx_transport::Body>| {
///         let method = request.extensions().get::<GrpcMethod>().map(|m| m.method().to_owned());
///         tracing::debug!(?method, "calling");
///         request
///     })
///     .service(channel.clone());
/// let grpc = Grpc::new(service).with_config(channel.config());
/// # drop(grpc);
/// # Ok::<(), grpcx_transport::Error>(())
/// ```
#[derive(Clone)]
pub struct Grpc<T> {
    inner: T,
    config: ClientConfig,
}

impl<T> fmt::Debug for Grpc<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Grpc")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<T: 'static> Grpc<T> {
    /// A typed client over `inner`. When `inner` is a [`Channel`], the
    /// client takes on its endpoint's settings; otherwise it starts from
    /// [`ClientConfig::default`].
    pub fn new(inner: T) -> Grpc<T> {
        let config = (&inner as &dyn Any)
            .downcast_ref::<Channel>()
            .map(Channel::config)
            .unwrap_or_default();
        Grpc { inner, config }
    }
}

impl<T> Grpc<T> {
    /// Replaces the encoding settings.
    pub fn with_config(mut self, config: ClientConfig) -> Grpc<T> {
        self.config = config;
        self
    }

    /// The encoding settings.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The service the calls are made on.
    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    /// The service the calls are made on, to change it.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.inner
    }

    /// The service, consuming the client.
    pub fn into_inner(self) -> T {
        self.inner
    }
}

/// The call methods set the call up when they are called (its deadline
/// starts then, and inherits the deadline of the server call being handled
/// there) and return a future that owns a clone of the service and
/// borrows nothing from the client: it can be spawned as it is.
impl<T: ClientService> Grpc<T> {
    /// Makes a unary call: one request, one response.
    ///
    /// # Errors
    ///
    /// The status the server sent, or one made locally: `DEADLINE_EXCEEDED`
    /// when the deadline passed, `UNAVAILABLE` when no connection could be
    /// made or it was lost, `RESOURCE_EXHAUSTED` for a message over a size
    /// limit, `INTERNAL` for a protocol violation, `UNIMPLEMENTED` when the
    /// server sent no message or more than one; a layer's own error as
    /// [`status_from_layer_error`] maps it.
    pub fn unary<C>(
        &self,
        path: PathAndQuery,
        request: Request<C::Encode>,
        codec: C,
    ) -> impl Future<Output = Result<Response<C::Decode>, Status>> + use<T, C>
    where
        C: Codec,
        C::Encode: Send + 'static,
        C::Decode: Send + 'static,
    {
        let (call, message) = Call::new(self, path, MethodKind::Unary, request);
        let span = call.span.span().clone();
        in_span(
            span,
            call.one(self.inner.clone(), message, codec)
                .and_then(single_response),
        )
    }

    /// Makes a server-streaming call: one request, a stream of responses.
    ///
    /// # Errors
    ///
    /// As for [`Grpc::unary`], for the response head; the stream reports
    /// what happens later. The call's span ends with the stream.
    pub fn server_streaming<C>(
        &self,
        path: PathAndQuery,
        request: Request<C::Encode>,
        codec: C,
    ) -> impl Future<Output = Result<Response<Streaming<C::Decode>>, Status>> + use<T, C>
    where
        C: Codec,
        C::Encode: Send + 'static,
        C::Decode: Send + 'static,
    {
        let (call, message) = Call::new(self, path, MethodKind::ServerStreaming, request);
        let span = call.span.span().clone();
        in_span(span, call.one(self.inner.clone(), message, codec)).map_ok(stream_response)
    }

    /// Makes a client-streaming call: a stream of requests, one response.
    ///
    /// # Errors
    ///
    /// As for [`Grpc::unary`].
    pub fn client_streaming<C, S>(
        &self,
        path: PathAndQuery,
        request: Request<S>,
        codec: C,
    ) -> impl Future<Output = Result<Response<C::Decode>, Status>> + use<T, C, S>
    where
        C: Codec,
        C::Encode: Send + 'static,
        C::Decode: Send + 'static,
        S: Stream<Item = C::Encode> + Send + 'static,
    {
        let (call, messages) = Call::new(self, path, MethodKind::ClientStreaming, request);
        let span = call.span.span().clone();
        in_span(
            span,
            call.many(self.inner.clone(), messages, codec)
                .and_then(single_response),
        )
    }

    /// Makes a bidirectional-streaming call: requests and responses flow
    /// independently.
    ///
    /// # Errors
    ///
    /// As for [`Grpc::unary`], for the response head; the stream reports
    /// what happens later. The call's span ends with the stream.
    pub fn bidi_streaming_from_stream<C, S>(
        &self,
        path: PathAndQuery,
        request: Request<S>,
        codec: C,
    ) -> impl Future<Output = Result<Response<Streaming<C::Decode>>, Status>> + use<T, C, S>
    where
        C: Codec,
        C::Encode: Send + 'static,
        C::Decode: Send + 'static,
        S: Stream<Item = C::Encode> + Send + 'static,
    {
        let (call, messages) = Call::new(self, path, MethodKind::BidiStreaming, request);
        let span = call.span.span().clone();
        in_span(span, call.many(self.inner.clone(), messages, codec)).map_ok(stream_response)
    }

    /// Starts a bidirectional-streaming call and returns at once: a
    /// sender for the requests and the stream of responses.
    ///
    /// Nothing waits for the server: inside a tokio runtime the call
    /// starts at once in its own task, so a client may send requests before
    /// the server has answered anything (some servers send no response
    /// headers until their first response); outside one it starts when the
    /// response stream is first polled. Dropping the sender ends the
    /// request stream; dropping the response stream cancels the call.
    /// Errors, including ones that prevent the call from starting, come out
    /// of the response stream, and the call's span ends with it.
    pub fn bidi_streaming<C>(
        &self,
        path: PathAndQuery,
        request: Request<()>,
        codec: C,
    ) -> (RequestSender<C::Encode>, Streaming<C::Decode>)
    where
        C: Codec + Send + 'static,
        C::Encode: Send + 'static,
        C::Decode: Send + 'static,
    {
        let (tx, rx) = tokio::sync::mpsc::channel(REQUEST_BUFFER);
        let request = request.map(|()| ReceiverStream(rx));
        // The deadline is fixed here, where the server call (if any) is
        // current, not in the task.
        let (call, messages) = Call::new(self, path, MethodKind::BidiStreaming, request);
        let inner = self.inner.clone();
        let span = call.span.span().clone();
        let head = in_span(span, call.many(inner, messages, codec));
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

    /// A call of `kind` on a clone of the service, as a future that owns
    /// everything it needs (for the blocking client to spawn).
    pub(crate) fn owned_streaming<C, S>(
        &self,
        path: PathAndQuery,
        kind: MethodKind,
        request: Request<S>,
        codec: C,
    ) -> impl Future<Output = Result<Streaming<C::Decode>, Status>> + Send + use<T, C, S>
    where
        C: Codec + Send + 'static,
        C::Encode: Send + 'static,
        C::Decode: Send + 'static,
        S: Stream<Item = C::Encode> + Send + 'static,
    {
        let (call, messages) = Call::new(self, path, kind, request);
        let inner = self.inner.clone();
        let span = call.span.span().clone();
        in_span(span, call.many(inner, messages, codec))
    }

    /// A call of `kind` with one request on a clone of the service, as a
    /// future that owns everything it needs (for the blocking client to
    /// spawn).
    pub(crate) fn owned_one<C>(
        &self,
        path: PathAndQuery,
        kind: MethodKind,
        request: Request<C::Encode>,
        codec: C,
    ) -> impl Future<Output = Result<Streaming<C::Decode>, Status>> + Send + use<T, C>
    where
        C: Codec + Send + 'static,
    {
        let (call, message) = Call::new(self, path, kind, request);
        let inner = self.inner.clone();
        let span = call.span.span().clone();
        in_span(span, call.one(inner, message, codec))
    }
}

/// A call about to be made: its request head (with the extensions) and
/// what encoding and decoding need.
struct Call {
    head: http::Request<()>,
    encoding: CompressionEncoding,
    deadline: Option<Instant>,
    /// The time the call had when it was made, for the deadline's message.
    timeout: Option<Duration>,
    config: ClientConfig,
    /// The call's tracing span (`Span::none()` when no subscriber wants
    /// it), until the response stream takes it over.
    span: CallSpan,
}

impl Call {
    /// The call of `request`, and its message(s).
    fn new<T: 'static, M>(
        grpc: &Grpc<T>,
        path: PathAndQuery,
        kind: MethodKind,
        request: Request<M>,
    ) -> (Call, M) {
        let config = grpc.config;
        let now = Instant::now();
        let deadline = request.effective_deadline(now, config.timeout);
        let timeout = deadline.map(|d| d.saturating_duration_since(now));
        let encoding = request.compression().unwrap_or(config.compression.send);
        let (metadata, message) = request.into_parts();
        let mut headers = metadata.into_headers();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        if encoding.is_compressed() {
            headers.insert(GRPC_ENCODING, encoding.to_header_value());
        }
        headers.insert(GRPC_ACCEPT_ENCODING, config.compression.accept_encoding());
        let authority = (&grpc.inner as &dyn Any)
            .downcast_ref::<Channel>()
            .map(|channel| &channel.endpoint().authority);
        let span = CallSpan::new(&path, authority);
        let mut head = http::Request::new(());
        *head.method_mut() = http::Method::POST;
        *head.uri_mut() = http::Uri::from(path.clone());
        *head.headers_mut() = headers;
        // A bare channel is called directly (see `Call::send`): no layer
        // reads the extensions, so they cost nothing.
        if TypeId::of::<T>() != TypeId::of::<Channel>() {
            head.extensions_mut().insert(GrpcMethod::new(path, kind));
            if let Some(deadline) = deadline {
                head.extensions_mut().insert(Deadline(deadline));
            }
            if let Some(slot) = span.authority_slot() {
                head.extensions_mut().insert(slot.clone());
            }
        }
        let call = Call {
            head,
            encoding,
            deadline,
            timeout,
            config,
            span,
        };
        (call, message)
    }

    fn frame_encoder(&self) -> grpcx_codec::FrameEncoder {
        glue::frame_encoder(
            &self.config.compression,
            self.encoding,
            self.config.max_encode_message_size,
        )
    }

    /// Encodes the one request message into `Bytes` and makes the call.
    fn one<T, C>(
        mut self,
        inner: T,
        message: C::Encode,
        mut codec: C,
    ) -> impl Future<Output = Result<Streaming<C::Decode>, Status>> + use<T, C>
    where
        T: ClientService,
        C: Codec,
        C::Decode: Send + 'static,
    {
        let mut frames = self.frame_encoder();
        match glue::encode(&mut frames, &mut codec.encoder(), message) {
            Ok(data) => Either::Left(self.send(inner, Body::from(data), codec, None)),
            Err(status) => {
                let status = not_sent(status);
                self.span.end(Some(&status));
                Either::Right(std::future::ready(Err(status)))
            }
        }
    }

    /// Makes the call with a stream of request messages, encoded as they
    /// come.
    fn many<T, C, S>(
        self,
        inner: T,
        messages: S,
        mut codec: C,
    ) -> impl Future<Output = Result<Streaming<C::Decode>, Status>> + use<T, C, S>
    where
        T: ClientService,
        C: Codec,
        C::Encode: Send + 'static,
        C::Decode: Send + 'static,
        S: Stream<Item = C::Encode> + Send + 'static,
    {
        let encoded = glue::encode_stream(messages, codec.encoder(), self.frame_encoder());
        let error = EncodeError::default();
        let (cancel, cancelled) = tokio::sync::oneshot::channel();
        let body = Body::encoded(EncodedBody::new(encoded, error.clone(), cancelled));
        self.send(inner, body, codec, Some(error)).map(|sent| {
            let mut stream = sent?;
            // Dropping or cancelling the response stream resets the call.
            stream.cancel_request_with(cancel);
            Ok(stream)
        })
    }

    /// Sends the request and turns the response head into the response
    /// stream, which takes the call's span over; a failure before that
    /// ends the span.
    ///
    /// Built of plain functions and combinators rather than nested `async
    /// fn`s: each of those would keep its own copy of its arguments (the
    /// request head among them) in the call's future, which tokio moves
    /// whole into the task that runs it.
    fn send<T, C>(
        self,
        inner: T,
        body: Body,
        codec: C,
        encode_error: Option<EncodeError>,
    ) -> impl Future<Output = Result<Streaming<C::Decode>, Status>> + use<T, C>
    where
        T: ClientService,
        C: Codec,
        C::Decode: Send + 'static,
    {
        let Call {
            head,
            deadline,
            timeout,
            config,
            span,
            ..
        } = self;
        let answer = Answer {
            deadline,
            timeout,
            config,
            span,
            codec,
            encode_error,
        };
        send_request(inner, head.map(|()| body), deadline).map(move |sent| answer.stream(sent))
    }
}

/// Sends `request` on `inner`: over a bare channel, the channel's own send
/// (not boxed); otherwise through the service's `poll_ready` and `call`.
fn send_request<T: ClientService>(
    inner: T,
    request: http::Request<Body>,
    deadline: Option<Instant>,
) -> impl Future<Output = Result<http::Response<Body>, Status>> + use<T> {
    if let Some(channel) = (&inner as &dyn Any).downcast_ref::<Channel>() {
        return Either::Left(channel.clone().send_until(request, deadline));
    }
    let mut inner = inner;
    Either::Right(async move {
        std::future::poll_fn(|cx| inner.poll_ready(cx))
            .await
            .map_err(|err| not_sent(status_from_layer_error(err.into())))?;
        inner
            .call(request)
            .await
            .map(|response| response.map(Body::new))
            .map_err(|err| status_from_layer_error(err.into()))
    })
}

/// What turns a call's response head into its response stream.
struct Answer<C> {
    deadline: Option<Instant>,
    /// The time the call had when it was made, for the deadline's message.
    timeout: Option<Duration>,
    config: ClientConfig,
    span: CallSpan,
    codec: C,
    /// Where the request body leaves the status of a message it could not
    /// encode.
    encode_error: Option<EncodeError>,
}

impl<C> Answer<C>
where
    C: Codec,
    C::Decode: Send + 'static,
{
    /// The response stream of `sent`, which takes the call's span over; a
    /// failure ends the span.
    fn stream(
        mut self,
        sent: Result<http::Response<Body>, Status>,
    ) -> Result<Streaming<C::Decode>, Status> {
        let mut span = std::mem::take(&mut self.span);
        match self.decode(sent, &span) {
            Ok(mut stream) => {
                if stream.is_finished() {
                    span.ok_in_head();
                }
                stream.set_span(span);
                Ok(stream)
            }
            Err(status) => {
                span.end(Some(&status));
                Err(status)
            }
        }
    }

    fn decode(
        self,
        sent: Result<http::Response<Body>, Status>,
        span: &CallSpan,
    ) -> Result<Streaming<C::Decode>, Status> {
        let Answer {
            deadline,
            timeout,
            config,
            mut codec,
            encode_error,
            ..
        } = self;
        let response = match sent {
            Ok(response) => response,
            Err(status) => {
                // A message that could not be encoded is why the stream
                // was reset.
                let encode_failure = encode_error
                    .as_ref()
                    .and_then(|slot| slot.lock().ok().and_then(|mut s| s.take()));
                let status = encode_failure.unwrap_or(status);
                return Err(after_deadline(status, deadline, timeout));
            }
        };
        if let Some(attempts) = response.extensions().get::<Attempts>() {
            span.attempts(attempts.0);
        }
        let (parts, body) = response.into_parts();
        // A Trailers-Only answer: the status is in the headers. A channel
        // fails the call on any status other than OK; other services may
        // not.
        if let Some(status) = Status::from_header_map(&parts.headers) {
            if status.code() != Code::Ok {
                return Err(after_deadline(status, deadline, timeout));
            }
            return Ok(Streaming::finished(status.metadata().clone()));
        }
        let encoding = config
            .compression
            .response_encoding(&parts.headers)
            .map_err(|status| status.with_origin(Origin::Protocol))?;
        let metadata = Metadata::from_headers(parts.headers);
        let stream = Streaming::client(
            body,
            encoding,
            config.max_decode_message_size,
            codec.decoder(),
            deadline,
            timeout,
            metadata,
        );
        Ok(stream)
    }
}

/// Runs `future` in `span` (entered at each poll); a disabled span costs
/// a check per poll. Every call path runs its call in it.
///
/// A plain function, not an `async fn`: that would hold `future` and, in
/// its other branch, the instrumented future, each a slot of the call's
/// (kilobytes-large) future.
fn in_span<F: Future>(span: tracing::Span, future: F) -> tracing::instrument::Instrumented<F> {
    future.instrument(span)
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

/// The sending half of a call made with [`Grpc::bidi_streaming`] (or
/// [`Channel::bidi_streaming`]).
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
pub(crate) struct ReceiverStream<T>(pub(crate) tokio::sync::mpsc::Receiver<T>);

impl<T> Stream for ReceiverStream<T> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
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
            deadline_status(timeout).with_progress(status.progress())
        }
        _ => status,
    }
}

/// Reads exactly one message and the `OK` status after it.
/// A violation it finds ends the call's span.
/// The response of a call whose responses are a stream: the stream, with
/// a copy of its initial metadata.
fn stream_response<T>(stream: Streaming<T>) -> Response<Streaming<T>> {
    let metadata = stream.initial_metadata().clone();
    Response::from_parts(stream, metadata, Metadata::new())
}

pub(crate) async fn single_response<T>(mut stream: Streaming<T>) -> Result<Response<T>, Status> {
    let Some(message) = stream.message().await? else {
        let status = Status::unimplemented("the server sent no response message")
            .with_origin(Origin::Protocol)
            .with_initial_metadata(stream.take_initial_metadata());
        stream.end_span(Some(&status));
        return Err(status);
    };
    if stream.message().await?.is_some() {
        let status = Status::unimplemented("the server sent more than one response message")
            .with_origin(Origin::Protocol)
            .with_initial_metadata(stream.take_initial_metadata());
        stream.end_span(Some(&status));
        return Err(status);
    }
    // The stream is over: its metadata moves into the response, uncopied.
    let metadata = stream.take_initial_metadata();
    let trailers = stream.take_trailers().unwrap_or_default();
    Ok(Response::from_parts(message, metadata, trailers))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::Endpoint;
    use grpcx_codec::ProstCodec;

    #[tokio::test]
    async fn a_call_future_outlives_its_client() {
        // The client goes out of scope before its call runs.
        let call = {
            let grpc = Grpc::new(tower::service_fn(|_: http::Request<Body>| async {
                Err::<http::Response<Body>, Status>(Status::unavailable("down for the test"))
            }));
            grpc.unary(
                PathAndQuery::from_static("/a.B/C"),
                Request::new(()),
                ProstCodec::<(), ()>::default(),
            )
        };
        let status = tokio::spawn(call)
            .await
            .expect("the call's task")
            .expect_err("the service fails every call");
        assert_eq!(status.code(), Code::Unavailable);
        assert_eq!(status.message(), "down for the test");
    }

    /// The future of a unary call, which tokio moves whole into the task
    /// that runs it (and a layered channel boxes part of): it was 11 KB
    /// when the call was built of nested `async fn`s. A dependency upgrade
    /// may move it a little; a new `async fn` level shows here.
    #[tokio::test]
    async fn a_unary_call_future_stays_small() {
        let channel = Endpoint::new("http://127.0.0.1:1")
            .expect("a valid address")
            .connect_lazy();
        let call = |grpc: &Grpc<Channel>| {
            grpc.unary(
                PathAndQuery::from_static("/a.B/C"),
                Request::new(()),
                ProstCodec::<(), ()>::default(),
            )
        };
        let bare = Grpc::new(channel.clone());
        let size = std::mem::size_of_val(&call(&bare));
        assert!(size <= 2_304, "a unary call's future is {size} bytes");
    }
}
