//! The blocking API: gRPC calls and handlers for code on plain threads,
//! like grpcio's synchronous API.
//!
//! grpcx is async inside. This module wraps it for callers that are not:
//!
//! - [`BlockingChannel`] makes calls of the four kinds from any thread that
//!   is not running async code. It runs the I/O on a small tokio runtime of
//!   its own (one worker thread, named `grpcx-blocking`) or on one you lend
//!   it with [`BlockingChannel::with_handle`].
//! - [`BlockingChannel::unary_future`] starts a call and returns a
//!   [`CallHandle`] at once, to wait on later (with a timeout if you like)
//!   or to cancel.
//! - [`BlockingStreaming`] is an [`Iterator`] over a stream of messages;
//!   [`BlockingSender`] sends a bidirectional call's requests.
//! - On the server, the `blocking_*` adapters of
//!   [`server::handler`](crate::server::handler) run handlers written as
//!   plain functions on the runtime's blocking pool, bounded by
//!   [`Server::blocking_threads`](crate::Server::blocking_threads). A
//!   streaming handler sends its responses through a [`ResponseSink`].
//!
//! Errors are the same [`Status`] values the async
//! API gives, with their details, metadata and
//! [`Origin`](grpcx_status::Origin).
//!
//! # Never inside async code
//!
//! A blocking call made on an async runtime's thread would stall every task
//! of that thread (or deadlock it). Every blocking method checks: called
//! where a tokio runtime is current (`Handle::try_current()` succeeds), it
//! blocks nothing, does not panic, and fails with `INTERNAL` ("a blocking
//! grpcx call was made inside an async runtime; use the async client
//! there"). The threads grpcx runs blocking handlers on are the exception:
//! a blocking handler may use the blocking API, including a
//! [`BlockingChannel`] to call another server.
//!
//! # Client
//!
//! ```no_run
//! use grpcx_codec::ProstCodec;
//! use grpcx_status::{Code, Status};
//! use grpcx_transport::blocking::BlockingChannel;
//! use grpcx_transport::{Endpoint, Request};
//! use http::uri::PathAndQuery;
//! use std::time::Duration;
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let channel = Endpoint::new("http://127.0.0.1:50051")?.connect_lazy();
//!     let client = BlockingChannel::new(channel)?;
//!
//!     // A unary call: blocks until the answer or the status.
//!     let path = PathAndQuery::from_static("/demo.Echo/Say");
//!     let request = Request::new("hello".to_owned()).with_timeout(Duration::from_secs(5));
//!     match client.unary(path.clone(), request, ProstCodec::<String, String>::default()) {
//!         Ok(response) => println!("{}", response.get_ref()),
//!         Err(status) if status.code() == Code::Unavailable => eprintln!("server down: {status}"),
//!         Err(status) => return Err(status.into()),
//!     }
//!
//!     // The same call in the futures style: start it, wait later.
//!     let mut call = client.unary_future(
//!         path,
//!         Request::new("later".to_owned()),
//!         ProstCodec::<String, String>::default(),
//!     );
//!     let response = call.wait_timeout(Duration::from_secs(1)).map_err(Status::from)?;
//!     println!("{}", response.get_ref());
//!
//!     // A server-streaming call is an iterator of results.
//!     let stream = client.server_streaming(
//!         PathAndQuery::from_static("/demo.Echo/Repeat"),
//!         Request::new("tick".to_owned()),
//!         ProstCodec::<String, String>::default(),
//!     )?;
//!     for message in stream.into_inner() {
//!         println!("{}", message?);
//!     }
//!     Ok(())
//! }
//! ```
//!
//! # Server
//!
//! ```
//! use grpcx_codec::ProstCodec;
//! use grpcx_status::Status;
//! use grpcx_transport::blocking::{BlockingStreaming, ResponseSink};
//! use grpcx_transport::server::{handler, BoxFuture, GrpcService, ResponseBody, ServerCall};
//! use grpcx_transport::{Response, Server, ServerRequest};
//!
//! struct Echo;
//!
//! impl GrpcService for Echo {
//!     fn name(&self) -> &'static str {
//!         "demo.Echo"
//!     }
//!
//!     fn call(&self, method: &str, call: ServerCall) -> BoxFuture<http::Response<ResponseBody>> {
//!         let codec = ProstCodec::<String, String>::default();
//!         match method {
//!             // A plain function: it may block (on a lock, a file, a
//!             // database driver) without stalling the server.
//!             "Say" => Box::pin(handler::blocking_unary(call, codec, |req: ServerRequest<String>| {
//!                 if req.get_ref().is_empty() {
//!                     return Err(Status::invalid_argument("nothing to say"));
//!                 }
//!                 Ok(Response::new(req.into_inner()))
//!             })),
//!             // Reads requests as an iterator, sends through the sink.
//!             "Chat" => Box::pin(handler::blocking_bidi_streaming(
//!                 call,
//!                 codec,
//!                 |req: ServerRequest<BlockingStreaming<String>>, sink: ResponseSink<String>| {
//!                     for message in req.into_inner() {
//!                         if sink.send(format!("echo {}", message?)).is_err() {
//!                             break; // The call has ended.
//!                         }
//!                     }
//!                     Ok::<_, Status>(())
//!                 },
//!             )),
//!             _ => Box::pin(async move { call.unimplemented() }),
//!         }
//!     }
//! }
//!
//! let server = Server::builder().blocking_threads(16).add_service(Echo);
//! # drop(server);
//! ```

