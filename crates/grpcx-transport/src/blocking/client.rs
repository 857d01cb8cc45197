//! [`BlockingChannel`] and [`BlockingSender`]: the blocking client.

use std::any::Any;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};

use grpcx_codec::Codec;
use grpcx_status::__private::StatusInternals as _;
use grpcx_status::{Origin, Status};
use http::uri::PathAndQuery;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot};

use super::{
    BlockingStreaming, CallHandle, RuntimeRef, block_on, in_async_runtime, must_not_block,
};
use crate::client::{
    Channel, ClientService, Grpc, ReceiverStream as Receiver, SendError, single_response,
};
use crate::descriptor::MethodKind;
use crate::error::{Error, Kind};
use crate::request::{Request, Response};
use crate::streaming::Streaming;

/// How many requests of a streaming call are buffered before sending
/// blocks (flow control), as for the async [`RequestSender`](crate::client::RequestSender).
const REQUEST_BUFFER: usize = 16;

/// A [`Channel`] for code on plain threads: every call blocks the calling
/// thread until it is done, or returns a [`CallHandle`] to wait on.
///
/// The calls run on a tokio runtime: by default a small one of the
/// channel's own (one worker thread named `grpcx-blocking`), shared by
/// clones of the channel and shut down, without waiting, when the last
/// clone and the last stream, sender and handle made from it are gone.
///
/// Every method refuses to block inside an async runtime, and fails with
/// `INTERNAL` there instead (see the [module docs](super)).
///
/// Like [`Grpc`], it makes its calls on a [`Channel`] or on any
/// [`ClientService`] (tower layers over a channel); a call made on a
/// blocking handler's thread inherits that handler's deadline.
#[derive(Clone, Debug)]
pub struct BlockingChannel<T = Channel> {
    grpc: Grpc<T>,
    runtime: RuntimeRef,
}

impl<T: 'static> BlockingChannel<T> {
    /// A blocking channel making its calls on `channel` (a [`Channel`] or
    /// layers over one), with a runtime of its own.
    ///
    /// # Errors
    ///
    /// The runtime's worker thread could not be started (the system is out
    /// of threads or memory).
    pub fn new(channel: T) -> Result<BlockingChannel<T>, Error> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("grpcx-blocking")
            .enable_all()
            .build()
            .map_err(|err| {
                Error::new(
                    Kind::Runtime,
                    format!("could not start the blocking client's runtime: {err}"),
                )
            })?;
        Ok(BlockingChannel {
            grpc: Grpc::new(channel),
            runtime: RuntimeRef::owned(runtime),
        })
    }

    /// A blocking channel making its calls on `channel`, on the runtime
    /// of `handle`, which must have I/O and timers enabled and keep
    /// running while the channel is used: a multi-thread runtime, or a
    /// current-thread one that another thread is running.
    pub fn with_handle(channel: T, handle: Handle) -> BlockingChannel<T> {
        BlockingChannel {
            grpc: Grpc::new(channel),
            runtime: RuntimeRef::borrowed(handle),
        }
    }
}

impl<T> BlockingChannel<T> {
    /// Replaces the encoding settings (see [`Grpc::with_config`]).
    pub fn with_config(mut self, config: crate::client::ClientConfig) -> BlockingChannel<T> {
        self.grpc = self.grpc.with_config(config);
        self
    }

    /// The async channel (or service) the calls are made on.
    pub fn channel(&self) -> &T {
        self.grpc.get_ref()
    }

    /// The typed async client the calls are made with.
    pub fn grpc(&self) -> &Grpc<T> {
        &self.grpc
    }
}

impl<T: ClientService> BlockingChannel<T> {
    /// Makes a unary call, blocking until the response or the status.
    ///
    /// # Errors
    ///
    /// As for [`Channel::unary`]: the status the server sent, or one made
    /// locally (`DEADLINE_EXCEEDED`, `UNAVAILABLE`, ...). `INTERNAL` when
    /// called inside an async runtime.
    pub fn unary<C>(
        &self,
        path: PathAndQuery,
        request: Request<C::Encode>,
        codec: C,
    ) -> Result<Response<C::Decode>, Status>
    where
        C: Codec + Send + 'static,
    {
        if must_not_block() {
            return Err(in_async_runtime());
        }
        let call = self.grpc.owned_one(path, MethodKind::Unary, request, codec);
        block_on(self.runtime.handle(), async move {
            let stream = call.await?;
            single_response(stream).await
        })
    }

