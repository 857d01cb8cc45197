//! [`CallContext`]: what a server handler knows about, and can do to, its call.

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use futures_util::task::AtomicWaker;
use std::time::Duration;

use http::uri::PathAndQuery;

use grpcx_codec::CompressionEncoding;
use grpcx_status::{Code, Metadata, Status};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::server::Config;

/// How a call ended, as its [`CallContext`] reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CallOutcome {
    /// The server sent its status (any code) and the call ended normally.
    Completed(Code),
    /// The client cancelled the call, or its connection was lost, before
    /// the server sent a status.
    Cancelled,
    /// The call's deadline passed before the server sent a status.
    DeadlineExceeded,
}

/// The server side of a call, handed to every handler (see
/// `ServerRequest::context`). Cheap to clone: clones share the call.
///
/// Modelled on grpcio's `ServicerContext`:
///
/// - [`set_code`](CallContext::set_code) and [`set_message`](CallContext::set_message)
///   choose the status sent at the end; with a non-OK code a unary
///   response's message is not sent.
/// - [`abort`](CallContext::abort) and [`abort_with_status`](CallContext::abort_with_status)
///   end the call at once with a status (also from another task holding a
///   clone); the handler returns the status they give back.
/// - [`set_trailing_metadata`](CallContext::set_trailing_metadata) adds trailers.
/// - [`is_active`](CallContext::is_active), [`time_remaining`](CallContext::time_remaining)
///   and [`deadline`](CallContext::deadline) tell whether the work is still
///   wanted, and for how long.
/// - [`on_done`](CallContext::on_done) and [`done`](CallContext::done) report how the
///   call ended: completed, cancelled by the client, or past its deadline.
#[derive(Clone)]
pub struct CallContext {
    inner: Arc<Inner>,
}

struct Inner {
    method: PathAndQuery,
    peer: Peer,
    deadline: Option<Instant>,
    /// `grpc-previous-rpc-attempts`, as the client sent it.
    previous_attempts: u32,
    config: Arc<Config>,
    state: Mutex<State>,
    /// Whether the next response messages are compressed (read per message).
    message_compression: AtomicBool,
    /// Set once the outcome is recorded: lets the call's guard skip the
    /// lock on the common path.
    ended: AtomicBool,
    /// [`ABORTED`] and [`SEND_HEADERS`]: what the task driving the call
    /// checks on every poll, without the lock.
    signals: AtomicU8,
    /// The task driving the call (the dispatcher, then the response body),
    /// woken by an abort or `send_headers`.
    driver: AtomicWaker,
    /// Woken when the call is aborted or ends.
    changed: Notify,
    /// The call's tracing span (`Span::none()` when no subscriber wants
    /// it): entered with the context, closed when the last clone goes.
    span: tracing::Span,
}

type Callback = Box<dyn FnOnce(CallOutcome) + Send>;

#[derive(Default)]
struct State {
    code: Option<Code>,
    message: Option<String>,
    trailers: Metadata,
    aborted: Option<Status>,
    outcome: Option<CallOutcome>,
    callbacks: Vec<Callback>,
    request_compression: CompressionEncoding,
    send_compression: Option<CompressionEncoding>,
}

/// A bit of [`Inner::signals`]: the call was aborted.
const ABORTED: u8 = 1;
/// A bit of [`Inner::signals`]: `send_headers` was called and the response
/// body has not yet acted on it.
const SEND_HEADERS: u8 = 2;

/// What the server knows of the other end of a call's connection.
#[derive(Clone, Debug, Default)]
pub(crate) struct Peer {
    pub(crate) addr: Option<SocketAddr>,
    /// The memory budgets of the call's request messages.
    pub(crate) budgets: Option<crate::server::Budgets>,
    #[cfg(feature = "tls-rustls")]
    pub(crate) certificates:
        Option<Arc<[tokio_rustls::rustls::pki_types::CertificateDer<'static>]>>,
}

/// What wakes the task driving a call.
#[derive(Debug)]
pub(crate) enum Signal {
    /// The call was aborted with this status.
    Aborted(Status),
    /// The handler asked for the response headers to go out now.
    SendHeaders,
}

impl CallContext {
    /// A context for a call of `method` (the request's path).
    pub(crate) fn new(
        method: PathAndQuery,
        peer: Peer,
        deadline: Option<Instant>,
        previous_attempts: u32,
        config: Arc<Config>,
    ) -> CallContext {
        CallContext {
            inner: Arc::new(Inner {
                method,
                peer,
                deadline,
                previous_attempts,
                config,
                state: Mutex::new(State::default()),
                message_compression: AtomicBool::new(true),
                ended: AtomicBool::new(false),
                signals: AtomicU8::new(0),
                driver: AtomicWaker::new(),
                changed: Notify::new(),
                span: tracing::Span::none(),
            }),
        }
    }

