//! [`Request`], [`ServerRequest`] and [`Response`]: a message with its
//! metadata.

use std::time::Duration;

use std::pin::Pin;

use futures_core::Stream;
use grpcx_codec::CompressionEncoding;
use grpcx_status::Metadata;
use tokio::time::Instant;

use crate::context::CallContext;

/// A request a client sends: a message with its metadata, timeout,
/// deadline and compression.
///
/// Build one with [`Request::new`] (or pass a bare message wherever an
/// [`IntoRequest`] is taken) and set metadata and a timeout. Server
/// handlers receive a [`ServerRequest`] instead.
///
/// ```
/// use std::time::Duration;
/// use grpcx_transport::Request;
///
/// let mut request = Request::new("ping").with_timeout(Duration::from_secs(2));
/// request.metadata_mut().insert("x-request-id", "42")?;
/// assert_eq!(request.timeout(), Some(Duration::from_secs(2)));
/// # Ok::<(), grpcx_status::MetadataError>(())
/// ```
#[derive(Debug)]
pub struct Request<T> {
    message: T,
    metadata: Metadata,
    timeout: Option<Duration>,
    deadline: Option<Instant>,
    inherit_deadline: bool,
    compression: Option<CompressionEncoding>,
    extensions: http::Extensions,
}

impl<T> Request<T> {
    /// A request with no metadata and no timeout.
    pub fn new(message: T) -> Request<T> {
        Request {
            message,
            metadata: Metadata::new(),
            timeout: None,
            deadline: None,
            inherit_deadline: true,
            compression: None,
            extensions: http::Extensions::new(),
        }
    }

    /// The request's extensions, which client layers see on the
    /// `http::Request` of the call.
    pub fn extensions(&self) -> &http::Extensions {
        &self.extensions
    }

    /// The request's extensions, to change them.
    pub fn extensions_mut(&mut self) -> &mut http::Extensions {
        &mut self.extensions
    }

    /// The message.
    pub fn get_ref(&self) -> &T {
        &self.message
    }