    /// Starts a unary call on the channel's runtime and returns at once; the
    /// [`CallHandle`] gives its result (or cancels it).
    ///
    /// Called inside an async runtime, the call is not made and the handle
    /// gives [`CallError::Rpc`](super::CallError::Rpc) with `INTERNAL`.
    pub fn unary_future<C>(
        &self,
        path: PathAndQuery,
        request: Request<C::Encode>,
        codec: C,
    ) -> CallHandle<Response<C::Decode>>
    where
        C: Codec + Send + 'static,
    {
        if must_not_block() {
            return CallHandle::ready(Err(in_async_runtime()));
        }
        // The call (and the deadline it inherits) is made here, on the
        // caller's thread; the task only runs it.
        let call = self.grpc.owned_one(path, MethodKind::Unary, request, codec);
        CallHandle::spawn(&self.runtime, async move {
            let stream = call.await?;
            single_response(stream).await
        })
    }

    /// Makes a server-streaming call: blocks until the response head, then
    /// gives the responses as an iterator.
    ///
    /// # Errors
    ///
    /// As for [`BlockingChannel::unary`], for the response head; the
    /// stream reports what happens later.
    pub fn server_streaming<C>(
        &self,
        path: PathAndQuery,
        request: Request<C::Encode>,
        codec: C,
    ) -> Result<Response<BlockingStreaming<C::Decode>>, Status>
    where
        C: Codec + Send + 'static,
    {
        if must_not_block() {
            return Err(in_async_runtime());
        }
        let call = self
            .grpc
            .owned_one(path, MethodKind::ServerStreaming, request, codec);
        let stream = block_on(self.runtime.handle(), call)?;
        let metadata = stream.initial_metadata().clone();
        let stream = BlockingStreaming::with_runtime(stream, self.runtime.clone());
        Ok(Response::from_parts(
            stream,
            metadata,
            grpcx_status::Metadata::new(),
        ))
    }

    /// Makes a client-streaming call with the requests of an iterator,
    /// blocking until the response or the status.
    ///
    /// The iterator may block between requests: it is run on a thread of
    /// the runtime's blocking pool (never on an async worker), a few
    /// requests ahead of what the connection has sent. When the call ends
    /// first (a status from the server, the deadline), the rest of the
    /// iterator is not read; a `next` still blocked then finishes on its
    /// own, and its item is dropped.
    ///
    /// # Errors
    ///
    /// As for [`BlockingChannel::unary`].
    ///
    /// # Panics
    ///
    /// When the iterator panics, the call is cancelled (the server never
    /// sees a complete request stream) and the panic resumes on the calling
    /// thread.
    pub fn client_streaming<C, I>(
        &self,
        path: PathAndQuery,
        request: Request<I>,
        codec: C,
    ) -> Result<Response<C::Decode>, Status>
    where
        C: Codec + Send + 'static,
        I: IntoIterator<Item = C::Encode>,
        I::IntoIter: Send + 'static,
    {
        if must_not_block() {
            return Err(in_async_runtime());
        }
        let (tx, rx) = mpsc::channel(REQUEST_BUFFER);
        let (panicked, panic) = oneshot::channel();
        let handle = self.runtime.handle();
        let request = request.map(|messages| {
            let messages = messages.into_iter();
            handle.spawn_blocking(move || drain(messages, tx, panicked));
            Receiver(rx)
        });
        let call = self.grpc.client_streaming(path, request, codec);
        let outcome = block_on(handle, async {
            tokio::select! {
                biased;
                Ok(panicked) = panic => Err(panicked),
                result = call => Ok(result),
            }
        });
        match outcome {
            Ok(result) => result,
            // The call (and its request body) is gone: the stream was reset,
            // not ended. Only now may the request sender go.
            Err(IteratorPanic { payload, sender }) => {
                drop(sender);
                std::panic::resume_unwind(payload)
            }
        }
    }

