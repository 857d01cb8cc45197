//! The blocking client against an async server: the four kinds of call,
//! errors with details and metadata, `unary_future` waits and
//! cancellation, and refusal inside an async runtime.
// Test helpers stop loudly on a broken setup.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use futures_util::StreamExt as _;
use grpcx_codec::ProstCodec;
use grpcx_status::{Code, ErrorInfo, Metadata, Origin, Status};
use grpcx_transport::blocking::{BlockingChannel, CallError};
use grpcx_transport::server::{BoxFuture, GrpcService, ResponseBody, ServerCall, handler};
use grpcx_transport::{CallOutcome, Endpoint, Request, Response, Server, ServerRequest, Streaming};
use http::uri::PathAndQuery;

/// Generous: only a broken implementation ever waits this long.
const PATIENCE: Duration = Duration::from_secs(20);

/// An async service:
/// - `Say(String) -> String` echoes; `"fail"` fails with details and
///   metadata. Responses carry initial and trailing metadata.
/// - `Hold(String) -> String` reports that it started, then waits for a
///   permit of `release`.
/// - `List(u64) -> stream String` sends n items; 99 sends two, then fails.
/// - `Sum(stream u64) -> u64` adds; a 0 fails the call.
/// - `Chat(stream String) -> stream String` echoes; `"stop"` aborts.
/// - `Silent(stream String) -> stream String` reports that it started,
///   then sends nothing (not even headers) until released.
///
/// Every call reports how it ended on `outcomes`.
struct Svc {
    started: std_mpsc::Sender<String>,
    release: Arc<tokio::sync::Semaphore>,
    outcomes: std_mpsc::Sender<(String, CallOutcome)>,
}

fn failure(message: &str) -> Status {
    let mut metadata = Metadata::new();
    metadata.insert("x-why", "because").unwrap();
    Status::invalid_argument(message)
        .with_detail(ErrorInfo::new("BAD_INPUT", "test.example"))
        .with_metadata(metadata)
}

impl GrpcService for Svc {
    fn name(&self) -> &'static str {
        "test.Svc"
    }

    fn call(&self, method: &str, call: ServerCall) -> BoxFuture<http::Response<ResponseBody>> {
        let outcomes = self.outcomes.clone();
        let name = method.to_owned();
        call.context().on_done(move |outcome| {
            let _ = outcomes.send((name, outcome));
        });
        match method {
            "Say" => Box::pin(handler::unary(
                call,
                ProstCodec::<String, String>::default(),
                |req: ServerRequest<String>| async move {
                    if req.get_ref() == "fail" {
                        return Err(failure("bad ☺"));
                    }
                    let mut trailers = Metadata::new();
                    trailers.insert("x-trailer", "t").unwrap();
                    req.context().set_trailing_metadata(trailers);
                    let mut response = Response::new(format!("echo {}", req.get_ref()));
                    response
                        .metadata_mut()
                        .insert("x-served-by", "svc")
                        .unwrap();
                    Ok(response)
                },
            )),
            "Hold" => {
                let started = self.started.clone();
                let release = self.release.clone();
                Box::pin(handler::unary(
                    call,
                    ProstCodec::<String, String>::default(),
                    move |req: ServerRequest<String>| async move {
                        let _ = started.send(req.get_ref().clone());
                        release.acquire().await.unwrap().forget();
                        Ok::<_, Status>(Response::new(format!("held {}", req.get_ref())))
                    },
                ))
            }
            "List" => Box::pin(handler::server_streaming(
                call,
                ProstCodec::<String, u64>::default(),
                |req: ServerRequest<u64>| async move {
                    let n = *req.get_ref();
                    let mut trailers = Metadata::new();
                    trailers.insert("x-count", &n.to_string()).unwrap();
                    req.context().set_trailing_metadata(trailers);
                    let count = if n == 99 { 2 } else { n };
                    let items =
                        futures_util::stream::iter(0..count).map(|i| Ok(format!("item {i}")));
                    let cut = (n == 99).then(|| {
                        Err(Status::data_loss("cut ☺")
                            .with_detail(ErrorInfo::new("CUT", "test.example")))
                    });
                    let tail = futures_util::stream::iter(cut);
                    let mut response = Response::new(items.chain(tail));
                    response.metadata_mut().insert("x-kind", "list").unwrap();
                    Ok::<_, Status>(response)
                },
            )),
            "Sum" => Box::pin(handler::client_streaming(
                call,
                ProstCodec::<u64, u64>::default(),
                |req: ServerRequest<Streaming<u64>>| async move {
                    let mut numbers = req.into_inner();
                    let mut sum = 0;
                    while let Some(n) = numbers.message().await? {
                        if n == 0 {
                            return Err(failure("zero"));
                        }
                        sum += n;
                    }
                    Ok(Response::new(sum))
                },
            )),
            "Chat" => Box::pin(handler::bidi_streaming(
                call,
                ProstCodec::<String, String>::default(),
                |req: ServerRequest<Streaming<String>>| async move {
                    let replies = req.into_inner().map(|message| {
                        let message = message?;
                        if message == "stop" {
                            return Err(Status::aborted("stopped ☺"));
                        }
                        Ok(format!("echo {message}"))
                    });
                    Ok::<_, Status>(Response::new(replies))
                },
            )),
            "Silent" => {
                let started = self.started.clone();
                let release = self.release.clone();
                Box::pin(handler::bidi_streaming(
                    call,
                    ProstCodec::<String, String>::default(),
                    move |_: ServerRequest<Streaming<String>>| async move {
                        let _ = started.send("silent".to_owned());
                        release.acquire().await.unwrap().forget();
                        Ok::<_, Status>(Response::new(futures_util::stream::empty()))
                    },
                ))
            }
            _ => Box::pin(async move { call.unimplemented() }),
        }
    }
}

