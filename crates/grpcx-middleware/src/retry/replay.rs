//! The replay body of a streaming request: what lets a retry send again the
//! messages an earlier attempt already sent.
//!
//! Modelled on linkerd2-proxy's `ReplayBody`: the state (the frames sent so
//! far and the rest of the source body) lives in a slot shared by every
//! attempt's body, and the attempt's body that polls first takes it out of
//! the slot and keeps it until it is dropped. So a frame costs no lock,
//! only a clone of its `Bytes` (a reference count) while the call may still
//! be retried. An attempt's body replays the recorded frames, then goes on
//! reading the source, recording what it reads.
//!
//! The recording stops (the call commits: no attempt can follow) when it
//! would pass the per-call limit or the channel's budget, when the source
//! fails, or when the retry layer says the call committed (response
//! headers arrived). The recorded bytes are then given back to the
//! channel's budget, once the body holding them has sent what it still had
//! to replay.
//!
//! A later attempt's body waits (pending, woken by the drop) until the
//! earlier attempt's body lets go of the state: hyper drops a request body
//! when its stream ends or is reset, which a failed attempt's stream is.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use grpcx_status::Status;
use grpcx_transport::Body;
use http::HeaderMap;
use http_body::{Frame, SizeHint};

/// The bytes a channel's calls hold for replay, against their limit.
#[derive(Debug)]
pub(crate) struct Budget {
    limit: usize,
    used: AtomicUsize,
}

impl Budget {
    pub(crate) fn new(limit: usize) -> Budget {
        Budget {
            limit,
            used: AtomicUsize::new(0),
        }
    }

    /// The most bytes the budget holds.
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// Takes `len` bytes from the budget; `false` (and nothing taken) when
    /// that would pass the limit.
    pub(crate) fn try_reserve(&self, len: usize) -> bool {
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            let Some(next) = used.checked_add(len).filter(|next| *next <= self.limit) else {
                return false;
            };
            match self
                .used
                .compare_exchange_weak(used, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(now) => used = now,
            }
        }
    }

    /// Gives `len` reserved bytes back.
    pub(crate) fn release(&self, len: usize) {
        if len > 0 {
            self.used.fetch_sub(len, Ordering::Relaxed);
        }
    }

    /// The bytes held now.
    #[cfg(test)]
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }
}

/// The limits a replay records under.
#[derive(Clone, Debug)]
pub(crate) struct Limits {
    /// The most bytes one call records.
    pub(crate) per_call: usize,
    /// The channel's budget, shared by its calls.
    pub(crate) budget: Arc<Budget>,
}

/// The recording and the source, owned by one attempt's body at a time.
struct State {
    /// The data frames read from the source so far, while recording.
    frames: VecDeque<Bytes>,
    /// The request trailers, if the source ended with some.
    trailers: Option<HeaderMap>,
    /// The bytes in `frames`, reserved from the budget.
    len: usize,
    /// The rest of the source; `None` once it ended.
    source: Option<Body>,
    /// Whether frames read from the source are still recorded. Once it
    /// stops, the recording is freed as soon as the body holding the state
    /// has replayed it.
    recording: bool,
    limits: Limits,
}

impl State {
    /// Frees the recording and gives its bytes back to the budget.
    fn free(&mut self) {
        self.frames = VecDeque::new();
        self.limits.budget.release(self.len);
        self.len = 0;
    }

    /// Records `data`; `false` (recording stopped and freed) when it does
    /// not fit the limits.
    fn record(&mut self, data: &Bytes) -> bool {
        let fits = self
            .len
            .checked_add(data.len())
            .is_some_and(|len| len <= self.limits.per_call)
            && self.limits.budget.try_reserve(data.len());
        if fits {
            self.len += data.len();
            self.frames.push_back(data.clone());
        } else {
            self.recording = false;
            self.free();
        }
        fits
    }
}

impl Drop for State {
    fn drop(&mut self) {
        self.limits.budget.release(self.len);
    }
}

/// Where the state waits between attempts.
struct Slot {
    state: Option<State>,
    /// A body waiting for the state, held by an earlier attempt's body.
    waiting: Option<Waker>,
}

struct Shared {
    slot: Mutex<Slot>,
    /// Set when the call commits or recording stops: no attempt follows.
    committed: AtomicBool,
}

