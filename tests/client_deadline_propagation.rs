//! Deadline propagation: a call made while a handler runs inherits the
//! handler's deadline, with no code from the user, unless it opts out.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use grpcx::Status;
use grpcx::codec::ProstCodec;
use grpcx::server::{BoxFuture, GrpcService, ResponseBody, ServerCall, handler};
use grpcx::{Channel, Request, Response, Server};
use grpcx_tests::{
    Action, ProbeReply, ProbeRequest, TestServer, channel, codec, path, serve, within,
};
use tokio::sync::mpsc;

/// Forwards `Relay/Unary` to the probe server, reporting its own
/// `time_remaining()` first. `Relay/Detached` forwards with
/// `inherit_deadline(false)`.
struct Relay {
    probe: Channel,
    remaining: mpsc::UnboundedSender<Option<Duration>>,
}

impl GrpcService for Relay {
    fn name(&self) -> &'static str {
        "grpcx.test.Relay"
    }

    fn call(&self, method: &str, call: ServerCall) -> BoxFuture<http::Response<ResponseBody>> {
        let probe = self.probe.clone();
        let remaining = self.remaining.clone();
        let inherit = method == "Unary";
        Box::pin(handler::unary(
            call,
            ProstCodec::<ProbeReply, ProbeRequest>::default(),
            move |request: Request<ProbeRequest>| async move {
                let _ = remaining.send(request.context().time_remaining());
                // No timeout set here: the deadline comes from the handler.
                let forwarded = Request::new(request.into_inner()).inherit_deadline(inherit);
                let reply = probe.unary(path("Unary"), forwarded, codec()).await?;
                Ok::<_, Status>(Response::new(reply.into_inner()))
            },
        ))
    }
}

#[tokio::test]
async fn a_handler_passes_its_deadline_on_to_the_calls_it_makes() {
    let mut probe = TestServer::start().await;
    let (remaining, mut relay_remaining) = mpsc::unbounded_channel();
    let relay = serve(Server::builder().add_service(Relay {
        probe: probe.channel(),
        remaining,
    }))
    .await;
    let client = channel(relay.addr);

    let request = Request::new(ProbeRequest::new("inherited", Action::Reply))
        .with_timeout(Duration::from_secs(60));
    within(
        "the relayed call",
        client.unary("/grpcx.test.Relay/Unary".parse().unwrap(), request, codec()),
    )
    .await
    .expect("the relayed call");
    let first = relay_remaining
        .recv()
        .await
        .unwrap()
        .expect("the relay has a deadline");
    let (_, second) = probe.events.started("inherited").await;
    let second = second.expect("the second server got a grpc-timeout");
    assert!(first <= Duration::from_secs(60), "{first:?}");
    assert!(
        second < first,
        "the second server has less time: {second:?} vs {first:?}"
    );
    assert!(second > Duration::from_secs(30), "{second:?}");

    // Opting out: the second call has no deadline at all.
    let request = Request::new(ProbeRequest::new("detached", Action::Reply))
        .with_timeout(Duration::from_secs(60));
    within(
        "the detached call",
        client.unary(
            "/grpcx.test.Relay/Detached".parse().unwrap(),
            request,
            codec(),
        ),
    )
    .await
    .expect("the detached call");
    assert!(relay_remaining.recv().await.unwrap().is_some());
    let (_, second) = probe.events.started("detached").await;
    assert_eq!(second, None);
}

#[tokio::test]
async fn an_explicit_deadline_is_sent_as_the_time_left() {
    let mut probe = TestServer::start().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    let request = Request::new(ProbeRequest::new("absolute", Action::Reply))
        .with_timeout(Duration::from_secs(100))
        .with_deadline(deadline);
    assert_eq!(request.deadline(), Some(deadline));
    grpcx_tests::unary(&probe.channel(), request).await.unwrap();
    let (_, remaining) = probe.events.started("absolute").await;
    let remaining = remaining.unwrap();
    assert!(remaining <= Duration::from_secs(40), "{remaining:?}");
    assert!(remaining > Duration::from_secs(20), "{remaining:?}");
}
