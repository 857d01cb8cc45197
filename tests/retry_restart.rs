//! A graceful server restart under load loses no call: the old server
//! drains with GOAWAY while a new one takes over the same listener, and
//! the retry layer sends the calls the old one refused to the new one.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt as _;
use grpcx_codec::ProstCodec;
use grpcx_middleware::retry::{RetryLayer, ServiceConfig};
use grpcx_status::Status;
use grpcx_tests::{ProbeReply, ProbeRequest, WAIT, codec, within};
use grpcx_transport::client::Grpc;
use grpcx_transport::server::{BoxFuture, GrpcService, ResponseBody, ServerCall, handler};
use grpcx_transport::{Request, Response, Server};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc, oneshot};

const SERVICE: &str = "grpcx.test.Restart";

/// Replies after a short sleep, counting its calls.
#[derive(Clone)]
struct Slow {
    calls: Arc<AtomicUsize>,
}

impl GrpcService for Slow {
    fn name(&self) -> &'static str {
        SERVICE
    }

    fn call(&self, _method: &str, call: ServerCall) -> BoxFuture<http::Response<ResponseBody>> {
        let calls = self.calls.clone();
        Box::pin(handler::unary(
            call,
            ProstCodec::default(),
            move |request: Request<ProbeRequest>| async move {
                calls.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(request.get_ref().sleep_ms)).await;
                Ok::<_, Status>(Response::new(ProbeReply::default()))
            },
        ))
    }
}

/// Starts a server that serves the connections sent to the returned
/// sender, until `stop` fires.
fn start(
    calls: Arc<AtomicUsize>,
    stop: oneshot::Receiver<()>,
) -> (
    mpsc::UnboundedSender<TcpStream>,
    tokio::task::JoinHandle<Result<(), grpcx_transport::Error>>,
) {
    let (tx, rx) = mpsc::unbounded_channel::<TcpStream>();
    let incoming = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|tcp| (Ok::<_, std::io::Error>(tcp), rx))
    });
    let server = Server::builder().add_service(Slow { calls });
    let task = tokio::spawn(server.serve_with_incoming_shutdown(incoming, async move {
        let _ = stop.await;
    }));
    (tx, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_restart_under_load_loses_no_call() {
    const CALLS: usize = 300;
    const CONCURRENCY: usize = 16;

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let old_calls = Arc::new(AtomicUsize::new(0));
    let new_calls = Arc::new(AtomicUsize::new(0));
    let (stop_old, old_stop) = oneshot::channel();
    let (old_tx, old_task) = start(old_calls.clone(), old_stop);
    // The listener hands each connection to the server of the moment.
    let current = Arc::new(Mutex::new(old_tx));
    let acceptor = {
        let current = current.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let _ = current.lock().unwrap().send(tcp);
            }
        })
    };

    let config = ServiceConfig::from_json(&format!(
        r#"{{"methodConfig": [{{"name": [{{"service": "{SERVICE}"}}],
            "retryPolicy": {{"maxAttempts": 3, "initialBackoff": "0.01s",
              "maxBackoff": "0.05s", "backoffMultiplier": 2,
              "retryableStatusCodes": ["UNAVAILABLE"]}}}}]}}"#
    ))
    .unwrap();
    let channel = grpcx_tests::channel(addr);
    let client = Grpc::new(
        tower::ServiceBuilder::new()
            .layer(RetryLayer::new(config))
            .service(channel.clone()),
    )
    .with_config(channel.config());

    // A quarter of the way in, the new server takes the listener and the
    // old one drains.
    let finished = Arc::new(AtomicUsize::new(0));
    let restart_now = Arc::new(Notify::new());
    let (_stop_new, new_stop) = oneshot::channel::<()>();
    let restart = {
        let restart_now = restart_now.clone();
        let new_calls = new_calls.clone();
        tokio::spawn(async move {
            restart_now.notified().await;
            let (new_tx, new_task) = start(new_calls, new_stop);
            *current.lock().unwrap() = new_tx;
            let _ = stop_old.send(());
            new_task
        })
    };

    let path: http::uri::PathAndQuery = format!("/{SERVICE}/Call").parse().unwrap();
    let results: Vec<Result<(), Status>> = within(
        "every call",
        futures_util::stream::iter(0..CALLS)
            .map(|i| {
                let client = client.clone();
                let path = path.clone();
                let finished = finished.clone();
                let restart_now = restart_now.clone();
                async move {
                    let request = Request::new(ProbeRequest {
                        id: i.to_string(),
                        sleep_ms: 5,
                        ..ProbeRequest::default()
                    })
                    .with_timeout(WAIT);
                    let result = client.unary(path, request, codec()).await.map(drop);
                    if finished.fetch_add(1, Ordering::SeqCst) + 1 == CALLS / 4 {
                        restart_now.notify_one();
                    }
                    result
                }
            })
            .buffer_unordered(CONCURRENCY)
            .collect(),
    )
    .await;

    let failed: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(
        failed.is_empty(),
        "{} calls failed: {failed:?}",
        failed.len()
    );
    within("the old server's drain", old_task)
        .await
        .unwrap()
        .expect("the old server ended cleanly");
    let _new_task = within("the restart", restart).await.unwrap();
    let (old, new) = (
        old_calls.load(Ordering::SeqCst),
        new_calls.load(Ordering::SeqCst),
    );
    assert!(
        old >= CALLS / 4,
        "the old server served the first quarter: {old}"
    );
    assert!(new > 0, "the new server served the rest: {new}");
    acceptor.abort();
}
