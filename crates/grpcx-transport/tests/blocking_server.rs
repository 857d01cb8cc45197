//! Blocking server handlers of the four kinds, called by the async client:
//! statuses with details and metadata, the context, deadlines, the bound
//! on blocking threads, and panics.
// Test helpers stop loudly on a broken setup.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

use futures_util::StreamExt as _;
use grpcx_codec::ProstCodec;
use grpcx_status::{Code, ErrorInfo, Metadata, Origin, Status};
use grpcx_transport::blocking::{BlockingChannel, BlockingStreaming, ResponseSink};
use grpcx_transport::server::{BoxFuture, GrpcService, ResponseBody, ServerCall, handler};
use grpcx_transport::{CallOutcome, Channel, Endpoint, Request, Response, Server, ServerRequest};
use http::uri::PathAndQuery;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

/// Generous: only a broken implementation ever waits this long.
const PATIENCE: Duration = Duration::from_secs(20);

/// Tickets that let blocked handlers go on, one each.
#[derive(Default)]
struct Gate {
    tickets: Mutex<usize>,
    changed: Condvar,
}

impl Gate {
    fn open(&self, n: usize) {
        *self.tickets.lock().unwrap() += n;
        self.changed.notify_all();
    }

    /// Waits for a ticket (or gives up after `PATIENCE`, so that a failed
    /// test cannot hang the runtime's shutdown).
    fn pass(&self) {
        let tickets = self.tickets.lock().unwrap();
        let (mut tickets, _) = self
            .changed
            .wait_timeout_while(tickets, PATIENCE, |t| *t == 0)
            .unwrap();
        *tickets = tickets.saturating_sub(1);
    }
}

/// What a handler saw once let go after its deadline.
#[derive(Debug, PartialEq)]
struct Observed {
    active: bool,
    send_failed: bool,
    closed: bool,
}

#[derive(Default)]
struct Probes {
    gate: Gate,
    running: AtomicUsize,
    max_running: AtomicUsize,
    started: OnceLock<UnboundedSender<String>>,
    observed: OnceLock<UnboundedSender<Observed>>,
    read_errors: OnceLock<UnboundedSender<Code>>,
    outcomes: OnceLock<UnboundedSender<(String, CallOutcome)>>,
    /// A blocking client of this same server, for `Relay`.
    relay: OnceLock<BlockingChannel>,
}

impl Probes {
    fn started(&self, what: &str) {
        let _ = self.started.get().unwrap().send(what.to_owned());
    }
}

/// A service of blocking handlers:
/// - `Say(String) -> String` echoes with metadata; `"fail"` fails with
///   details and metadata, `"abort"` aborts, `"code"` sets NOT_FOUND
///   through the context.
/// - `Panic(String) -> String` panics.
/// - `List(u64) -> stream String` sends n items; 99 sends two then fails,
///   98 sends one then panics, 0 fails before sending anything.
/// - `Sum(stream u64) -> u64` adds; a 0 fails.
/// - `Chat(stream String) -> stream String` echoes; `"stop"` fails.
/// - `Slow`, `SlowList`, `SlowSum` wait at the gate, then report what
///   they see; `Pool` counts how many run at once.
/// - `Relay(String) -> String` calls `Say` with a blocking client.
struct Svc {
    probes: Arc<Probes>,
}

fn failure(message: &str) -> Status {
    let mut metadata = Metadata::new();
    metadata.insert("x-why", "because").unwrap();
    Status::invalid_argument(message)
        .with_detail(ErrorInfo::new("BAD_INPUT", "test.example"))
        .with_metadata(metadata)
}

