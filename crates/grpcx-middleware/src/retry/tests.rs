//! The retry layer over a scripted inner service, on a paused clock with a
//! seeded random source: every delay is exact.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use grpcx_status::__private::StatusInternals as _;
use grpcx_status::{Code, ErrorInfo, Origin, Progress, Pushback, RetryInfo, Status};
use grpcx_transport::{Body, Deadline, GrpcMethod};
use http_body::Frame;
use http_body_util::BodyExt as _;
use tokio::time::Instant;
use tower::{Layer as _, Service, ServiceExt as _};

use super::*;
use crate::breaker::{CIRCUIT_OPEN, DOMAIN};

/// What the scripted service does with one attempt.
#[derive(Clone, Debug)]
enum Step {
    Ok,
    Fail(Status),
    /// Waits, then does the step.
    After(Duration, Box<Step>),
    /// Never answers.
    Hang,
}

/// One attempt, as the scripted service saw it.
#[derive(Clone, Debug)]
struct Seen {
    at: Instant,
    previous: Option<u32>,
    deadline: Option<Deadline>,
    body: Vec<u8>,
    /// Dropped before it answered: the retry layer cancelled it.
    cancelled: bool,
}

#[derive(Default)]
struct Script {
    steps: Mutex<VecDeque<Step>>,
    seen: Mutex<Vec<Seen>>,
}

type Response = http::Response<Body>;

/// Marks an attempt cancelled when dropped before it answered.
struct Cancel {
    script: Arc<Script>,
    index: usize,
    armed: bool,
}

impl Drop for Cancel {
    fn drop(&mut self) {
        if self.armed {
            self.script.seen.lock().unwrap()[self.index].cancelled = true;
        }
    }
}

impl Script {
    fn new(steps: impl IntoIterator<Item = Step>) -> Arc<Script> {
        Arc::new(Script {
            steps: Mutex::new(steps.into_iter().collect()),
            seen: Mutex::default(),
        })
    }

    fn service(
        self: &Arc<Self>,
    ) -> impl Service<
        http::Request<Body>,
        Response = Response,
        Error = Status,
        Future = impl Send + 'static,
    > + Clone
    + Send
    + 'static {
        let script = self.clone();
        tower::service_fn(move |request: http::Request<Body>| {
            let script = script.clone();
            async move { script.handle(request).await }
        })
    }

    async fn handle(self: Arc<Self>, request: http::Request<Body>) -> Result<Response, Status> {
        let previous = request
            .headers()
            .get("grpc-previous-rpc-attempts")
            .map(|v| v.to_str().unwrap().parse().unwrap());
        let deadline = request.extensions().get::<Deadline>().copied();
        let step = self.steps.lock().unwrap().pop_front().unwrap_or(Step::Ok);
        let index = {
            let mut seen = self.seen.lock().unwrap();
            seen.push(Seen {
                at: Instant::now(),
                previous,
                deadline,
                body: Vec::new(),
                cancelled: false,
            });
            seen.len() - 1
        };
        let mut cancel = Cancel {
            script: self.clone(),
            index,
            armed: true,
        };
        let body = request.into_body().collect().await?.to_bytes();
        self.seen.lock().unwrap()[index].body = body.to_vec();
        let mut step = step;
        let result = loop {
            match step {
                Step::Ok => break Ok(http::Response::new(Body::empty())),
                Step::Fail(status) => break Err(status),
                Step::After(delay, next) => {
                    tokio::time::sleep(delay).await;
                    step = *next;
                }
                Step::Hang => std::future::pending::<()>().await,
            }
        };
        cancel.armed = false;
        result
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The time of each attempt, from `start`.
    fn times(&self, start: Instant) -> Vec<Duration> {
        self.seen().iter().map(|s| s.at - start).collect()
    }

    fn previous(&self) -> Vec<Option<u32>> {
        self.seen().iter().map(|s| s.previous).collect()
    }
}

fn unavailable() -> Step {
    Step::Fail(Status::unavailable("down"))
}

fn retry_policy(max_attempts: u32) -> RetryPolicy {
    RetryPolicy::builder(max_attempts)
        .initial_backoff(Duration::from_millis(100))
        .max_backoff(Duration::from_secs(1))
        .backoff_multiplier(2.0)
        .retryable_codes([Code::Unavailable])
        .build()
        .unwrap()
}

