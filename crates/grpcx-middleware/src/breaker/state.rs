//! The breaker's state machine and its rolling window.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use grpcx_status::Code;

use super::config::BreakerConfig;

/// A circuit breaker: the decision core, with no I/O and no clock of its
/// own. Every method takes the current time as `now`.
///
/// `Breaker` is a handle: cloning it is one `Arc` clone, and every clone
/// sees the same state, so a layer keeps one per channel (or one per
/// method) and hands clones to its calls. It is `Send + Sync`.
///
/// Inside, one `Mutex` guards the state and the window. A decision reads
/// the window's totals and may change the state in the same step (the
/// last failure that trips the ratio must open the breaker exactly once,
/// and half-open must hand out no more than its trial permits), which is
/// simple and obviously right under a lock and subtle with atomics. The
/// lock is held for a few arithmetic operations, never across an `await`,
/// and nothing inside it allocates or panics; a poisoned lock is taken over
/// as is.
///
/// See the [module docs](super) for a walk through the states.
#[derive(Clone)]
pub struct Breaker {
    shared: Arc<Shared>,
}

/// Leave to make one call, from [`Breaker::try_acquire`].
///
/// Report the call's outcome with [`Permit::record`]. A permit dropped
/// without a record (the caller cancelled the call, or it never got an
/// answer) counts as neither a success nor a failure: cancelling says
/// nothing about the server's health. A half-open trial permit dropped
/// that way frees its slot for another trial call.
#[must_use = "a permit is meant to be recorded with the call's outcome"]
pub struct Permit {
    breaker: Breaker,
    trial: bool,
    generation: u64,
    recorded: bool,
}

/// The refusal of an open (or a full half-open) breaker, from
/// [`Breaker::try_acquire`]: fail the call fast, without sending it.
///
/// [`Open::to_status`] makes the `Status` to fail it with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Open {
    pub(super) retry_after: Duration,
    pub(super) half_open: bool,
}

/// Where a breaker stands, for observability.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BreakerState {
    /// Calls flow, and their outcomes fill the rolling window.
    Closed,
    /// Calls fail fast until the open duration has passed.
    Open,
    /// A few trial calls are let through to probe the server.
    HalfOpen,
}

/// A change of a breaker's state: from, to.
pub(crate) type StateChange = (BreakerState, BreakerState);

struct Shared {
    config: BreakerConfig,
    inner: Mutex<Inner>,
}

struct Inner {
    state: State,
    /// Bumped on every state change, so a permit from an earlier state is
    /// recognised and its outcome ignored.
    generation: u64,
    /// Consecutive openings since the breaker last closed.
    opens: u32,
    window: Window,
}

#[derive(Clone, Copy)]
enum State {
    Closed,
    Open { since: Instant, open_for: Duration },
    HalfOpen { in_flight: u32, successes: u32 },
}

/// A ring of fixed buckets of counters: allocated once, never per call.
struct Window {
    buckets: Box<[Bucket]>,
    width: Duration,
    head: usize,
    /// When the head bucket started; `None` until the first call.
    head_start: Option<Instant>,
    calls: u64,
    failures: u64,
}

#[derive(Clone, Copy, Default)]
struct Bucket {
    calls: u64,
    failures: u64,
}

impl Breaker {
    /// A closed breaker with `config`.
    pub fn new(config: BreakerConfig) -> Breaker {
        let window = Window::new(config.buckets(), config.bucket_width());
        Breaker {
            shared: Arc::new(Shared {
                config,
                inner: Mutex::new(Inner {
                    state: State::Closed,
                    generation: 0,
                    opens: 0,
                    window,
                }),
            }),
        }
    }

    /// The breaker's config.
    pub fn config(&self) -> &BreakerConfig {
        &self.shared.config
    }

    /// Asks to make a call at `now`.
    ///
    /// Closed, the breaker always grants a permit. Open, it refuses until
    /// the open duration has passed, then turns half-open. Half-open, it
    /// grants at most `half_open_calls` trial permits at once.
    ///
    /// # Errors
    ///
    /// [`Open`] when the call must fail fast: its
    /// [`retry_after`](Open::retry_after) is the open time left, or zero
    /// when the breaker is half-open and all its trial calls are out.
    pub fn try_acquire(&self, now: Instant) -> Result<Permit, Open> {
        self.acquire(now).0
    }

