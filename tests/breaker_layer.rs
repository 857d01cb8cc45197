//! The circuit breaker layer over the wire: a failing server opens it after
//! the configured failures, the next call fails fast without reaching the
//! server, after the open time a probe goes through and its success closes
//! it; client-fault codes never open it; a stream's failure counts when its
//! trailers arrive; per-method breakers keep one method's failures from
//! cutting off the others.

// Test code: failing loudly, with the reason, is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use grpcx::client::Grpc;
use grpcx::middleware::breaker::{
    BreakerConfig, BreakerState, CircuitBreaker, CircuitBreakerLayer,
};
use grpcx::{Channel, Request, Response, Streaming};
use grpcx::{Code, ErrorInfo, Origin, Progress, RetryInfo, Status};
use grpcx_tests::probe::{Action, ProbeReply, ProbeRequest};
use grpcx_tests::{TestServer, codec, drain, path, within};

const UNARY: &str = "/grpcx.test.Probe/Unary";
const STREAM: &str = "/grpcx.test.Probe/ServerStream";

/// A probe server that counts the calls reaching it.
async fn counted_server() -> (TestServer, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let server = TestServer::start_with(move |server| {
        server.layer(tower::util::MapRequestLayer::new(
            move |request: http::Request<grpcx::Body>| {
                counted.fetch_add(1, Ordering::SeqCst);
                request
            },
        ))
    })
    .await;
    (server, calls)
}

type Client = Grpc<CircuitBreaker<Channel>>;

fn client(channel: Channel, layer: &CircuitBreakerLayer) -> Client {
    let config = channel.config();
    Grpc::new(
        tower::ServiceBuilder::new()
            .layer(layer.clone())
            .service(channel),
    )
    .with_config(config)
}

/// How long a breaker that tests a probe stays open: the test waits that
/// long, and everything between the opening and the refused call must
/// happen within it, on however loaded a machine.
const PROBE_OPEN_FOR: Duration = Duration::from_secs(1);

/// Opens after `failures` failures, for a minute: no probe within a test.
fn config(failures: u32) -> BreakerConfig {
    config_open_for(failures, Duration::from_secs(60))
}

/// Opens after `failures` failures, for `open_for`.
fn config_open_for(failures: u32, open_for: Duration) -> BreakerConfig {
    BreakerConfig::builder()
        .window(Duration::from_secs(60), 60)
        .without_failure_ratio()
        .failure_count(failures)
        .open_for(open_for)
        .build()
        .unwrap()
}

async fn unary(client: &Client, request: ProbeRequest) -> Result<Response<ProbeReply>, Status> {
    within(
        "a unary call",
        client.unary(path("Unary"), Request::new(request), codec()),
    )
    .await
}

async fn stream(
    client: &Client,
    request: ProbeRequest,
) -> Result<Response<Streaming<ProbeReply>>, Status> {
    within(
        "a server-streaming call",
        client.server_streaming(path("ServerStream"), Request::new(request), codec()),
    )
    .await
}

#[track_caller]
fn assert_circuit_open(status: &Status, name: &str) -> Duration {
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(status.message(), format!("circuit breaker {name} is open"));
    assert_eq!(status.origin(), Origin::Application, "made locally");
    assert_eq!(status.progress(), Progress::NotSent);
    let info = status.get_detail::<ErrorInfo>().unwrap();
    assert_eq!(
        (info.reason.as_str(), info.domain.as_str()),
        ("CIRCUIT_OPEN", "grpcx")
    );
    assert_eq!(info.metadata["breaker"], name);
    let delay = status.get_detail::<RetryInfo>().unwrap().delay().unwrap();
    assert!(delay > Duration::ZERO, "{delay:?}");
    delay
}

#[tokio::test]
async fn a_failing_server_opens_it_then_calls_fail_fast_until_a_probe_succeeds() {
    let (server, calls) = counted_server().await;
    let changes: Arc<Mutex<Vec<(BreakerState, BreakerState)>>> = Arc::default();
    let seen = changes.clone();
    let layer = CircuitBreakerLayer::new(config_open_for(3, PROBE_OPEN_FOR))
        .name("probe")
        .on_state_change(move |_, from, to| seen.lock().unwrap().push((from, to)));
    let client = client(server.channel(), &layer);

    for i in 0..3 {
        let status = unary(
            &client,
            ProbeRequest::fail(&format!("f{i}"), Code::Unavailable, "down"),
        )
        .await
        .unwrap_err();
        assert_eq!(status.message(), "down", "the server's own status");
        assert_eq!(status.origin(), Origin::Peer);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(layer.state(UNARY), Some(BreakerState::Open));

    // Open: refused here, with the time left; the server sees nothing.
    let status = unary(&client, ProbeRequest::new("refused", Action::Reply))
        .await
        .unwrap_err();
    let delay = assert_circuit_open(&status, "probe");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "the refused call never reached the server"
    );

    // Once the breaker's own delay has passed, one probe goes through, and
    // its success closes the breaker.
    tokio::time::sleep(delay).await;
    let reply = unary(&client, ProbeRequest::new("probe", Action::Reply))
        .await
        .unwrap();
    assert_eq!(reply.get_ref().id, "probe");
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    assert_eq!(layer.state(UNARY), Some(BreakerState::Closed));
    unary(&client, ProbeRequest::new("after", Action::Reply))
        .await
        .unwrap();
    assert_eq!(
        *changes.lock().unwrap(),
        [
            (BreakerState::Closed, BreakerState::Open),
            (BreakerState::Open, BreakerState::HalfOpen),
            (BreakerState::HalfOpen, BreakerState::Closed),
        ]
    );
}

