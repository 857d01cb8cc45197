//! Loopback calls over a real HTTP/2 connection: unary latency and
//! server-streaming throughput.

// A benchmark that cannot set itself up should stop loudly.
#![allow(clippy::unwrap_used)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures_util::StreamExt as _;
use grpcx::codec::ProstCodec;
use grpcx::{Channel, Endpoint, Request, Server};
use grpcx_interop::pb::{
    Payload, ResponseParameters, SimpleRequest, SimpleResponse, StreamingOutputCallRequest,
    StreamingOutputCallResponse,
};
use http::uri::PathAndQuery;

fn start(runtime: &tokio::runtime::Runtime) -> Channel {
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(
            Server::builder()
                .add_service(grpcx_interop::server::service())
                .serve(listener),
        );
        Endpoint::new(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap()
    })
}

fn transport(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let channel = start(&runtime);

    let mut group = c.benchmark_group("transport");
    group.bench_function("unary_64b", |b| {
        b.to_async(&runtime).iter(|| {
            let channel = channel.clone();
            async move {
                let request = SimpleRequest {
                    response_size: 64,
                    payload: Some(Payload {
                        r#type: 0,
                        body: vec![0; 64],
                    }),
                    ..Default::default()
                };
                channel
                    .unary(
                        PathAndQuery::from_static("/grpc.testing.TestService/UnaryCall"),
                        Request::new(request),
                        ProstCodec::<SimpleRequest, SimpleResponse>::default(),
                    )
                    .await
                    .unwrap()
            }
        });
    });

    const MESSAGES: usize = 1000;
    group.throughput(Throughput::Elements(MESSAGES as u64));
    group.bench_function("server_streaming_1000x1k", |b| {
        b.to_async(&runtime).iter(|| {
            let channel = channel.clone();
            async move {
                let request = StreamingOutputCallRequest {
                    response_parameters: vec![
                        ResponseParameters { size: 1024, ..Default::default() };
                        MESSAGES
                    ],
                    ..Default::default()
                };
                let response = channel
                    .server_streaming(
                        PathAndQuery::from_static("/grpc.testing.TestService/StreamingOutputCall"),
                        Request::new(request),
                        ProstCodec::<StreamingOutputCallRequest, StreamingOutputCallResponse>::default(),
                    )
                    .await
                    .unwrap();
                let count = response.into_inner().count().await;
                assert_eq!(count, MESSAGES);
            }
        });
    });
    group.finish();
}

criterion_group!(benches, transport);
criterion_main!(benches);
