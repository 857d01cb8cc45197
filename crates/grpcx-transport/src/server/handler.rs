//! Method adapters: run a handler for one call of each kind.
//!
//! A [`GrpcService`](super::GrpcService) calls one of these per method with
//! the [`ServerCall`], a codec and the handler. They decode the request(s),
//! run the handler, and turn what it returns into the response: messages,
//! then a status with the trailing metadata set through the
//! [`CallContext`]. Errors before the first message go out as
//! Trailers-Only.
//!
//! A handler fails with a [`Status`] or with any error that converts into
//! one, such as an application error implementing
//! [`DomainError`](grpcx_status::DomainError): the conversion decides the
//! code, message and details, and nothing else of the error is sent.
//!
//! ```
//! use grpcx_codec::ProstCodec;
//! use grpcx_status::Status;
//! use grpcx_transport::server::{handler, BoxFuture, GrpcService, ResponseBody, ServerCall};
//! use grpcx_transport::{Response, ServerRequest};
//!
//! /// A hand-written service whose one method echoes a string.
//! struct Echo;
//!
//! impl GrpcService for Echo {
//!     fn name(&self) -> &'static str {
//!         "demo.Echo"
//!     }
//!
//!     fn call(&self, method: &str, call: ServerCall) -> BoxFuture<http::Response<ResponseBody>> {
//!         match method {
//!             "Say" => Box::pin(handler::unary(call, ProstCodec::<String, String>::default(), |req: ServerRequest<String>| async move {
//!                 if req.get_ref().is_empty() {
//!                     return Err(Status::invalid_argument("nothing to say"));
//!                 }
//!                 Ok(Response::new(req.into_inner()))
//!             })),
//!             _ => Box::pin(async move { call.unimplemented() }),
//!         }
//!     }
//! }
//! ```
//!
//! Handlers written as plain, blocking functions use the `blocking_*`
//! adapters ([`blocking_unary`], [`blocking_server_streaming`],
//! [`blocking_client_streaming`], [`blocking_bidi_streaming`]): they run on the
//! runtime's blocking pool, never on an async worker, bounded by
//! [`Server::blocking_threads`](crate::Server::blocking_threads); see
//! [`blocking`](crate::blocking).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use futures_core::Stream;

use grpcx_codec::{
    Codec, CompressionEncoding, EncodingSet, FrameEncoder, GRPC_ACCEPT_ENCODING, GRPC_ENCODING,
};
use grpcx_status::__private::StatusInternals as _;
use grpcx_status::{Metadata, Origin, Status};
use http::header::{CONTENT_TYPE, HeaderValue};
use pin_project::pin_project;

use super::Config;
use super::body::ResponseBody;
use super::finish;
use super::routes::{ServerCall, trailers_only};
use crate::context::CallContext;
use crate::glue;
use crate::request::{Response, ServerRequest};
use crate::streaming::Streaming;

pub use crate::blocking::server::{
    blocking_bidi_streaming, blocking_client_streaming, blocking_server_streaming, blocking_unary,
};

/// Runs a unary handler: one request, one response.
pub fn unary<C, F, Fut, E>(
    call: ServerCall,
    codec: C,
    handler: F,
) -> OneRequest<C, F, Fut, C::Encode>
where
    C: Codec,
    C::Decode: Send + 'static,
    F: FnOnce(ServerRequest<C::Decode>) -> Fut,
    Fut: Future<Output = Result<Response<C::Encode>, E>>,
    E: Into<Status>,
{
    OneRequest::open(call, codec, handler, respond_one::<C>)
}

/// Runs a server-streaming handler: one request, a stream of responses.
pub fn server_streaming<C, S, F, Fut, E>(
    call: ServerCall,
    codec: C,
    handler: F,
) -> OneRequest<C, F, Fut, S>
where
    C: Codec,
    C::Decode: Send + 'static,
    C::Encoder: Send + 'static,
    F: FnOnce(ServerRequest<C::Decode>) -> Fut,
    Fut: Future<Output = Result<Response<S>, E>>,
    E: Into<Status>,
    S: Stream<Item = Result<C::Encode, Status>> + Send + 'static,
{
    OneRequest::open(call, codec, handler, respond_stream::<C, S>)
}

