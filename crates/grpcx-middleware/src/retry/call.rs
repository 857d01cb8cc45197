//! One call under the retry layer: its copy of the request, its counts,
//! and the loops that retry or hedge it.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::Poll;
use std::time::Duration;

use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use grpcx_status::__private::StatusInternals as _;
use grpcx_status::{ErrorInfo, Origin, Progress, Pushback, RetryInfo, Status};
use grpcx_transport::client::HeadersCopy;
use grpcx_transport::{
    Body, BoxError, Deadline, GRPC_PREVIOUS_RPC_ATTEMPTS, GrpcMethod, status_from_layer_error,
};
use http::{Extensions, HeaderValue, Method, Uri, Version};
use tokio::time::{Instant, sleep, sleep_until};
use tower::{Service, ServiceExt as _};

use super::layer::{Attempts, ChannelState, MethodRef, Settings};
use super::policy::{CallPolicy, HedgingPolicy};
use super::replay::{Budget, Limits, Replay};
use crate::breaker::{CIRCUIT_OPEN, DOMAIN};

/// A call, between its attempts.
pub(crate) struct Call<S> {
    inner: S,
    head: Head,
    body: Replayable,
    settings: Arc<Settings>,
    channel: Arc<ChannelState>,
    method: MethodRef,
    deadline: Option<Instant>,
    wait_for_ready: bool,
    /// The attempts sent so far, transparent retries not counted.
    attempts: u32,
    /// Whether the current attempt was already sent again after a refusal.
    refused_retried: bool,
    /// Transparent retries in a row of a call that never left the client.
    transparent: u32,
    /// The retry number the backoff is at (0 after a pushback).
    backoff_retry: u32,
    /// Failed connects a `waitForReady` call has waited after, in a row.
    connect_failures: u32,
    rng: Option<fastrand::Rng>,
}

/// How a call starts; the first attempt sends the request `Call::start`
/// was given.
pub(crate) enum Start<S> {
    /// Send the first attempt; retry under the call's policy if it fails.
    Retry(Box<Call<S>>),
    /// Hedge, starting with the first attempt.
    Hedge(Box<Call<S>>, HedgingPolicy),
}

/// The head of the request, for later attempts.
///
/// Kept for every call, though most never retry: a typed client's head
/// (a few static header values, its method and deadline extensions) is
/// copied without allocating ([`HeadersCopy`] holds a few fields inline).
/// Cloning the `HeaderMap` and `Extensions` allocated five times a call,
/// which with many calls in flight cost the layer 9% of a call that never
/// retries.
struct Head {
    method: Method,
    uri: Uri,
    version: Version,
    headers: HeadersCopy,
    extensions: ExtensionsCopy,
}

/// The request's extensions, for later attempts.
enum ExtensionsCopy {
    /// No extensions but the transport's own call extensions (those of a
    /// typed client's request), held by value.
    Call {
        method: Option<GrpcMethod>,
        deadline: Option<Deadline>,
    },
    /// Any others too: the whole set.
    Any(Extensions),
}

impl ExtensionsCopy {
    /// The copy of `extensions`, whose `GrpcMethod` and `Deadline` (the
    /// caller looked them up already) are `method` and `deadline`.
    fn of(
        extensions: &Extensions,
        method: Option<GrpcMethod>,
        deadline: Option<Deadline>,
    ) -> ExtensionsCopy {
        // Extensions are keyed by type: when the count is that of the types
        // found, there is nothing else to copy.
        if extensions.len() == usize::from(method.is_some()) + usize::from(deadline.is_some()) {
            ExtensionsCopy::Call { method, deadline }
        } else {
            ExtensionsCopy::Any(extensions.clone())
        }
    }

    fn to_extensions(&self) -> Extensions {
        match self {
            ExtensionsCopy::Call { method, deadline } => {
                let mut extensions = Extensions::new();
                if let Some(method) = method {
                    extensions.insert(method.clone());
                }
                if let Some(deadline) = deadline {
                    extensions.insert(*deadline);
                }
                extensions
            }
            ExtensionsCopy::Any(extensions) => extensions.clone(),
        }
    }
}

/// What later attempts send.
enum Replayable {
    /// Nothing: the request cannot be sent again (a unary request over the
    /// buffer limits).
    Once,
    /// A body of one chunk of `Bytes`, cloned for each attempt.
    Full { body: Body, _held: Reservation },
    /// A streaming body, recorded as it is sent.
    Stream(Replay),
}

