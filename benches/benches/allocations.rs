//! Heap allocations per call, counted by dhat's heap profiler (in testing
//! mode) as a criterion measurement: `cargo bench -p grpcx-benches --bench
//! allocations` reports allocations per call where other benches report
//! time, and every run, `cargo test` included, first checks each count
//! against its ceiling below and fails over it. A change that adds
//! allocations to a per-call path fails here; one that removes some lowers
//! the ceiling.
//!
//! Measured on 2026-12-03 (64-byte request and response):
//!
//! | call | allocations per call | ceiling |
//! | --- | --- | --- |
//! | `unary/loopback`: a typed client and a server over loopback TCP, both sides counted | 29 | 31 |
//! | `unary/client`: the typed client alone, over an in-process service | 11 | 11 |
//! | `unary/client_retry`: the same under a `RetryLayer` that never retries | 12 | 12 |
//!
//! (They were 40 and 17 before frames were reserved whole, the client's
//! `OK` trailers became its metadata in place, the unary client stopped
//! copying the response's metadata, and the frame decoder held its first
//! chunk inline; the loopback count was 31 before a server's plain `OK`
//! was sent without making a `Status`. The retry layer cost 5 more before
//! it kept the request head without cloning its header map and
//! extensions. It went from 0 to 1 on 2026-12-02 on purpose: the layer's
//! call state, about 600 bytes, is boxed, since copying it inline each time
//! its future moved cost some 600 instructions a call more than the
//! allocation does; see `retry/call.rs`. The loopback count went from 30
//! to 29 when both sides began to coalesce their writes: fewer, larger
//! writes. On 2026-12-03 single messages began to be framed in a block
//! each thread shares (`glue::encode`) instead of a buffer of their own
//! (client 13 to 11, and 14 to 12 under the retry layer, whose copy of the
//! now shared `Bytes` no longer allocates); the loopback count stayed at
//! 29, as the channel now keeps a boxed copy of each replayable request
//! to send it again if the server refuses its stream.)
//!
//! The counts are the same run after run, idle or loaded (the runtime is
//! single-threaded, so nothing else allocates meanwhile); the loopback
//! ceiling leaves 2 for how the kernel happens to split the bytes. A
//! dependency upgrade may move them a little, which is the time to
//! re-measure.

// A measurement that cannot set itself up should stop loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{Criterion, Throughput};
use grpcx::client::Grpc;
use grpcx::codec::ProstCodec;
use grpcx::middleware::retry::{CallPolicy, RetryLayer, RetryPolicy};
use grpcx::{Body, Code, Endpoint, Request, Server, Status};
use grpcx_interop::pb::{Payload, SimpleRequest, TestServiceClient};
use http::uri::PathAndQuery;
use http_body::Frame;
use http_body_util::StreamBody;
use tower::Layer as _;

#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

/// The ceiling for one unary call over loopback TCP, client and server
/// together.
const LOOPBACK: u64 = 31;
/// The ceiling for one unary call on the client alone.
const CLIENT: u64 = 11;
/// The ceiling for one unary call on the client under a retry layer.
const CLIENT_RETRY: u64 = 12;

/// Calls made before counting (connection set-up, buffers growing).
const WARM_UP: u64 = 50;
/// Calls counted for the ceilings.
const CALLS: u64 = 200;

/// Allocations, as criterion's measurement: what dhat has counted so far.
struct Allocations;

impl Measurement for Allocations {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        dhat::HeapStats::get().total_blocks
    }

    fn end(&self, start: u64) -> u64 {
        dhat::HeapStats::get().total_blocks - start
    }

    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }

    fn zero(&self) -> u64 {
        0
    }

    fn to_f64(&self, value: &u64) -> f64 {
        *value as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        &AllocationsFormatter
    }
}

struct AllocationsFormatter;

impl ValueFormatter for AllocationsFormatter {
    fn scale_values(&self, _typical: f64, _values: &mut [f64]) -> &'static str {
        "allocs"
    }

    fn scale_throughputs(
        &self,
        _typical: f64,
        _throughput: &Throughput,
        _values: &mut [f64],
    ) -> &'static str {
        "allocs"
    }

    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "allocs"
    }
}

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

/// Allocations per call of `call`, run `CALLS` times after `WARM_UP`.
async fn per_call<F, Fut>(call: &F) -> u64
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
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

/// The in-process service the client-only cases call.
async fn answer(_: http::Request<Body>) -> Result<http::Response<Body>, Status> {
    Ok(respond())
}

/// One unary call on `client` (over an in-process service).
async fn call_in_process<T: grpcx::client::ClientService>(client: &Grpc<T>) {
    client
        .unary(
            PathAndQuery::from_static("/bench.Svc/Unary"),
            Request::new(()),
            ProstCodec::<(), ()>::default(),
        )
        .await
        .unwrap();
}

fn main() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let test_service = runtime.block_on(async {
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
        TestServiceClient::new(channel)
    });
    let loopback = || {
        let test_service = test_service.clone();
        async move {
            let response = test_service.unary_call(request()).await.unwrap();
            assert_eq!(response.get_ref().payload.as_ref().unwrap().body.len(), 64);
        }
    };
    let in_process = Grpc::new(tower::service_fn(answer));
    let client = || call_in_process(&in_process);
    let policy = RetryPolicy::builder(3)
        .initial_backoff(Duration::from_millis(100))
        .max_backoff(Duration::from_secs(1))
        .backoff_multiplier(2.0)
        .retryable_codes([Code::Unavailable])
        .build()
        .unwrap();
    let retrying = Grpc::new(
        RetryLayer::with_policy(CallPolicy::Retry(policy)).layer(tower::service_fn(answer)),
    );
    let client_retry = || call_in_process(&retrying);

    // The ceilings, checked on every run.
    let (loopback_count, client_count, retry_count) = runtime.block_on(async {
        (
            per_call(&loopback).await,
            per_call(&client).await,
            per_call(&client_retry).await,
        )
    });
    println!(
        "allocations per unary call: loopback {loopback_count}, client {client_count}, \
         client under retry {retry_count}"
    );
    for (what, count, ceiling) in [
        ("a unary call over loopback", loopback_count, LOOPBACK),
        ("a unary call on the client", client_count, CLIENT),
        (
            "a unary call on the client under retry",
            retry_count,
            CLIENT_RETRY,
        ),
    ] {
        assert!(
            count <= ceiling,
            "{what} now allocates {count} times, over the ceiling of {ceiling}"
        );
    }

    let mut criterion = Criterion::default()
        .with_measurement(Allocations)
        .configure_from_args();
    let mut group = criterion.benchmark_group("unary");
    group.bench_function("loopback", |b| b.to_async(&runtime).iter(loopback));
    group.bench_function("client", |b| b.to_async(&runtime).iter(client));
    group.bench_function("client_retry", |b| b.to_async(&runtime).iter(client_retry));
    group.finish();
    criterion.final_summary();
}