/// Runs a client-streaming handler: a stream of requests, one response.
pub fn client_streaming<C, F, Fut, E>(
    call: ServerCall,
    codec: C,
    handler: F,
) -> StreamRequests<C, Fut, C::Encode>
where
    C: Codec,
    C::Decode: Send + 'static,
    F: FnOnce(ServerRequest<Streaming<C::Decode>>) -> Fut,
    Fut: Future<Output = Result<Response<C::Encode>, E>>,
    E: Into<Status>,
{
    StreamRequests::open(call, codec, handler, respond_one::<C>)
}

/// Runs a bidirectional-streaming handler.
pub fn bidi_streaming<C, S, F, Fut, E>(
    call: ServerCall,
    codec: C,
    handler: F,
) -> StreamRequests<C, Fut, S>
where
    C: Codec,
    C::Decode: Send + 'static,
    C::Encoder: Send + 'static,
    F: FnOnce(ServerRequest<Streaming<C::Decode>>) -> Fut,
    Fut: Future<Output = Result<Response<S>, E>>,
    E: Into<Status>,
    S: Stream<Item = Result<C::Encode, Status>> + Send + 'static,
{
    StreamRequests::open(call, codec, handler, respond_stream::<C, S>)
}

/// How a call answers what its handler returned: [`respond_one`] or
/// [`respond_stream`].
type Respond<C, R> =
    fn(Result<Response<R>, Status>, &mut C, &CallContext, Sending) -> http::Response<ResponseBody>;

// The adapters' futures are written by hand rather than as `async fn`s:
// an `async fn` keeps its arguments (the whole `ServerCall`) and the state
// of what it awaited first beside the handler's future, where these share
// one block between their phases. Every call boxes its adapter's future
// once, and a box under 1 KiB stays on the allocator's fast path.

/// The future of [`unary`] and [`server_streaming`]: reads the one
/// request, runs the handler, answers.
#[pin_project]
pub struct OneRequest<C: Codec, F, Fut, R> {
    #[pin]
    phase: Phase<Reading<C, F>, C, Fut>,
    respond: Respond<C, R>,
}

/// The future of [`client_streaming`] and [`bidi_streaming`]: runs the
/// handler on the request stream, answers.
#[pin_project]
pub struct StreamRequests<C, Fut, R> {
    #[pin]
    phase: Phase<Infallible, C, Fut>,
    respond: Respond<C, R>,
}

#[pin_project(project = PhaseProj)]
#[allow(
    clippy::large_enum_variant,
    reason = "the phases share one block: boxing the reading phase would add an allocation"
)]
enum Phase<R, C, Fut> {
    /// Reading the request message (and making sure no second one follows).
    Reading(R),
    /// The handler runs.
    Handling {
        #[pin]
        handler: Fut,
        codec: Option<C>,
        context: CallContext,
        send: Option<Sending>,
    },
    /// Answered at once: the request head was refused, or the request
    /// could not be read.
    Answered(Option<Box<http::Response<ResponseBody>>>),
}

/// The reading phase of a [`OneRequest`].
struct Reading<C: Codec, F> {
    requests: Streaming<C::Decode>,
    message: Option<C::Decode>,
    /// What the handling phase needs, kept while the request is read.
    then: Option<Then<C, F>>,
}

struct Then<C, F> {
    codec: C,
    handler: F,
    metadata: (Metadata, http::Extensions),
    context: CallContext,
    send: Sending,
}

impl<C, F, Fut, R> OneRequest<C, F, Fut, R>
where
    C: Codec,
    C::Decode: Send + 'static,
{
    fn open(call: ServerCall, mut codec: C, handler: F, respond: Respond<C, R>) -> Self {
        let phase = match open(call, &mut codec) {
            Ok((requests, metadata, context, send)) => Phase::Reading(Reading {
                requests,
                message: None,
                then: Some(Then {
                    codec,
                    handler,
                    metadata,
                    context,
                    send,
                }),
            }),
            Err(response) => Phase::Answered(Some(response)),
        };
        OneRequest { phase, respond }
    }
}