/// Bytes of the channel's replay budget a unary call holds.
struct Reservation {
    budget: Arc<Budget>,
    len: usize,
}

/// What to do after a failed attempt.
enum Next {
    /// Nothing more: the call ends with this attempt's status.
    Stop(&'static str),
    /// Send the same attempt again now (a transparent retry).
    Again,
    /// Wait, then send the next attempt (`counted`) or the same one again.
    Wait { delay: Duration, counted: bool },
}

/// What a hedging call waits for.
enum Event<B> {
    Done(u32, Result<http::Response<B>, Status>),
    Hedge,
    Deadline,
}

type AttemptFuture<B> =
    Pin<Box<dyn Future<Output = (u32, Result<http::Response<B>, Status>)> + Send>>;

impl<S, B> Call<S>
where
    S: Service<http::Request<Body>, Response = http::Response<B>> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    /// Finds the call's settings, fixes its deadline, and keeps what later
    /// attempts need; leaves in `request` what the first attempt sends
    /// (its body replaced by a replayable one when the call may retry).
    pub(crate) fn start(
        inner: S,
        request: &mut http::Request<Body>,
        settings: &Arc<Settings>,
        channel: &Arc<ChannelState>,
    ) -> Start<S> {
        let grpc_method = request.extensions().get::<GrpcMethod>().cloned();
        let method = settings.find(grpc_method.as_ref(), request.uri().path());
        let client_streams = grpc_method
            .as_ref()
            .is_some_and(|m| m.kind().client_streams());
        // gRFC A6: the method config's timeout bounds the call, all
        // attempts together, unless the call's own deadline is earlier.
        let mut deadline = request.extensions().get::<Deadline>().map(|d| d.instant());
        if let Some(by_config) = settings
            .timeout(method)
            .and_then(|timeout| Instant::now().checked_add(timeout))
        {
            if deadline.is_none_or(|deadline| by_config < deadline) {
                deadline = Some(by_config);
                request.extensions_mut().insert(Deadline(by_config));
            }
        }

        // The body is swapped out rather than the request split into parts
        // and rebuilt: each of those moves copies the whole head.
        let body = std::mem::take(request.body_mut());
        let (first, body) = match body.try_clone() {
            Some(copy) => {
                let len = body.as_bytes().map_or(0, |bytes| bytes.len());
                let held = (len <= settings.per_rpc_buffer_limit)
                    .then(|| Reservation::take(&channel.budget, len))
                    .flatten();
                match held {
                    Some(held) => (
                        body,
                        Replayable::Full {
                            body: copy,
                            _held: held,
                        },
                    ),
                    None => (body, Replayable::Once),
                }
            }
            None => {
                let replay = Replay::new(
                    body,
                    Limits {
                        per_call: settings.per_rpc_buffer_limit,
                        budget: channel.budget.clone(),
                    },
                );
                (replay.body(), Replayable::Stream(replay))
            }
        };
        let head = Head {
            method: request.method().clone(),
            uri: request.uri().clone(),
            version: request.version(),
            headers: HeadersCopy::of(request.headers()),
            extensions: ExtensionsCopy::of(
                request.extensions(),
                grpc_method,
                deadline.map(Deadline),
            ),
        };
        let hedging = match settings.policy(method) {
            Some(CallPolicy::Hedging(policy))
                if !client_streams && matches!(body, Replayable::Full { .. }) =>
            {
                Some(policy.clone())
            }
            _ => None,
        };
        // Boxed: a call's future is moved several times before it runs
        // (into the typed client's future, into its task), and a pointer
        // moves cheaper than the ~600-byte call. Measured with callgrind
        // (benches/scripts/client_instructions.sh --retry): inline, the
        // copies cost some 600 instructions a call more than this
        // allocation does.
        let call = Box::new(Call {
            inner,
            head,
            body,
            settings: settings.clone(),
            channel: channel.clone(),
            method,
            deadline,
            wait_for_ready: settings.wait_for_ready(method),
            attempts: 1,
            refused_retried: false,
            transparent: 0,
            backoff_retry: 0,
            connect_failures: 0,
            rng: None,
        });
        *request.body_mut() = first;
        match hedging {
            Some(policy) => Start::Hedge(call, policy),
            None => Start::Retry(call),
        }
    }

    /// Swaps the call's service for `ready`, one the caller made ready: the
    /// call's first attempt goes on it.
    pub(crate) fn swap_inner(&mut self, ready: &mut S) {
        std::mem::swap(&mut self.inner, ready);
    }

