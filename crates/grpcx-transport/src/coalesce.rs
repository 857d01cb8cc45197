//! Write coalescing, for both ends of a connection (`server::conn`'s
//! `Guarded`, `client::connect`'s `GoAwayWatch`).
//!
//! Each call finishing its part of a connection's output wakes the
//! connection's task, and tokio runs a task woken from its worker next
//! (its LIFO slot): left alone, the connection flushes after nearly every
//! call, one `writev` for each few responses. [`Coalescer`] holds the
//! first write of a flush back until the worker has run its other ready
//! tasks: tokio wakes a task deferred by `yield_now` only then (or at its
//! next maintenance, every few dozen tasks, when it never runs out), and
//! the wakes from the calls that come before leave the write waiting. The
//! calls among those tasks add their frames to the same write, and the
//! connection makes one system call where it would make several: on small
//! unary calls the kernel's share of the server's time is about a third.
//!
//! Written here rather than taken from a crate: it is a few lines over
//! tokio's deferred wake, and what it needs to know (whether other calls
//! could join a write) is the connection's.

use std::future::Future as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};

/// Holds the first write of each flush back (see the module docs).
#[derive(Default)]
pub(crate) struct Coalescer {
    state: State,
    wake: Arc<DeferredWake>,
}

/// Where the write held back is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum State {
    /// No write is waiting.
    #[default]
    Idle,
    /// A write waits for [`DeferredWake`] to fire.
    Waiting,
    /// The writes go ahead until the flush is done.
    Writing,
}

/// The waker handed to tokio's deferred wakes: it notes that it fired and
/// wakes the connection.
#[derive(Default)]
struct DeferredWake {
    fired: AtomicBool,
    connection: futures_util::task::AtomicWaker,
}

impl std::task::Wake for DeferredWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.fired.store(true, Ordering::Release);
        self.connection.wake();
    }
}

impl Coalescer {
    /// `Ready` when a write may go: at once when no flush is held back and
    /// `others` is false (nothing would join the write), else once the
    /// worker has run its other ready tasks.
    pub(crate) fn poll_write_turn(&mut self, cx: &mut Context<'_>, others: bool) -> Poll<()> {
        match self.state {
            State::Writing => Poll::Ready(()),
            State::Idle if !others => Poll::Ready(()),
            State::Idle => {
                self.state = State::Waiting;
                self.wake.fired.store(false, Ordering::Relaxed);
                self.wake.connection.register(cx.waker());
                let waker = Waker::from(Arc::clone(&self.wake));
                let mut deferred = Context::from_waker(&waker);
                // Outside a runtime, `yield_now` wakes at once.
                let _ = std::pin::pin!(tokio::task::yield_now()).poll(&mut deferred);
                self.poll_write_turn(cx, others)
            }
            State::Waiting => {
                self.wake.connection.register(cx.waker());
                if self.wake.fired.load(Ordering::Acquire) {
                    self.state = State::Writing;
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            }
        }
    }

    /// The flush is done: the next write is the first of another.
    pub(crate) fn flushed(&mut self) {
        self.state = State::Idle;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_a_runtime_writes_go_at_once() {
        let mut coalescer = Coalescer::default();
        let mut cx = Context::from_waker(Waker::noop());
        assert_eq!(coalescer.poll_write_turn(&mut cx, true), Poll::Ready(()));
        assert_eq!(coalescer.poll_write_turn(&mut cx, true), Poll::Ready(()));
        coalescer.flushed();
        assert_eq!(coalescer.poll_write_turn(&mut cx, false), Poll::Ready(()));
    }

    #[tokio::test]
    async fn a_write_waits_for_the_deferred_wake_and_no_other() {
        let mut coalescer = Coalescer::default();
        let mut cx = Context::from_waker(Waker::noop());
        // Nothing would join: no wait.
        assert_eq!(coalescer.poll_write_turn(&mut cx, false), Poll::Ready(()));
        coalescer.flushed();
        assert_eq!(coalescer.poll_write_turn(&mut cx, true), Poll::Pending);
        // Another wake (a call's) changes nothing.
        assert_eq!(coalescer.poll_write_turn(&mut cx, true), Poll::Pending);
        tokio::task::yield_now().await;
        assert_eq!(coalescer.poll_write_turn(&mut cx, true), Poll::Ready(()));
        // Until the flush is done, the writes go on.
        assert_eq!(coalescer.poll_write_turn(&mut cx, true), Poll::Ready(()));
        coalescer.flushed();
        assert_eq!(coalescer.poll_write_turn(&mut cx, true), Poll::Pending);
    }
}