impl<C, Fut, R> StreamRequests<C, Fut, R>
where
    C: Codec,
    C::Decode: Send + 'static,
{
    fn open<F>(call: ServerCall, mut codec: C, handler: F, respond: Respond<C, R>) -> Self
    where
        F: FnOnce(ServerRequest<Streaming<C::Decode>>) -> Fut,
    {
        let phase = match open(call, &mut codec) {
            Ok((requests, metadata, context, send)) => Phase::Handling {
                handler: handler(ServerRequest::from_parts(
                    requests,
                    metadata,
                    context.clone(),
                )),
                codec: Some(codec),
                context,
                send: Some(send),
            },
            Err(response) => Phase::Answered(Some(response)),
        };
        StreamRequests { phase, respond }
    }
}

impl<C, F, Fut, R, E> Future for OneRequest<C, F, Fut, R>
where
    C: Codec,
    C::Decode: Send + 'static,
    F: FnOnce(ServerRequest<C::Decode>) -> Fut,
    Fut: Future<Output = Result<Response<R>, E>>,
    E: Into<Status>,
{
    type Output = http::Response<ResponseBody>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            let PhaseProj::Reading(reading) = this.phase.as_mut().project() else {
                return poll_handling(this.phase, *this.respond, cx);
            };
            let read = match ready!(Pin::new(&mut reading.requests).poll_next(cx)) {
                Some(Ok(next)) if reading.message.is_none() => {
                    reading.message = Some(next);
                    continue;
                }
                Some(Ok(_)) => Err(Status::unimplemented(
                    "the client sent more than one request message",
                )
                .with_origin(Origin::Protocol)),
                Some(Err(status)) => Err(status),
                None => reading.message.take().ok_or_else(|| {
                    Status::unimplemented("the client sent no request message")
                        .with_origin(Origin::Protocol)
                }),
            };
            let Some(then) = reading.then.take() else {
                return Poll::Ready(http::Response::new(ResponseBody::empty()));
            };
            let next = match read {
                Ok(message) => Phase::Handling {
                    handler: (then.handler)(ServerRequest::from_parts(
                        message,
                        then.metadata,
                        then.context.clone(),
                    )),
                    codec: Some(then.codec),
                    context: then.context,
                    send: Some(then.send),
                },
                Err(status) => {
                    Phase::Answered(Some(Box::new(trailers_only(status, &then.context))))
                }
            };
            this.phase.set(next);
        }
    }
}

impl<C, Fut, R, E> Future for StreamRequests<C, Fut, R>
where
    Fut: Future<Output = Result<Response<R>, E>>,
    E: Into<Status>,
{
    type Output = http::Response<ResponseBody>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        poll_handling(this.phase, *this.respond, cx)
    }
}

/// Polls the phases after reading: the handler, then its answer.
fn poll_handling<Rd, C, Fut, R, E>(
    mut phase: Pin<&mut Phase<Rd, C, Fut>>,
    respond: Respond<C, R>,
    cx: &mut Context<'_>,
) -> Poll<http::Response<ResponseBody>>
where
    Fut: Future<Output = Result<Response<R>, E>>,
    E: Into<Status>,
{
    let response = match phase.as_mut().project() {
        PhaseProj::Handling {
            handler,
            codec,
            context,
            send,
        } => {
            let result = ready!(handler.poll(cx)).map_err(Into::into);
            match (codec.take(), send.take()) {
                (Some(mut codec), Some(send)) => respond(result, &mut codec, context, send),
                _ => http::Response::new(ResponseBody::empty()),
            }
        }
        PhaseProj::Answered(response) => match response.take() {
            Some(response) => *response,
            // Polled again after it answered.
            None => http::Response::new(ResponseBody::empty()),
        },
        // The caller reads first.
        PhaseProj::Reading(_) => return Poll::Pending,
    };
    phase.set(Phase::Answered(None));
    Poll::Ready(response)
}

/// What decides how the responses of a call are sent.
struct Sending {
    peer_accepts: EncodingSet,
    config: Arc<Config>,
}

impl Sending {
    /// The response's compression: the handler's choice or the server's
    /// default, when the client accepts it.
    fn frames(&self, context: &CallContext) -> (FrameEncoder, CompressionEncoding) {
        let compression = &self.config.compression;
        let wanted = context.send_compression().unwrap_or(compression.send);
        let encoding = if self.peer_accepts.contains(wanted) {
            wanted
        } else {
            CompressionEncoding::Identity
        };
        let frames =
            glue::frame_encoder(compression, encoding, self.config.max_encode_message_size);
        (frames, encoding)
    }
}

