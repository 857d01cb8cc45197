//! [`CallHandle`]: a call running on its own, to wait on or cancel.

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use grpcx_status::__private::StatusInternals as _;
use grpcx_status::{Origin, Status};
use tokio::task::AbortHandle;

use super::{RuntimeRef, in_async_runtime, must_not_block};

/// A call started by
/// [`BlockingChannel::unary_future`](super::BlockingChannel::unary_future),
/// running on the channel's runtime while the caller does something else
/// (grpcio's futures style).
///
/// Take its result with [`wait`](CallHandle::wait), or with
/// [`wait_timeout`](CallHandle::wait_timeout), which gives up waiting
/// without ending the call. [`cancel`](CallHandle::cancel) ends the call.
/// Dropping the handle before the call has finished cancels it too.
///
/// ```no_run
/// # use grpcx_codec::ProstCodec;
/// # use grpcx_transport::blocking::{BlockingChannel, CallError};
/// # use grpcx_transport::Request;
/// # use std::time::Duration;
/// # fn demo(client: BlockingChannel) {
/// let mut call = client.unary_future(
///     http::uri::PathAndQuery::from_static("/demo.Echo/Say"),
///     Request::new("hi".to_owned()),
///     ProstCodec::<String, String>::default(),
/// );
/// loop {
///     match call.wait_timeout(Duration::from_millis(100)) {
///         Ok(response) => break println!("{}", response.get_ref()),
///         Err(CallError::Timeout) => println!("still waiting"),
///         Err(err) => break eprintln!("failed: {err}"),
///     }
/// }
/// # }
/// ```
pub struct CallHandle<T> {
    shared: Arc<Shared<T>>,
    task: Option<AbortHandle>,
    /// Keeps a runtime grpcx started running while the call may use it.
    _runtime: Option<RuntimeRef>,
}

/// Why [`CallHandle`] gave no result.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// The wait timed out; the call goes on and the handle can be waited
    /// on again.
    #[error("the call did not finish within the wait")]
    Timeout,
    /// The call was cancelled through [`CallHandle::cancel`].
    #[error("the call was cancelled")]
    Cancelled,
    /// The result was already taken by an earlier wait.
    #[error("the call's result was already taken")]
    Taken,
    /// The call failed: the status the server sent, or one made locally
    /// (deadline, connection failure, ...), with its code, message,
    /// details, metadata and origin.
    #[error(transparent)]
    Rpc(Status),
}

impl CallError {
    /// The status of a failed call ([`CallError::Rpc`]); `None` for the
    /// other variants.
    pub fn status(&self) -> Option<&Status> {
        match self {
            CallError::Rpc(status) => Some(status),
            _ => None,
        }
    }
}

/// `Timeout` becomes `DEADLINE_EXCEEDED` with [`Origin::Deadline`],
/// `Cancelled` becomes `CANCELLED` with [`Origin::Cancelled`], `Taken`
/// becomes `INTERNAL` (a bug in the caller), and `Rpc` gives its status.
impl From<CallError> for Status {
    fn from(err: CallError) -> Status {
        match err {
            CallError::Timeout => {
                Status::deadline_exceeded("the call did not finish within the wait")
                    .with_origin(Origin::Deadline)
            }
            CallError::Cancelled => {
                Status::cancelled("the call was cancelled").with_origin(Origin::Cancelled)
            }
            CallError::Taken => Status::internal("the call's result was already taken"),
            CallError::Rpc(status) => status,
        }
    }
}

struct Shared<T> {
    slot: Mutex<Slot<T>>,
    /// Notified whenever the slot leaves `Running`.
    finished: Condvar,
}

enum Slot<T> {
    Running,
    Done(Result<T, Status>),
    Cancelled,
    Taken,
}

impl<T> Shared<T> {
    fn new(slot: Slot<T>) -> Shared<T> {
        Shared {
            slot: Mutex::new(slot),
            finished: Condvar::new(),
        }
    }