    /// The message, to change it.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.message
    }

    /// The message, consuming the request.
    pub fn into_inner(self) -> T {
        self.message
    }

    /// The metadata (request headers).
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// The metadata, to change it.
    pub fn metadata_mut(&mut self) -> &mut Metadata {
        &mut self.metadata
    }

    /// The client-side timeout of the call, sent as `grpc-timeout` and
    /// enforced locally.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// Sets the timeout of the call (see [`Request::timeout`]).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = Some(timeout);
    }

    /// Sets the timeout of the call (see [`Request::timeout`]).
    pub fn with_timeout(mut self, timeout: Duration) -> Request<T> {
        self.timeout = Some(timeout);
        self
    }

    /// The absolute deadline of the call, when one was set with
    /// [`Request::with_deadline`].
    ///
    /// The call's deadline is the earliest of this one, the
    /// [timeout](Request::timeout) counted from when the call is made, and
    /// (unless [`Request::inherit_deadline`] turned it off) the deadline of
    /// the server call being handled where the call is made. Each time the
    /// request goes on the wire, `grpc-timeout` is the time left then.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Sets the absolute deadline of the call (see [`Request::deadline`]).
    pub fn set_deadline(&mut self, deadline: impl Into<Instant>) {
        self.deadline = Some(deadline.into());
    }

    /// Sets the absolute deadline of the call (see [`Request::deadline`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use grpcx_transport::Request;
    /// use tokio::time::Instant;
    ///
    /// let deadline = Instant::now() + Duration::from_secs(5);
    /// let request = Request::new("ping").with_deadline(deadline);
    /// assert_eq!(request.deadline(), Some(deadline));
    /// ```
    pub fn with_deadline(mut self, deadline: impl Into<Instant>) -> Request<T> {
        self.deadline = Some(deadline.into());
        self
    }

    /// Whether the call inherits the deadline of the server call being
    /// handled where it is made ([`CallContext::current`]): on by default, so a
    /// call made while handling another never outlives it (deadline
    /// propagation). `false` opts out, for work that must go on after the
    /// handler's client has given up.
    pub fn inherit_deadline(mut self, inherit: bool) -> Request<T> {
        self.inherit_deadline = inherit;
        self
    }

    /// Whether the call inherits the current server call's deadline (see
    /// [`Request::inherit_deadline`]).
    pub fn inherits_deadline(&self) -> bool {
        self.inherit_deadline
    }

    /// Limits the call to a server call's deadline, so a call made while
    /// handling another never outlives it. Calls made in the handler's own
    /// task or thread inherit it anyway (see
    /// [`Request::inherit_deadline`]); this is for calls made elsewhere,
    /// in a task the handler spawned for instance. A context without a
    /// deadline changes nothing; an earlier deadline already set is kept.
    pub fn with_deadline_of(mut self, context: &CallContext) -> Request<T> {
        if let Some(deadline) = context.deadline() {
            self.deadline = Some(self.deadline.map_or(deadline, |d| d.min(deadline)));
        }
        self
    }

    /// The call's deadline, if it is made `now`: the earliest of its
    /// timeout (or `default_timeout`) from now, its deadline, and the
    /// current server call's deadline unless it opted out.
    pub(crate) fn effective_deadline(
        &self,
        now: Instant,
        default_timeout: Option<Duration>,
    ) -> Option<Instant> {
        // A timeout too long to represent is no deadline at all.
        let from_timeout = self
            .timeout
            .or(default_timeout)
            .and_then(|t| now.checked_add(t));
        let inherited = if self.inherit_deadline {
            CallContext::current().and_then(|context| context.deadline())
        } else {
            None
        };
        [from_timeout, self.deadline, inherited]
            .into_iter()
            .flatten()
            .min()
    }

    /// The compression of this call's request messages, when it overrides
    /// the endpoint's (see [`Request::set_compression`]).
    pub fn compression(&self) -> Option<CompressionEncoding> {
        self.compression
    }

    /// Compresses this call's request messages with `encoding`, whatever
    /// the endpoint's setting (`Identity` sends them uncompressed). A server
    /// that does not accept the encoding answers `UNIMPLEMENTED`.
    pub fn set_compression(&mut self, encoding: CompressionEncoding) {
        self.compression = Some(encoding);
    }

    /// Compresses this call's request messages with `encoding` (see
    /// [`Request::set_compression`]).
    pub fn with_compression(mut self, encoding: CompressionEncoding) -> Request<T> {
        self.compression = Some(encoding);
        self
    }

    /// Replaces the metadata.
    pub fn with_metadata(mut self, metadata: Metadata) -> Request<T> {
        self.metadata = metadata;
        self
    }

    /// Maps the message, keeping metadata, timeout, deadline and
    /// compression.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Request<U> {
        Request {
            message: f(self.message),
            metadata: self.metadata,
            timeout: self.timeout,
            deadline: self.deadline,
            inherit_deadline: self.inherit_deadline,
            compression: self.compression,
            extensions: self.extensions,
        }
    }

    /// Splits into metadata and message.
    pub fn into_parts(self) -> (Metadata, T) {
        (self.metadata, self.message)
    }
}

/// Anything a client method takes as a request: a bare message or a
/// [`Request`].
pub trait IntoRequest<T> {
    /// Wraps the message in a request, if it is not one already.
    fn into_request(self) -> Request<T>;
}

impl<T> IntoRequest<T> for T {
    fn into_request(self) -> Request<T> {
        Request::new(self)
    }
}

impl<T> IntoRequest<T> for Request<T> {
    fn into_request(self) -> Request<T> {
        self
    }
}

/// Forwards a server call's request: see [`ServerRequest`]'s `From` for
/// [`Request`].
impl<T> IntoRequest<T> for ServerRequest<T> {
    fn into_request(self) -> Request<T> {
        self.into()
    }
}

/// A request as a server handler receives it: the message, the client's
/// metadata, what server layers put in the extensions, and the call's
/// [`CallContext`].
///
/// ```
/// use grpcx_status::{Code, Status};
/// use grpcx_transport::{Response, ServerRequest};
///
/// async fn greet(request: ServerRequest<String>) -> Result<Response<String>, Status> {
///     if request.get_ref().is_empty() {
///         return Err(request.context().abort(Code::InvalidArgument, "name is empty"));
///     }
///     let caller = request.metadata().get("x-caller").unwrap_or("stranger");
///     Ok(Response::new(format!("hello {}, from {caller}", request.get_ref())))
/// }
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// // A handler can be driven by hand, with a detached context.
/// let request = ServerRequest::new(String::new());
/// let context = request.context().clone();
/// let status = greet(request).await.unwrap_err();
/// assert_eq!(status.code(), Code::InvalidArgument);
/// assert!(!context.is_active(), "the handler aborted the call");
/// # });
/// ```
#[derive(Debug)]
pub struct ServerRequest<T> {
    message: T,
    metadata: Metadata,
    extensions: http::Extensions,
    context: CallContext,
}

