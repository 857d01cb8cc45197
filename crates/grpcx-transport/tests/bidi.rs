//! `Channel::bidi_streaming`: a sender and a lazily started response stream.
// Test helpers stop loudly on a broken setup.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use futures_util::StreamExt as _;
use grpcx_codec::ProstCodec;
use grpcx_status::{Code, Origin, Status};
use grpcx_transport::server::{BoxFuture, GrpcService, ResponseBody, ServerCall, handler};
use grpcx_transport::{CallOutcome, Endpoint, Request, Response, Server, ServerRequest, Streaming};
use http::uri::PathAndQuery;

/// `Echo` answers each request with `echo <request>`, sending no response
/// headers before its first answer; the request "stop" ends the call with
/// ABORTED.
#[derive(Default)]
struct Echo {
    outcomes: Option<tokio::sync::mpsc::UnboundedSender<CallOutcome>>,
}

impl GrpcService for Echo {
    fn name(&self) -> &'static str {
        "test.Echo"
    }

    fn call(&self, method: &str, call: ServerCall) -> BoxFuture<http::Response<ResponseBody>> {
        if let Some(outcomes) = self.outcomes.clone() {
            call.context().on_done(move |outcome| {
                let _ = outcomes.send(outcome);
            });
        }
        match method {
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
            _ => Box::pin(async move { call.unimplemented() }),
        }
    }
}

async fn server() -> u16 {
    serve(Echo::default()).await
}

async fn serve(echo: Echo) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(Server::builder().add_service(echo).serve(listener));
    port
}

#[tokio::test]
async fn ping_pong_then_a_status_from_the_stream() {
    let port = server().await;
    let channel = Endpoint::new(format!("http://127.0.0.1:{port}"))
        .unwrap()
        .connect_lazy();
    let (requests, mut responses) = channel.bidi_streaming(
        PathAndQuery::from_static("/test.Echo/Chat"),
        Request::new(()).with_timeout(Duration::from_secs(20)),
        ProstCodec::<String, String>::default(),
    );
    for word in ["a", "b", "c"] {
        requests.send(word.to_owned()).await.unwrap();
        let reply = responses.message().await.unwrap().unwrap();
        assert_eq!(reply, format!("echo {word}"));
    }
    requests.send("stop".to_owned()).await.unwrap();
    let status = responses.message().await.unwrap_err();
    assert_eq!(status.code(), Code::Aborted);
    assert_eq!(status.message(), "stopped ☺");
    assert_eq!(status.origin(), Origin::Peer);
    // The call is over: later sends fail instead of vanishing.
    let sent = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if requests.send("late".to_owned()).await.is_err() {
                break;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(sent.is_ok());
}

#[tokio::test]
async fn closing_the_sender_ends_the_call_with_ok() {
    let port = server().await;
    let channel = Endpoint::new(format!("http://127.0.0.1:{port}"))
        .unwrap()
        .connect_lazy();
    let (requests, responses) = channel.bidi_streaming(
        PathAndQuery::from_static("/test.Echo/Chat"),
        Request::new(()).with_timeout(Duration::from_secs(20)),
        ProstCodec::<String, String>::default(),
    );
    requests.send("x".to_owned()).await.unwrap();
    requests.close();
    let all: Vec<_> = responses.collect().await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].as_ref().unwrap(), "echo x");
}

#[tokio::test]
async fn a_call_that_cannot_start_fails_on_the_stream() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let channel = Endpoint::new(format!("http://127.0.0.1:{port}"))
        .unwrap()
        .connect_lazy();
    let (_requests, mut responses) = channel.bidi_streaming(
        PathAndQuery::from_static("/test.Echo/Chat"),
        Request::new(()),
        ProstCodec::<String, String>::default(),
    );
    let status = responses.message().await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(status.origin(), Origin::Transport);
    // The stream is over after its error.
    assert!(responses.message().await.unwrap().is_none());
}

#[tokio::test]
async fn dropping_or_cancelling_the_response_stream_cancels_the_call_on_the_server() {
    let (tx, mut outcomes) = tokio::sync::mpsc::unbounded_channel();
    let port = serve(Echo { outcomes: Some(tx) }).await;
    let channel = Endpoint::new(format!("http://127.0.0.1:{port}"))
        .unwrap()
        .connect_lazy();
    let path = PathAndQuery::from_static("/test.Echo/Chat");

    // Dropped while the sender still lives.
    let (requests, mut responses) = channel.bidi_streaming(
        path.clone(),
        Request::new(()),
        ProstCodec::<String, String>::default(),
    );
    requests.send("a".to_owned()).await.unwrap();
    assert_eq!(responses.message().await.unwrap().unwrap(), "echo a");
    drop(responses);
    let outcome = tokio::time::timeout(Duration::from_secs(10), outcomes.recv())
        .await
        .unwrap();
    assert_eq!(outcome, Some(CallOutcome::Cancelled));
    // The sender learns that the call is over.
    tokio::time::timeout(Duration::from_secs(10), async {
        while requests.send("late".to_owned()).await.is_ok() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap();

    // Cancelled explicitly: the client gets CANCELLED, made locally.
    let (requests, mut responses) = channel.bidi_streaming(
        path,
        Request::new(()),
        ProstCodec::<String, String>::default(),
    );
    requests.send("b".to_owned()).await.unwrap();
    assert_eq!(responses.message().await.unwrap().unwrap(), "echo b");
    responses.cancel();
    let status = responses.message().await.unwrap_err();
    assert_eq!(status.code(), Code::Cancelled);
    assert_eq!(status.origin(), Origin::Cancelled);
    assert!(responses.message().await.unwrap().is_none());
    let outcome = tokio::time::timeout(Duration::from_secs(10), outcomes.recv())
        .await
        .unwrap();
    assert_eq!(outcome, Some(CallOutcome::Cancelled));
}

#[tokio::test]
async fn an_enormous_timeout_is_no_deadline_rather_than_a_panic() {
    let port = server().await;
    let channel = Endpoint::new(format!("http://127.0.0.1:{port}"))
        .unwrap()
        .timeout(Duration::MAX)
        .connect_lazy();
    let (requests, mut responses) = channel.bidi_streaming(
        PathAndQuery::from_static("/test.Echo/Chat"),
        Request::new(()).with_timeout(Duration::MAX),
        ProstCodec::<String, String>::default(),
    );
    requests.send("x".to_owned()).await.unwrap();
    assert_eq!(responses.message().await.unwrap().unwrap(), "echo x");
}

#[tokio::test]
async fn many_requests_flow_before_any_response_is_read() {
    let port = server().await;
    let channel = Endpoint::new(format!("http://127.0.0.1:{port}"))
        .unwrap()
        .connect_lazy();
    let (requests, responses) = channel.bidi_streaming(
        PathAndQuery::from_static("/test.Echo/Chat"),
        Request::new(()).with_timeout(Duration::from_secs(20)),
        ProstCodec::<String, String>::default(),
    );
    // Far more than the sender buffers: the call must already be running.
    let sent = tokio::time::timeout(Duration::from_secs(20), async {
        for i in 0..200 {
            requests.send(format!("m{i}")).await.unwrap();
        }
    })
    .await;
    assert!(sent.is_ok(), "sending blocked before any response was read");
    drop(requests);
    let replies: Vec<_> = responses.collect().await;
    assert_eq!(replies.len(), 200);
    assert_eq!(replies[199].as_ref().unwrap(), "echo m199");
}
