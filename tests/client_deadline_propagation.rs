//! Deadline propagation: a call made while a handler runs inherits the
//! handler's deadline, with no code from the user, unless it opts out.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use grpcx::Status;
use grpcx::codec::ProstCodec;
use grpcx::server::{BoxFuture, GrpcService, ResponseBody, ServerCall, handler};
use grpcx::{Channel, Request, Response, Server, ServerRequest};
use grpcx_tests::{
    Action, ProbeReply, ProbeRequest, TestServer, channel, codec, path, serve, within,
};
use tokio::sync::mpsc;

/// Forwards `Relay/Unary` to the probe server, reporting its own
/// `time_remaining()` first. `Relay/Detached` forwards with
/// `inherit_deadline(false)`. `Relay/Forward` forwards the served request
/// whole (`Request::from`), also with `inherit_deadline(false)`, so its
/// deadline comes from the conversion alone.
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
        let whole = method == "Forward";
        Box::pin(handler::unary(
            call,
            ProstCodec::<ProbeReply, ProbeRequest>::default(),
            move |request: ServerRequest<ProbeRequest>| async move {
                let _ = remaining.send(request.context().time_remaining());
                // No timeout set here: the deadline comes from the handler.
                let forwarded = if whole {
                    Request::from(request)
                } else {
                    Request::new(request.into_inner())
                };
                let forwarded = forwarded.inherit_deadline(inherit);
                let reply = probe.unary(path("Unary"), forwarded, codec()).await?;
                Ok::<_, Status>(Response::new(reply.into_inner()))
            },
        ))
    }
}

/// A probe server, a relay server forwarding to it, and what the relay's
/// handlers report of their time remaining.
async fn relay_to_probe() -> (
    TestServer,
    grpcx_tests::ServerHandle,
    mpsc::UnboundedReceiver<Option<Duration>>,
) {
    let probe = TestServer::start().await;
    let (remaining, relay_remaining) = mpsc::unbounded_channel();
    let relay = serve(Server::builder().add_service(Relay {
        probe: probe.channel(),
        remaining,
    }))
    .await;
    (probe, relay, relay_remaining)
}

#[tokio::test]
async fn a_handler_passes_its_deadline_on_to_the_calls_it_makes() {
    let (mut probe, relay, mut relay_remaining) = relay_to_probe().await;
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

#[tokio::test]
async fn a_forwarded_request_keeps_its_metadata_and_the_served_calls_deadline() {
    let (mut probe, relay, mut relay_remaining) = relay_to_probe().await;
    let mut request = Request::new(ProbeRequest::new("forwarded", Action::Reply))
        .with_timeout(Duration::from_secs(60));
    request
        .metadata_mut()
        .insert("x-request-id", "fwd-7")
        .unwrap();
    request
        .metadata_mut()
        .insert("user-agent", "caller/1.0")
        .unwrap();
    within(
        "the forwarded call",
        channel(relay.addr).unary(
            "/grpcx.test.Relay/Forward".parse().unwrap(),
            request,
            codec(),
        ),
    )
    .await
    .expect("the forwarded call");
    let first = relay_remaining.recv().await.unwrap().unwrap();
    let (metadata, second) = probe.events.started("forwarded").await;
    assert_eq!(metadata.get("x-request-id"), Some("fwd-7"));
    // The relay's channel names itself, not the caller.
    let agents: Vec<&str> = metadata.get_all("user-agent").collect();
    assert_eq!(agents.len(), 1, "{agents:?}");
    assert_ne!(agents[0], "caller/1.0");
    let second = second.expect("the forwarded request carries the served call's deadline");
    assert!(second < first, "{second:?} vs {first:?}");
    assert!(second > Duration::from_secs(30), "{second:?}");
}