/// The retry layer's handle on a streaming request: makes each attempt's
/// body and says whether another attempt is still possible.
#[derive(Clone)]
pub(crate) struct Replay {
    shared: Arc<Shared>,
}

/// One attempt's request body: the recorded frames again, then the rest of
/// the source.
pub(crate) struct ReplayBody {
    shared: Arc<Shared>,
    /// The state, once this body has taken it.
    state: Option<State>,
    /// How many recorded frames this body has replayed.
    replayed: usize,
    /// Whether this body replayed the trailers or saw the end.
    done: bool,
}

impl Replay {
    /// Starts recording `source` under `limits`.
    pub(crate) fn new(source: Body, limits: Limits) -> Replay {
        let state = State {
            frames: VecDeque::new(),
            trailers: None,
            len: 0,
            source: Some(source),
            recording: true,
            limits,
        };
        Replay {
            shared: Arc::new(Shared {
                slot: Mutex::new(Slot {
                    state: Some(state),
                    waiting: None,
                }),
                committed: AtomicBool::new(false),
            }),
        }
    }

    /// The body of the next attempt.
    pub(crate) fn body(&self) -> Body {
        Body::new(ReplayBody {
            shared: self.shared.clone(),
            state: None,
            replayed: 0,
            done: false,
        })
    }

    /// Whether another attempt can replay what was sent: recording has not
    /// stopped and the call has not committed.
    pub(crate) fn can_replay(&self) -> bool {
        !self.shared.committed.load(Ordering::Acquire)
    }

    /// The call committed: no attempt follows, so the recording goes: now
    /// if no body holds it, else once that body has replayed what it still
    /// must send.
    pub(crate) fn commit(&self) {
        self.shared.committed.store(true, Ordering::Release);
        let mut slot = self
            .shared
            .slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(state) = slot.state.as_mut() {
            state.recording = false;
            state.free();
        }
    }
}