/// A server on a runtime of its own, and a blocking client for it.
struct Fixture {
    client: BlockingChannel,
    started: std_mpsc::Receiver<String>,
    release: Arc<tokio::sync::Semaphore>,
    outcomes: std_mpsc::Receiver<(String, CallOutcome)>,
    server_runtime: tokio::runtime::Runtime,
}

impl Fixture {
    fn start() -> Fixture {
        let server_runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = server_runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let (started_tx, started) = std_mpsc::channel();
        let (outcomes_tx, outcomes) = std_mpsc::channel();
        let release = Arc::new(tokio::sync::Semaphore::new(0));
        let svc = Svc {
            started: started_tx,
            release: release.clone(),
            outcomes: outcomes_tx,
        };
        server_runtime.spawn(Server::builder().add_service(svc).serve(listener));
        let channel = Endpoint::new(format!("http://127.0.0.1:{port}"))
            .unwrap()
            .connect_lazy();
        Fixture {
            client: BlockingChannel::new(channel).unwrap(),
            started,
            release,
            outcomes,
            server_runtime,
        }
    }

    /// How the next call of `method` to end ended.
    fn outcome_of(&self, method: &str) -> CallOutcome {
        loop {
            let (name, outcome) = self.outcomes.recv_timeout(PATIENCE).unwrap();
            if name == method {
                return outcome;
            }
        }
    }
}

fn path(method: &str) -> PathAndQuery {
    PathAndQuery::try_from(format!("/test.Svc/{method}")).unwrap()
}

fn strings() -> ProstCodec<String, String> {
    ProstCodec::default()
}

fn request<T>(message: T) -> Request<T> {
    Request::new(message).with_timeout(PATIENCE)
}

#[test]
fn unary_answers_with_metadata_and_fails_with_the_full_status() {
    let fx = Fixture::start();
    let response = fx
        .client
        .unary(path("Say"), request("hi".to_owned()), strings())
        .unwrap();
    assert_eq!(response.get_ref(), "echo hi");
    assert_eq!(response.metadata().get("x-served-by"), Some("svc"));
    assert_eq!(response.trailers().get("x-trailer"), Some("t"));

    let status = fx
        .client
        .unary(path("Say"), request("fail".to_owned()), strings())
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(status.message(), "bad ☺");
    assert_eq!(status.origin(), Origin::Peer);
    assert_eq!(status.metadata().get("x-why"), Some("because"));
    let info = status.get_detail::<ErrorInfo>().unwrap();
    assert_eq!(info.reason, "BAD_INPUT");

    let status = fx
        .client
        .unary(path("Nope"), request(String::new()), strings())
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
}

