//! Blocking handlers: the `blocking_*` method adapters (re-exported from
//! [`server::handler`](crate::server::handler)) and [`ResponseSink`].
//!
//! Each adapter is the async adapter of the same kind with a handler that
//! waits for a permit of the server's blocking pool, then runs the plain
//! function on a blocking thread. Decoding, the response head, trailers,
//! compression, aborts, the deadline and panic containment are the async
//! adapters' own, so both kinds of handler behave the same.

use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;
use grpcx_codec::Codec;
use grpcx_status::Status;
use tokio::runtime::Handle;
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::{AllowBlocking, BlockingStreaming, block_on, inactive_status, must_not_block};
use crate::client::SendError;
use crate::context::CallContext;
use crate::panic::describe_panic;
use crate::request::{Response, ServerRequest};
use crate::server::handler;
use crate::server::{ResponseBody, ServerCall, panicked};
use crate::streaming::Streaming;

/// How many responses a [`ResponseSink`] buffers before `send` blocks: a
/// slow client slows the handler down.
const RESPONSE_BUFFER: usize = 16;

/// Runs a blocking unary handler: one request, one response.
///
/// The handler runs on a thread of the runtime's blocking pool once the
/// server's [`blocking_threads`](crate::Server::blocking_threads) bound
/// allows; everything else is as for [`handler::unary`].
pub async fn blocking_unary<C, F, E>(
    call: ServerCall,
    codec: C,
    handler: F,
) -> http::Response<ResponseBody>
where
    C: Codec,
    F: FnOnce(ServerRequest<C::Decode>) -> Result<Response<C::Encode>, E> + Send + 'static,
    E: Into<Status>,
{
    let pool = Pool::of(&call);
    handler::unary(call, codec, move |request: ServerRequest<C::Decode>| {
        let context = request.context().clone();
        pool.run(context, move |_| handler(request).map_err(Into::into))
    })
    .await
}

/// Runs a blocking server-streaming handler: one request, responses sent
/// through a [`ResponseSink`].
///
/// The response head goes out with the first message (or the status, as
/// Trailers-Only, when the handler fails before sending any); the status
/// follows the last message: `OK` (or what the context set) when the
/// handler returns `Ok(())`, its error otherwise. Everything else is as for
/// [`handler::server_streaming`].
pub async fn blocking_server_streaming<C, F, E>(
    call: ServerCall,
    codec: C,
    handler: F,
) -> http::Response<ResponseBody>
where
    C: Codec,
    F: FnOnce(ServerRequest<C::Decode>, ResponseSink<C::Encode>) -> Result<(), E> + Send + 'static,
    E: Into<Status>,
{
    let pool = Pool::of(&call);
    handler::server_streaming(call, codec, move |request: ServerRequest<C::Decode>| {
        let context = request.context().clone();
        pool.run_streaming(context, move |sink, _| {
            handler(request, sink).map_err(Into::into)
        })
    })
    .await
}

/// Runs a blocking client-streaming handler: requests read as an
/// iterator, one response.
///
/// Reading a request blocks the handler's thread until it arrives, and
/// fails once the call has ended. Everything else is as for
/// [`blocking_unary`].
pub async fn blocking_client_streaming<C, F, E>(
    call: ServerCall,
    codec: C,
    handler: F,
) -> http::Response<ResponseBody>
where
    C: Codec,
    F: FnOnce(ServerRequest<BlockingStreaming<C::Decode>>) -> Result<Response<C::Encode>, E>
        + Send
        + 'static,
    E: Into<Status>,
{
    let pool = Pool::of(&call);
    handler::client_streaming(
        call,
        codec,
        move |request: ServerRequest<Streaming<C::Decode>>| {
            let context = request.context().clone();
            pool.run(context.clone(), move |handle| {
                let request = request
                    .map(|requests| BlockingStreaming::new(requests, handle).with_context(context));
                handler(request).map_err(Into::into)
            })
        },
    )
    .await
}

