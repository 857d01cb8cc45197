//! How many heap allocations a unary call costs, counted by dhat's heap
//! profiler in testing mode, and held at or below what was measured: a
//! change that adds allocations to the per-call path fails here, and must
//! lower a ceiling below when it removes some.
//!
//! Measured on 2026-12-02 (64-byte request and response):
//!
//! | call | allocations per call | ceiling |
//! | --- | --- | --- |
//! | unary over loopback TCP, client and server together | 30 | 32 |
//! | unary on the client, over an in-process service | 13 | 13 |
//!
//! (They were 40 and 17 before frames were reserved whole, the client's
//! `OK` trailers became its metadata in place, the unary client stopped
//! copying the response's metadata, and the frame decoder held its first
//! chunk inline; the loopback count was 31 before a server's plain `OK`
//! was sent without making a `Status`.)
//!
//! The counts are the same run after run, idle or loaded (the runtime is
//! single-threaded, so nothing else allocates meanwhile); the loopback
//! ceiling leaves 2 for how the kernel happens to split the bytes. A
//! dependency upgrade may move them a little, which is the time to
//! re-measure. (The goal is at most one allocation per call for the
//! call state; these ceilings are where that work starts.)

// A measurement that cannot set itself up should stop loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::Bytes;
use grpcx::client::Grpc;
use grpcx::codec::ProstCodec;
use grpcx::{Body, Endpoint, Request, Server, Status};
use grpcx_interop::pb::{Payload, SimpleRequest, TestServiceClient};
use http::uri::PathAndQuery;
use http_body::Frame;
use http_body_util::StreamBody;

#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

/// The ceiling for one unary call over loopback TCP, client and server
/// together.
const LOOPBACK: u64 = 32;
/// The ceiling for one unary call on the client alone.
const CLIENT: u64 = 13;

/// Calls made before counting (connection set-up, buffers growing).
const WARM_UP: u64 = 50;
/// Calls counted.
const CALLS: u64 = 200;

fn request() -> SimpleRequest {
    SimpleRequest {
        response_size: 64,
        payload: Some(Payload {
            r#type: 0,
            body: vec![0; 64],
        }),
        ..Default::default()
    }
}

/// Allocations per call of `call`, run `CALLS` times after `WARM_UP`.
async fn per_call<F, Fut>(mut call: F) -> u64
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..WARM_UP {
        call().await;
    }
    let before = dhat::HeapStats::get().total_blocks;
    for _ in 0..CALLS {
        call().await;
    }
    let after = dhat::HeapStats::get().total_blocks;
    (after - before).div_ceil(CALLS)
}

/// A unary response: one empty message, then `grpc-status: 0`.
fn respond() -> http::Response<Body> {
    let mut trailers = http::HeaderMap::new();
    trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
    let frames: [Result<Frame<Bytes>, Status>; 2] = [
        Ok(Frame::data(Bytes::from_static(b"\0\0\0\0\0"))),
        Ok(Frame::trailers(trailers)),
    ];
    let mut response = http::Response::new(Body::new(StreamBody::new(futures_util::stream::iter(
        frames,
    ))));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/grpc"),
    );
    response
}

// One test, because dhat counts for the whole process.
#[test]
fn allocations_per_unary_call_do_not_grow() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (loopback, client) = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(
            Server::builder()
                .add_service(grpcx_interop::server::service())
                .serve(listener),
        );
        let channel = Endpoint::new(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let test_service = TestServiceClient::new(channel);
        let loopback = per_call(|| {
            let test_service = test_service.clone();
            async move {
                let response = test_service.unary_call(request()).await.unwrap();
                assert_eq!(response.get_ref().payload.as_ref().unwrap().body.len(), 64);
            }
        })
        .await;

        let in_process = Grpc::new(tower::service_fn(|_: http::Request<Body>| async {
            Ok::<_, Status>(respond())
        }));
        let client = per_call(|| {
            let in_process = in_process.clone();
            async move {
                in_process
                    .unary(
                        PathAndQuery::from_static("/bench.Svc/Unary"),
                        Request::new(()),
                        ProstCodec::<(), ()>::default(),
                    )
                    .await
                    .unwrap();
            }
        })
        .await;
        (loopback, client)
    });
    println!("allocations per unary call: loopback {loopback}, client {client}");
    assert!(
        loopback <= LOOPBACK,
        "a unary call over loopback now allocates {loopback} times, over the ceiling of {LOOPBACK}"
    );
    assert!(
        client <= CLIENT,
        "a unary call on the client now allocates {client} times, over the ceiling of {CLIENT}"
    );
}
