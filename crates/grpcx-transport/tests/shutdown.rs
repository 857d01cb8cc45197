//! Graceful shutdown: in-flight calls drain, new calls are refused, and the
//! drain timeout bounds how long the server waits.
// Test helpers stop loudly on a broken setup.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use grpcx_codec::ProstCodec;
use grpcx_status::Code;
use grpcx_transport::server::{BoxFuture, GrpcService, ResponseBody, ServerCall, handler};
use grpcx_transport::{Channel, Endpoint, Request, Response, Server, ServerRequest};
use http::uri::PathAndQuery;
use tokio::sync::{mpsc, oneshot};

/// `Sleep(ms)` answers after sleeping `ms` milliseconds, telling the test
/// when it started.
struct Sleeper {
    started: mpsc::UnboundedSender<()>,
}

impl GrpcService for Sleeper {
    fn name(&self) -> &'static str {
        "test.Sleeper"
    }

    fn call(&self, method: &str, call: ServerCall) -> BoxFuture<http::Response<ResponseBody>> {
        let started = self.started.clone();
        match method {
            "Sleep" => Box::pin(handler::unary(
                call,
                ProstCodec::<u64, u64>::default(),
                move |req: ServerRequest<u64>| async move {
                    let _ = started.send(());
                    tokio::time::sleep(Duration::from_millis(*req.get_ref())).await;
                    Ok::<_, grpcx_status::Status>(Response::new(*req.get_ref()))
                },
            )),
            _ => Box::pin(async move { call.unimplemented() }),
        }
    }
}

struct Running {
    channel: Channel,
    port: u16,
    stop: oneshot::Sender<()>,
    started: mpsc::UnboundedReceiver<()>,
    server: tokio::task::JoinHandle<Result<(), grpcx_transport::Error>>,
}

async fn start(drain: Duration) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, started) = mpsc::unbounded_channel();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(
        Server::builder()
            .drain_timeout(drain)
            .add_service(Sleeper { started: tx })
            .serve_with_shutdown(listener, async {
                let _ = stopped.await;
            }),
    );
    let channel = Endpoint::new(format!("http://127.0.0.1:{port}"))
        .unwrap()
        .connect_lazy();
    Running {
        channel,
        port,
        stop,
        started,
        server,
    }
}

async fn sleep_call(channel: &Channel, ms: u64) -> Result<u64, grpcx_status::Status> {
    channel
        .unary(
            PathAndQuery::from_static("/test.Sleeper/Sleep"),
            Request::new(ms).with_timeout(Duration::from_secs(30)),
            ProstCodec::<u64, u64>::default(),
        )
        .await
        .map(Response::into_inner)
}

#[tokio::test]
async fn in_flight_calls_finish_and_new_connections_are_refused() {
    let mut running = start(Duration::from_secs(30)).await;
    let channel = running.channel.clone();
    let in_flight = tokio::spawn(async move { sleep_call(&channel, 300).await });
    tokio::time::timeout(Duration::from_secs(10), running.started.recv())
        .await
        .unwrap()
        .unwrap();
    running.stop.send(()).unwrap();
    // The call that was running completes normally.
    let result = tokio::time::timeout(Duration::from_secs(20), in_flight)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(result.unwrap(), 300);
    // The server ends once drained.
    tokio::time::timeout(Duration::from_secs(20), running.server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    // And nobody listens any more: a new channel fails fast with UNAVAILABLE.
    let fresh = Endpoint::new(format!("http://127.0.0.1:{}", running.port))
        .unwrap()
        .connect_lazy();
    let status = sleep_call(&fresh, 0).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
}

#[tokio::test]
async fn the_drain_timeout_bounds_the_wait() {
    let mut running = start(Duration::from_millis(200)).await;
    let channel = running.channel.clone();
    let in_flight = tokio::spawn(async move { sleep_call(&channel, 60_000).await });
    tokio::time::timeout(Duration::from_secs(10), running.started.recv())
        .await
        .unwrap()
        .unwrap();
    let stopping = std::time::Instant::now();
    running.stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(20), running.server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(stopping.elapsed() < Duration::from_secs(15));
    // The call cut off by the closing connection fails promptly, never hangs.
    let status = tokio::time::timeout(Duration::from_secs(20), in_flight)
        .await
        .unwrap()
        .unwrap()
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:#}");
}

#[tokio::test]
async fn on_shutdown_hooks_run_in_order_once_the_signal_fires() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (hooks, mut ran) = mpsc::unbounded_channel();
    let (first, second) = (hooks.clone(), hooks);
    let (started, _) = mpsc::unbounded_channel();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(
        Server::builder()
            .add_service(Sleeper { started })
            .on_shutdown(move || first.send(1).unwrap())
            .on_shutdown(move || second.send(2).unwrap())
            .serve_with_shutdown(listener, async {
                let _ = stopped.await;
            }),
    );
    let channel = Endpoint::new(format!("http://127.0.0.1:{port}"))
        .unwrap()
        .connect_lazy();
    // Serving, and no hook has run.
    assert_eq!(sleep_call(&channel, 0).await.unwrap(), 0);
    assert!(ran.try_recv().is_err());
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(20), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(ran.try_recv().unwrap(), 1);
    assert_eq!(ran.try_recv().unwrap(), 2);
    assert!(ran.try_recv().is_err());
}