#[test]
fn server_streaming_is_an_iterator_ending_with_trailers_or_the_status() {
    let fx = Fixture::start();
    let response = fx
        .client
        .server_streaming(
            path("List"),
            request(3u64),
            ProstCodec::<u64, String>::default(),
        )
        .unwrap();
    assert_eq!(response.metadata().get("x-kind"), Some("list"));
    let mut stream = response.into_inner();
    assert_eq!(stream.initial_metadata().get("x-kind"), Some("list"));
    let items: Vec<String> = stream.by_ref().map(Result::unwrap).collect();
    assert_eq!(items, ["item 0", "item 1", "item 2"]);
    assert_eq!(stream.trailers().unwrap().get("x-count"), Some("3"));
    assert!(stream.message().unwrap().is_none());

    let stream = fx
        .client
        .server_streaming(
            path("List"),
            request(99u64),
            ProstCodec::<u64, String>::default(),
        )
        .unwrap()
        .into_inner();
    let all: Vec<_> = stream.collect();
    assert_eq!(all.len(), 3);
    assert_eq!(all[0].as_ref().unwrap(), "item 0");
    assert_eq!(all[1].as_ref().unwrap(), "item 1");
    let status = all[2].as_ref().unwrap_err();
    assert_eq!(status.code(), Code::DataLoss);
    assert_eq!(status.message(), "cut ☺");
    assert_eq!(status.get_detail::<ErrorInfo>().unwrap().reason, "CUT");
    assert_eq!(status.metadata().get("x-count"), Some("99"));
    assert_eq!(status.initial_metadata().get("x-kind"), Some("list"));
}

#[test]
fn client_streaming_drains_a_blocking_iterator_off_the_runtime() {
    let fx = Fixture::start();
    let sum = fx
        .client
        .client_streaming(
            path("Sum"),
            request(vec![1u64, 2, 3]),
            ProstCodec::<u64, u64>::default(),
        )
        .unwrap();
    assert_eq!(*sum.get_ref(), 6);

    // An iterator that blocks between items: it is fed by another thread,
    // one item at a time, only after the previous one reached the server's
    // side of the queue. Run on the runtime's only worker, it would stall.
    let (tx, rx) = std_mpsc::sync_channel::<u64>(0);
    let feeder = std::thread::spawn(move || {
        for n in 1..=40 {
            tx.send(n).unwrap();
        }
    });
    let sum = fx
        .client
        .client_streaming(path("Sum"), request(rx), ProstCodec::<u64, u64>::default())
        .unwrap();
    assert_eq!(*sum.get_ref(), (1..=40).sum::<u64>());
    feeder.join().unwrap();

    // The server fails the call part way: the status, and the rest of an
    // endless iterator is not read.
    let status = fx
        .client
        .client_streaming(
            path("Sum"),
            request((0..).map(|n: u64| if n == 5 { 0 } else { n + 1 })),
            ProstCodec::<u64, u64>::default(),
        )
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(status.message(), "zero");
    assert_eq!(status.metadata().get("x-why"), Some("because"));
    assert!(status.get_detail::<ErrorInfo>().is_some());
}

#[test]
fn a_panicking_request_iterator_resets_the_call_and_panics_the_caller() {
    let fx = Fixture::start();
    let client = fx.client.clone();
    let caller = std::thread::spawn(move || {
        client.client_streaming(
            path("Sum"),
            request((1..).inspect(|&n: &u64| assert!(n < 3, "iterator bug"))),
            ProstCodec::<u64, u64>::default(),
        )
    });
    let panic = caller.join().unwrap_err();
    let text = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str));
    assert_eq!(text, Some("iterator bug"));
    // The server saw a reset (its handler read CANCELLED, or the call was
    // gone first), never a complete request stream it would sum up.
    let outcome = fx.outcome_of("Sum");
    assert!(
        matches!(
            outcome,
            CallOutcome::Cancelled | CallOutcome::Completed(Code::Cancelled)
        ),
        "{outcome:?}"
    );
}