fn retrying(max_attempts: u32) -> RetryLayer {
    RetryLayer::with_policy(CallPolicy::Retry(retry_policy(max_attempts))).rng_seed(7)
}

fn hedging(max_attempts: u32, delay: Duration) -> RetryLayer {
    let policy = HedgingPolicy::builder(max_attempts)
        .hedging_delay(delay)
        .non_fatal_codes([Code::Unavailable])
        .build()
        .unwrap();
    RetryLayer::with_policy(CallPolicy::Hedging(policy)).rng_seed(7)
}

fn unary(bytes: &'static [u8]) -> http::Request<Body> {
    http::Request::new(Body::from(Bytes::from_static(bytes)))
}

async fn call(
    layer: &RetryLayer,
    script: &Arc<Script>,
    request: http::Request<Body>,
) -> Result<Response, Status> {
    let mut service = layer.layer(script.service());
    service.ready().await?.call(request).await
}

/// The delays a layer seeded with 7 draws for its first call's retries
/// 1, 2, ... under `policy`, with no pushback in between, as tokio's timer
/// waits them (rounded up to its millisecond ticks).
fn expected_backoffs(policy: &RetryPolicy, retries: u32) -> Vec<Duration> {
    let mut rng = fastrand::Rng::with_seed(7);
    (1..=retries)
        .map(|retry| {
            let draw = rng.f64();
            ticks(policy.backoff(retry, || draw))
        })
        .collect()
}

/// `delay` rounded up to tokio's timer tick of a millisecond.
fn ticks(delay: Duration) -> Duration {
    Duration::from_millis(delay.as_nanos().div_ceil(1_000_000) as u64)
}

fn gaps(times: &[Duration]) -> Vec<Duration> {
    times.windows(2).map(|w| w[1] - w[0]).collect()
}

#[tokio::test(start_paused = true)]
async fn retries_follow_the_backoff_with_jitter_and_count_previous_attempts() {
    let script = Script::new([unavailable(), unavailable(), unavailable(), unavailable()]);
    let layer = retrying(5);
    let start = Instant::now();
    let response = call(&layer, &script, unary(b"hello")).await.unwrap();
    assert_eq!(response.extensions().get::<Attempts>(), Some(&Attempts(5)));

    let gaps = gaps(&script.times(start));
    let policy = retry_policy(5);
    assert_eq!(gaps, expected_backoffs(&policy, 4));
    for (retry, gap) in (1..).zip(&gaps) {
        assert!(
            *gap <= policy.backoff_cap(retry),
            "retry {retry} waited {gap:?}"
        );
    }
    assert_eq!(
        script.previous(),
        [None, Some(1), Some(2), Some(3), Some(4)]
    );
    assert!(
        script.seen().iter().all(|s| s.body == b"hello"),
        "resent from its bytes"
    );
}

#[tokio::test(start_paused = true)]
async fn a_call_that_succeeds_at_once_says_nothing_about_attempts() {
    let script = Script::new([]);
    let response = call(&retrying(3), &script, unary(b"x")).await.unwrap();
    assert_eq!(response.extensions().get::<Attempts>(), None);
    assert_eq!(script.previous(), [None]);
}