    /// A context attached to no call, for driving a handler by hand (in a
    /// unit test, say) through [`ServerRequest::new`].
    ///
    /// Whatever the handler does to it can be read back: the code and
    /// message it set, an abort, its trailers. It has no deadline and, as
    /// no server drives it, it never ends: [`on_done`](CallContext::on_done)
    /// callbacks are dropped with it, unrun, and [`done`](CallContext::done)
    /// never resolves.
    ///
    /// [`ServerRequest::new`]: crate::ServerRequest::new
    ///
    /// ```
    /// use grpcx_status::Code;
    /// use grpcx_transport::CallContext;
    ///
    /// let context = CallContext::detached();
    /// context.set_code(Code::NotFound);
    /// assert_eq!(context.code(), Some(Code::NotFound));
    /// assert!(context.is_active());
    /// ```
    pub fn detached() -> CallContext {
        CallContext::new(
            PathAndQuery::from_static("/"),
            Peer::default(),
            None,
            0,
            Arc::default(),
        )
    }

    /// This context, freshly made, as the context of the call `span`
    /// traces.
    pub(crate) fn with_span(mut self, span: tracing::Span) -> CallContext {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.span = span;
        }
        self
    }

    /// The call's tracing span: handlers and response streams run inside
    /// it, and the server's log of the call's failure is an event in it.
    /// A disabled span (`Span::none()`) when no subscriber is interested,
    /// and for a [detached](CallContext::detached) context.
    pub fn span(&self) -> &tracing::Span {
        &self.inner.span
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while the lock is held cannot leave the state inconsistent
        // (every update is a single assignment), so a poisoned lock is used as is.
        self.inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The full method name, `/package.Service/Method`.
    pub fn method(&self) -> &str {
        self.inner.method.path()
    }

    /// How many times the client tried this call before
    /// (`grpc-previous-rpc-attempts`, sent by retrying clients); 0 for a
    /// first attempt.
    pub fn previous_attempts(&self) -> u32 {
        self.inner.previous_attempts
    }

    pub(crate) fn config(&self) -> &Arc<Config> {
        &self.inner.config
    }

    /// The client's address, when the transport knows it.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.inner.peer.addr
    }

    /// The memory budgets the call's request messages are charged to.
    pub(crate) fn budgets(&self) -> Option<&crate::server::Budgets> {
        self.inner.peer.budgets.as_ref()
    }

    /// The certificates the client presented on a TLS connection (its own
    /// first), when it presented any.
    #[cfg(feature = "tls-rustls")]
    pub fn peer_certificates(
        &self,
    ) -> Option<&[tokio_rustls::rustls::pki_types::CertificateDer<'static>]> {
        self.inner.peer.certificates.as_deref()
    }

    /// The call's deadline, from the client's `grpc-timeout`.
    pub fn deadline(&self) -> Option<Instant> {
        self.inner.deadline
    }

    /// The time left before the deadline (zero once it has passed); `None`
    /// when the client set no deadline.
    pub fn time_remaining(&self) -> Option<Duration> {
        self.inner
            .deadline
            .map(|deadline| deadline.saturating_duration_since(Instant::now()))
    }

    /// Whether the call is still wanted: not ended, not cancelled, not
    /// aborted, and not past its deadline.
    pub fn is_active(&self) -> bool {
        let state = self.state();
        state.outcome.is_none()
            && state.aborted.is_none()
            && self.inner.deadline.is_none_or(|d| Instant::now() < d)
    }