mod client;
mod handle;
mod iter;
pub(crate) mod server;

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;

use grpcx_status::Status;
use tokio::runtime::Handle;

pub use client::{BlockingChannel, BlockingSender};
pub use handle::{CallError, CallHandle};
pub use iter::BlockingStreaming;
pub use server::ResponseSink;

/// A runtime to run calls on: a borrowed one, or one a
/// [`BlockingChannel`] started, which lives while any of these does.
#[derive(Clone)]
pub(crate) struct RuntimeRef {
    handle: Handle,
    owner: Option<Arc<OwnedRuntime>>,
}

impl RuntimeRef {
    /// A borrowed runtime.
    pub(crate) fn borrowed(handle: Handle) -> RuntimeRef {
        RuntimeRef {
            handle,
            owner: None,
        }
    }

    /// A runtime of our own, shut down when the last reference goes.
    pub(crate) fn owned(runtime: tokio::runtime::Runtime) -> RuntimeRef {
        RuntimeRef {
            handle: runtime.handle().clone(),
            owner: Some(Arc::new(OwnedRuntime(Some(runtime)))),
        }
    }

    pub(crate) fn handle(&self) -> &Handle {
        &self.handle
    }
}

impl fmt::Debug for RuntimeRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("owned", &self.owner.is_some())
            .finish()
    }
}

struct OwnedRuntime(Option<tokio::runtime::Runtime>);

impl Drop for OwnedRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            // Never blocks, and never panics even where a runtime is current;
            // the connection tasks are dropped, which closes the connections.
            runtime.shutdown_background();
        }
    }
}

/// The status of a blocking method called where it must not block.
pub(crate) fn in_async_runtime() -> Status {
    Status::internal(
        "a blocking grpcx call was made inside an async runtime; use the async client there",
    )
}

pub(crate) use crate::server::{call_ended, inactive_status};

thread_local! {
    /// Set on the threads grpcx runs blocking handlers on: a runtime is
    /// current there, yet blocking is what they are for.
    static BLOCKING_ALLOWED: Cell<bool> = const { Cell::new(false) };
}

/// Whether blocking here would stall an async runtime: a tokio runtime is
/// current, and this is not one of grpcx's blocking-handler threads.
pub(crate) fn must_not_block() -> bool {
    Handle::try_current().is_ok() && !BLOCKING_ALLOWED.try_with(Cell::get).unwrap_or(false)
}

/// Allows blocking on this thread while it lives (a blocking handler runs).
pub(crate) struct AllowBlocking {
    previous: bool,
}

impl AllowBlocking {
    pub(crate) fn enter() -> AllowBlocking {
        let previous = BLOCKING_ALLOWED
            .try_with(|allowed| allowed.replace(true))
            .unwrap_or(false);
        AllowBlocking { previous }
    }
}

impl Drop for AllowBlocking {
    fn drop(&mut self) {
        let _ = BLOCKING_ALLOWED.try_with(|allowed| allowed.set(self.previous));
    }
}

/// Runs `future` to completion on this thread, with `handle`'s runtime as
/// the current one (for spawning, I/O and timers, which its own threads
/// drive). Unlike `Handle::block_on` it never panics, even nested in
/// another `block_on`; callers check [`must_not_block`] first.
pub(crate) fn block_on<F: Future>(handle: &Handle, future: F) -> F::Output {
    let _runtime = handle.enter();
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        // A spurious wake-up only costs one more poll.
        std::thread::park();
    }
}

/// Wakes a thread parked in [`block_on`].
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_threads_may_block_and_runtime_threads_may_not() {
        assert!(!must_not_block());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            assert!(must_not_block());
            {
                let _allowed = AllowBlocking::enter();
                assert!(!must_not_block());
            }
            assert!(must_not_block());
        });
        let on_pool = runtime.block_on(async {
            tokio::task::spawn_blocking(|| {
                let _allowed = AllowBlocking::enter();
                must_not_block()
            })
            .await
            .unwrap()
        });
        assert!(!on_pool);
    }

    #[test]
    fn block_on_drives_timers_of_a_runtime_it_does_not_run() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let handle = runtime.handle().clone();
        let value = block_on(&handle, async {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            tokio::spawn(async { 7 }).await.unwrap()
        });
        assert_eq!(value, 7);
    }
}