fn say(req: ServerRequest<String>) -> Result<Response<String>, Status> {
    let context = req.context();
    assert!(context.is_active());
    assert!(context.time_remaining().is_some());
    match req.get_ref().as_str() {
        "fail" => return Err(failure("bad ☺")),
        "abort" => return Err(context.abort(Code::PermissionDenied, "go away")),
        "code" => {
            context.set_code(Code::NotFound);
            context.set_message("no such thing");
        }
        _ => {}
    }
    let mut trailers = Metadata::new();
    trailers.insert("x-trailer", "t").unwrap();
    context.set_trailing_metadata(trailers);
    let mut response = Response::new(format!("echo {}", req.get_ref()));
    response
        .metadata_mut()
        .insert("x-served-by", "blocking")
        .unwrap();
    Ok(response)
}

fn list(req: ServerRequest<u64>, sink: ResponseSink<String>) -> Result<(), Status> {
    let n = *req.get_ref();
    if n == 0 {
        return Err(failure("nothing to list"));
    }
    let mut trailers = Metadata::new();
    trailers.insert("x-count", &n.to_string()).unwrap();
    req.context().set_trailing_metadata(trailers);
    let count = match n {
        99 => 2,
        98 => 1,
        n => n,
    };
    for i in 0..count {
        sink.send(format!("item {i}"))
            .map_err(|_| Status::cancelled("gone"))?;
    }
    match n {
        99 => Err(Status::data_loss("cut ☺").with_detail(ErrorInfo::new("CUT", "test.example"))),
        98 => panic!("secret stream bug ☠"),
        _ => Ok(()),
    }
}

fn sum(req: ServerRequest<BlockingStreaming<u64>>) -> Result<Response<u64>, Status> {
    let mut total = 0;
    for n in req.into_inner() {
        match n? {
            0 => return Err(failure("zero")),
            n => total += n,
        }
    }
    Ok(Response::new(total))
}

fn chat(
    req: ServerRequest<BlockingStreaming<String>>,
    sink: ResponseSink<String>,
) -> Result<(), Status> {
    for message in req.into_inner() {
        let message = message?;
        if message == "stop" {
            return Err(Status::aborted("stopped ☺"));
        }
        if sink.send(format!("echo {message}")).is_err() {
            break;
        }
    }
    Ok(())
}