    /// Sets the code of the status sent at the end of the call, when the
    /// handler itself returns successfully.
    pub fn set_code(&self, code: Code) {
        self.state().code = Some(code);
    }

    /// Sets the message of the status sent at the end of the call.
    ///
    /// grpcio calls this `set_details`; grpcx keeps "details" for the
    /// typed details of the rich error model ([`Status::details`]).
    ///
    /// [`Status::details`]: grpcx_status::Status::details
    #[doc(alias = "set_details")]
    pub fn set_message(&self, message: impl Into<String>) {
        self.state().message = Some(message.into());
    }

    /// The code set by [`CallContext::set_code`], if any.
    pub fn code(&self) -> Option<Code> {
        self.state().code
    }

    /// The message set by [`CallContext::set_message`], if any.
    pub fn message(&self) -> Option<String> {
        self.state().message.clone()
    }

    /// Adds trailing metadata, sent with the final status whatever it is.
    pub fn set_trailing_metadata(&self, metadata: Metadata) {
        self.state().trailers.extend(metadata);
    }

    /// The compression of the request's messages (`grpc-encoding`).
    pub fn request_compression(&self) -> CompressionEncoding {
        self.state().request_compression
    }

    /// Compresses the response's messages with `encoding` (if the client
    /// accepts it; otherwise they go uncompressed), whatever the server's
    /// default; `Identity` turns compression off for this call. Takes
    /// effect when the handler returns its response.
    pub fn set_compression(&self, encoding: CompressionEncoding) {
        self.state().send_compression = Some(encoding);
    }

    /// Whether the next response messages are compressed, when the call's
    /// responses are (see [`CallContext::set_compression`]); they are by default.
    /// Takes effect from the next message the handler hands over, so a
    /// stream can send some messages uncompressed (say, secrets that must
    /// not be compressed next to attacker-chosen data).
    pub fn set_message_compression(&self, enabled: bool) {
        self.inner
            .message_compression
            .store(enabled, Ordering::Relaxed);
    }

    pub(crate) fn message_compression(&self) -> bool {
        self.inner.message_compression.load(Ordering::Relaxed)
    }

    pub(crate) fn set_request_compression(&self, encoding: CompressionEncoding) {
        self.state().request_compression = encoding;
    }

    pub(crate) fn send_compression(&self) -> Option<CompressionEncoding> {
        self.state().send_compression
    }

    /// Ends the call now with `code` and `message`, and returns that status
    /// for the handler to return.
    ///
    /// Whatever the handler does afterwards, the client receives this
    /// status; a streaming response stops. Called from another task holding
    /// a clone of the context, it ends the call just the same.
    ///
    /// ```
    /// # use grpcx_transport::ServerRequest;
    /// # use grpcx_status::{Code, Status};
    /// async fn handler(req: ServerRequest<String>) -> Result<String, Status> {
    ///     if req.get_ref().is_empty() {
    ///         return Err(req.context().abort(Code::InvalidArgument, "name is empty"));
    ///     }
    ///     Ok(format!("hello {}", req.get_ref()))
    /// }
    /// ```
    pub fn abort(&self, code: Code, message: impl Into<String>) -> Status {
        self.abort_with_status(Status::new(code, message))
    }

    /// Ends the call now with a status that may carry details and metadata
    /// (see [`CallContext::abort`]).
    pub fn abort_with_status(&self, status: Status) -> Status {
        {
            let mut state = self.state();
            if state.outcome.is_none() && state.aborted.is_none() {
                state.aborted = Some(status.clone());
                self.inner.signals.fetch_or(ABORTED, Ordering::AcqRel);
            }
        }
        self.inner.changed.notify_waiters();
        self.inner.driver.wake();
        status
    }

    /// Sends the response headers (the initial metadata) now, instead of
    /// with the first response message.
    ///
    /// By default a response stream's headers go out with its first
    /// message, so a call that fails before sending any message is answered
    /// Trailers-Only, which retrying clients may retry (gRFC A6). A handler
    /// whose first message comes late and whose client waits for the
    /// headers calls this once it has returned its response stream; it has
    /// no effect on a unary response, whose headers always go with its
    /// message.
    pub fn send_headers(&self) {
        self.inner.signals.fetch_or(SEND_HEADERS, Ordering::AcqRel);
        self.inner.driver.wake();
    }