    /// Starts a bidirectional-streaming call and returns at once: a sender
    /// for the requests and the responses as an iterator.
    ///
    /// The call starts right away on the channel's runtime, so requests
    /// flow before the first response is read (a client may send all its
    /// requests, then read the responses). Dropping or
    /// [closing](BlockingSender::close) the sender ends the request
    /// stream; dropping the response stream cancels the call. Errors,
    /// including ones that prevent the call from starting, come out of the
    /// response stream; called inside an async runtime, the call is not
    /// made, the stream's one item is `INTERNAL` and the sender is closed.
    pub fn bidi_streaming<C>(
        &self,
        path: PathAndQuery,
        request: Request<()>,
        codec: C,
    ) -> (BlockingSender<C::Encode>, BlockingStreaming<C::Decode>)
    where
        C: Codec + Send + 'static,
    {
        let (tx, rx) = mpsc::channel(REQUEST_BUFFER);
        let sender = BlockingSender {
            tx,
            runtime: self.runtime.clone(),
        };
        if must_not_block() {
            // The request receiver is dropped: the sender is closed.
            let refused = Streaming::pending(Box::pin(std::future::ready(Err(in_async_runtime()))));
            return (
                sender,
                BlockingStreaming::with_runtime(refused, self.runtime.clone()),
            );
        }
        let request = request.map(|()| Receiver(rx));
        let call = self
            .grpc
            .owned_streaming(path, MethodKind::BidiStreaming, request, codec);
        // Started now, not on the first read: with nobody reading yet, the
        // requests must still flow.
        let task = self.runtime.handle().spawn(call);
        // Wrapped now: the stream may be dropped before it is ever read.
        let mut task = AbortOnDrop(task);
        let head = Box::pin(async move {
            match (&mut task.0).await {
                Ok(result) => result,
                Err(err) if err.is_panic() => Err(Status::internal("the call panicked")),
                Err(_) => Err(
                    Status::cancelled("the call was dropped: its runtime shut down")
                        .with_origin(Origin::Cancelled),
                ),
            }
        });
        let stream = Streaming::pending(head);
        (
            sender,
            BlockingStreaming::with_runtime(stream, self.runtime.clone()),
        )
    }
}

/// The sending half of a call made with [`BlockingChannel::bidi_streaming`].
pub struct BlockingSender<T> {
    tx: mpsc::Sender<T>,
    runtime: RuntimeRef,
}

impl<T> BlockingSender<T> {
    /// Sends a request, blocking while the buffer is full (flow control).
    ///
    /// # Errors
    ///
    /// The call has ended; its status is on the response stream
    /// ([`SendError`] gives the message back). Called inside an async
    /// runtime, the message is refused the same way and nothing is sent.
    pub fn send(&self, message: T) -> Result<(), SendError<T>> {
        if must_not_block() {
            return Err(SendError(message));
        }
        block_on(self.runtime.handle(), self.tx.send(message)).map_err(|err| SendError(err.0))
    }

    /// Whether the call has ended, so that sending would fail.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Ends the request stream (the same as dropping the sender).
    pub fn close(self) {}
}

impl<T> fmt::Debug for BlockingSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingSender")
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

/// Aborts a task when its awaiter goes away.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What a panicking request iterator left: its panic, and the sender that
/// must outlive the call so the request stream is reset, never ended.
struct IteratorPanic<T> {
    payload: Box<dyn Any + Send>,
    sender: mpsc::Sender<T>,
}

/// Moves the iterator's items into the request stream, on a blocking
/// thread.
fn drain<I: Iterator>(
    messages: I,
    tx: mpsc::Sender<I::Item>,
    panicked: oneshot::Sender<IteratorPanic<I::Item>>,
) {
    let sent = catch_unwind(AssertUnwindSafe(|| {
        for message in messages {
            if tx.blocking_send(message).is_err() {
                // The call has ended: nothing more to send.
                return;
            }
        }
    }));
    if let Err(payload) = sent {
        let _ = panicked.send(IteratorPanic {
            payload,
            sender: tx,
        });
    }
}
