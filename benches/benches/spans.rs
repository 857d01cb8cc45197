//! The cost of a client call's own work, span included, with no tracing
//! subscriber installed: typed calls over an in-process service that
//! answers at once (no network), so that per-call overheads show.

// A benchmark that cannot set itself up should stop loudly.
#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use grpcx::Status;
use grpcx::client::Grpc;
use grpcx::codec::ProstCodec;
use grpcx::{Body, Request};
use http::uri::PathAndQuery;
use http_body::Frame;
use http_body_util::StreamBody;

/// A response of `messages` empty messages, then `grpc-status: 0`.
fn respond(messages: usize) -> http::Response<Body> {
    let mut trailers = http::HeaderMap::new();
    trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
    let mut frames: Vec<Result<Frame<Bytes>, Status>> = (0..messages)
        .map(|_| Ok(Frame::data(Bytes::from_static(b"\0\0\0\0\0"))))
        .collect();
    frames.push(Ok(Frame::trailers(trailers)));
    let mut response = http::Response::new(Body::new(StreamBody::new(futures_util::stream::iter(
        frames,
    ))));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/grpc"),
    );
    response
}

fn spans(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    assert!(
        !tracing::dispatcher::has_been_set(),
        "measured with no subscriber"
    );
    let unary_service =
        tower::service_fn(|_: http::Request<Body>| async { Ok::<_, Status>(respond(1)) });
    let streaming_service =
        tower::service_fn(|_: http::Request<Body>| async { Ok::<_, Status>(respond(10)) });
    let unary = Grpc::new(unary_service);
    let streaming = Grpc::new(streaming_service);
    let codec = ProstCodec::<(), ()>::default;

    let mut group = c.benchmark_group("spans_no_subscriber");
    group.bench_function("client_unary_in_process", |b| {
        b.to_async(&runtime).iter(|| async {
            unary
                .unary(
                    PathAndQuery::from_static("/bench.Svc/Unary"),
                    Request::new(()),
                    codec(),
                )
                .await
                .unwrap()
        });
    });
    group.bench_function("client_server_streaming_10_in_process", |b| {
        b.to_async(&runtime).iter(|| async {
            let mut stream = streaming
                .server_streaming(
                    PathAndQuery::from_static("/bench.Svc/Stream"),
                    Request::new(()),
                    codec(),
                )
                .await
                .unwrap()
                .into_inner();
            while stream.message().await.unwrap().is_some() {}
        });
    });
    group.finish();
}

criterion_group!(benches, spans);
criterion_main!(benches);