impl<T> ServerRequest<T> {
    /// A request with no metadata and a
    /// [detached](CallContext::detached) context, to call a handler by
    /// hand (in a unit test, say).
    pub fn new(message: T) -> ServerRequest<T> {
        ServerRequest {
            message,
            metadata: Metadata::new(),
            extensions: http::Extensions::new(),
            context: CallContext::detached(),
        }
    }

    pub(crate) fn from_parts(
        message: T,
        (metadata, extensions): (Metadata, http::Extensions),
        context: CallContext,
    ) -> ServerRequest<T> {
        ServerRequest {
            message,
            metadata,
            extensions,
            context,
        }
    }

    /// The call's context: its deadline, and what the handler can do to
    /// the call (set the status, abort, add trailers, learn how it ended).
    pub fn context(&self) -> &CallContext {
        &self.context
    }

    /// The message.
    pub fn get_ref(&self) -> &T {
        &self.message
    }

    /// The message, to change it.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.message
    }

    /// The message, consuming the request.
    pub fn into_inner(self) -> T {
        self.message
    }

    /// The client's metadata (request headers), without the headers the
    /// gRPC protocol reserves.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// The metadata, to change it.
    pub fn metadata_mut(&mut self) -> &mut Metadata {
        &mut self.metadata
    }

    /// What server layers put in the request's extensions (an
    /// authenticated principal, say), and the call's [`CallContext`].
    pub fn extensions(&self) -> &http::Extensions {
        &self.extensions
    }

    /// The extensions, to change them.
    pub fn extensions_mut(&mut self) -> &mut http::Extensions {
        &mut self.extensions
    }

    /// Maps the message, keeping metadata, extensions and context.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> ServerRequest<U> {
        ServerRequest {
            message: f(self.message),
            metadata: self.metadata,
            extensions: self.extensions,
            context: self.context,
        }
    }

    /// Splits into metadata, message and context.
    pub fn into_parts(self) -> (Metadata, T, CallContext) {
        (self.metadata, self.message, self.context)
    }
}

/// The request a proxy forwards: the same message and metadata, limited
/// to the server call's deadline ([`Request::with_deadline_of`]), so the
/// call made never outlives the call served. Metadata is forwarded whole,
/// credentials included, except `user-agent`: the forwarding channel sends
/// its own. Build a [`Request`] by hand to choose what goes.
///
/// ```
/// use grpcx_transport::{Request, ServerRequest};
///
/// let mut served = ServerRequest::new("ping");
/// served.metadata_mut().insert("x-request-id", "42")?;
/// let forwarded = Request::from(served);
/// assert_eq!(forwarded.metadata().get("x-request-id"), Some("42"));
/// # Ok::<(), grpcx_status::MetadataError>(())
/// ```
impl<T> From<ServerRequest<T>> for Request<T> {
    fn from(request: ServerRequest<T>) -> Request<T> {
        let mut metadata = request.metadata;
        metadata.remove("user-agent");
        Request::new(request.message)
            .with_metadata(metadata)
            .with_deadline_of(&request.context)
    }
}

/// What a generated async client-streaming method takes: a `Stream` or
/// an iterator of messages, or either in a [`Request`] for metadata and
/// a timeout. `M` is one of the [`marker`]s, inferred.
pub trait IntoStreamingRequest<M> {
    /// The request message.
    type Message;
    /// The stream of messages sent.
    type Stream: Stream<Item = Self::Message> + Send + 'static;

    /// The messages as a request.
    fn into_streaming_request(self) -> Request<Self::Stream>;
}

/// What a generated blocking client-streaming method takes: an
/// iterator of messages, or one in a [`Request`] for metadata and a
/// timeout. `M` is one of the [`marker`]s, inferred.
pub trait IntoBlockingStreamingRequest<M> {
    /// The request message.
    type Message;
    /// The messages sent, from another thread as the iterator yields
    /// them.
    type Iter: Iterator<Item = Self::Message> + Send + 'static;

    /// The messages as a request.
    fn into_blocking_streaming_request(self) -> Request<Self::Iter>;
}

/// Types telling apart the implementations of [`IntoStreamingRequest`]
/// and [`IntoBlockingStreamingRequest`], so that a bare value and a
/// [`Request`] can both be taken without the implementations
/// overlapping.
pub mod marker {
    /// A bare `Stream`.
    #[derive(Debug)]
    pub enum BareStream {}
    /// A `Stream` in a `Request`.
    #[derive(Debug)]
    pub enum RequestStream {}
    /// A bare iterator.
    #[derive(Debug)]
    pub enum BareIter {}
    /// An iterator in a `Request`.
    #[derive(Debug)]
    pub enum RequestIter {}
}