    /// Polls for an abort, and for a `send_headers` request when `headers`
    /// is set; registers the caller as the call's driver (one at a time:
    /// the dispatcher while the handler runs, then the response body).
    pub(crate) fn poll_signal(&self, cx: &mut Context<'_>, headers: bool) -> Poll<Signal> {
        // Registered before the check, so a signal after the check wakes us.
        self.inner.driver.register(cx.waker());
        let signals = self.inner.signals.load(Ordering::Acquire);
        if signals & ABORTED != 0 {
            if let Some(status) = self.state().aborted.clone() {
                return Poll::Ready(Signal::Aborted(status));
            }
        }
        if headers
            && signals & SEND_HEADERS != 0
            && self
                .inner
                .signals
                .fetch_and(!SEND_HEADERS, Ordering::AcqRel)
                & SEND_HEADERS
                != 0
        {
            return Poll::Ready(Signal::SendHeaders);
        }
        Poll::Pending
    }

    /// Registers a callback run once when the call ends, with how it ended.
    /// A callback registered after the end runs at once.
    pub fn on_done(&self, callback: impl FnOnce(CallOutcome) + Send + 'static) {
        let mut state = self.state();
        match state.outcome {
            Some(outcome) => {
                drop(state);
                callback(outcome);
            }
            None => state.callbacks.push(Box::new(callback)),
        }
    }

    /// How the call ended, once it has; `None` while it runs.
    pub fn outcome(&self) -> Option<CallOutcome> {
        self.state().outcome
    }

    /// Waits until the call ends and tells how. Never resolves for a
    /// [detached](CallContext::detached) context.
    pub async fn done(&self) -> CallOutcome {
        loop {
            let notified = self.inner.changed.notified();
            if let Some(outcome) = self.outcome() {
                return outcome;
            }
            notified.await;
        }
    }

    /// Waits until the call is aborted through the context; gives the status.
    pub(crate) async fn aborted(&self) -> Status {
        loop {
            let notified = self.inner.changed.notified();
            if let Some(status) = self.state().aborted.clone() {
                return status;
            }
            notified.await;
        }
    }

    /// The status set by an abort, if any.
    pub(crate) fn abort_status(&self) -> Option<Status> {
        self.state().aborted.clone()
    }

    /// The status to send when the handler succeeded: an abort's, or the
    /// non-OK code `set_code`/`set_message` chose; `None` for a plain
    /// `OK`, which needs no `Status` (see [`finish::render_ok`]).
    ///
    /// [`finish::render_ok`]: crate::server::finish::render_ok
    pub(crate) fn final_status(&self) -> Option<Status> {
        let state = self.state();
        if let Some(aborted) = &state.aborted {
            return Some(aborted.clone());
        }
        let code = state.code.unwrap_or(Code::Ok);
        if code.is_ok() {
            return None;
        }
        Some(Status::new(code, state.message.clone().unwrap_or_default()))
    }

    /// Takes the trailing metadata set so far.
    pub(crate) fn take_trailers(&self) -> Metadata {
        std::mem::take(&mut self.state().trailers)
    }

    /// Records how the call ended and runs the callbacks; only the first
    /// call counts.
    pub(crate) fn finish(&self, outcome: CallOutcome) {
        let callbacks = {
            let mut state = self.state();
            if state.outcome.is_some() {
                return;
            }
            state.outcome = Some(outcome);
            self.inner.ended.store(true, Ordering::Release);
            std::mem::take(&mut state.callbacks)
        };
        self.inner.changed.notify_waiters();
        if !self.inner.span.is_none() {
            let code = match outcome {
                CallOutcome::Completed(code) => code,
                CallOutcome::DeadlineExceeded => Code::DeadlineExceeded,
                CallOutcome::Cancelled => Code::Cancelled,
            };
            self.inner
                .span
                .record("rpc.grpc.status_code", code.as_i32());
        }
        for callback in callbacks {
            // A panicking callback must not take the connection down with it.
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| callback(outcome))).is_err()
            {
                tracing::error!(method = %self.inner.method, "a call's on_done callback panicked");
            }
        }
    }
}