/// An opened call: its request (a message or a stream), metadata and
/// extensions, context, and how its responses go out.
type Opened<R> = (R, (Metadata, http::Extensions), CallContext, Sending);

/// Reads the request head: the request's compression and the response's.
fn open<C: Codec>(
    call: ServerCall,
    codec: &mut C,
) -> Result<Opened<Streaming<C::Decode>>, Box<http::Response<ResponseBody>>>
where
    C::Decode: Send + 'static,
{
    let context = call.context().clone();
    let config = context.config().clone();
    let (parts, body) = call.into_request().into_parts();
    let headers = parts.headers;
    let compression = &config.compression;
    let (grpc_encoding, peer_accepts) = encoding_fields(&headers);
    let encoding = match compression.request_encoding_of(grpc_encoding) {
        Ok(encoding) => encoding,
        Err(status) => {
            let mut response = trailers_only(status.with_origin(Origin::Protocol), &context);
            response
                .headers_mut()
                .insert(GRPC_ACCEPT_ENCODING, config.accept_encoding.clone());
            return Err(Box::new(response));
        }
    };
    context.set_request_compression(encoding);
    let send = Sending {
        peer_accepts,
        config: config.clone(),
    };
    let requests = Streaming::server(
        body,
        encoding,
        config.max_decode_message_size,
        codec.decoder(),
        context.budgets().cloned().map(crate::server::Charge::new),
    );
    let metadata = Metadata::from_headers(headers);
    Ok((requests, (metadata, parts.extensions), context, send))
}

/// The request's `grpc-encoding` (its first value) and the encodings its
/// `grpc-accept-encoding` fields name. A request carries a few fields, and
/// one pass over them costs less than two hashed lookups; a large map is
/// looked up.
fn encoding_fields(headers: &http::HeaderMap) -> (Option<&HeaderValue>, EncodingSet) {
    /// Above this many keys, two lookups cost less than a pass.
    const SCAN_KEYS: usize = 16;
    if headers.keys_len() > SCAN_KEYS {
        return (
            headers.get(GRPC_ENCODING),
            EncodingSet::from_headers(headers),
        );
    }
    let mut encoding = None;
    let mut accepts = EncodingSet::IDENTITY;
    for (name, value) in headers {
        if name == GRPC_ENCODING {
            encoding = encoding.or(Some(value));
        } else if name == GRPC_ACCEPT_ENCODING {
            accepts = accepts.union(EncodingSet::parse(value));
        }
    }
    (encoding, accepts)
}

fn response_head(
    metadata: Metadata,
    send: &Sending,
    encoding: CompressionEncoding,
    body: ResponseBody,
) -> http::Response<ResponseBody> {
    let mut response = http::Response::new(body);
    let headers = response.headers_mut();
    *headers = metadata.into_headers();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    if encoding.is_compressed() {
        headers.insert(GRPC_ENCODING, encoding.to_header_value());
    }
    headers.insert(GRPC_ACCEPT_ENCODING, send.config.accept_encoding.clone());
    response
}

fn respond_one<C: Codec>(
    result: Result<Response<C::Encode>, Status>,
    codec: &mut C,
    context: &CallContext,
    send: Sending,
) -> http::Response<ResponseBody> {
    let response = match result {
        Ok(response) => response,
        Err(status) => {
            return trailers_only(finish::from_handler_error(status, context), context);
        }
    };
    let status = match finish::from_context(context) {
        // With a non-OK code set through the context, the message is not sent.
        Some(status) if !status.is_ok() => return trailers_only(status, context),
        status => status,
    };
    let (metadata, message, _) = response.into_parts();
    let (mut frames, encoding) = send.frames(context);
    frames.set_message_compression(context.message_compression());
    let data = match glue::encode(&mut frames, &mut codec.encoder(), message) {
        Ok(data) => data,
        Err(status) => return trailers_only(status, context),
    };
    response_head(
        metadata,
        &send,
        encoding,
        ResponseBody::unary(data, status, context),
    )
}