    /// The call committed with `response`: no attempt follows.
    ///
    /// The response is borrowed, not moved in and out: those moves copy
    /// it twice, a tenth of what the layer costs a call that never
    /// retries.
    pub(crate) fn commit(&self, response: &mut http::Response<B>) {
        if let Replayable::Stream(replay) = &self.body {
            replay.commit();
        }
        if let Some(throttle) = &self.channel.throttle {
            throttle.record_success();
        }
        if self.attempts > 1 {
            response.extensions_mut().insert(Attempts(self.attempts));
        }
        tracing::debug!(
            method = self.head.uri.path(),
            attempt = self.attempts,
            "the call committed: response headers arrived"
        );
    }

    /// Retries after the first attempt failed with `status`, until an
    /// attempt commits or the call must stop.
    pub(crate) async fn retry(mut self, mut status: Status) -> Result<http::Response<B>, Status> {
        loop {
            match self.next(&status) {
                Next::Stop(why) => return Err(self.finish(status, why)),
                Next::Again => {
                    if self.deadline.is_some_and(|d| d <= Instant::now()) {
                        return Err(self.deadline_exceeded(Some(status)));
                    }
                    tracing::debug!(
                        method = self.head.uri.path(),
                        attempt = self.attempts,
                        code = ?status.code(),
                        progress = ?status.progress(),
                        "sending the attempt again transparently"
                    );
                }
                Next::Wait { delay, counted } => {
                    let now = Instant::now();
                    if let Some(deadline) = self.deadline {
                        if now.checked_add(delay).is_none_or(|at| at >= deadline) {
                            tracing::debug!(
                                method = self.head.uri.path(),
                                attempt = self.attempts,
                                code = ?status.code(),
                                ?delay,
                                "no retry: the deadline comes first"
                            );
                            sleep_until(deadline).await;
                            return Err(self.deadline_exceeded(Some(status)));
                        }
                    }
                    tracing::debug!(
                        method = self.head.uri.path(),
                        attempt = self.attempts,
                        code = ?status.code(),
                        ?delay,
                        counted,
                        "the attempt failed; trying again after a delay"
                    );
                    sleep(delay).await;
                    if counted {
                        self.attempts += 1;
                        self.refused_retried = false;
                        self.transparent = 0;
                    }
                }
            }
            let request = self.request(self.attempts - 1);
            match self.send(request).await {
                Ok(mut response) => {
                    self.commit(&mut response);
                    return Ok(response);
                }
                Err(failed) => status = failed,
            }
        }
    }

