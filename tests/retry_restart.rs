//! A graceful server restart under load loses no call: the old server
//! drains with GOAWAY while a new one takes over the same listener, and
//! the retry layer sends the calls the old one refused to the new one.
//!
//! The load test runs grpcx's own server; hyper's two-step GOAWAY makes a
//! refused stream rare there, so a second test makes the race certain
//! with a hand-written HTTP/2 server whose GOAWAY refuses a burst of
//! streams (without the retry layer, those calls fail `UNAVAILABLE`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use futures_util::StreamExt as _;
use grpcx::Status;
use grpcx::client::Grpc;
use grpcx::codec::ProstCodec;
use grpcx::middleware::retry::{RetryLayer, ServiceConfig};
use grpcx::server::{BoxFuture, GrpcService, ResponseBody, ServerCall, handler};
use grpcx::{Request, Response, Server, ServerRequest};
use grpcx_tests::{ProbeReply, ProbeRequest, WAIT, codec, within};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
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
            move |request: ServerRequest<ProbeRequest>| async move {
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
    tokio::task::JoinHandle<Result<(), grpcx::Error>>,
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
            new_task.abort_handle()
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
    let new_server = within("the restart", restart).await.unwrap();
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
    new_server.abort();
}

const HEADERS: u8 = 0x1;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;

fn h2_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Bytes {
    let mut out = BytesMut::new();
    let len = payload.len() as u32;
    out.put_slice(&len.to_be_bytes()[1..]);
    out.put_u8(kind);
    out.put_u8(flags);
    out.put_u32(stream);
    out.put_slice(payload);
    out.freeze()
}

/// HEADERS, DATA and trailers answering `stream` with one `ProbeReply`
/// and `OK` (HPACK without Huffman or indexing, written by hand).
fn answer(stream: u32) -> Vec<Bytes> {
    let mut head = vec![0x88]; // :status 200 (static index 8)
    head.extend_from_slice(&[0x0f, 0x10, 16]); // content-type (index 31), 16 bytes
    head.extend_from_slice(b"application/grpc");
    let mut trailers = vec![0x00, 11];
    trailers.extend_from_slice(b"grpc-status");
    trailers.extend_from_slice(&[1, b'0']);
    let reply = grpcx_tests::raw::frame(&ProbeReply::default());
    vec![
        h2_frame(HEADERS, 0x4, stream, &head),
        h2_frame(0x0, 0, stream, &reply),
        h2_frame(HEADERS, 0x5, stream, &trailers),
    ]
}

/// A hand-written HTTP/2 server. On its first connection it waits for
/// `1 + burst` streams, then sends GOAWAY with the first stream's id (the
/// old server going away: the others are refused), answers the first and
/// keeps the connection open; later connections (the new server) answer
/// every stream at once.
async fn serve_raw(
    mut tcp: TcpStream,
    going_away: Option<usize>,
    first: mpsc::UnboundedSender<()>,
) -> std::io::Result<()> {
    let mut preface = [0u8; 24];
    tcp.read_exact(&mut preface).await?;
    tcp.write_all(&h2_frame(SETTINGS, 0, 0, &[])).await?;
    let mut streams = Vec::new();
    loop {
        let mut header = [0u8; 9];
        tcp.read_exact(&mut header).await?;
        let len =
            usize::from(header[0]) << 16 | usize::from(header[1]) << 8 | usize::from(header[2]);
        let mut payload = vec![0u8; len];
        tcp.read_exact(&mut payload).await?;
        let stream = u32::from_be_bytes([header[5], header[6], header[7], header[8]]) & 0x7fff_ffff;
        match header[3] {
            SETTINGS if header[4] & 0x1 == 0 => {
                tcp.write_all(&h2_frame(SETTINGS, 0x1, 0, &[])).await?
            }
            PING if header[4] & 0x1 == 0 => {
                tcp.write_all(&h2_frame(PING, 0x1, 0, &payload)).await?
            }
            HEADERS => {
                if streams.is_empty() {
                    let _ = first.send(());
                }
                streams.push(stream);
                match going_away {
                    None => {
                        for chunk in answer(stream) {
                            tcp.write_all(&chunk).await?;
                        }
                    }
                    Some(burst) if streams.len() == 1 + burst => {
                        let mut goaway = streams[0].to_be_bytes().to_vec();
                        goaway.extend_from_slice(&0u32.to_be_bytes()); // NO_ERROR
                        tcp.write_all(&h2_frame(GOAWAY, 0, 0, &goaway)).await?;
                        for chunk in answer(streams[0]) {
                            tcp.write_all(&chunk).await?;
                        }
                    }
                    Some(_) => {}
                }
                tcp.flush().await?;
            }
            _ => {}
        }
    }
}

#[tokio::test]
async fn calls_refused_by_a_goaway_go_to_the_next_connection() {
    const BURST: usize = 8;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let (first_tx, mut first_stream) = mpsc::unbounded_channel();
    let server = {
        let connections = connections.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let n = connections.fetch_add(1, Ordering::SeqCst);
                let going_away = (n == 0).then_some(BURST);
                tokio::spawn(serve_raw(tcp, going_away, first_tx.clone()));
            }
        })
    };
    let channel = grpcx_tests::channel(addr);
    // No policy: only transparent retries.
    let client = Grpc::new(
        tower::ServiceBuilder::new()
            .layer(RetryLayer::default())
            .service(channel.clone()),
    )
    .with_config(channel.config());
    let call = |id: usize| {
        let client = client.clone();
        tokio::spawn(async move {
            let request = Request::new(ProbeRequest {
                id: id.to_string(),
                ..ProbeRequest::default()
            })
            .with_timeout(WAIT);
            client
                .unary(
                    format!("/{SERVICE}/Call").parse().unwrap(),
                    request,
                    codec(),
                )
                .await
        })
    };

    // Stream 1 reaches the old server first, then a burst its GOAWAY
    // refuses: every call is answered, the burst by the new connection.
    let first = call(0);
    within("the first stream", first_stream.recv())
        .await
        .unwrap();
    let burst: Vec<_> = (1..=BURST).map(call).collect();
    for call in burst {
        within("a refused call", call)
            .await
            .unwrap()
            .expect("sent again on the new connection");
    }
    within("the first call", first)
        .await
        .unwrap()
        .expect("stream 1 is answered");
    assert_eq!(connections.load(Ordering::SeqCst), 2);
    server.abort();
}