fn respond_stream<C, S>(
    result: Result<Response<S>, Status>,
    codec: &mut C,
    context: &CallContext,
    send: Sending,
) -> http::Response<ResponseBody>
where
    C: Codec,
    C::Encoder: Send + 'static,
    S: Stream<Item = Result<C::Encode, Status>> + Send + 'static,
{
    let response = match result {
        Ok(response) => response,
        Err(status) => {
            return trailers_only(finish::from_handler_error(status, context), context);
        }
    };
    if let Some(status) = context.abort_status() {
        return trailers_only(status, context);
    }
    let (metadata, messages, _) = response.into_parts();
    let (frames, encoding) = send.frames(context);
    let encoded =
        glue::encode_result_stream(messages, codec.encoder(), frames, Some(context.clone()));
    response_head(
        metadata,
        &send,
        encoding,
        ResponseBody::messages(encoded, context),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Body;
    use crate::context::test_context;
    use grpcx_codec::ProstCodec;

    fn call() -> ServerCall {
        let mut request = http::Request::new(Body::empty());
        request.extensions_mut().insert(test_context(None));
        ServerCall::new(request)
    }

    #[test]
    fn encoding_fields_agree_with_lookups_in_small_and_large_maps() {
        use grpcx_codec::CompressionEncoding::{Deflate, Gzip};
        for pad in [0, 20] {
            let mut headers = http::HeaderMap::new();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
            headers.append(GRPC_ENCODING, HeaderValue::from_static("gzip"));
            headers.append(GRPC_ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
            headers.append(GRPC_ENCODING, HeaderValue::from_static("deflate"));
            headers.append(GRPC_ACCEPT_ENCODING, HeaderValue::from_static("deflate"));
            for i in 0..pad {
                let name = http::HeaderName::try_from(format!("x-pad-{i}")).unwrap();
                headers.insert(name, HeaderValue::from_static("p"));
            }
            let (encoding, accepts) = encoding_fields(&headers);
            assert_eq!(encoding, headers.get(GRPC_ENCODING), "pad {pad}");
            assert_eq!(encoding.map(HeaderValue::as_bytes), Some(&b"gzip"[..]));
            assert_eq!(accepts, EncodingSet::from_headers(&headers), "pad {pad}");
            assert!(accepts.contains(Gzip) && accepts.contains(Deflate));
        }
        let empty = http::HeaderMap::new();
        let (encoding, accepts) = encoding_fields(&empty);
        assert_eq!(encoding, None);
        assert_eq!(accepts, EncodingSet::IDENTITY);
    }

    /// Each call boxes its adapter's future once. glibc serves blocks up
    /// to 1,032 bytes from a per-thread cache; a larger one takes the slow
    /// path, measured at ten times the instructions. The adapter's own
    /// share must leave room for the handler's future.
    #[test]
    fn the_adapters_leave_room_under_a_kibibyte() {
        let unary = unary(
            call(),
            ProstCodec::<(), ()>::default(),
            |_: ServerRequest<()>| async { Ok::<_, Status>(Response::new(())) },
        );
        let size = std::mem::size_of_val(&unary);
        assert!(size <= 832, "the unary adapter's future is {size} bytes");
        let streaming = server_streaming(
            call(),
            ProstCodec::<(), ()>::default(),
            |_: ServerRequest<()>| async {
                Ok::<_, Status>(Response::new(futures_util::stream::empty()))
            },
        );
        let size = std::mem::size_of_val(&streaming);
        assert!(
            size <= 832,
            "the server-streaming adapter's future is {size} bytes"
        );
        let bidi = bidi_streaming(
            call(),
            ProstCodec::<(), ()>::default(),
            |request: ServerRequest<Streaming<()>>| async move {
                drop(request);
                Ok::<_, Status>(Response::new(futures_util::stream::empty()))
            },
        );
        let size = std::mem::size_of_val(&bidi);
        assert!(size <= 932, "the bidi adapter's future is {size} bytes");
    }

    #[tokio::test]
    async fn a_request_body_with_no_message_is_unimplemented() {
        let response = unary(
            call(),
            ProstCodec::<(), ()>::default(),
            |_: ServerRequest<()>| async { Ok::<_, Status>(Response::new(())) },
        )
        .await;
        // The status stays a value in the body until the server writes it.
        let status = response.body().status().unwrap();
        assert_eq!(status.code(), grpcx_status::Code::Unimplemented);
        assert_eq!(status.message(), "the client sent no request message");
    }
}