#[test]
fn bidi_flows_both_ways_and_ends_with_the_servers_status() {
    let fx = Fixture::start();
    let (requests, mut responses) = fx
        .client
        .bidi_streaming(path("Chat"), request(()), strings());
    for word in ["a", "b"] {
        requests.send(word.to_owned()).unwrap();
        assert_eq!(
            responses.message().unwrap().unwrap(),
            format!("echo {word}")
        );
    }
    requests.send("stop".to_owned()).unwrap();
    let status = responses.next().unwrap().unwrap_err();
    assert_eq!(status.code(), Code::Aborted);
    assert_eq!(status.message(), "stopped ☺");
    assert!(responses.next().is_none());
    // The call is over: sends fail instead of vanishing.
    let deadline = std::time::Instant::now() + PATIENCE;
    while requests.send("late".to_owned()).is_ok() {
        assert!(std::time::Instant::now() < deadline, "sends never failed");
        std::thread::yield_now();
    }
    assert!(requests.is_closed());

    // All requests first, more than the sender buffers, then the replies:
    // the call runs without anybody reading.
    let (requests, responses) = fx
        .client
        .bidi_streaming(path("Chat"), request(()), strings());
    for i in 0..100 {
        requests.send(format!("m{i}")).unwrap();
    }
    requests.close();
    let replies: Vec<String> = responses.map(Result::unwrap).collect();
    assert_eq!(replies.len(), 100);
    assert_eq!(replies[99], "echo m99");
}

#[test]
fn cancelling_or_dropping_a_response_stream_cancels_the_call() {
    let fx = Fixture::start();
    let (requests, mut responses) = fx
        .client
        .bidi_streaming(path("Chat"), request(()), strings());
    requests.send("a".to_owned()).unwrap();
    assert_eq!(responses.message().unwrap().unwrap(), "echo a");
    responses.cancel();
    let status = responses.message().unwrap_err();
    assert_eq!(status.code(), Code::Cancelled);
    assert_eq!(status.origin(), Origin::Cancelled);
    assert!(responses.message().unwrap().is_none());
    assert_eq!(fx.outcome_of("Chat"), CallOutcome::Cancelled);

    let (requests, mut responses) = fx
        .client
        .bidi_streaming(path("Chat"), request(()), strings());
    requests.send("b".to_owned()).unwrap();
    assert_eq!(responses.message().unwrap().unwrap(), "echo b");
    drop(responses);
    assert_eq!(fx.outcome_of("Chat"), CallOutcome::Cancelled);

    // Dropped before it was ever read, while the server has sent nothing
    // at all: the call still ends, and the sender learns it.
    let (requests, responses) = fx
        .client
        .bidi_streaming(path("Silent"), request(()), strings());
    assert_eq!(fx.started.recv_timeout(PATIENCE).unwrap(), "silent");
    drop(responses);
    assert_eq!(fx.outcome_of("Silent"), CallOutcome::Cancelled);
    let deadline = std::time::Instant::now() + PATIENCE;
    while requests.send("late".to_owned()).is_ok() {
        assert!(std::time::Instant::now() < deadline, "the call went on");
        std::thread::yield_now();
    }
    assert!(requests.is_closed());
}

#[test]
fn unary_future_waits_time_out_while_the_server_holds_the_call() {
    let fx = Fixture::start();
    let mut call = fx
        .client
        .unary_future(path("Hold"), request("x".to_owned()), strings());
    assert_eq!(fx.started.recv_timeout(PATIENCE).unwrap(), "x");
    assert!(matches!(
        call.wait_timeout(Duration::from_millis(50)),
        Err(CallError::Timeout)
    ));
    assert!(!call.is_done());
    assert!(!call.is_cancelled());
    fx.release.add_permits(1);
    let response = call.wait_timeout(PATIENCE).unwrap();
    assert_eq!(response.get_ref(), "held x");
    assert!(call.is_done());
    assert!(matches!(call.wait_timeout(PATIENCE), Err(CallError::Taken)));
    assert!(matches!(call.wait(), Err(CallError::Taken)));
    assert_eq!(fx.outcome_of("Hold"), CallOutcome::Completed(Code::Ok));

    // An RPC error comes whole.
    let err = fx
        .client
        .unary_future(path("Say"), request("fail".to_owned()), strings())
        .wait()
        .unwrap_err();
    let status = err.status().unwrap();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(status.metadata().get("x-why"), Some("because"));
    assert_eq!(Status::from(err).message(), "bad ☺");
}