/// Runs a blocking bidirectional-streaming handler: requests read as an
/// iterator, responses sent through a [`ResponseSink`].
///
/// As for [`blocking_client_streaming`] on the request side and
/// [`blocking_server_streaming`] on the response side.
pub async fn blocking_bidi_streaming<C, F, E>(
    call: ServerCall,
    codec: C,
    handler: F,
) -> http::Response<ResponseBody>
where
    C: Codec,
    F: FnOnce(
            ServerRequest<BlockingStreaming<C::Decode>>,
            ResponseSink<C::Encode>,
        ) -> Result<(), E>
        + Send
        + 'static,
    E: Into<Status>,
{
    let pool = Pool::of(&call);
    handler::bidi_streaming(
        call,
        codec,
        move |request: ServerRequest<Streaming<C::Decode>>| {
            let context = request.context().clone();
            pool.run_streaming(context.clone(), move |sink, handle| {
                let request = request
                    .map(|requests| BlockingStreaming::new(requests, handle).with_context(context));
                handler(request, sink).map_err(Into::into)
            })
        },
    )
    .await
}

/// Where a blocking streaming handler sends its responses.
///
/// [`send`](ResponseSink::send) blocks while the buffer is full, so a slow
/// client slows the handler down, and fails once the call has ended:
/// cancelled by the client, past its deadline, or aborted.
pub struct ResponseSink<T> {
    tx: mpsc::Sender<T>,
    context: CallContext,
    handle: Handle,
}

impl<T> ResponseSink<T> {
    /// Sends a response, blocking while the buffer is full.
    ///
    /// # Errors
    ///
    /// The call has ended ([`SendError`] gives the message back); the
    /// handler should return. Called inside an async runtime, the message
    /// is refused the same way and nothing is sent.
    pub fn send(&self, message: T) -> Result<(), SendError<T>> {
        if !self.context.is_active() || must_not_block() {
            return Err(SendError(message));
        }
        block_on(&self.handle, self.tx.send(message)).map_err(|err| SendError(err.0))
    }

    /// Whether the call has ended, so that sending would fail.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed() || !self.context.is_active()
    }
}

impl<T> fmt::Debug for ResponseSink<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseSink")
            .field("method", &self.context.method())
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

/// The server's bound on blocking handlers running at once.
struct Pool {
    permits: Arc<Semaphore>,
}

impl Pool {
    fn of(call: &ServerCall) -> Pool {
        Pool {
            permits: call.context().config().blocking_permits.clone(),
        }
    }