    /// Hedges: sends `first`, then another attempt every hedging delay
    /// while none has committed, until one answers with headers, one fails
    /// fatally, or all are spent.
    pub(crate) async fn hedge(
        mut self,
        first: http::Request<Body>,
        policy: HedgingPolicy,
    ) -> Result<http::Response<B>, Status> {
        let mut inflight: FuturesUnordered<AttemptFuture<B>> = FuturesUnordered::new();
        let future = self.inner.call(first);
        inflight.push(Box::pin(
            async move { (1, future.await.map_err(to_status)) },
        ));
        let max = policy.max_attempts();
        let mut next_at = (max > 1)
            .then(|| Instant::now().checked_add(policy.hedging_delay()))
            .flatten();
        // Set after a "do not retry" pushback, an open breaker, or the
        // throttle: no more hedges.
        let mut stopped = false;
        let mut refused: u64 = 0;
        let mut transparent = 0u32;
        let mut last: Option<Status> = None;
        let mut timer = Box::pin(sleep_until(next_at.unwrap_or_else(Instant::now)));
        let mut deadline = self.deadline.map(|at| Box::pin(sleep_until(at)));
        loop {
            if let Some(at) = next_at.filter(|at| *at <= Instant::now()) {
                next_at = None;
                let throttled = self
                    .channel
                    .throttle
                    .as_ref()
                    .is_some_and(|throttle| !throttle.allows_retry());
                if throttled {
                    tracing::debug!(method = self.head.uri.path(), "no hedge: throttled");
                    stopped = true;
                } else if !stopped && self.attempts < max {
                    self.attempts += 1;
                    let attempt = self.attempts;
                    tracing::debug!(method = self.head.uri.path(), attempt, "sending a hedge");
                    inflight.push(self.attempt(attempt));
                    if self.attempts < max {
                        next_at = at.max(Instant::now()).checked_add(policy.hedging_delay());
                    }
                }
            }
            if inflight.is_empty() && next_at.is_none() {
                let status =
                    last.unwrap_or_else(|| Status::internal("a hedged call sent no attempt"));
                return Err(self.finish(status, "no attempt left"));
            }
            if let Some(at) = next_at {
                if timer.deadline() != at {
                    timer.as_mut().reset(at);
                }
            }
            let event = poll_fn(|cx| {
                if let Poll::Ready(Some((attempt, result))) = inflight.poll_next_unpin(cx) {
                    return Poll::Ready(Event::Done(attempt, result));
                }
                if next_at.is_some() && timer.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Event::Hedge);
                }
                if let Some(deadline) = deadline.as_mut() {
                    if deadline.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(Event::Deadline);
                    }
                }
                Poll::Pending
            })
            .await;
            let (attempt, status) = match event {
                Event::Hedge => continue,
                Event::Deadline => return Err(self.deadline_exceeded(last)),
                // The first answer wins; dropping the others cancels them.
                Event::Done(_, Ok(mut response)) => {
                    self.commit(&mut response);
                    return Ok(response);
                }
                Event::Done(attempt, Err(status)) => (attempt, status),
            };
            if is_circuit_open(&status) {
                stopped = true;
                next_at = None;
                last = Some(status);
                continue;
            }
            let unsent_again = match status.progress() {
                Progress::Refused => {
                    let bit = 1u64.checked_shl(attempt).unwrap_or(0);
                    let again = refused & bit == 0 && bit != 0;
                    refused |= bit;
                    again
                }
                Progress::NotSent if is_given_back(&status) => {
                    transparent += 1;
                    transparent <= self.settings.max_transparent_retries
                }
                _ => false,
            };
            if unsent_again && status.origin() != Origin::Deadline {
                tracing::debug!(
                    method = self.head.uri.path(),
                    attempt,
                    code = ?status.code(),
                    "sending the hedge again transparently"
                );
                inflight.push(self.attempt(attempt));
                continue;
            }
            let settings = self.settings.clone();
            if let Some(throttle) = &self.channel.throttle {
                throttle.record(
                    status.code(),
                    status.pushback(),
                    settings.policy(self.method),
                );
            }
            if !policy.is_non_fatal(status.code()) {
                tracing::debug!(
                    method = self.head.uri.path(),
                    attempt,
                    code = ?status.code(),
                    "a hedge failed fatally"
                );
                return Err(self.finish(status, "a fatal status code"));
            }
            tracing::debug!(
                method = self.head.uri.path(),
                attempt,
                code = ?status.code(),
                "a hedge failed"
            );
            match status.pushback() {
                Some(Pushback::Stop) => {
                    stopped = true;
                    next_at = None;
                }
                Some(Pushback::Delay(delay)) if !stopped && self.attempts < max => {
                    next_at = Instant::now().checked_add(delay);
                }
                // gRFC A6: a non-fatal failure sends the next hedge now.
                None if !stopped && self.attempts < max => next_at = Some(Instant::now()),
                _ => {}
            }
            last = Some(status);
        }
    }

    /// Decides what follows a failed attempt.
    fn next(&mut self, status: &Status) -> Next {
        if is_circuit_open(status) {
            return Next::Stop("a circuit breaker is open");
        }
        let replayable = self.body.can_replay();
        if replayable && status.origin() != Origin::Deadline {
            match status.progress() {
                Progress::Refused if !self.refused_retried => {
                    self.refused_retried = true;
                    return Next::Again;
                }
                Progress::NotSent
                    if is_given_back(status)
                        && self.transparent < self.settings.max_transparent_retries =>
                {
                    self.transparent += 1;
                    return Next::Again;
                }
                Progress::NotSent if is_connect_failure(status) && self.wait_for_ready => {
                    self.connect_failures = self.connect_failures.saturating_add(1);
                    let delay = self.connect_backoff();
                    return Next::Wait {
                        delay,
                        counted: false,
                    };
                }
                _ => {}
            }
        }
        self.connect_failures = 0;
        let settings = self.settings.clone();
        let policy = match settings.policy(self.method) {
            Some(CallPolicy::Retry(policy)) => policy,
            _ => return Next::Stop("no retry policy"),
        };
        let code = status.code();
        let pushback = status.pushback();
        if let Some(throttle) = &self.channel.throttle {
            throttle.record(code, pushback, settings.policy(self.method));
        }
        if status.origin() == Origin::Deadline {
            return Next::Stop("the deadline passed");
        }
        if !replayable {
            return Next::Stop("committed: the request is no longer buffered");
        }
        if !policy.is_retryable(code) {
            return Next::Stop("the code is not retryable");
        }
        if pushback == Some(Pushback::Stop) {
            return Next::Stop("the server pushed back: do not retry");
        }
        if self.attempts >= policy.max_attempts() {
            return Next::Stop("no attempt left");
        }
        if let Some(throttle) = &self.channel.throttle {
            if !throttle.allows_retry() {
                return Next::Stop("throttled");
            }
        }
        let delay = match pushback {
            Some(Pushback::Delay(delay)) => {
                self.backoff_retry = 0;
                delay
            }
            _ => match self.retry_info(status) {
                Some(delay) => {
                    self.backoff_retry = 0;
                    delay
                }
                None => {
                    self.backoff_retry += 1;
                    let retry = self.backoff_retry;
                    let draw = self.draw();
                    policy.backoff(retry, || draw)
                }
            },
        };
        Next::Wait {
            delay,
            counted: true,
        }
    }

    /// The `RetryInfo` delay of `status`, if the layer honours it.
    fn retry_info(&self, status: &Status) -> Option<Duration> {
        if !self.settings.honor_retry_info || status.details_any().is_empty() {
            return None;
        }
        status.get_detail::<RetryInfo>()?.delay()
    }

    /// The wait after the latest failed connect of a `waitForReady` call:
    /// gRPC's connection backoff, `initial * 1.6^(n-1)` up to `max`, ±20%.
    fn connect_backoff(&mut self) -> Duration {
        let (initial, max) = self.settings.wait_for_ready_backoff;
        let exponent = i32::try_from(self.connect_failures.saturating_sub(1)).unwrap_or(i32::MAX);
        let grown = initial.as_secs_f64() * 1.6f64.powi(exponent);
        let capped = grown.min(max.as_secs_f64());
        let jittered = capped * (0.8 + 0.4 * self.draw());
        Duration::try_from_secs_f64(jittered).unwrap_or(max)
    }

    /// A number in `[0, 1)` from the call's generator.
    fn draw(&mut self) -> f64 {
        let seed = self.settings.rng_seed;
        let channel = &self.channel;
        self.rng
            .get_or_insert_with(|| match seed {
                Some(seed) => fastrand::Rng::with_seed(
                    seed.wrapping_add(channel.draws.fetch_add(1, Ordering::Relaxed)),
                ),
                None => fastrand::Rng::new(),
            })
            .f64()
    }

    /// The request of an attempt after `previous` attempts.
    fn request(&self, previous: u32) -> http::Request<Body> {
        let body = match &self.body {
            Replayable::Full { body, .. } => body.try_clone().unwrap_or_default(),
            Replayable::Stream(replay) => replay.body(),
            Replayable::Once => Body::empty(),
        };
        let mut request = http::Request::new(body);
        *request.method_mut() = self.head.method.clone();
        *request.uri_mut() = self.head.uri.clone();
        *request.version_mut() = self.head.version;
        *request.headers_mut() = self.head.headers.to_map();
        *request.extensions_mut() = self.head.extensions.to_extensions();
        if previous > 0 {
            request
                .headers_mut()
                .insert(GRPC_PREVIOUS_RPC_ATTEMPTS, HeaderValue::from(previous));
        }
        request
    }

    /// Sends `request` once the inner service is ready.
    async fn send(&mut self, request: http::Request<Body>) -> Result<http::Response<B>, Status> {
        let inner = self.inner.ready().await.map_err(to_status)?;
        inner.call(request).await.map_err(to_status)
    }

    /// Attempt number `attempt` of a hedging call, on a clone of the
    /// inner service.
    fn attempt(&self, attempt: u32) -> AttemptFuture<B> {
        let request = self.request(attempt - 1);
        let mut inner = self.inner.clone();
        Box::pin(async move {
            let result = async {
                let ready = inner.ready().await.map_err(to_status)?;
                ready.call(request).await.map_err(to_status)
            }
            .await;
            (attempt, result)
        })
    }

    /// The call's final status: `status`, saying how many attempts.
    fn finish(&self, status: Status, why: &'static str) -> Status {
        tracing::debug!(
            method = self.head.uri.path(),
            attempt = self.attempts,
            code = ?status.code(),
            why,
            "the call failed; no more attempts"
        );
        status.with_attempts(self.attempts)
    }

    /// The status of a call whose deadline passed between attempts: made
    /// locally, with the last attempt's status in its message and as its
    /// source.
    fn deadline_exceeded(&self, last: Option<Status>) -> Status {
        let attempts = self.attempts;
        let status = match last {
            Some(last) => Status::deadline_exceeded(format!(
                "deadline exceeded after {attempts} attempt(s); the last one failed with {last}"
            ))
            .with_source(last),
            None => Status::deadline_exceeded(format!(
                "deadline exceeded after {attempts} attempt(s) without an answer"
            )),
        };
        self.finish(status.with_origin(Origin::Deadline), "the deadline passed")
    }
}