    /// [`try_acquire`](Self::try_acquire), and the state change it made
    /// (open to half-open), if any.
    pub(crate) fn acquire(&self, now: Instant) -> (Result<Permit, Open>, Option<StateChange>) {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let mut change = None;
        if let State::Open { since, open_for } = inner.state {
            let elapsed = now.saturating_duration_since(since);
            if elapsed < open_for {
                let open = Open {
                    retry_after: open_for - elapsed,
                    half_open: false,
                };
                return (Err(open), None);
            }
            inner.change(State::HalfOpen {
                in_flight: 0,
                successes: 0,
            });
            change = Some((BreakerState::Open, BreakerState::HalfOpen));
        }
        let trial = match &mut inner.state {
            State::Closed => false,
            State::HalfOpen { in_flight, .. } => {
                if *in_flight >= self.shared.config.half_open_calls() {
                    let open = Open {
                        retry_after: Duration::ZERO,
                        half_open: true,
                    };
                    return (Err(open), change);
                }
                *in_flight += 1;
                true
            }
            // Turned half-open above.
            State::Open { .. } => false,
        };
        let permit = Permit {
            breaker: self.clone(),
            trial,
            generation: inner.generation,
            recorded: false,
        };
        (Ok(permit), change)
    }

    /// Where the breaker stands. An open breaker whose time is up still
    /// reports [`BreakerState::Open`] until the next
    /// [`try_acquire`](Self::try_acquire) turns it half-open.
    pub fn state(&self) -> BreakerState {
        self.lock().state.public()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Nothing under the lock panics, so a poisoned lock holds
        // consistent counters; take it over rather than fail every call.
        self.shared
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Ends `permit`'s call: with its code and time when it was recorded,
    /// with `None` when it was dropped. Returns the state change the
    /// outcome made, if any.
    fn finish(&self, permit: &Permit, outcome: Option<(Code, Instant)>) -> Option<StateChange> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let before = inner.state.public();
        let generation = inner.generation;
        self.apply(inner, permit, outcome);
        (inner.generation != generation).then(|| (before, inner.state.public()))
    }

    fn apply(&self, inner: &mut Inner, permit: &Permit, outcome: Option<(Code, Instant)>) {
        let config = &self.shared.config;
        if permit.generation != inner.generation {
            // The breaker changed state since the permit was granted: the
            // outcome describes a server the breaker has already judged.
            return;
        }
        let Some((code, now)) = outcome else {
            if let State::HalfOpen { in_flight, .. } = &mut inner.state {
                *in_flight = in_flight.saturating_sub(1);
            }
            return;
        };
        let failure = config.is_failure(code);
        match &mut inner.state {
            State::Closed => {
                inner.window.record(now, failure);
                if inner.window.trips(config) {
                    inner.open(config, now);
                }
            }
            State::HalfOpen {
                in_flight,
                successes,
            } => {
                *in_flight = in_flight.saturating_sub(1);
                if failure {
                    inner.open(config, now);
                } else {
                    *successes += 1;
                    if *successes >= config.half_open_successes() {
                        inner.opens = 0;
                        inner.window.clear();
                        inner.change(State::Closed);
                    }
                }
            }
            // Permits granted while open are from an earlier generation.
            State::Open { .. } => {}
        }
    }
}

impl fmt::Debug for Breaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Breaker")
            .field("state", &self.state())
            .field("config", &self.shared.config)
            .finish()
    }
}

impl Permit {
    /// Reports that the call ended with `code` at `now`.
    ///
    /// The code counts as a failure when it is in the config's
    /// [`failure_codes`](BreakerConfig::failure_codes); any other code,
    /// `OK` and the client-fault codes included, counts as a success: the
    /// server was well enough to answer.
    pub fn record(self, code: Code, now: Instant) {
        self.record_change(code, now);
    }