#[tokio::test(start_paused = true)]
async fn the_last_status_says_how_many_attempts_were_made() {
    let script = Script::new((0..3).map(|i| {
        Step::Fail(
            Status::unavailable(format!("down {i}"))
                .with_detail(ErrorInfo::new("DOWN", "example.com")),
        )
    }));
    let status = call(&retrying(3), &script, unary(b"x")).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(status.message(), "down 2", "the last attempt's status");
    assert_eq!(status.get_detail::<ErrorInfo>().unwrap().reason, "DOWN");
    assert_eq!(status.attempts(), Some(3));
    assert_eq!(script.seen().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_code_that_is_not_retryable_ends_the_call() {
    let script = Script::new([Step::Fail(Status::invalid_argument("bad"))]);
    let status = call(&retrying(5), &script, unary(b"x")).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(status.attempts(), Some(1));
    assert_eq!(script.seen().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_pushback_delay_is_waited_and_the_backoff_starts_over() {
    let pushed =
        Status::unavailable("later").with_pushback(Pushback::Delay(Duration::from_secs(3)));
    let script = Script::new([unavailable(), Step::Fail(pushed), unavailable()]);
    let start = Instant::now();
    call(&retrying(5), &script, unary(b"x")).await.unwrap();
    let gaps = gaps(&script.times(start));
    let policy = retry_policy(5);
    // Retry 1 draws first; after the pushback, retry 1 again (the second
    // draw, under the initial bound).
    let mut rng = fastrand::Rng::with_seed(7);
    let (first, second) = (rng.f64(), rng.f64());
    assert_eq!(
        gaps,
        [
            ticks(policy.backoff(1, || first)),
            Duration::from_secs(3),
            ticks(policy.backoff(1, || second)),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_stop_pushback_ends_the_call_and_counts_against_the_throttle() {
    let stop = Status::unavailable("go away").with_pushback(Pushback::Stop);
    let script = Script::new([Step::Fail(stop)]);
    let layer = retrying(5).throttle(ThrottleConfig::new(10, 0.5).unwrap());
    let status = call(&layer, &script, unary(b"x")).await.unwrap_err();
    assert_eq!(status.message(), "go away");
    assert_eq!(status.attempts(), Some(1));
    assert_eq!(layer.retry_throttle().unwrap().tokens(), 9.0);
}

#[tokio::test(start_paused = true)]
async fn retry_info_is_honoured_unless_switched_off() {
    let with_info = || {
        Step::Fail(
            Status::unavailable("busy").with_detail(RetryInfo::after(Duration::from_secs(2))),
        )
    };
    let script = Script::new([with_info()]);
    let start = Instant::now();
    call(&retrying(3), &script, unary(b"x")).await.unwrap();
    assert_eq!(gaps(&script.times(start)), [Duration::from_secs(2)]);

    let script = Script::new([with_info()]);
    let start = Instant::now();
    call(&retrying(3).honor_retry_info(false), &script, unary(b"x"))
        .await
        .unwrap();
    assert_eq!(
        gaps(&script.times(start)),
        expected_backoffs(&retry_policy(3), 1)
    );
}

#[tokio::test(start_paused = true)]
async fn a_retry_never_sleeps_past_the_deadline() {
    let later = Status::unavailable("busy").with_pushback(Pushback::Delay(Duration::from_secs(10)));
    let script = Script::new([Step::Fail(later)]);
    let start = Instant::now();
    let mut request = unary(b"x");
    request
        .extensions_mut()
        .insert(Deadline(start + Duration::from_millis(250)));
    let status = call(&retrying(5), &script, request).await.unwrap_err();
    assert_eq!(
        start.elapsed(),
        Duration::from_millis(250),
        "ends at the deadline"
    );
    assert_eq!(status.code(), Code::DeadlineExceeded);
    assert_eq!(status.origin(), Origin::Deadline);
    assert!(status.message().contains("UNAVAILABLE: busy"), "{status:?}");
    assert!(std::error::Error::source(&status).is_some());
    assert_eq!(status.attempts(), Some(1));
    assert_eq!(script.seen().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn the_method_timeout_bounds_all_attempts() {
    let config = ServiceConfig::from_json(
        r#"{"methodConfig": [{"name": [{"service": "a.B"}], "timeout": "1s",
            "retryPolicy": {"maxAttempts": 3, "initialBackoff": "0.1s", "maxBackoff": "1s",
                            "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]}}]}"#,
    )
    .unwrap();
    let script = Script::new([unavailable()]);
    let start = Instant::now();
    let mut request = unary(b"x");
    *request.uri_mut() = "/a.B/C".parse().unwrap();
    // A later deadline of the call's own is cut to the method's timeout.
    request
        .extensions_mut()
        .insert(Deadline(start + Duration::from_secs(5)));
    call(&RetryLayer::new(config).rng_seed(7), &script, request)
        .await
        .unwrap();
    let seen = script.seen();
    assert_eq!(seen.len(), 2, "the config's retry policy applies by path");
    for attempt in &seen {
        assert_eq!(
            attempt.deadline,
            Some(Deadline(start + Duration::from_secs(1)))
        );
    }
}

#[tokio::test(start_paused = true)]
async fn the_grpc_method_extension_finds_the_config() {
    let config = ServiceConfig::from_json(
        r#"{"methodConfig": [{"name": [{"service": "a.B", "method": "C"}],
            "retryPolicy": {"maxAttempts": 2, "initialBackoff": "0.1s", "maxBackoff": "1s",
                            "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]}}]}"#,
    )
    .unwrap();
    let layer = RetryLayer::new(config);
    let script = Script::new([unavailable()]);
    let mut request = unary(b"x");
    request.extensions_mut().insert(GrpcMethod::new(
        http::uri::PathAndQuery::from_static("/a.B/C"),
        grpcx_transport::descriptor::MethodKind::Unary,
    ));
    call(&layer, &script, request).await.unwrap();
    assert_eq!(script.seen().len(), 2);

    // Another method has no policy: one attempt.
    let script = Script::new([unavailable()]);
    let mut request = unary(b"x");
    *request.uri_mut() = "/a.B/D".parse().unwrap();
    let status = call(&layer, &script, request).await.unwrap_err();
    assert_eq!(status.attempts(), Some(1));
}

#[tokio::test(start_paused = true)]
async fn the_throttle_stops_retries_and_successes_refill_it() {
    let layer = retrying(5).throttle(ThrottleConfig::new(4, 0.5).unwrap());
    let script = Script::new([unavailable(), unavailable()]);
    let status = call(&layer, &script, unary(b"x")).await.unwrap_err();
    // 4 -> 3 (more than half: retry) -> 2 (not more than half: stop).
    assert_eq!(status.attempts(), Some(2));
    let throttle = layer.retry_throttle().unwrap();
    assert_eq!(throttle.tokens(), 2.0);
    assert!(!throttle.allows_retry());

    // No retry at all while throttled; a client fault does not count.
    let script = Script::new([unavailable()]);
    let status = call(&layer, &script, unary(b"x")).await.unwrap_err();
    assert_eq!(status.attempts(), Some(1));
    assert_eq!(throttle.tokens(), 1.0);
    let script = Script::new([Step::Fail(Status::invalid_argument("bad"))]);
    call(&layer, &script, unary(b"x")).await.unwrap_err();
    assert_eq!(throttle.tokens(), 1.0);

    // Successes add the ratio.
    for _ in 0..3 {
        call(&layer, &Script::new([]), unary(b"x")).await.unwrap();
    }
    assert_eq!(throttle.tokens(), 2.5);
    assert!(throttle.allows_retry());
}

#[tokio::test(start_paused = true)]
async fn a_refused_stream_is_sent_again_once_per_attempt_without_counting() {
    let refused = || Step::Fail(Status::unavailable("refused").with_progress(Progress::Refused));
    // No policy: only transparent retries.
    let script = Script::new([refused()]);
    let start = Instant::now();
    let response = call(&RetryLayer::default(), &script, unary(b"x"))
        .await
        .unwrap();
    assert_eq!(start.elapsed(), Duration::ZERO, "at once");
    assert_eq!(script.previous(), [None, None], "the same attempt");
    assert_eq!(response.extensions().get::<Attempts>(), None);

    // Refused twice in a row: the second refusal is a failure.
    let script = Script::new([refused(), refused()]);
    let status = call(&RetryLayer::default(), &script, unary(b"x"))
        .await
        .unwrap_err();
    assert_eq!(status.attempts(), Some(1));
    assert_eq!(script.seen().len(), 2);

    // Under a policy, each attempt gets its own transparent retry, and
    // the throttle never sees them.
    let layer = retrying(2).throttle(ThrottleConfig::new(10, 0.5).unwrap());
    let script = Script::new([refused(), refused(), refused()]);
    call(&layer, &script, unary(b"x")).await.unwrap();
    assert_eq!(script.previous(), [None, None, Some(1), Some(1)]);
    assert_eq!(layer.retry_throttle().unwrap().tokens(), 9.5);
}

/// A failed connect, as a real channel reports it (made on a thread of its
/// own, off the test's paused clock).
fn connect_failure() -> Status {
    std::thread::spawn(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            // A port that was free a moment ago: nothing listens there.
            let addr = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap();
            let mut channel = grpcx_transport::Endpoint::new(format!("http://{addr}"))
                .unwrap()
                .connect_lazy();
            let request = http::Request::builder()
                .uri("/a.B/C")
                .body(Body::empty())
                .unwrap();
            tower::ServiceExt::<http::Request<Body>>::ready(&mut channel)
                .await
                .unwrap()
                .call(request)
                .await
                .unwrap_err()
        })
    })
    .join()
    .unwrap()
}

#[tokio::test(start_paused = true)]
async fn an_unsent_call_is_sent_again_a_bounded_number_of_times() {
    // What the channel reports when a closing connection gave a request
    // back unsent twice.
    let unsent = || {
        Step::Fail(
            Status::unavailable("the server is closing the connection")
                .with_origin(Origin::Transport)
                .with_progress(Progress::NotSent),
        )
    };
    let script = Script::new([unsent(), unsent()]);
    call(&RetryLayer::default(), &script, unary(b"x"))
        .await
        .unwrap();
    assert_eq!(script.seen().len(), 3);

    let script = Script::new((0..10).map(|_| unsent()));
    let status = call(&RetryLayer::default(), &script, unary(b"x"))
        .await
        .unwrap_err();
    assert_eq!(
        script.seen().len(),
        1 + DEFAULT_MAX_TRANSPARENT_RETRIES as usize
    );
    assert_eq!(status.attempts(), Some(1));

    // A refusal a layer below made locally (an interceptor, load
    // shedding) is no transparent retry: it would only be refused again.
    let refusal =
        || Step::Fail(Status::unauthenticated("no token").with_progress(Progress::NotSent));
    let script = Script::new((0..10).map(|_| refusal()));
    let status = call(&RetryLayer::default(), &script, unary(b"x"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(script.seen().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_failed_connect_is_an_attempt_unless_the_call_waits_for_ready() {
    let failure = connect_failure();
    assert_eq!(failure.progress(), Progress::NotSent);
    assert_eq!(failure.origin(), Origin::Transport);
    let no_connect = || Step::Fail(failure.clone());
    let script = Script::new((0..5).map(|_| no_connect()));
    let status = call(&retrying(3), &script, unary(b"x")).await.unwrap_err();
    assert_eq!(status.attempts(), Some(3));
    assert_eq!(script.seen().len(), 3);

    let config = ServiceConfig::from_json(
        r#"{"methodConfig": [{"name": [{}], "waitForReady": true, "timeout": "10s"}]}"#,
    )
    .unwrap();
    let layer = RetryLayer::new(config)
        .rng_seed(7)
        .wait_for_ready_backoff(Duration::from_secs(1), Duration::from_secs(2));
    let script = Script::new((0..3).map(|_| no_connect()));
    let start = Instant::now();
    let response = call(&layer, &script, unary(b"x")).await.unwrap();
    assert_eq!(
        response.extensions().get::<Attempts>(),
        None,
        "waits are not attempts"
    );
    let gaps = gaps(&script.times(start));
    assert_eq!(gaps.len(), 3);
    for (gap, bound) in gaps.iter().zip([1.0, 1.6, 2.0]) {
        let secs = gap.as_secs_f64();
        assert!((0.8 * bound..=1.2 * bound).contains(&secs), "{gaps:?}");
    }

    // Never past the deadline.
    let script = Script::new((0..100).map(|_| no_connect()));
    let start = Instant::now();
    let status = call(&layer, &script, unary(b"x")).await.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded);
    assert_eq!(start.elapsed(), Duration::from_secs(10));
}

#[tokio::test(start_paused = true)]
async fn an_open_circuit_is_never_retried() {
    let open = Status::unavailable("circuit breaker a.B is open")
        .with_detail(ErrorInfo::new(CIRCUIT_OPEN, DOMAIN))
        .with_progress(Progress::NotSent);
    let script = Script::new([Step::Fail(open)]);
    let status = call(&retrying(5), &script, unary(b"x")).await.unwrap_err();
    assert_eq!(status.message(), "circuit breaker a.B is open");
    assert_eq!(status.attempts(), Some(1));
    assert_eq!(script.seen().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn the_first_hedge_to_answer_wins_and_the_others_are_cancelled() {
    let script = Script::new([
        Step::Hang,
        Step::After(Duration::from_millis(50), Box::new(Step::Ok)),
    ]);
    let start = Instant::now();
    let response = call(
        &hedging(3, Duration::from_millis(100)),
        &script,
        unary(b"x"),
    )
    .await
    .unwrap();
    assert_eq!(start.elapsed(), Duration::from_millis(150));
    assert_eq!(response.extensions().get::<Attempts>(), Some(&Attempts(2)));
    let seen = script.seen();
    assert_eq!(
        script.times(start),
        [Duration::ZERO, Duration::from_millis(100)]
    );
    assert_eq!(script.previous(), [None, Some(1)]);
    assert!(seen[0].cancelled, "the loser is dropped");
    assert!(!seen[1].cancelled);
}

#[tokio::test(start_paused = true)]
async fn hedges_go_every_delay_up_to_max_attempts() {
    let script = Script::new([Step::Hang, Step::Hang, Step::Hang]);
    let mut request = unary(b"x");
    let start = Instant::now();
    request
        .extensions_mut()
        .insert(Deadline(start + Duration::from_secs(1)));
    let status = call(&hedging(3, Duration::from_millis(100)), &script, request)
        .await
        .unwrap_err();
    assert_eq!(
        script.times(start),
        [
            Duration::ZERO,
            Duration::from_millis(100),
            Duration::from_millis(200)
        ]
    );
    assert_eq!(status.code(), Code::DeadlineExceeded);
    assert_eq!(status.origin(), Origin::Deadline);
    assert_eq!(status.attempts(), Some(3));
    assert!(script.seen().iter().all(|s| s.cancelled));
}

#[tokio::test(start_paused = true)]
async fn a_fatal_hedge_failure_ends_the_call() {
    let script = Script::new([
        Step::After(
            Duration::from_millis(150),
            Box::new(Step::Fail(Status::not_found("gone"))),
        ),
        Step::Hang,
    ]);
    let start = Instant::now();
    let status = call(
        &hedging(3, Duration::from_millis(100)),
        &script,
        unary(b"x"),
    )
    .await
    .unwrap_err();
    assert_eq!(start.elapsed(), Duration::from_millis(150));
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(status.attempts(), Some(2));
    assert!(script.seen()[1].cancelled);
}

#[tokio::test(start_paused = true)]
async fn a_non_fatal_failure_sends_the_next_hedge_at_once_and_pushback_rules() {
    // Attempt 1 fails non-fatally at 10ms: attempt 2 goes at once.
    let script = Script::new([
        Step::After(Duration::from_millis(10), Box::new(unavailable())),
        Step::Ok,
    ]);
    let start = Instant::now();
    call(
        &hedging(3, Duration::from_millis(100)),
        &script,
        unary(b"x"),
    )
    .await
    .unwrap();
    assert_eq!(
        script.times(start),
        [Duration::ZERO, Duration::from_millis(10)]
    );

    // A pushback delay puts the next hedge after it.
    let pushed =
        Status::unavailable("later").with_pushback(Pushback::Delay(Duration::from_millis(500)));
    let script = Script::new([
        Step::After(Duration::from_millis(10), Box::new(Step::Fail(pushed))),
        Step::Ok,
    ]);
    let start = Instant::now();
    call(
        &hedging(3, Duration::from_millis(100)),
        &script,
        unary(b"x"),
    )
    .await
    .unwrap();
    assert_eq!(
        script.times(start),
        [Duration::ZERO, Duration::from_millis(510)]
    );

    // A stop pushback sends no more hedges.
    let stop = Status::unavailable("stop").with_pushback(Pushback::Stop);
    let script = Script::new([Step::After(
        Duration::from_millis(10),
        Box::new(Step::Fail(stop)),
    )]);
    let status = call(
        &hedging(3, Duration::from_millis(100)),
        &script,
        unary(b"x"),
    )
    .await
    .unwrap_err();
    assert_eq!(status.message(), "stop");
    assert_eq!(status.attempts(), Some(1));
    assert_eq!(script.seen().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_streaming_request_is_sent_once_under_hedging() {
    let script = Script::new([Step::After(Duration::from_millis(500), Box::new(Step::Ok))]);
    call(
        &hedging(3, Duration::from_millis(100)),
        &script,
        streaming(&[b"ab"]),
    )
    .await
    .unwrap();
    assert_eq!(script.seen().len(), 1);
}

fn streaming(chunks: &[&'static [u8]]) -> http::Request<Body> {
    let frames: Vec<Result<Frame<Bytes>, Status>> = chunks
        .iter()
        .map(|c| Ok(Frame::data(Bytes::from_static(c))))
        .collect();
    http::Request::new(Body::new(http_body_util::StreamBody::new(
        futures_util::stream::iter(frames),
    )))
}

#[tokio::test(start_paused = true)]
async fn a_streaming_request_is_replayed_to_the_next_attempt() {
    let script = Script::new([unavailable(), unavailable()]);
    call(&retrying(3), &script, streaming(&[b"ab", b"cd", b"ef"]))
        .await
        .unwrap();
    let seen = script.seen();
    assert_eq!(seen.len(), 3);
    assert!(seen.iter().all(|s| s.body == b"abcdef"), "{seen:?}");
}

#[tokio::test(start_paused = true)]
async fn a_request_over_the_buffer_limits_commits() {
    let script = Script::new([unavailable()]);
    let layer = retrying(3).per_rpc_buffer_limit(4);
    let status = call(&layer, &script, streaming(&[b"abc", b"def"]))
        .await
        .unwrap_err();
    assert_eq!(status.attempts(), Some(1));
    assert_eq!(script.seen()[0].body, b"abcdef", "the attempt went on");

    // A unary request over the limit is sent once.
    let script = Script::new([unavailable()]);
    let status = call(&layer, &script, unary(b"hello")).await.unwrap_err();
    assert_eq!(status.attempts(), Some(1));

    // The channel's budget is shared, and given back after each call.
    let layer = retrying(3).retry_buffer_size(5);
    let script = Script::new([unavailable()]);
    call(&layer, &script, streaming(&[b"abc", b"de"]))
        .await
        .unwrap();
    assert_eq!(layer.channel.budget.used(), 0);
    let script = Script::new([unavailable()]);
    let status = call(&layer, &script, streaming(&[b"abc", b"def"]))
        .await
        .unwrap_err();
    assert_eq!(status.attempts(), Some(1));
    assert_eq!(layer.channel.budget.used(), 0);
}

#[tokio::test(start_paused = true)]
async fn an_open_circuit_stops_the_hedges() {
    let open = Status::unavailable("circuit breaker a.B is open")
        .with_detail(ErrorInfo::new(CIRCUIT_OPEN, DOMAIN))
        .with_progress(Progress::NotSent);
    let script = Script::new([Step::Fail(open)]);
    let status = call(
        &hedging(3, Duration::from_millis(100)),
        &script,
        unary(b"x"),
    )
    .await
    .unwrap_err();
    assert_eq!(status.message(), "circuit breaker a.B is open");
    assert_eq!(status.attempts(), Some(1));
    assert_eq!(script.seen().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn errors_of_the_inner_service_become_statuses() {
    let failing = tower::service_fn(|_request: http::Request<Body>| async {
        Err::<Response, grpcx_transport::BoxError>("a secret failure".into())
    });
    let mut service = retrying(3).layer(failing);
    let status = service
        .ready()
        .await
        .unwrap()
        .call(unary(b"x"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unknown);
    assert!(!status.message().contains("secret"));
    assert_eq!(status.attempts(), Some(1), "UNKNOWN is not retryable here");
}

#[tokio::test(start_paused = true)]
async fn the_layer_stacks_over_other_layers() {
    let script = Script::new([unavailable()]);
    let mut service = tower::ServiceBuilder::new()
        .layer(retrying(3))
        .map_request(|mut request: http::Request<Body>| {
            request
                .headers_mut()
                .insert("x-below", http::HeaderValue::from_static("1"));
            request
        })
        .service(script.service());
    service
        .ready()
        .await
        .unwrap()
        .call(unary(b"x"))
        .await
        .unwrap();
    assert_eq!(script.seen().len(), 2);
}