impl GrpcService for Svc {
    fn name(&self) -> &'static str {
        "test.Blocking"
    }

    fn call(&self, method: &str, call: ServerCall) -> BoxFuture<http::Response<ResponseBody>> {
        let probes = self.probes.clone();
        let name = method.to_owned();
        let outcomes = probes.outcomes.get().unwrap().clone();
        call.context().on_done(move |outcome| {
            let _ = outcomes.send((name, outcome));
        });
        let strings = ProstCodec::<String, String>::default();
        match method {
            "Say" => Box::pin(handler::blocking_unary(call, strings, say)),
            "Panic" => Box::pin(handler::blocking_unary(
                call,
                strings,
                |_: ServerRequest<String>| -> Result<Response<String>, Status> {
                    panic!("secret handler bug ☠")
                },
            )),
            "List" => Box::pin(handler::blocking_server_streaming(
                call,
                ProstCodec::<String, u64>::default(),
                list,
            )),
            "Sum" => Box::pin(handler::blocking_client_streaming(
                call,
                ProstCodec::<u64, u64>::default(),
                sum,
            )),
            "Chat" => Box::pin(handler::blocking_bidi_streaming(call, strings, chat)),
            "Slow" => Box::pin(handler::blocking_unary(
                call,
                strings,
                move |req: ServerRequest<String>| {
                    probes.started("slow");
                    probes.gate.pass();
                    let active = req.context().is_active();
                    let _ = probes.observed.get().unwrap().send(Observed {
                        active,
                        send_failed: false,
                        closed: false,
                    });
                    Ok::<_, Status>(Response::new("too late".to_owned()))
                },
            )),
            "SlowList" => Box::pin(handler::blocking_server_streaming(
                call,
                strings,
                move |req: ServerRequest<String>, sink: ResponseSink<String>| {
                    sink.send("first".to_owned())
                        .map_err(|_| Status::cancelled("gone"))?;
                    probes.started("slow list");
                    probes.gate.pass();
                    let observed = Observed {
                        active: req.context().is_active(),
                        send_failed: sink.send("too late".to_owned()).is_err(),
                        closed: sink.is_closed(),
                    };
                    let _ = probes.observed.get().unwrap().send(observed);
                    Ok::<_, Status>(())
                },
            )),
            "SlowSum" => Box::pin(handler::blocking_client_streaming(
                call,
                ProstCodec::<u64, u64>::default(),
                move |req: ServerRequest<BlockingStreaming<u64>>| {
                    let mut numbers = req.into_inner();
                    probes.started("slow sum");
                    loop {
                        match numbers.message() {
                            Ok(Some(_)) => continue,
                            Ok(None) => return Ok(Response::new(0)),
                            Err(status) => {
                                let _ = probes.read_errors.get().unwrap().send(status.code());
                                return Err(status);
                            }
                        }
                    }
                },
            )),
            "Pool" => Box::pin(handler::blocking_unary(
                call,
                ProstCodec::<u64, u64>::default(),
                move |req: ServerRequest<u64>| {
                    let now = probes.running.fetch_add(1, Ordering::SeqCst) + 1;
                    probes.max_running.fetch_max(now, Ordering::SeqCst);
                    probes.started(&format!("pool {}", req.get_ref()));
                    probes.gate.pass();
                    probes.running.fetch_sub(1, Ordering::SeqCst);
                    Ok::<_, Status>(Response::new(*req.get_ref()))
                },
            )),
            "Relay" => Box::pin(handler::blocking_unary(
                call,
                strings,
                move |req: ServerRequest<String>| {
                    let client = probes.relay.get().unwrap();
                    let timeout = req.context().time_remaining().unwrap_or(PATIENCE);
                    let answer = client.unary(
                        PathAndQuery::from_static("/test.Blocking/Say"),
                        Request::new(req.into_inner()).with_timeout(timeout),
                        ProstCodec::<String, String>::default(),
                    )?;
                    Ok::<_, Status>(answer.map(|reply| format!("relayed {reply}")))
                },
            )),
            _ => Box::pin(async move { call.unimplemented() }),
        }
    }
}

struct Fixture {
    channel: Channel,
    probes: Arc<Probes>,
    started: UnboundedReceiver<String>,
    observed: UnboundedReceiver<Observed>,
    read_errors: UnboundedReceiver<Code>,
    outcomes: UnboundedReceiver<(String, CallOutcome)>,
}

async fn start(server: Server) -> Fixture {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let probes = Arc::new(Probes::default());
    let (tx, started) = unbounded_channel();
    probes.started.set(tx).unwrap();
    let (tx, observed) = unbounded_channel();
    probes.observed.set(tx).unwrap();
    let (tx, read_errors) = unbounded_channel();
    probes.read_errors.set(tx).unwrap();
    let (tx, outcomes) = unbounded_channel();
    probes.outcomes.set(tx).unwrap();
    let svc = Svc {
        probes: probes.clone(),
    };
    tokio::spawn(server.add_service(svc).serve(listener));
    let channel = Endpoint::new(format!("http://127.0.0.1:{port}"))
        .unwrap()
        .connect_lazy();
    Fixture {
        channel,
        probes,
        started,
        observed,
        read_errors,
        outcomes,
    }
}

async fn next<T>(rx: &mut UnboundedReceiver<T>) -> T {
    tokio::time::timeout(PATIENCE, rx.recv())
        .await
        .expect("timed out waiting for the server")
        .unwrap()
}

impl Fixture {
    async fn outcome_of(&mut self, method: &str) -> CallOutcome {
        loop {
            let (name, outcome) = next(&mut self.outcomes).await;
            if name == method {
                return outcome;
            }
        }
    }