#[test]
fn cancelling_a_unary_future_resets_the_call() {
    let fx = Fixture::start();
    let call = fx
        .client
        .unary_future(path("Hold"), request("y".to_owned()), strings());
    assert_eq!(fx.started.recv_timeout(PATIENCE).unwrap(), "y");
    call.cancel();
    assert!(call.is_cancelled());
    assert!(call.is_done());
    assert_eq!(fx.outcome_of("Hold"), CallOutcome::Cancelled);
    let err = call.wait().unwrap_err();
    assert!(matches!(err, CallError::Cancelled));
    let status = Status::from(err);
    assert_eq!(status.code(), Code::Cancelled);
    assert_eq!(status.origin(), Origin::Cancelled);

    // Dropping a handle of a running call cancels it too.
    let call = fx
        .client
        .unary_future(path("Hold"), request("z".to_owned()), strings());
    assert_eq!(fx.started.recv_timeout(PATIENCE).unwrap(), "z");
    drop(call);
    assert_eq!(fx.outcome_of("Hold"), CallOutcome::Cancelled);
}

#[test]
fn a_deadline_while_the_server_holds_the_call_is_deadline_exceeded() {
    let fx = Fixture::start();
    let status = fx
        .client
        .unary(
            path("Hold"),
            Request::new("slow".to_owned()).with_timeout(Duration::from_millis(200)),
            strings(),
        )
        .unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded);
    // Made by the client's timer, or sent by the server's, a tick apart.
    assert!(
        matches!(status.origin(), Origin::Deadline | Origin::Peer),
        "{status:?}"
    );
    // The client's timer resets the stream at about the time the server's
    // (later-starting) deadline passes: either ends the call there.
    let outcome = fx.outcome_of("Hold");
    assert!(
        matches!(
            outcome,
            CallOutcome::DeadlineExceeded | CallOutcome::Cancelled
        ),
        "{outcome:?}"
    );
}

#[test]
fn blocking_calls_inside_an_async_runtime_fail_with_internal_and_never_block() {
    let fx = Fixture::start();
    let outside = fx
        .client
        .server_streaming(
            path("List"),
            request(2u64),
            ProstCodec::<u64, String>::default(),
        )
        .unwrap()
        .into_inner();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = fx.client.clone();
    runtime.block_on(async move {
        let refused = |status: &Status| {
            assert_eq!(status.code(), Code::Internal, "{status}");
            assert!(
                status.message().contains("inside an async runtime"),
                "{status}"
            );
        };
        refused(
            &client
                .unary(path("Say"), request("hi".to_owned()), strings())
                .unwrap_err(),
        );
        let err = client
            .unary_future(path("Say"), request("hi".to_owned()), strings())
            .wait()
            .unwrap_err();
        refused(err.status().unwrap());
        refused(
            &client
                .server_streaming(
                    path("List"),
                    request(2u64),
                    ProstCodec::<u64, String>::default(),
                )
                .unwrap_err(),
        );
        refused(
            &client
                .client_streaming(
                    path("Sum"),
                    request(vec![1u64]),
                    ProstCodec::<u64, u64>::default(),
                )
                .unwrap_err(),
        );
        let (requests, mut responses) = client.bidi_streaming(path("Chat"), request(()), strings());
        refused(&responses.message().unwrap_err());
        assert!(responses.message().unwrap().is_none());
        assert!(requests.send("x".to_owned()).is_err());
        assert!(requests.is_closed());

        // A stream made outside, read inside: refused, and the call ends.
        let mut outside = outside;
        refused(&outside.next().unwrap().unwrap_err());
        assert!(outside.next().is_none());
    });
    // Outside again, everything works.
    let response = fx
        .client
        .unary(path("Say"), request("hi".to_owned()), strings())
        .unwrap();
    assert_eq!(response.get_ref(), "echo hi");
}

#[test]
fn a_borrowed_runtime_works_and_streams_outlive_the_channel() {
    let fx = Fixture::start();
    let borrowed = BlockingChannel::with_handle(
        fx.client.channel().clone(),
        fx.server_runtime.handle().clone(),
    );
    let response = borrowed
        .unary(path("Say"), request("lent".to_owned()), strings())
        .unwrap();
    assert_eq!(response.get_ref(), "echo lent");

    // The channel's own runtime lives while a stream made from it does.
    let client = BlockingChannel::new(fx.client.channel().clone()).unwrap();
    let (requests, responses) = client.bidi_streaming(path("Chat"), request(()), strings());
    drop(client);
    requests.send("still here".to_owned()).unwrap();
    requests.close();
    let replies: Vec<String> = responses.map(Result::unwrap).collect();
    assert_eq!(replies, ["echo still here"]);
}