impl<S> IntoStreamingRequest<marker::BareStream> for S
where
    S: Stream + Send + 'static,
{
    type Message = S::Item;
    type Stream = S;

    fn into_streaming_request(self) -> Request<S> {
        Request::new(self)
    }
}

impl<S> IntoStreamingRequest<marker::RequestStream> for Request<S>
where
    S: Stream + Send + 'static,
{
    type Message = S::Item;
    type Stream = S;

    fn into_streaming_request(self) -> Request<S> {
        self
    }
}

impl<I> IntoStreamingRequest<marker::BareIter> for I
where
    I: IntoIterator,
    I::IntoIter: Send + Unpin + 'static,
{
    type Message = I::Item;
    type Stream = IterStream<I::IntoIter>;

    fn into_streaming_request(self) -> Request<Self::Stream> {
        Request::new(IterStream(self.into_iter()))
    }
}

impl<I> IntoStreamingRequest<marker::RequestIter> for Request<I>
where
    I: IntoIterator,
    I::IntoIter: Send + Unpin + 'static,
{
    type Message = I::Item;
    type Stream = IterStream<I::IntoIter>;

    fn into_streaming_request(self) -> Request<Self::Stream> {
        self.map(|messages| IterStream(messages.into_iter()))
    }
}

impl<I> IntoBlockingStreamingRequest<marker::BareIter> for I
where
    I: IntoIterator,
    I::IntoIter: Send + 'static,
{
    type Message = I::Item;
    type Iter = I::IntoIter;

    fn into_blocking_streaming_request(self) -> Request<I::IntoIter> {
        Request::new(self.into_iter())
    }
}

impl<I> IntoBlockingStreamingRequest<marker::RequestIter> for Request<I>
where
    I: IntoIterator,
    I::IntoIter: Send + 'static,
{
    type Message = I::Item;
    type Iter = I::IntoIter;

    fn into_blocking_streaming_request(self) -> Request<I::IntoIter> {
        self.map(IntoIterator::into_iter)
    }
}

/// An iterator as a `Stream` that is always ready.
#[derive(Debug)]
pub struct IterStream<I>(I);

impl<I: Iterator + Unpin> Stream for IterStream<I> {
    type Item = I::Item;

    fn poll_next(
        mut self: Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<I::Item>> {
        std::task::Poll::Ready(self.0.next())
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

/// A response message with its metadata: the initial metadata (response
/// headers) and, on the client, the trailing metadata that came with the
/// `OK` status.
///
/// ```
/// use grpcx_transport::Response;
///
/// let mut response = Response::new(42);
/// response.metadata_mut().insert("x-served-by", "node-1")?;
/// assert_eq!(*response.get_ref(), 42);
/// # Ok::<(), grpcx_status::MetadataError>(())
/// ```
#[derive(Debug)]
pub struct Response<T> {
    message: T,
    metadata: Metadata,
    trailers: Metadata,
}

impl<T> Response<T> {
    /// A response with no metadata.
    pub fn new(message: T) -> Response<T> {
        Response {
            message,
            metadata: Metadata::new(),
            trailers: Metadata::new(),
        }
    }

    pub(crate) fn from_parts(message: T, metadata: Metadata, trailers: Metadata) -> Response<T> {
        Response {
            message,
            metadata,
            trailers,
        }
    }

    /// The message.
    pub fn get_ref(&self) -> &T {
        &self.message
    }

    /// The message, to change it.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.message
    }

    /// The message, consuming the response.
    pub fn into_inner(self) -> T {
        self.message
    }

    /// The initial metadata (response headers).
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// The initial metadata, to change it (a server handler sets what goes
    /// out in the response headers here).
    pub fn metadata_mut(&mut self) -> &mut Metadata {
        &mut self.metadata
    }

    /// The trailing metadata received with the `OK` status (client side).
    /// A server handler sets trailers through its `CallContext` instead.
    pub fn trailers(&self) -> &Metadata {
        &self.trailers
    }

    /// Replaces the initial metadata.
    pub fn with_metadata(mut self, metadata: Metadata) -> Response<T> {
        self.metadata = metadata;
        self
    }

    /// Maps the message, keeping the metadata.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Response<U> {
        Response {
            message: f(self.message),
            metadata: self.metadata,
            trailers: self.trailers,
        }
    }

    /// Splits into initial metadata, message and trailing metadata.
    pub fn into_parts(self) -> (Metadata, T, Metadata) {
        (self.metadata, self.message, self.trailers)
    }
}

impl<T> From<T> for Response<T> {
    fn from(message: T) -> Self {
        Response::new(message)
    }
}