    fn slot(&self) -> MutexGuard<'_, Slot<T>> {
        // Every update is one assignment: a poisoned slot is still consistent.
        self.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Ends a running call with `result`; a cancelled one stays cancelled.
    fn finish(&self, result: Result<T, Status>) {
        let mut slot = self.slot();
        if matches!(*slot, Slot::Running) {
            *slot = Slot::Done(result);
            self.finished.notify_all();
        }
    }
}

/// Finishes the call when the task ends, even if it never completes: a
/// panic inside the call, or a runtime shut down under it.
struct Completer<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Drop for Completer<T> {
    fn drop(&mut self) {
        let status = if std::thread::panicking() {
            Status::internal("the call panicked")
        } else {
            Status::cancelled("the call was dropped: its runtime shut down")
                .with_origin(Origin::Cancelled)
        };
        self.shared.finish(Err(status));
    }
}

impl<T: Send + 'static> CallHandle<T> {
    /// Runs `call` on `runtime`.
    pub(crate) fn spawn<F>(runtime: &RuntimeRef, call: F) -> CallHandle<T>
    where
        F: Future<Output = Result<T, Status>> + Send + 'static,
    {
        let shared = Arc::new(Shared::new(Slot::Running));
        let completer = Completer {
            shared: shared.clone(),
        };
        let task = runtime.handle().spawn(async move {
            let result = call.await;
            completer.shared.finish(result);
        });
        CallHandle {
            shared,
            task: Some(task.abort_handle()),
            _runtime: Some(runtime.clone()),
        }
    }
}

impl<T> CallHandle<T> {
    /// A call that already ended with `result`.
    pub(crate) fn ready(result: Result<T, Status>) -> CallHandle<T> {
        CallHandle {
            shared: Arc::new(Shared::new(Slot::Done(result))),
            task: None,
            _runtime: None,
        }
    }

    /// Blocks until the call finishes and gives its result.
    ///
    /// # Errors
    ///
    /// [`CallError::Rpc`] with the call's status when it failed;
    /// [`CallError::Cancelled`] after [`cancel`](CallHandle::cancel);
    /// [`CallError::Taken`] when an earlier
    /// [`wait_timeout`](CallHandle::wait_timeout) took the result. Called
    /// inside an async runtime while the call still runs, it does not
    /// block: [`CallError::Rpc`] with `INTERNAL`, and the call is cancelled.
    pub fn wait(self) -> Result<T, CallError> {
        self.wait_until(None)
    }

