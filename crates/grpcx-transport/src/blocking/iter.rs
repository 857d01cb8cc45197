//! [`BlockingStreaming`]: a stream of messages as an iterator.

use std::fmt;

use grpcx_status::{Metadata, Status};
use tokio::runtime::Handle;

use super::{RuntimeRef, block_on, call_ended, in_async_runtime, must_not_block};
use crate::context::CallContext;
use crate::streaming::Streaming;

/// The messages of a call's incoming stream, read by blocking: the
/// responses a [`BlockingChannel`](super::BlockingChannel) client reads,
/// or the requests a blocking server handler reads.
///
/// It is an [`Iterator`] of `Result<T, Status>`, or call
/// [`message`](BlockingStreaming::message). On the client the stream ends
/// with `None` when the server's status is `OK` (its trailers are then in
/// [`trailers`](BlockingStreaming::trailers)), and with one `Err(status)`
/// otherwise; dropping it cancels the call. In a server handler it ends with
/// `None` when the client has sent all its requests, and fails once the
/// call has ended (cancelled, past its deadline, aborted).
///
/// Reading blocks the calling thread; from inside an async runtime it
/// fails with `INTERNAL` instead (see the [module docs](super)) and the
/// call is cancelled.
pub struct BlockingStreaming<T> {
    inner: Streaming<T>,
    /// A server call's context: reading stops when the call ends.
    context: Option<CallContext>,
    /// Nothing more to read: an error was reported that `inner` does not know of.
    ended: bool,
    /// Declared last: the runtime outlives the stream's timers and body.
    runtime: RuntimeRef,
}

impl<T> BlockingStreaming<T> {
    /// A stream read on `handle`'s runtime (a server's).
    pub(crate) fn new(inner: Streaming<T>, handle: Handle) -> BlockingStreaming<T> {
        BlockingStreaming::with_runtime(inner, RuntimeRef::borrowed(handle))
    }

    pub(crate) fn with_runtime(inner: Streaming<T>, runtime: RuntimeRef) -> BlockingStreaming<T> {
        BlockingStreaming {
            inner,
            context: None,
            ended: false,
            runtime,
        }
    }

    /// Ties the stream to a server call: reading fails once the call ends.
    pub(crate) fn with_context(mut self, context: CallContext) -> BlockingStreaming<T> {
        self.context = Some(context);
        self
    }

    /// The next message, blocking until it arrives; `Ok(None)` at the end
    /// of a successful stream.
    ///
    /// # Errors
    ///
    /// The status the call failed with: sent by the peer, or made locally
    /// (`DEADLINE_EXCEEDED` for the deadline, `CANCELLED` after
    /// [`cancel`](BlockingStreaming::cancel), `UNAVAILABLE` for a lost
    /// connection, `RESOURCE_EXHAUSTED` or `INTERNAL` for a message over
    /// the size limit or that does not decode). `INTERNAL` when called
    /// inside an async runtime. After an error, the stream is over.
    pub fn message(&mut self) -> Result<Option<T>, Status> {
        if self.ended {
            return Ok(None);
        }
        if must_not_block() {
            self.inner.cancel();
            self.ended = true;
            return Err(in_async_runtime());
        }
        let handle = self.runtime.handle();
        let inner = &mut self.inner;
        let Some(context) = &self.context else {
            return block_on(handle, inner.message());
        };
        let ended = block_on(handle, async {
            tokio::select! {
                biased;
                message = inner.message() => Ok(message),
                status = context.aborted() => Err(status),
                outcome = context.done() => Err(call_ended(outcome)),
            }
        });
        match ended {
            Ok(message) => message,
            Err(status) => {
                self.ended = true;
                Err(status)
            }
        }
    }

    /// The initial metadata (response headers) of a client's call; empty
    /// until they arrive (for a [`bidi`](super::BlockingChannel::bidi_streaming)
    /// call, until the first message or the end is received), and on the
    /// server.
    pub fn initial_metadata(&self) -> &Metadata {
        self.inner.initial_metadata()
    }

    /// The trailing metadata that came with an `OK` status, once the
    /// stream has ended (client side).
    pub fn trailers(&self) -> Option<&Metadata> {
        self.inner.trailers()
    }

    /// Cancels the call (a client's): the HTTP/2 stream is reset with
    /// CANCEL, the server's handler is told, and the next item is one
    /// `CANCELLED` status with [`Origin::Cancelled`](grpcx_status::Origin::Cancelled), after which the
    /// stream ends. Does not block; dropping the stream cancels the call
    /// the same way.
    pub fn cancel(&mut self) {
        self.inner.cancel();
    }
}

impl<T> Iterator for BlockingStreaming<T> {
    type Item = Result<T, Status>;

    fn next(&mut self) -> Option<Self::Item> {
        self.message().transpose()
    }
}

impl<T> fmt::Debug for BlockingStreaming<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingStreaming")
            .field("inner", &self.inner)
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}