    /// [`record`](Self::record), and the state change the outcome made, if
    /// any.
    pub(crate) fn record_change(mut self, code: Code, now: Instant) -> Option<StateChange> {
        self.recorded = true;
        self.breaker.finish(&self, Some((code, now)))
    }

    /// Whether this is a half-open trial permit.
    pub fn is_trial(&self) -> bool {
        self.trial
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.recorded && self.trial {
            // Freeing a trial slot changes no state.
            let _ = self.breaker.finish(self, None);
        }
    }
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("trial", &self.trial)
            .finish_non_exhaustive()
    }
}

impl Open {
    /// How long until the breaker lets a call through: the open time left,
    /// or zero when it is half-open and waiting for its trial calls.
    pub fn retry_after(&self) -> Duration {
        self.retry_after
    }

    /// Whether the breaker refused because it is half-open with all its
    /// trial calls out, rather than open.
    pub fn is_half_open(&self) -> bool {
        self.half_open
    }
}

impl State {
    fn public(self) -> BreakerState {
        match self {
            State::Closed => BreakerState::Closed,
            State::Open { .. } => BreakerState::Open,
            State::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }
}

impl Inner {
    fn change(&mut self, state: State) {
        self.state = state;
        self.generation = self.generation.wrapping_add(1);
    }

    fn open(&mut self, config: &BreakerConfig, now: Instant) {
        self.opens = self.opens.saturating_add(1);
        let open_for = config.open_duration(self.opens);
        self.change(State::Open {
            since: now,
            open_for,
        });
    }
}

impl Window {
    fn new(buckets: u32, width: Duration) -> Window {
        Window {
            buckets: vec![Bucket::default(); buckets as usize].into_boxed_slice(),
            width,
            head: 0,
            head_start: None,
            calls: 0,
            failures: 0,
        }
    }

    fn clear(&mut self) {
        self.buckets.fill(Bucket::default());
        self.head_start = None;
        self.calls = 0;
        self.failures = 0;
    }

    /// Moves the head to the bucket holding `now`, emptying the buckets
    /// that fell out of the window. A `now` earlier than the head bucket
    /// (a caller's clock read before another's) lands in the head bucket.
    fn advance(&mut self, now: Instant) {
        let Some(start) = self.head_start else {
            self.head_start = Some(now);
            return;
        };
        let elapsed = now.saturating_duration_since(start);
        let steps = elapsed.as_nanos() / self.width.as_nanos().max(1);
        if steps == 0 {
            return;
        }
        let len = self.buckets.len();
        if steps >= len as u128 {
            self.clear();
            self.head_start = Some(now);
            return;
        }
        for _ in 0..steps {
            self.head = (self.head + 1) % len;
            let old = std::mem::take(&mut self.buckets[self.head]);
            self.calls -= old.calls;
            self.failures -= old.failures;
        }
        // `steps` is below the bucket count, so it fits in a u32.
        let shift = self.width * steps as u32;
        self.head_start = start.checked_add(shift).or(Some(now));
    }

    fn record(&mut self, now: Instant, failure: bool) {
        self.advance(now);
        let bucket = &mut self.buckets[self.head];
        bucket.calls += 1;
        self.calls += 1;
        if failure {
            bucket.failures += 1;
            self.failures += 1;
        }
    }

