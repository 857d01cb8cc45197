//! Generated clients over tower layers: `FooClient::new(ServiceBuilder
//! ...service(channel))`, with layers that read the `GrpcMethod` and
//! `Deadline` extensions and set `grpc-previous-rpc-attempts`, async and
//! blocking.

// Test code: failing loudly is the point.
#![allow(clippy::unwrap_used)]

mod support;

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{Stream, StreamExt as _};
use grpcx::blocking::BlockingChannel;
use grpcx::client::GRPC_PREVIOUS_RPC_ATTEMPTS;
use grpcx::codegen::MethodKind;
use grpcx::{Body, Deadline, GrpcMethod, Request, Response, ServerRequest, Status, Streaming};
use grpcx_codegen_e2e::bare::{
    BareService, BareServiceBlockingClient, BareServiceClient, BareServiceServer, Ping, Pong,
};
use support::TestServer;

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// Answers `n + 1`, and `n + 100` when the layer's header came through.
struct Bare;

impl BareService for Bare {
    async fn ping(&self, request: ServerRequest<Ping>) -> Result<Response<Pong>, Status> {
        let seen = request.metadata().get("x-layer-saw") == Some("Ping");
        let n = request.get_ref().n;
        Ok(Response::new(Pong {
            n: if seen { n + 100 } else { n + 1 },
        }))
    }

    type PingTwiceStream = BoxStream<Pong>;

    async fn ping_twice(
        &self,
        request: ServerRequest<Streaming<Ping>>,
    ) -> Result<Response<Self::PingTwiceStream>, Status> {
        let stream = request
            .into_inner()
            .map(|ping| ping.map(|ping| Pong { n: ping.n * 2 }));
        Ok(Response::new(Box::pin(stream) as BoxStream<Pong>))
    }
}

/// What the layer saw of each call.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    method: String,
    kind: MethodKind,
    deadline: Option<Duration>,
}

/// A stack of two layers over `channel`: one records the method and the
/// deadline and tells the server it saw the call; one marks the request
/// as a first attempt (`grpc-previous-rpc-attempts: 0`), checking that the
/// unary body is one chunk of bytes it could send again.
fn layered(
    channel: grpcx::Channel,
    seen: Arc<Mutex<Vec<Seen>>>,
) -> impl tower::Service<
    http::Request<Body>,
    Response = http::Response<Body>,
    Error = Status,
    Future = impl Send + 'static,
> + Clone
+ Send
+ Sync
+ 'static {
    tower::ServiceBuilder::new()
        .map_request(move |mut request: http::Request<Body>| {
            let method = request.extensions().get::<GrpcMethod>().cloned();
            let deadline = request.extensions().get::<Deadline>().copied();
            if let Some(method) = method {
                seen.lock().unwrap().push(Seen {
                    method: method.method().to_owned(),
                    kind: method.kind(),
                    deadline: deadline.map(Deadline::remaining),
                });
                request
                    .headers_mut()
                    .insert("x-layer-saw", method.method().parse().unwrap());
            }
            request
        })
        .map_request(|mut request: http::Request<Body>| {
            let kind = request
                .extensions()
                .get::<GrpcMethod>()
                .map(GrpcMethod::kind);
            if kind == Some(MethodKind::Unary) {
                assert!(request.body().as_bytes().is_some(), "a unary body is bytes");
                assert!(
                    request.body().try_clone().is_some(),
                    "and can be sent again"
                );
            }
            request.headers_mut().insert(
                GRPC_PREVIOUS_RPC_ATTEMPTS,
                http::HeaderValue::from_static("0"),
            );
            request
        })
        .service(channel)
}

#[tokio::test]
async fn a_generated_client_over_layers() {
    let server = TestServer::serve(BareServiceServer::new(Bare)).await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let client = BareServiceClient::new(layered(server.channel.clone(), seen.clone()))
        .with_config(server.channel.config());

    let request = Request::new(Ping { n: 1 }).with_timeout(Duration::from_secs(20));
    assert_eq!(client.ping(request).await.unwrap().into_inner().n, 101);
    let (requests, responses) = client.ping_twice();
    requests.send(Ping { n: 4 }).await.unwrap();
    drop(requests);
    let pongs: Vec<u32> = responses.map(|pong| pong.unwrap().n).collect().await;
    assert_eq!(pongs, [8]);

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0].method, "Ping");
    assert_eq!(seen[0].kind, MethodKind::Unary);
    let deadline = seen[0].deadline.expect("the call's deadline");
    assert!(deadline <= Duration::from_secs(20) && deadline > Duration::from_secs(10));
    assert_eq!(seen[1].method, "ping_twice");
    assert_eq!(seen[1].kind, MethodKind::BidiStreaming);
    // The endpoint's default timeout (30 s), taken on with its config.
    assert!(
        seen[1]
            .deadline
            .is_some_and(|d| d <= Duration::from_secs(30))
    );
    server.stop().await;
}

#[tokio::test]
async fn a_blocking_generated_client_over_layers() {
    let server = TestServer::serve(BareServiceServer::new(Bare)).await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let stack = layered(server.channel.clone(), seen.clone());
    // A plain thread, outside any runtime, as blocking clients run.
    let pong = tokio::task::spawn_blocking(move || {
        std::thread::spawn(move || {
            let channel = BlockingChannel::new(stack).unwrap();
            let client = BareServiceBlockingClient::new(channel);
            client.ping(Ping { n: 2 }).map(Response::into_inner)
        })
        .join()
    })
    .await
    .unwrap()
    .unwrap()
    .unwrap();
    assert_eq!(pong.n, 102);
    assert_eq!(seen.lock().unwrap()[0].method, "Ping");
    server.stop().await;
}