impl ReplayBody {
    /// Takes the state from the slot, or registers to be woken when the
    /// body holding it lets go.
    fn acquire(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.state.is_some() {
            return Poll::Ready(());
        }
        let mut slot = self
            .shared
            .slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match slot.state.take() {
            Some(state) => {
                self.state = Some(state);
                Poll::Ready(())
            }
            None => {
                slot.waiting = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl http_body::Body for ReplayBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        if this.acquire(cx).is_pending() {
            return Poll::Pending;
        }
        let committed = this.shared.committed.load(Ordering::Acquire);
        let Some(state) = this.state.as_mut() else {
            return Poll::Ready(None);
        };
        if committed {
            state.recording = false;
        }
        // Replay what an earlier attempt sent.
        if let Some(data) = state.frames.get(this.replayed) {
            this.replayed += 1;
            return Poll::Ready(Some(Ok(Frame::data(data.clone()))));
        }
        if !state.recording && !state.frames.is_empty() {
            state.free();
            this.replayed = 0;
        }
        let Some(source) = state.source.as_mut() else {
            this.done = true;
            return Poll::Ready(state.trailers.clone().map(|t| Ok(Frame::trailers(t))));
        };
        match Pin::new(source).poll_frame(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => {
                state.source = None;
                this.done = true;
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(status))) => {
                // A source that failed cannot be read again: no attempt
                // follows this one.
                state.source = None;
                state.recording = false;
                state.free();
                this.replayed = 0;
                this.shared.committed.store(true, Ordering::Release);
                this.done = true;
                Poll::Ready(Some(Err(status)))
            }
            Poll::Ready(Some(Ok(frame))) => {
                let frame = match frame.into_data() {
                    Ok(data) => {
                        if state.recording {
                            if state.record(&data) {
                                this.replayed += 1;
                            } else {
                                // Over a limit: the call commits.
                                this.replayed = 0;
                                this.shared.committed.store(true, Ordering::Release);
                            }
                        }
                        Frame::data(data)
                    }
                    Err(frame) => {
                        if let Some(trailers) = frame.trailers_ref() {
                            state.trailers = Some(trailers.clone());
                            state.source = None;
                            this.done = true;
                        }
                        frame
                    }
                };
                Poll::Ready(Some(Ok(frame)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        if self.done {
            return true;
        }
        let Some(state) = &self.state else {
            return false;
        };
        self.replayed >= state.frames.len()
            && state.trailers.is_none()
            && state
                .source
                .as_ref()
                .is_none_or(http_body::Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

impl Drop for ReplayBody {
    fn drop(&mut self) {
        if let Some(state) = self.state.take() {
            let mut slot = self
                .shared
                .slot
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            slot.state = Some(state);
            if let Some(waker) = slot.waiting.take() {
                waker.wake();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body::Body as _;
    use http_body_util::BodyExt as _;

    fn limits(per_call: usize, budget: usize) -> Limits {
        Limits {
            per_call,
            budget: Arc::new(Budget::new(budget)),
        }
    }

    fn source(chunks: &[&'static [u8]]) -> Body {
        let chunks: Vec<Result<Frame<Bytes>, Status>> = chunks
            .iter()
            .map(|c| Ok(Frame::data(Bytes::from_static(c))))
            .collect();
        Body::new(http_body_util::StreamBody::new(futures_util::stream::iter(
            chunks,
        )))
    }

    async fn read_all(body: Body) -> Vec<u8> {
        body.collect().await.unwrap().to_bytes().to_vec()
    }

    #[tokio::test]
    async fn a_later_attempt_replays_what_was_sent_then_reads_on() {
        let limits = limits(1024, 1024);
        let budget = limits.budget.clone();
        let replay = Replay::new(source(&[b"ab", b"cd", b"ef"]), limits);
        // The first attempt reads two frames, then fails and is dropped.
        let mut first = replay.body();
        let a = first.frame().await.unwrap().unwrap().into_data().unwrap();
        let b = first.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!((&a[..], &b[..]), (&b"ab"[..], &b"cd"[..]));
        assert_eq!(budget.used(), 4);
        drop(first);
        assert!(replay.can_replay());
        // The second replays both and reads the third from the source.
        assert_eq!(read_all(replay.body()).await, b"abcdef");
        assert_eq!(budget.used(), 6);
        // A third sends the whole recording again.
        assert_eq!(read_all(replay.body()).await, b"abcdef");
        replay.commit();
        assert!(!replay.can_replay());
        assert_eq!(budget.used(), 0, "a commit frees the recording");
    }

    #[tokio::test]
    async fn passing_the_per_call_limit_commits_and_frees_the_recording() {
        let limits = limits(3, 1024);
        let budget = limits.budget.clone();
        let replay = Replay::new(source(&[b"ab", b"cd", b"ef"]), limits);
        assert_eq!(read_all(replay.body()).await, b"abcdef", "the body goes on");
        assert!(!replay.can_replay());
        assert_eq!(budget.used(), 0);
    }

    #[tokio::test]
    async fn passing_the_channel_budget_commits() {
        let limits = limits(1024, 5);
        let budget = limits.budget.clone();
        assert!(budget.try_reserve(2), "another call holds 2 bytes");
        let replay = Replay::new(source(&[b"ab", b"cd"]), limits);
        assert_eq!(read_all(replay.body()).await, b"abcd");
        assert!(!replay.can_replay());
        assert_eq!(budget.used(), 2);
    }

    #[tokio::test]
    async fn a_commit_during_a_replay_still_sends_every_recorded_frame() {
        let limits = limits(1024, 1024);
        let budget = limits.budget.clone();
        let replay = Replay::new(source(&[b"ab", b"cd", b"ef"]), limits);
        let mut first = replay.body();
        let _ = first.frame().await.unwrap().unwrap();
        let _ = first.frame().await.unwrap().unwrap();
        drop(first);
        let mut second = replay.body();
        let a = second.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(&a[..], b"ab");
        // The second attempt's headers arrive while it replays.
        replay.commit();
        assert_eq!(read_all(second).await, b"cdef");
        assert_eq!(budget.used(), 0);
    }

    #[tokio::test]
    async fn a_body_waits_for_the_earlier_attempt_to_let_go() {
        let replay = Replay::new(source(&[b"ab"]), limits(1024, 1024));
        let mut first = replay.body();
        let _ = first.frame().await.unwrap().unwrap();
        let mut second = replay.body();
        let mut cx = Context::from_waker(Waker::noop());
        assert!(Pin::new(&mut second).poll_frame(&mut cx).is_pending());
        drop(first);
        assert_eq!(read_all(second).await, b"ab");
    }
}