    fn trips(&self, config: &BreakerConfig) -> bool {
        if let Some(count) = config.failure_count() {
            if self.failures >= u64::from(count) {
                return true;
            }
        }
        if let Some((ratio, minimum_calls)) = config.failure_ratio() {
            if self.calls >= u64::from(minimum_calls)
                // Dividing rounds the true quotient once, so a ratio met
                // exactly (7 of 100 against 0.07) compares equal.
                && self.failures as f64 / self.calls as f64 >= ratio
            {
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    const MS: Duration = Duration::from_millis(1);

    fn breaker(builder: super::super::BreakerConfigBuilder) -> Breaker {
        Breaker::new(builder.build().unwrap())
    }

    fn call(breaker: &Breaker, code: Code, now: Instant) {
        breaker.try_acquire(now).unwrap().record(code, now);
    }

    fn counts(breaker: &Breaker) -> (u64, u64) {
        let inner = breaker.lock();
        (inner.window.calls, inner.window.failures)
    }

    fn count_breaker() -> Breaker {
        breaker(
            BreakerConfig::builder()
                .window(Duration::from_secs(10), 10)
                .without_failure_ratio()
                .failure_count(3)
                .open_for(Duration::from_secs(1))
                .max_open_for(Duration::from_secs(4))
                .half_open_calls(2)
                .half_open_successes(2),
        )
    }

    #[test]
    fn opens_on_the_failure_count() {
        let b = count_breaker();
        let t0 = Instant::now();
        call(&b, Code::Unavailable, t0);
        call(&b, Code::Ok, t0 + MS);
        call(&b, Code::Internal, t0 + 2 * MS);
        assert_eq!(b.state(), BreakerState::Closed);
        call(&b, Code::DeadlineExceeded, t0 + 3 * MS);
        assert_eq!(b.state(), BreakerState::Open);
    }

    #[test]
    fn failures_expire_as_buckets_roll() {
        let b = count_breaker();
        let t0 = Instant::now();
        call(&b, Code::Unavailable, t0);
        call(&b, Code::Unavailable, t0 + Duration::from_millis(1500));
        assert_eq!(counts(&b), (2, 2));
        // At 10s the first bucket [0s, 1s) has left the window.
        call(&b, Code::Ok, t0 + Duration::from_secs(10));
        assert_eq!(counts(&b), (2, 1));
        call(&b, Code::Unavailable, t0 + Duration::from_secs(10));
        assert_eq!(b.state(), BreakerState::Closed);
        // At 11s the second one has too.
        call(&b, Code::Ok, t0 + Duration::from_secs(11));
        assert_eq!(counts(&b), (3, 1));
        // A long silence empties the whole window.
        call(&b, Code::Ok, t0 + Duration::from_secs(100));
        assert_eq!(counts(&b), (1, 0));
        // A late clock reading lands in the head bucket.
        call(&b, Code::Unavailable, t0);
        assert_eq!(counts(&b), (2, 1));
    }

    #[test]
    fn ratio_waits_for_minimum_calls() {
        let b = breaker(
            BreakerConfig::builder()
                .window(Duration::from_secs(10), 10)
                .failure_ratio(0.5, 4),
        );
        let t0 = Instant::now();
        call(&b, Code::Unavailable, t0);
        call(&b, Code::Unavailable, t0);
        call(&b, Code::Unavailable, t0);
        assert_eq!(b.state(), BreakerState::Closed, "three calls are too few");
        // A success reaches the minimum with the ratio at 3/4.
        call(&b, Code::Ok, t0);
        assert_eq!(b.state(), BreakerState::Open);
    }

    #[test]
    fn ratio_met_exactly_opens() {
        for (failures, state) in [(6, BreakerState::Closed), (7, BreakerState::Open)] {
            let b = breaker(BreakerConfig::builder().failure_ratio(0.07, 100));
            let t0 = Instant::now();
            for i in 0..100 {
                let code = if i < 100 - failures {
                    Code::Ok
                } else {
                    Code::Internal
                };
                call(&b, code, t0);
            }
            assert_eq!(b.state(), state, "{failures} failures");
        }
    }

    #[test]
    fn ratio_below_threshold_stays_closed() {
        let b = breaker(
            BreakerConfig::builder()
                .window(Duration::from_secs(10), 10)
                .failure_ratio(0.5, 4),
        );
        let t0 = Instant::now();
        for _ in 0..10 {
            call(&b, Code::Ok, t0);
            call(&b, Code::Ok, t0);
            call(&b, Code::Unavailable, t0);
        }
        assert_eq!(b.state(), BreakerState::Closed);
        assert_eq!(counts(&b), (30, 10));
    }

    #[test]
    fn client_fault_codes_are_ignored_by_default() {
        let b = count_breaker();
        let t0 = Instant::now();
        for code in [
            Code::InvalidArgument,
            Code::NotFound,
            Code::AlreadyExists,
            Code::PermissionDenied,
            Code::Unauthenticated,
            Code::FailedPrecondition,
            Code::OutOfRange,
        ] {
            for _ in 0..5 {
                call(&b, code, t0);
            }
        }
        assert_eq!(b.state(), BreakerState::Closed);
        assert_eq!(counts(&b), (35, 0));
    }

    #[test]
    fn open_fails_fast_with_decreasing_retry_after() {
        let b = count_breaker();
        let t0 = Instant::now();
        for _ in 0..3 {
            call(&b, Code::Unavailable, t0);
        }
        let open = b.try_acquire(t0).unwrap_err();
        assert_eq!(open.retry_after(), Duration::from_secs(1));
        assert!(!open.is_half_open());
        let open = b.try_acquire(t0 + Duration::from_millis(400)).unwrap_err();
        assert_eq!(open.retry_after(), Duration::from_millis(600));
        let open = b.try_acquire(t0 + Duration::from_millis(999)).unwrap_err();
        assert_eq!(open.retry_after(), MS);
        assert_eq!(b.state(), BreakerState::Open);
        let permit = b.try_acquire(t0 + Duration::from_secs(1)).unwrap();
        assert!(permit.is_trial());
        assert_eq!(b.state(), BreakerState::HalfOpen);
    }

    fn opened(b: &Breaker, t0: Instant) -> Instant {
        for _ in 0..3 {
            call(b, Code::Unavailable, t0);
        }
        t0 + Duration::from_secs(1)
    }

    #[test]
    fn half_open_admits_only_the_trial_calls_and_closes() {
        let b = count_breaker();
        let t = opened(&b, Instant::now());
        let first = b.try_acquire(t).unwrap();
        let second = b.try_acquire(t).unwrap();
        let refused = b.try_acquire(t).unwrap_err();
        assert!(refused.is_half_open());
        assert_eq!(refused.retry_after(), Duration::ZERO);
        first.record(Code::Ok, t);
        assert_eq!(b.state(), BreakerState::HalfOpen);
        // A slot is free again, but the third trial is still one too many
        // until the second reports.
        let third = b.try_acquire(t).unwrap();
        assert!(b.try_acquire(t).is_err());
        second.record(Code::Ok, t);
        assert_eq!(b.state(), BreakerState::Closed);
        // The straggler belongs to the half-open state and is ignored.
        third.record(Code::Unavailable, t);
        assert_eq!(counts(&b), (0, 0));
        assert!(!b.try_acquire(t).unwrap().is_trial());
    }

    #[test]
    fn half_open_failure_reopens_for_longer() {
        let b = count_breaker();
        let t0 = Instant::now();
        let mut t = opened(&b, t0);
        for expected in [2, 4, 4] {
            b.try_acquire(t).unwrap().record(Code::Unavailable, t);
            assert_eq!(b.state(), BreakerState::Open);
            let open = b.try_acquire(t).unwrap_err();
            assert_eq!(open.retry_after(), Duration::from_secs(expected));
            t += Duration::from_secs(expected);
        }
        // Closing resets the growth.
        for _ in 0..2 {
            b.try_acquire(t).unwrap().record(Code::Ok, t);
        }
        assert_eq!(b.state(), BreakerState::Closed);
        let t = opened(&b, t);
        let open = b.try_acquire(t - MS).unwrap_err();
        assert_eq!(open.retry_after(), MS);
    }

    #[test]
    fn dropped_permits_count_as_neither() {
        let b = count_breaker();
        let t0 = Instant::now();
        for _ in 0..5 {
            drop(b.try_acquire(t0).unwrap());
        }
        assert_eq!(counts(&b), (0, 0));
        let t = opened(&b, t0);
        let first = b.try_acquire(t).unwrap();
        let second = b.try_acquire(t).unwrap();
        drop(first);
        let third = b.try_acquire(t).unwrap();
        assert!(b.try_acquire(t).is_err());
        second.record(Code::Ok, t);
        third.record(Code::Ok, t);
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn stale_closed_permits_are_ignored_after_opening() {
        let b = count_breaker();
        let t0 = Instant::now();
        let late = b.try_acquire(t0).unwrap();
        opened(&b, t0);
        late.record(Code::Unavailable, t0);
        assert_eq!(
            b.try_acquire(t0).unwrap_err().retry_after(),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn state_changes_are_reported_once_each() {
        let b = count_breaker();
        let t0 = Instant::now();
        for _ in 0..2 {
            let (permit, change) = b.acquire(t0);
            assert_eq!(change, None);
            assert_eq!(permit.unwrap().record_change(Code::Unavailable, t0), None);
        }
        let permit = b.acquire(t0).0.unwrap();
        assert_eq!(
            permit.record_change(Code::Unavailable, t0),
            Some((BreakerState::Closed, BreakerState::Open))
        );
        assert_eq!(b.acquire(t0).1, None, "still open");
        let t = t0 + Duration::from_secs(1);
        let (first, change) = b.acquire(t);
        assert_eq!(change, Some((BreakerState::Open, BreakerState::HalfOpen)));
        let (second, change) = b.acquire(t);
        assert_eq!(change, None);
        assert_eq!(first.unwrap().record_change(Code::Ok, t), None);
        assert_eq!(
            second.unwrap().record_change(Code::Internal, t),
            Some((BreakerState::HalfOpen, BreakerState::Open))
        );
        let t = t + Duration::from_secs(2);
        let trials: Vec<_> = (0..2).map(|_| b.acquire(t).0.unwrap()).collect();
        let changes: Vec<_> = trials
            .into_iter()
            .map(|permit| permit.record_change(Code::Ok, t))
            .collect();
        assert_eq!(
            changes,
            [None, Some((BreakerState::HalfOpen, BreakerState::Closed))]
        );
    }

    #[test]
    fn breaker_is_send_sync_and_cheap_to_clone() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Breaker>();
        assert_send_sync::<Permit>();
        assert_eq!(std::mem::size_of::<Breaker>(), std::mem::size_of::<usize>());
    }

    #[test]
    fn concurrent_calls_stay_consistent() {
        let b = breaker(
            BreakerConfig::builder()
                .window(Duration::from_millis(50), 5)
                .failure_ratio(0.3, 10)
                .open_for(Duration::from_millis(1))
                .max_open_for(Duration::from_millis(4))
                .half_open_calls(2)
                .half_open_successes(2),
        );
        let trials = Arc::new(AtomicU32::new(0));
        let t0 = Instant::now();
        let threads: Vec<_> = (0..4)
            .map(|thread| {
                let b = b.clone();
                let trials = Arc::clone(&trials);
                std::thread::spawn(move || {
                    for i in 0..2000u32 {
                        // Each thread's clock runs 100us a step; across
                        // threads the instants interleave out of order.
                        let now = t0 + Duration::from_micros(100) * i;
                        let Ok(permit) = b.try_acquire(now) else {
                            continue;
                        };
                        if permit.is_trial() {
                            trials.fetch_add(1, Ordering::Relaxed);
                            if let State::HalfOpen { in_flight, .. } = b.lock().state {
                                assert!(in_flight <= 2, "{in_flight} trial calls out");
                            }
                        }
                        match (i + thread) % 4 {
                            0 => permit.record(Code::Unavailable, now),
                            1 => drop(permit),
                            _ => permit.record(Code::Ok, now),
                        }
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        // One failure in three recorded calls trips the 0.3 ratio, so the
        // breaker went round its states.
        assert!(trials.load(Ordering::Relaxed) > 0);
        let inner = b.lock();
        if let State::HalfOpen { in_flight, .. } = inner.state {
            assert_eq!(in_flight, 0, "every trial permit was recorded or dropped");
        }
        let (calls, failures) = inner
            .window
            .buckets
            .iter()
            .fold((0, 0), |(c, f), b| (c + b.calls, f + b.failures));
        assert_eq!(
            (calls, failures),
            (inner.window.calls, inner.window.failures)
        );
    }
}
