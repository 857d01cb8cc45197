//! The memory budget for request messages being received: per connection
//! and per server, charged as a message's bytes are buffered (until all of
//! it has arrived) and released when it is decoded or the call ends.
//!
//! Two atomic counters and no lock: a charge is a `fetch_add`, taken back
//! when it would pass the limit.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use grpcx_status::__private::StatusInternals as _;
use grpcx_status::{Origin, Status};

/// Freed bytes a [`Charge`] keeps holding until there are this many (or
/// nothing is left): one HTTP/2 DATA frame of the default size.
const RELEASE_AT: usize = 16 * 1024;

/// One budget: bytes in use, and the limit.
#[derive(Debug)]
pub(crate) struct Budget {
    used: AtomicUsize,
    max: usize,
    /// What the budget covers, for the status ("connection", "server").
    scope: &'static str,
}

impl Budget {
    pub(crate) fn new(max: usize, scope: &'static str) -> Arc<Budget> {
        Arc::new(Budget {
            used: AtomicUsize::new(0),
            max,
            scope,
        })
    }

    fn try_charge(&self, bytes: usize) -> bool {
        let before = self.used.fetch_add(bytes, Ordering::AcqRel);
        if before.saturating_add(bytes) > self.max {
            self.used.fetch_sub(bytes, Ordering::AcqRel);
            return false;
        }
        true
    }

    fn release(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::AcqRel);
    }
}

/// The budgets a call's request messages are charged to.
#[derive(Clone, Debug)]
pub(crate) struct Budgets {
    pub(crate) connection: Arc<Budget>,
    pub(crate) server: Arc<Budget>,
}

/// What one call holds of its budgets; released when dropped.
#[derive(Debug)]
pub(crate) struct Charge {
    budgets: Budgets,
    held: usize,
}

impl Charge {
    pub(crate) fn new(budgets: Budgets) -> Charge {
        Charge { budgets, held: 0 }
    }

    /// Holds `bytes` in all, charging the difference when that is more.
    ///
    /// Less is released only when nothing is left or at least
    /// [`RELEASE_AT`] bytes were freed: a stream of small messages decodes
    /// several from each chunk it receives, and releasing after each would
    /// cost two atomic updates of counters that every connection's calls
    /// share (perf showed them at 3% of a client-streaming server's time).
    /// Holding a little more than is buffered, for a while, only makes the
    /// budgets stricter; what is held was charged when it arrived.
    ///
    /// # Errors
    ///
    /// `RESOURCE_EXHAUSTED` when a budget has not the bytes to spare; the
    /// charge is then left as it was.
    pub(crate) fn hold(&mut self, bytes: usize) -> Result<(), Status> {
        if bytes <= self.held {
            let freed = self.held - bytes;
            if freed > 0 && (bytes == 0 || freed >= RELEASE_AT) {
                self.budgets.connection.release(freed);
                self.budgets.server.release(freed);
                self.held = bytes;
            }
            return Ok(());
        }
        let more = bytes - self.held;
        if !self.budgets.connection.try_charge(more) {
            return Err(exhausted(&self.budgets.connection));
        }
        if !self.budgets.server.try_charge(more) {
            self.budgets.connection.release(more);
            return Err(exhausted(&self.budgets.server));
        }
        self.held = bytes;
        Ok(())
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        let _ = self.hold(0);
    }
}

fn exhausted(budget: &Budget) -> Status {
    Status::resource_exhausted(format!(
        "the server's memory budget for request messages being received ({} bytes per {}) is used up; try again later",
        budget.max, budget.scope
    ))
    .with_origin(Origin::Protocol)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_are_bounded_and_released() {
        let budgets = Budgets {
            connection: Budget::new(100, "connection"),
            server: Budget::new(150, "server"),
        };
        let mut a = Charge::new(budgets.clone());
        let mut b = Charge::new(Budgets {
            connection: Budget::new(100, "connection"),
            server: Arc::clone(&budgets.server),
        });
        a.hold(80).unwrap();
        assert!(a.hold(120).is_err(), "over the connection's");
        b.hold(60).unwrap();
        let status = b.hold(90).unwrap_err();
        assert!(status.message().contains("per server"), "{status:?}");
        a.hold(10).unwrap();
        // Less than RELEASE_AT freed: still held, so `b` cannot have more.
        assert!(b.hold(90).is_err(), "80 still held by a");
        a.hold(0).unwrap();
        b.hold(90).unwrap();
        drop(a);
        drop(b);
        assert_eq!(budgets.connection.used.load(Ordering::Acquire), 0);
        assert_eq!(budgets.server.used.load(Ordering::Acquire), 0);
    }

    #[test]
    fn small_releases_wait_until_the_buffer_empties_or_a_frame_was_freed() {
        let budgets = Budgets {
            connection: Budget::new(1 << 20, "connection"),
            server: Budget::new(1 << 20, "server"),
        };
        let used = || budgets.server.used.load(Ordering::Acquire);
        let mut charge = Charge::new(budgets.clone());
        charge.hold(RELEASE_AT).unwrap();
        charge.hold(RELEASE_AT - 1024).unwrap();
        assert_eq!(used(), RELEASE_AT, "1 KiB freed: kept");
        charge.hold(3 * RELEASE_AT).unwrap();
        assert_eq!(used(), 3 * RELEASE_AT, "more is charged at once");
        charge.hold(RELEASE_AT).unwrap();
        assert_eq!(used(), RELEASE_AT, "a frame's worth freed: released");
        charge.hold(1).unwrap();
        assert_eq!(used(), RELEASE_AT);
        charge.hold(0).unwrap();
        assert_eq!(used(), 0, "nothing buffered: all released");
        charge.hold(100).unwrap();
        drop(charge);
        assert_eq!(used(), 0);
        assert_eq!(budgets.connection.used.load(Ordering::Acquire), 0);
    }
}