    /// Blocks until the call finishes or `timeout` passes.
    ///
    /// # Errors
    ///
    /// [`CallError::Timeout`] when `timeout` passed first: the call goes on
    /// and the handle can be waited on again. Otherwise as for
    /// [`wait`](CallHandle::wait); after the result was taken, every wait
    /// gives [`CallError::Taken`]. Called inside an async runtime while the
    /// call still runs, it does not block: [`CallError::Rpc`] with
    /// `INTERNAL`, and the call goes on.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<T, CallError> {
        // A timeout too large for an `Instant` is no timeout.
        self.wait_until(Instant::now().checked_add(timeout))
    }

    fn wait_until(&self, deadline: Option<Instant>) -> Result<T, CallError> {
        let mut slot = self.shared.slot();
        loop {
            match std::mem::replace(&mut *slot, Slot::Taken) {
                Slot::Running => *slot = Slot::Running,
                Slot::Done(result) => return result.map_err(CallError::Rpc),
                Slot::Cancelled => {
                    *slot = Slot::Cancelled;
                    return Err(CallError::Cancelled);
                }
                Slot::Taken => return Err(CallError::Taken),
            }
            if must_not_block() {
                return Err(CallError::Rpc(in_async_runtime()));
            }
            slot = match deadline {
                None => self
                    .shared
                    .finished
                    .wait(slot)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(CallError::Timeout);
                    }
                    self.shared
                        .finished
                        .wait_timeout(slot, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
    }

    /// Cancels the call: the HTTP/2 stream is reset (the server's handler
    /// sees the call cancelled), and waiting gives
    /// [`CallError::Cancelled`]. Does not block. Once the call has
    /// finished, its result stays and cancelling does nothing.
    pub fn cancel(&self) {
        {
            let mut slot = self.shared.slot();
            if !matches!(*slot, Slot::Running) {
                return;
            }
            *slot = Slot::Cancelled;
            self.shared.finished.notify_all();
        }
        if let Some(task) = &self.task {
            task.abort();
        }
    }

    /// Whether the call has finished (or was cancelled): waiting would not
    /// block.
    pub fn is_done(&self) -> bool {
        !matches!(*self.shared.slot(), Slot::Running)
    }

    /// Whether the call was cancelled through
    /// [`cancel`](CallHandle::cancel).
    pub fn is_cancelled(&self) -> bool {
        matches!(*self.shared.slot(), Slot::Cancelled)
    }
}

impl<T> Drop for CallHandle<T> {
    fn drop(&mut self) {
        // Nobody can take the result any more: stop a call still running.
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

impl<T> fmt::Debug for CallHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match *self.shared.slot() {
            Slot::Running => "running",
            Slot::Done(Ok(_)) => "succeeded",
            Slot::Done(Err(_)) => "failed",
            Slot::Cancelled => "cancelled",
            Slot::Taken => "taken",
        };
        f.debug_struct("CallHandle").field("state", &state).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_become_statuses() {
        let status = Status::from(CallError::Timeout);
        assert_eq!(status.code(), grpcx_status::Code::DeadlineExceeded);
        assert_eq!(status.origin(), Origin::Deadline);
        let status = Status::from(CallError::Cancelled);
        assert_eq!(status.code(), grpcx_status::Code::Cancelled);
        assert_eq!(status.origin(), Origin::Cancelled);
        assert_eq!(
            Status::from(CallError::Taken).code(),
            grpcx_status::Code::Internal
        );
        let rpc = CallError::Rpc(Status::not_found("gone"));
        assert_eq!(
            rpc.status().map(Status::code),
            Some(grpcx_status::Code::NotFound)
        );
        assert!(CallError::Timeout.status().is_none());
        assert_eq!(rpc.to_string(), Status::not_found("gone").to_string());
        assert_eq!(Status::from(rpc).message(), "gone");
    }

    #[test]
    fn a_ready_result_is_taken_once() {
        let mut handle = CallHandle::ready(Ok(5));
        assert!(handle.is_done());
        assert!(!handle.is_cancelled());
        assert_eq!(handle.wait_timeout(Duration::ZERO).unwrap(), 5);
        assert!(matches!(
            handle.wait_timeout(Duration::ZERO),
            Err(CallError::Taken)
        ));
        assert!(matches!(handle.wait(), Err(CallError::Taken)));
    }

    #[test]
    fn waits_time_out_then_see_the_result_and_cancel_wins_only_while_running() {
        let runtime = RuntimeRef::owned(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap(),
        );
        let (release, released) = tokio::sync::oneshot::channel::<u32>();
        let mut handle = CallHandle::spawn(&runtime, async move {
            released.await.map_err(|_| Status::internal("dropped"))
        });
        assert!(matches!(
            handle.wait_timeout(Duration::from_millis(20)),
            Err(CallError::Timeout)
        ));
        assert!(!handle.is_done());
        release.send(9).unwrap();
        assert_eq!(handle.wait_timeout(Duration::from_secs(30)).unwrap(), 9);
        handle.cancel();
        assert!(!handle.is_cancelled());

        let handle = CallHandle::<u32>::spawn(&runtime, std::future::pending());
        handle.cancel();
        assert!(handle.is_cancelled());
        assert!(handle.is_done());
        assert!(matches!(handle.wait(), Err(CallError::Cancelled)));
    }

    #[test]
    fn a_panicking_call_fails_with_internal() {
        let runtime = RuntimeRef::owned(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .build()
                .unwrap(),
        );
        let handle = CallHandle::<u32>::spawn(&runtime, async { panic!("codec bug") });
        let err = handle.wait().unwrap_err();
        assert_eq!(
            err.status().map(Status::code),
            Some(grpcx_status::Code::Internal)
        );
    }
}