impl Replayable {
    /// Whether another attempt can send the request again.
    fn can_replay(&self) -> bool {
        match self {
            Replayable::Once => false,
            Replayable::Full { .. } => true,
            Replayable::Stream(replay) => replay.can_replay(),
        }
    }
}

impl Reservation {
    /// Takes `len` bytes of `budget`, if it has them.
    fn take(budget: &Arc<Budget>, len: usize) -> Option<Reservation> {
        budget.try_reserve(len).then(|| Reservation {
            budget: budget.clone(),
            len,
        })
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.release(self.len);
    }
}

/// Whether `status` comes from an open circuit breaker below.
/// Whether the channel could not connect to the server: its status
/// carries the transport's connect (or connect timeout) error as source.
fn is_connect_failure(status: &Status) -> bool {
    status.origin() == Origin::Transport
        && std::error::Error::source(status)
            .and_then(|source| source.downcast_ref::<grpcx_transport::Error>())
            .is_some_and(|err| err.is_connect() || err.is_timeout())
}

/// Whether the request never left this client because its connection was
/// closing under it (the channel gives such a request back, unsent): what
/// gRFC A6 retries transparently. A status a layer below made locally
/// (an interceptor's refusal, load shedding) is not: sending it again at
/// once would only meet the same refusal.
fn is_given_back(status: &Status) -> bool {
    status.progress() == Progress::NotSent
        && status.origin() == Origin::Transport
        && !is_connect_failure(status)
}