    /// Waits for a permit (the call's deadline and aborts still apply:
    /// the dispatcher stops waiting for this future), then the runtime to
    /// run a handler on. A call that ended meanwhile is not run.
    async fn admit(
        &self,
        context: &CallContext,
    ) -> Result<(tokio::sync::OwnedSemaphorePermit, Handle), Status> {
        let handle = Handle::try_current()
            .map_err(|_| Status::internal("blocking handlers need a tokio runtime"))?;
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| shutting_down())?;
        if let Some(status) = inactive_status(context) {
            return Err(status);
        }
        Ok((permit, handle))
    }

    /// Runs a handler giving one result on a blocking thread.
    async fn run<R, F>(self, context: CallContext, handler: F) -> Result<R, Status>
    where
        F: FnOnce(Handle) -> Result<R, Status> + Send + 'static,
        R: Send + 'static,
    {
        let (permit, handle) = self.admit(&context).await?;
        let on_thread = handle.clone();
        let task = handle.spawn_blocking(move || {
            let _permit = permit;
            contain(&context, move || handler(on_thread))
        });
        match task.await {
            Ok(result) => result,
            // `contain` caught the handler's panics; a task dropped before it
            // ran means the runtime is shutting down.
            Err(_) => Err(shutting_down()),
        }
    }

    /// Runs a handler sending responses on a blocking thread; resolves with
    /// the response stream once the first message (or the end) is known,
    /// so a handler failing at once gets a Trailers-Only answer.
    async fn run_streaming<T, F>(
        self,
        context: CallContext,
        handler: F,
    ) -> Result<Response<SinkStream<T>>, Status>
    where
        F: FnOnce(ResponseSink<T>, Handle) -> Result<(), Status> + Send + 'static,
        T: Send + 'static,
    {
        let (permit, handle) = self.admit(&context).await?;
        let (tx, messages) = mpsc::channel(RESPONSE_BUFFER);
        let (end_tx, end) = oneshot::channel();
        let sink = ResponseSink {
            tx,
            context: context.clone(),
            handle: handle.clone(),
        };
        let on_thread = handle.clone();
        // Not awaited: the response stream learns the end from `end`.
        drop(handle.spawn_blocking(move || {
            let _permit = permit;
            let result = contain(&context, move || handler(sink, on_thread));
            let _ = end_tx.send(result);
        }));
        let mut stream = SinkStream {
            first: None,
            messages,
            end: Some(end),
            result: None,
            done: false,
        };
        match std::future::poll_fn(|cx| Pin::new(&mut stream).poll_next(cx)).await {
            Some(Err(status)) => Err(status),
            Some(Ok(first)) => {
                stream.first = Some(first);
                Ok(Response::new(stream))
            }
            None => Ok(Response::new(stream)),
        }
    }
}

/// Runs a handler on this (blocking) thread: blocking is allowed, and a
/// panic becomes `INTERNAL` with nothing of it sent (it is logged).
fn contain<R>(
    context: &CallContext,
    handler: impl FnOnce() -> Result<R, Status>,
) -> Result<R, Status> {
    let _allowed = AllowBlocking::enter();
    let _current = context.enter();
    match catch_unwind(AssertUnwindSafe(handler)) {
        Ok(result) => result,
        Err(panic) => {
            tracing::error!(
                method = %context.method(),
                panic = %describe_panic(&*panic),
                "handler panicked"
            );
            Err(panicked())
        }
    }
}

fn shutting_down() -> Status {
    Status::unavailable("the server is shutting down")
}

/// The responses of a blocking streaming handler, then its result.
struct SinkStream<T> {
    /// A message read ahead, before the response head was sent.
    first: Option<T>,
    messages: mpsc::Receiver<T>,
    /// The handler's result, once it returns.
    end: Option<oneshot::Receiver<Result<(), Status>>>,
    /// The handler's result, received, with messages possibly still queued.
    result: Option<Result<(), Status>>,
    done: bool,
}

// Nothing in the stream is ever pinned.
impl<T> Unpin for SinkStream<T> {}

impl<T> Stream for SinkStream<T> {
    type Item = Result<T, Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if let Some(first) = this.first.take() {
            return Poll::Ready(Some(Ok(first)));
        }
        if this.done {
            return Poll::Ready(None);
        }
        if let Some(result) = this.result.take() {
            // Messages sent before the handler returned are all queued by
            // now: send them, then the status.
            if let Ok(message) = this.messages.try_recv() {
                this.result = Some(result);
                return Poll::Ready(Some(Ok(message)));
            }
            this.done = true;
            return Poll::Ready(result.err().map(Err));
        }
        if let Poll::Ready(Some(message)) = this.messages.poll_recv(cx) {
            return Poll::Ready(Some(Ok(message)));
        }
        let Some(end) = &mut this.end else {
            // Unreachable: `end` is only taken when `result` is set.
            this.done = true;
            return Poll::Ready(None);
        };
        let result = match Pin::new(end).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Ok(result)) => result,
            // The task was dropped before it ran: the runtime is shutting down.
            Poll::Ready(Err(_)) => Err(shutting_down()),
        };
        this.end = None;
        this.result = Some(result);
        Pin::new(this).poll_next(cx)
    }
}