#[tokio::test]
async fn a_failed_probe_opens_it_again() {
    let (server, calls) = counted_server().await;
    let layer = CircuitBreakerLayer::new(config_open_for(1, PROBE_OPEN_FOR));
    let client = client(server.channel(), &layer);
    unary(&client, ProbeRequest::fail("f", Code::Internal, "boom"))
        .await
        .unwrap_err();
    let delay = assert_circuit_open(
        &unary(&client, ProbeRequest::new("r", Action::Reply))
            .await
            .unwrap_err(),
        "channel",
    );
    tokio::time::sleep(delay).await;
    let status = unary(
        &client,
        ProbeRequest::fail("probe", Code::Unavailable, "still down"),
    )
    .await
    .unwrap_err();
    assert_eq!(status.message(), "still down");
    assert_eq!(layer.state(UNARY), Some(BreakerState::Open));
    let status = unary(&client, ProbeRequest::new("r2", Action::Reply))
        .await
        .unwrap_err();
    assert_circuit_open(&status, "channel");
    assert_eq!(calls.load(Ordering::SeqCst), 2, "the failure and the probe");
}

#[tokio::test]
async fn client_fault_codes_never_open_it() {
    let (server, calls) = counted_server().await;
    let layer = CircuitBreakerLayer::new(config(1));
    let client = client(server.channel(), &layer);
    let faults = [
        Code::NotFound,
        Code::InvalidArgument,
        Code::AlreadyExists,
        Code::PermissionDenied,
        Code::Unauthenticated,
        Code::FailedPrecondition,
        Code::OutOfRange,
    ];
    for round in 0..3 {
        for code in faults {
            let status = unary(&client, ProbeRequest::fail(&format!("{round}"), code, "no"))
                .await
                .unwrap_err();
            assert_eq!(status.code(), code);
        }
    }
    assert_eq!(calls.load(Ordering::SeqCst), 3 * faults.len());
    assert_eq!(layer.state(UNARY), Some(BreakerState::Closed));
    unary(&client, ProbeRequest::new("fine", Action::Reply))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_streams_failure_counts_when_its_trailers_arrive() {
    let (server, _) = counted_server().await;
    let layer = CircuitBreakerLayer::new(config(1));
    let client = client(server.channel(), &layer);
    let request = ProbeRequest::fail("s", Code::Unavailable, "midway").after(2);
    let mut replies = stream(&client, request).await.unwrap().into_inner();
    // The head arrived, the messages follow: nothing is known yet.
    let first = within("the first message", replies.message())
        .await
        .unwrap();
    assert!(first.is_some());
    assert_eq!(layer.state(STREAM), Some(BreakerState::Closed));
    let (messages, end) = drain(&mut replies).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(end.unwrap_err().message(), "midway");
    assert_eq!(layer.state(STREAM), Some(BreakerState::Open));

    // A stream the caller drops early counts as neither.
    let layer = CircuitBreakerLayer::new(config(1));
    let client = self::client(server.channel(), &layer);
    let request = ProbeRequest::fail("dropped", Code::Unavailable, "midway").after(2);
    let mut replies = stream(&client, request).await.unwrap().into_inner();
    within("the first message", replies.message())
        .await
        .unwrap();
    drop(replies);
    assert_eq!(layer.state(STREAM), Some(BreakerState::Closed));
}

#[tokio::test]
async fn per_method_breakers_keep_one_methods_failures_to_itself() {
    let (server, calls) = counted_server().await;
    let names: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = names.clone();
    let layer = CircuitBreakerLayer::new(config(2))
        .per_method()
        .on_state_change(move |name, _, _| seen.lock().unwrap().push(name.to_owned()));
    let client = client(server.channel(), &layer);
    for i in 0..2 {
        unary(
            &client,
            ProbeRequest::fail(&format!("u{i}"), Code::Unavailable, "down"),
        )
        .await
        .unwrap_err();
    }
    assert_eq!(layer.state(UNARY), Some(BreakerState::Open));
    let status = unary(&client, ProbeRequest::new("u", Action::Reply))
        .await
        .unwrap_err();
    assert_circuit_open(&status, UNARY);

    // The other method has its own breaker, still closed.
    assert_eq!(layer.state(STREAM), None);
    let mut replies = stream(&client, ProbeRequest::new("s", Action::Reply).after(3))
        .await
        .unwrap()
        .into_inner();
    let (messages, end) = drain(&mut replies).await;
    assert_eq!(messages.len(), 3);
    end.unwrap();
    assert_eq!(layer.state(STREAM), Some(BreakerState::Closed));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(*names.lock().unwrap(), [UNARY]);
}

#[tokio::test]
async fn it_composes_with_interceptors_and_towers_timeout() {
    use grpcx::middleware::interceptor::{CallHead, InterceptorLayer, sync_interceptor_fn};

    let (server, calls) = counted_server().await;
    let channel = server.channel();
    let layer = CircuitBreakerLayer::new(config(2));
    let refuse_untagged =
        sync_interceptor_fn(|call: &mut CallHead| match call.metadata().get("x-tag") {
            Some(_) => Ok(()),
            None => Err(Status::invalid_argument("untagged")),
        });
    let stack = tower::ServiceBuilder::new()
        .layer(layer.clone())
        .layer(InterceptorLayer::new(refuse_untagged))
        .timeout(Duration::from_millis(100))
        .service(channel.clone());
    let client = Grpc::new(stack).with_config(channel.config());
    let tagged = |request: ProbeRequest| {
        let mut request = Request::new(request);
        request.metadata_mut().insert("x-tag", "t").unwrap();
        request
    };

    // Refusals made below the breaker, before anything is sent, do not
    // count, however many.
    for _ in 0..5 {
        let status = within(
            "an untagged call",
            client.unary(
                path("Unary"),
                Request::new(ProbeRequest::new("u", Action::Reply)),
                codec(),
            ),
        )
        .await
        .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert_eq!(layer.state(UNARY), Some(BreakerState::Closed));

    // tower's timeout is DEADLINE_EXCEEDED to the breaker: a failure.
    let slow = ProbeRequest {
        sleep_ms: grpcx_tests::LONG_SLEEP.as_millis() as u64,
        ..ProbeRequest::new("slow", Action::Sleep)
    };
    for _ in 0..2 {
        let status = within(
            "a slow call",
            client.unary(path("Unary"), tagged(slow.clone()), codec()),
        )
        .await
        .unwrap_err();
        assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    }
    assert_eq!(layer.state(UNARY), Some(BreakerState::Open));
    let status = within(
        "a refused call",
        client.unary(
            path("Unary"),
            tagged(ProbeRequest::new("r", Action::Reply)),
            codec(),
        ),
    )
    .await
    .unwrap_err();
    assert_circuit_open(&status, "channel");
}

/// A retry layer above the breaker stops at its refusal: the attempts that
/// reached the server opened it, and the next attempt is not sent into it.
#[tokio::test]
async fn a_retry_layer_above_does_not_retry_into_the_open_breaker() {
    use grpcx::middleware::retry::{CallPolicy, RetryLayer, RetryPolicy};

    let (server, calls) = counted_server().await;
    let channel = server.channel();
    let client_config = channel.config();
    let policy = RetryPolicy::builder(5)
        .initial_backoff(Duration::from_millis(1))
        .max_backoff(Duration::from_millis(5))
        .backoff_multiplier(2.0)
        .retryable_codes([Code::Unavailable])
        .build()
        .unwrap();
    let client = Grpc::new(
        tower::ServiceBuilder::new()
            .layer(RetryLayer::with_policy(CallPolicy::Retry(policy)))
            .layer(CircuitBreakerLayer::new(config(2)))
            .service(channel),
    )
    .with_config(client_config);

    let status = within(
        "a retried call",
        client.unary(
            path("Unary"),
            Request::new(ProbeRequest::fail("down", Code::Unavailable, "down")),
            codec(),
        ),
    )
    .await
    .map(|response: Response<ProbeReply>| response.into_inner())
    .unwrap_err();
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "two attempts reached the server"
    );
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(status.attempts(), Some(3), "the third met the open breaker");
    let info = status.get_detail::<ErrorInfo>().unwrap();
    assert_eq!(info.reason, "CIRCUIT_OPEN");
    assert_eq!(status.progress(), Progress::NotSent);
}