thread_local! {
    /// The server call being handled on this thread: set while the server
    /// polls a call's handler or response stream, and while a blocking
    /// handler runs.
    static CURRENT: std::cell::RefCell<Option<CallContext>> = const { std::cell::RefCell::new(None) };
}

impl CallContext {
    /// The context of the server call being handled here: by the handler
    /// (and whatever it awaits) or response stream being polled, or by the
    /// blocking handler running on this thread. `None` elsewhere,
    /// including in tasks a handler spawns.
    ///
    /// A client call made while a handler runs takes its deadline from
    /// here (the earlier of the two), with no code from the user; see
    /// `Request::inherit_deadline` to opt out.
    pub fn current() -> Option<CallContext> {
        CURRENT
            .try_with(|current| current.borrow().clone())
            .ok()
            .flatten()
    }

    /// Makes this context [`CallContext::current`] on this thread until the
    /// guard is dropped: around a poll of a call's handler or response
    /// stream, or while a blocking handler runs.
    ///
    /// A guard, not a closure: what a poll returns (a whole response) is
    /// not moved through one more frame.
    pub(crate) fn enter(&self) -> Entered {
        let previous = CURRENT
            .try_with(|current| current.replace(Some(self.clone())))
            .ok()
            .flatten();
        // A disabled span is not entered: nothing to clone or tell.
        let span = (!self.inner.span.is_none()).then(|| self.inner.span.clone().entered());
        Entered {
            previous,
            _span: span,
        }
    }
}

/// Restores the thread's previous current context when dropped.
pub(crate) struct Entered {
    previous: Option<CallContext>,
    _span: Option<tracing::span::EnteredSpan>,
}

impl Drop for Entered {
    fn drop(&mut self) {
        let previous = self.previous.take();
        let _ = CURRENT.try_with(|current| current.replace(previous));
    }
}

impl fmt::Debug for CallContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallContext")
            .field("method", &self.inner.method)
            .field("peer", &self.inner.peer.addr)
            .field("deadline", &self.inner.deadline)
            .field("outcome", &self.outcome())
            .finish()
    }
}

/// Marks the call cancelled if it is dropped before the call was finished.
pub(crate) struct CallGuard {
    ctx: CallContext,
}

impl CallGuard {
    pub(crate) fn new(ctx: CallContext) -> CallGuard {
        CallGuard { ctx }
    }

    pub(crate) fn context(&self) -> &CallContext {
        &self.ctx
    }

    /// Records that the call ended with the status in `trailers` (sent by
    /// a body that is not grpcx's own; grpcx's records its outcome when it
    /// renders the status, and this changes nothing then).
    pub(crate) fn complete(self, trailers: &http::HeaderMap) {
        if self.ctx.inner.ended.load(Ordering::Acquire) {
            return;
        }
        let code = trailers
            .get(grpcx_status::wire::GRPC_STATUS)
            .map_or(Code::Unknown, |value| {
                Code::from_header_bytes(value.as_bytes())
            });
        self.ctx.finish(CallOutcome::Completed(code));
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        if self.ctx.inner.ended.load(Ordering::Acquire) {
            return;
        }
        let outcome = match self.ctx.inner.deadline {
            Some(deadline) if Instant::now() >= deadline => CallOutcome::DeadlineExceeded,
            _ => CallOutcome::Cancelled,
        };
        self.ctx.finish(outcome);
    }
}