    async fn say(&self, message: &str) -> Result<Response<String>, Status> {
        self.channel
            .unary(
                path("Say"),
                Request::new(message.to_owned()).with_timeout(PATIENCE),
                ProstCodec::<String, String>::default(),
            )
            .await
    }
}

fn path(method: &str) -> PathAndQuery {
    PathAndQuery::try_from(format!("/test.Blocking/{method}")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_unary_answers_fails_aborts_and_sets_codes() {
    let fx = start(Server::builder()).await;
    let response = fx.say("hi").await.unwrap();
    assert_eq!(response.get_ref(), "echo hi");
    assert_eq!(response.metadata().get("x-served-by"), Some("blocking"));
    assert_eq!(response.trailers().get("x-trailer"), Some("t"));

    let status = fx.say("fail").await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(status.message(), "bad ☺");
    assert_eq!(status.origin(), Origin::Peer);
    assert_eq!(status.metadata().get("x-why"), Some("because"));
    assert_eq!(
        status.get_detail::<ErrorInfo>().unwrap().reason,
        "BAD_INPUT"
    );

    let status = fx.say("abort").await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(status.message(), "go away");

    // A code set through the context wins, and the message is not sent.
    let status = fx.say("code").await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(status.message(), "no such thing");
    assert_eq!(status.metadata().get("x-trailer"), Some("t"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_server_streaming_sends_through_the_sink_then_the_status() {
    let fx = start(Server::builder()).await;
    let list = |n: u64| {
        fx.channel.server_streaming(
            path("List"),
            Request::new(n).with_timeout(PATIENCE),
            ProstCodec::<u64, String>::default(),
        )
    };
    let mut stream = list(3).await.unwrap().into_inner();
    let mut items = Vec::new();
    while let Some(item) = stream.message().await.unwrap() {
        items.push(item);
    }
    assert_eq!(items, ["item 0", "item 1", "item 2"]);
    assert_eq!(stream.trailers().unwrap().get("x-count"), Some("3"));

    let all: Vec<_> = list(99).await.unwrap().into_inner().collect().await;
    assert_eq!(all.len(), 3);
    assert_eq!(all[1].as_ref().unwrap(), "item 1");
    let status = all[2].as_ref().unwrap_err();
    assert_eq!(status.code(), Code::DataLoss);
    assert_eq!(status.message(), "cut ☺");
    assert_eq!(status.get_detail::<ErrorInfo>().unwrap().reason, "CUT");
    assert_eq!(status.metadata().get("x-count"), Some("99"));

    // A handler failing before its first message answers Trailers-Only:
    // the call fails at its head.
    let status = list(0).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(status.message(), "nothing to list");
    assert_eq!(status.metadata().get("x-why"), Some("because"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_client_streaming_reads_requests_as_an_iterator() {
    let fx = start(Server::builder()).await;
    let sum = |numbers: Vec<u64>| {
        fx.channel.client_streaming(
            path("Sum"),
            Request::new(futures_util::stream::iter(numbers)).with_timeout(PATIENCE),
            ProstCodec::<u64, u64>::default(),
        )
    };
    assert_eq!(*sum((1..=100).collect()).await.unwrap().get_ref(), 5050);
    assert_eq!(*sum(Vec::new()).await.unwrap().get_ref(), 0);
    let status = sum(vec![1, 0, 2]).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(status.message(), "zero");
    assert!(status.get_detail::<ErrorInfo>().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_bidi_handlers_echo_and_fail() {
    let fx = start(Server::builder()).await;
    let (requests, mut responses) = fx.channel.bidi_streaming(
        path("Chat"),
        Request::new(()).with_timeout(PATIENCE),
        ProstCodec::<String, String>::default(),
    );
    for word in ["a", "b", "c"] {
        requests.send(word.to_owned()).await.unwrap();
        assert_eq!(
            responses.message().await.unwrap().unwrap(),
            format!("echo {word}")
        );
    }
    requests.send("stop".to_owned()).await.unwrap();
    let status = responses.message().await.unwrap_err();
    assert_eq!(status.code(), Code::Aborted);
    assert_eq!(status.message(), "stopped ☺");

    // Closing the requests ends the handler's iterator, and the call, OK.
    let (requests, responses) = fx.channel.bidi_streaming(
        path("Chat"),
        Request::new(()).with_timeout(PATIENCE),
        ProstCodec::<String, String>::default(),
    );
    // Sent from another task: the async `bidi` starts the call on the
    // first read, and its sender buffers only a few requests before that.
    let sending = tokio::spawn(async move {
        for i in 0..50 {
            requests.send(format!("m{i}")).await.unwrap();
        }
        requests.close();
    });
    let replies: Vec<String> = responses.map(Result::unwrap).collect().await;
    sending.await.unwrap();
    assert_eq!(replies.len(), 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_blocked_past_the_deadline_sees_the_call_inactive_and_its_answer_dropped() {
    let mut fx = start(Server::builder()).await;
    let status = fx
        .channel
        .unary(
            path("Slow"),
            Request::new("x".to_owned()).with_timeout(Duration::from_millis(300)),
            ProstCodec::<String, String>::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded);
    assert_eq!(next(&mut fx.started).await, "slow");
    let outcome = fx.outcome_of("Slow").await;
    assert!(
        matches!(
            outcome,
            CallOutcome::DeadlineExceeded | CallOutcome::Cancelled
        ),
        "{outcome:?}"
    );
    // Let the handler go: it sees the call over; what it returns goes nowhere.
    fx.probes.gate.open(1);
    assert_eq!(
        next(&mut fx.observed).await,
        Observed {
            active: false,
            send_failed: false,
            closed: false
        }
    );
    assert_eq!(fx.say("after").await.unwrap().get_ref(), "echo after");

    // A streaming handler: its sink refuses once the deadline has passed.
    let mut stream = fx
        .channel
        .server_streaming(
            path("SlowList"),
            Request::new("x".to_owned()).with_timeout(Duration::from_millis(500)),
            ProstCodec::<String, String>::default(),
        )
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stream.message().await.unwrap().unwrap(), "first");
    assert_eq!(next(&mut fx.started).await, "slow list");
    let status = stream.message().await.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded);
    let outcome = fx.outcome_of("SlowList").await;
    assert!(
        matches!(
            outcome,
            CallOutcome::DeadlineExceeded | CallOutcome::Cancelled
        ),
        "{outcome:?}"
    );
    fx.probes.gate.open(1);
    assert_eq!(
        next(&mut fx.observed).await,
        Observed {
            active: false,
            send_failed: true,
            closed: true
        }
    );

    // A handler blocked reading requests is woken when the call ends.
    let numbers = futures_util::stream::iter([1u64]).chain(futures_util::stream::pending());
    let status = fx
        .channel
        .client_streaming(
            path("SlowSum"),
            Request::new(numbers).with_timeout(Duration::from_millis(300)),
            ProstCodec::<u64, u64>::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded);
    assert_eq!(next(&mut fx.started).await, "slow sum");
    let code = next(&mut fx.read_errors).await;
    assert!(
        matches!(code, Code::DeadlineExceeded | Code::Cancelled),
        "{code:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_threads_bounds_the_handlers_running_at_once() {
    let mut fx = start(Server::builder().blocking_threads(2)).await;
    let calls: Vec<_> = (0..3u64)
        .map(|i| {
            let channel = fx.channel.clone();
            tokio::spawn(async move {
                channel
                    .unary(
                        path("Pool"),
                        Request::new(i).with_timeout(PATIENCE),
                        ProstCodec::<u64, u64>::default(),
                    )
                    .await
            })
        })
        .collect();
    next(&mut fx.started).await;
    next(&mut fx.started).await;
    // Two handlers hold both threads; the third call waits for one.
    let third = tokio::time::timeout(Duration::from_millis(300), fx.started.recv()).await;
    assert!(third.is_err(), "a third handler ran: {third:?}");
    assert_eq!(fx.probes.running.load(Ordering::SeqCst), 2);
    fx.probes.gate.open(1);
    next(&mut fx.started).await;
    fx.probes.gate.open(2);
    let mut answers = Vec::new();
    for call in calls {
        answers.push(*call.await.unwrap().unwrap().get_ref());
    }
    answers.sort_unstable();
    assert_eq!(answers, [0, 1, 2]);
    assert_eq!(fx.probes.max_running.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deadline_applies_while_waiting_for_a_blocking_thread() {
    let mut fx = start(Server::builder().blocking_threads(1)).await;
    let channel = fx.channel.clone();
    let holder = tokio::spawn(async move {
        channel
            .unary(
                path("Pool"),
                Request::new(1u64).with_timeout(PATIENCE),
                ProstCodec::<u64, u64>::default(),
            )
            .await
    });
    assert_eq!(next(&mut fx.started).await, "pool 1");
    let status = fx
        .channel
        .unary(
            path("Pool"),
            Request::new(2u64).with_timeout(Duration::from_millis(300)),
            ProstCodec::<u64, u64>::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded);
    // The server ends the waiting call too (the client's timer started
    // first, so wait for the server's word before freeing the thread).
    let outcome = fx.outcome_of("Pool").await;
    assert!(
        matches!(
            outcome,
            CallOutcome::DeadlineExceeded | CallOutcome::Cancelled
        ),
        "{outcome:?}"
    );
    fx.probes.gate.open(1);
    assert_eq!(*holder.await.unwrap().unwrap().get_ref(), 1);
    // The call that timed out while waiting never ran.
    fx.probes.gate.open(1);
    let answer = fx
        .channel
        .unary(
            path("Pool"),
            Request::new(3u64).with_timeout(PATIENCE),
            ProstCodec::<u64, u64>::default(),
        )
        .await
        .unwrap();
    assert_eq!(*answer.get_ref(), 3);
    assert_eq!(next(&mut fx.started).await, "pool 3");
    assert_eq!(fx.probes.max_running.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_blocking_handler_is_internal_and_the_server_goes_on() {
    let mut fx = start(Server::builder()).await;
    let status = fx
        .channel
        .unary(
            path("Panic"),
            Request::new("x".to_owned()).with_timeout(PATIENCE),
            ProstCodec::<String, String>::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Internal);
    assert_eq!(status.message(), "internal server error");
    assert!(!format!("{status:?}").contains("secret"));
    assert_eq!(
        fx.outcome_of("Panic").await,
        CallOutcome::Completed(Code::Internal)
    );

    // After a message: the message, then INTERNAL.
    let all: Vec<_> = fx
        .channel
        .server_streaming(
            path("List"),
            Request::new(98u64).with_timeout(PATIENCE),
            ProstCodec::<u64, String>::default(),
        )
        .await
        .unwrap()
        .into_inner()
        .collect()
        .await;
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].as_ref().unwrap(), "item 0");
    let status = all[1].as_ref().unwrap_err();
    assert_eq!(status.code(), Code::Internal);
    assert_eq!(status.message(), "internal server error");
    assert!(!format!("{status:?}").contains("secret"));

    assert_eq!(fx.say("still").await.unwrap().get_ref(), "echo still");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocking_handler_may_use_the_blocking_client() {
    let fx = start(Server::builder()).await;
    let client = BlockingChannel::new(fx.channel.clone()).unwrap();
    fx.probes.relay.set(client).unwrap();
    let answer = fx
        .channel
        .unary(
            path("Relay"),
            Request::new("hop".to_owned()).with_timeout(PATIENCE),
            ProstCodec::<String, String>::default(),
        )
        .await
        .unwrap();
    assert_eq!(answer.get_ref(), "relayed echo hop");
}