fn is_circuit_open(status: &Status) -> bool {
    !status.details_any().is_empty()
        && status
            .get_details::<ErrorInfo>()
            .iter()
            .any(|info| info.reason == CIRCUIT_OPEN && info.domain == DOMAIN)
}

fn to_status(err: impl Into<BoxError>) -> Status {
    status_from_layer_error(err.into())
}

#[cfg(test)]
mod head_tests {
    #![allow(clippy::unwrap_used)]

    use grpcx_transport::descriptor::MethodKind;
    use http::uri::PathAndQuery;

    use super::*;

    /// `ExtensionsCopy::of` as `Call::start` calls it.
    fn copy_of(extensions: &Extensions) -> ExtensionsCopy {
        ExtensionsCopy::of(
            extensions,
            extensions.get::<GrpcMethod>().cloned(),
            extensions.get::<Deadline>().copied(),
        )
    }

    #[test]
    fn a_later_attempt_gets_every_extension() {
        let method = GrpcMethod::new(PathAndQuery::from_static("/a.B/C"), MethodKind::Unary);
        let deadline = Deadline(Instant::now());

        let mut call_only = Extensions::new();
        call_only.insert(method.clone());
        call_only.insert(deadline);
        let copy = copy_of(&call_only);
        assert!(matches!(copy, ExtensionsCopy::Call { .. }));
        let copied = copy.to_extensions();
        assert_eq!(copied.get::<GrpcMethod>(), Some(&method));
        assert_eq!(copied.get::<Deadline>(), Some(&deadline));
        assert_eq!(copied.len(), 2);

        // A layer's own extension makes it copy them all.
        #[derive(Clone, Debug, PartialEq)]
        struct Tenant(&'static str);
        let mut more = call_only;
        more.insert(Tenant("t1"));
        let copied = copy_of(&more).to_extensions();
        assert_eq!(copied.get::<Tenant>(), Some(&Tenant("t1")));
        assert_eq!(copied.get::<GrpcMethod>(), Some(&method));
        assert_eq!(copied.get::<Deadline>(), Some(&deadline));

        assert_eq!(copy_of(&Extensions::new()).to_extensions().len(), 0);
    }
}