/// A context for unit tests: `/a.B/C`, with `deadline`.
#[cfg(test)]
pub(crate) fn test_context(deadline: Option<Instant>) -> CallContext {
    CallContext::new(
        PathAndQuery::from_static("/a.B/C"),
        Peer::default(),
        deadline,
        0,
        Arc::default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(start_paused = true)]
    async fn deadline_and_time_remaining() {
        let ctx = test_context(Some(Instant::now() + Duration::from_secs(2)));
        assert_eq!(ctx.time_remaining(), Some(Duration::from_secs(2)));
        assert!(ctx.is_active());
        tokio::time::advance(Duration::from_millis(1500)).await;
        assert_eq!(ctx.time_remaining(), Some(Duration::from_millis(500)));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(ctx.time_remaining(), Some(Duration::ZERO));
        assert!(!ctx.is_active());
        assert_eq!(CallContext::detached().time_remaining(), None);
    }

    #[test]
    fn a_detached_context_keeps_what_a_handler_does_to_it() {
        let detached = CallContext::detached();
        detached.set_code(Code::Internal);
        detached.set_message("broken");
        let mut trailers = Metadata::new();
        trailers.insert("x-why", "test").unwrap();
        detached.set_trailing_metadata(trailers);
        assert_eq!(detached.code(), Some(Code::Internal));
        assert_eq!(detached.message().as_deref(), Some("broken"));
        assert!(detached.is_active());
        let aborted = detached.abort(Code::Aborted, "no");
        assert_eq!(
            detached.abort_status().map(|s| s.code()),
            Some(aborted.code())
        );
        assert!(!detached.is_active());
        assert_eq!(detached.take_trailers().get("x-why"), Some("test"));
        // Each detached context is its own: another starts clean.
        assert_eq!(CallContext::detached().code(), None);
        assert_eq!(detached.outcome(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_reset_at_or_after_the_deadline_is_the_deadlines_doing() {
        let deadline = Instant::now() + Duration::from_secs(1);
        let early = test_context(Some(deadline));
        tokio::time::advance(Duration::from_millis(999)).await;
        drop(CallGuard::new(early.clone()));
        assert_eq!(early.outcome(), Some(CallOutcome::Cancelled));
        let late = test_context(Some(deadline));
        tokio::time::advance(Duration::from_millis(1)).await;
        drop(CallGuard::new(late.clone()));
        assert_eq!(late.outcome(), Some(CallOutcome::DeadlineExceeded));
        let none = test_context(None);
        drop(CallGuard::new(none.clone()));
        assert_eq!(none.outcome(), Some(CallOutcome::Cancelled));
    }

    #[tokio::test]
    async fn callbacks_run_once_with_the_outcome() {
        let ctx = test_context(None);
        let runs = Arc::new(AtomicUsize::new(0));
        let r = runs.clone();
        ctx.on_done(move |outcome| {
            assert_eq!(outcome, CallOutcome::Cancelled);
            r.fetch_add(1, Ordering::SeqCst);
        });
        let waiter = tokio::spawn({
            let ctx = ctx.clone();
            async move { ctx.done().await }
        });
        drop(CallGuard::new(ctx.clone()));
        ctx.finish(CallOutcome::Completed(Code::Ok));
        assert_eq!(waiter.await.unwrap(), CallOutcome::Cancelled);
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert!(!ctx.is_active());
        // Late registration runs at once.
        let r = runs.clone();
        ctx.on_done(move |_| {
            r.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn abort_wins_over_later_results() {
        let ctx = test_context(None);
        ctx.set_code(Code::DataLoss);
        ctx.set_message("partial");
        assert_eq!(ctx.final_status().unwrap().code(), Code::DataLoss);
        assert_eq!(ctx.final_status().unwrap().message(), "partial");
        let status = ctx.abort(Code::Unauthenticated, "token expired");
        assert_eq!(status.code(), Code::Unauthenticated);
        assert!(!ctx.is_active());
        assert_eq!(ctx.aborted().await.message(), "token expired");
        assert_eq!(ctx.final_status().unwrap().code(), Code::Unauthenticated);
        // A second abort does not replace the first.
        ctx.abort(Code::Internal, "second");
        assert_eq!(ctx.final_status().unwrap().message(), "token expired");
    }

    #[tokio::test]
    async fn the_current_context_is_the_one_in_scope() {
        assert!(CallContext::current().is_none());
        let ctx = test_context(None);
        {
            let _entered = ctx.enter();
            assert_eq!(CallContext::current().unwrap().method(), "/a.B/C");
        }
        assert!(CallContext::current().is_none());
    }

    #[test]
    fn a_panicking_callback_is_contained() {
        let ctx = test_context(None);
        ctx.on_done(|_| panic!("callback bug"));
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        ctx.on_done(move |_| {
            r.fetch_add(1, Ordering::SeqCst);
        });
        ctx.finish(CallOutcome::Completed(Code::Ok));
        assert_eq!(ran.load(Ordering::SeqCst), 1);
    }
}
