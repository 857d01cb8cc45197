//! The code generated from `proto/grpc/testing/test.proto` against the
//! hand-written interop code of grpcx-interop, both ways:
//!
//! - a `TestService` written against the generated trait and served by the
//!   generated `TestServiceServer` passes every interop case of
//!   grpcx-interop's client;
//! - the generated `TestServiceClient` makes every kind of call to
//!   grpcx-interop's hand-written server.

mod support;

use std::pin::Pin;
use std::time::Duration;

use futures_util::{Stream, StreamExt as _, stream};
use grpcx::codec::CompressionEncoding;
use grpcx::{Code, Context, Metadata, Request, Response, Status, Streaming};
use grpcx_codegen_e2e::testing::{
    BoolValue, EchoStatus, Empty, Payload, ResponseParameters, SimpleRequest, SimpleResponse,
    StreamingInputCallRequest, StreamingInputCallResponse, StreamingOutputCallRequest,
    StreamingOutputCallResponse, TestService, TestServiceClient, TestServiceServer,
    UnimplementedServiceClient,
};
use grpcx_interop::client::{ALL_CASES, run_case};
use grpcx_interop::server::{ECHO_INITIAL, ECHO_TRAILING};
use support::TestServer;

type ResponseStream =
    Pin<Box<dyn Stream<Item = Result<StreamingOutputCallResponse, Status>> + Send>>;

/// The interop `TestService`, written against the generated trait: the
/// behaviour of grpcx-interop's hand-written one.
struct Generated;

impl TestService for Generated {
    async fn empty_call(&self, request: Request<Empty>) -> Result<Response<Empty>, Status> {
        echo_trailing(request.metadata(), request.context());
        Ok(Response::new(Empty {}).with_metadata(echo_initial(request.metadata())))
    }

    async fn unary_call(
        &self,
        request: Request<SimpleRequest>,
    ) -> Result<Response<SimpleResponse>, Status> {
        let ctx = request.context().clone();
        let metadata = echo_initial(request.metadata());
        echo_trailing(request.metadata(), &ctx);
        let message = request.into_inner();
        check_expect_compressed(message.expect_compressed.as_ref(), &ctx)?;
        if let Some(status) = echo_status(message.response_status.as_ref()) {
            return Err(status);
        }
        if let Some(compressed) = &message.response_compressed {
            ctx.set_compression(if compressed.value {
                CompressionEncoding::Gzip
            } else {
                CompressionEncoding::Identity
            });
        }
        let response = SimpleResponse {
            payload: Some(payload(message.response_size)?),
            ..Default::default()
        };
        Ok(Response::new(response).with_metadata(metadata))
    }

    async fn cacheable_unary_call(
        &self,
        request: Request<SimpleRequest>,
    ) -> Result<Response<SimpleResponse>, Status> {
        self.unary_call(request).await
    }

    type StreamingOutputCallStream = ResponseStream;

    async fn streaming_output_call(
        &self,
        request: Request<StreamingOutputCallRequest>,
    ) -> Result<Response<ResponseStream>, Status> {
        let ctx = request.context().clone();
        let metadata = echo_initial(request.metadata());
        echo_trailing(request.metadata(), &ctx);
        let message = request.into_inner();
        let compressed = message
            .response_parameters
            .iter()
            .any(|p| p.compressed.as_ref().is_some_and(|c| c.value));
        if compressed {
            ctx.set_compression(CompressionEncoding::Gzip);
        }
        Ok(Response::new(respond(message, Some(ctx))).with_metadata(metadata))
    }

    async fn streaming_input_call(
        &self,
        request: Request<Streaming<StreamingInputCallRequest>>,
    ) -> Result<Response<StreamingInputCallResponse>, Status> {
        let ctx = request.context().clone();
        let mut requests = request.into_inner();
        let mut total = 0;
        while let Some(message) = requests.message().await? {
            check_expect_compressed(message.expect_compressed.as_ref(), &ctx)?;
            total += message.payload.map_or(0, |p| p.body.len());
        }
        Ok(Response::new(StreamingInputCallResponse {
            aggregated_payload_size: i32::try_from(total).unwrap_or(i32::MAX),
        }))
    }

    type FullDuplexCallStream = ResponseStream;

    async fn full_duplex_call(
        &self,
        request: Request<Streaming<StreamingOutputCallRequest>>,
    ) -> Result<Response<ResponseStream>, Status> {
        let metadata = echo_initial(request.metadata());
        echo_trailing(request.metadata(), request.context());
        let stream = request.into_inner().flat_map(|message| match message {
            Ok(message) => respond(message, None),
            Err(status) => Box::pin(stream::iter([Err(status)])),
        });
        Ok(Response::new(Box::pin(stream) as ResponseStream).with_metadata(metadata))
    }

    type HalfDuplexCallStream = ResponseStream;

    async fn half_duplex_call(
        &self,
        request: Request<Streaming<StreamingOutputCallRequest>>,
    ) -> Result<Response<ResponseStream>, Status> {
        let metadata = echo_initial(request.metadata());
        echo_trailing(request.metadata(), request.context());
        let mut requests = request.into_inner();
        let mut all = Vec::new();
        while let Some(message) = requests.message().await? {
            all.push(message);
        }
        let stream = stream::iter(all).flat_map(|message| respond(message, None));
        Ok(Response::new(Box::pin(stream) as ResponseStream).with_metadata(metadata))
    }

    async fn unimplemented_call(
        &self,
        _request: Request<Empty>,
    ) -> Result<Response<Empty>, Status> {
        Err(Status::unimplemented(
            "UnimplementedCall is not implemented",
        ))
    }
}

fn respond(message: StreamingOutputCallRequest, ctx: Option<Context>) -> ResponseStream {
    let status = echo_status(message.response_status.as_ref());
    let responses = stream::iter(message.response_parameters).then(move |params| {
        let ctx = ctx.clone();
        async move {
            if params.interval_us > 0 {
                tokio::time::sleep(Duration::from_micros(
                    params.interval_us.unsigned_abs().into(),
                ))
                .await;
            }
            if let Some(ctx) = ctx {
                ctx.set_message_compression(params.compressed.as_ref().is_some_and(|c| c.value));
            }
            Ok(StreamingOutputCallResponse {
                payload: Some(payload(params.size)?),
            })
        }
    });
    Box::pin(responses.chain(stream::iter(status.map(Err))))
}

fn echo_status(status: Option<&EchoStatus>) -> Option<Status> {
    status
        .filter(|s| s.code != 0)
        .map(|s| Status::new(Code::from_i32(s.code), s.message.clone()))
}

fn payload(size: i32) -> Result<Payload, Status> {
    let size = usize::try_from(size)
        .map_err(|_| Status::invalid_argument(format!("negative response size {size}")))?;
    Ok(Payload {
        r#type: 0,
        body: vec![0; size],
    })
}

fn check_expect_compressed(expect: Option<&BoolValue>, ctx: &Context) -> Result<(), Status> {
    if expect.is_some_and(|e| e.value) && !ctx.request_compression().is_compressed() {
        return Err(Status::invalid_argument(
            "expected a compressed request, got an uncompressed one",
        ));
    }
    Ok(())
}

fn echo_initial(metadata: &Metadata) -> Metadata {
    let mut echoed = Metadata::new();
    for value in metadata.get_all(ECHO_INITIAL) {
        let _ = echoed.append(ECHO_INITIAL, value);
    }
    echoed
}

fn echo_trailing(metadata: &Metadata, ctx: &Context) {
    let mut echoed = Metadata::new();
    for value in metadata.get_all_bin(ECHO_TRAILING).flatten() {
        let _ = echoed.append_bin(ECHO_TRAILING, value);
    }
    if !echoed.is_empty() {
        ctx.set_trailing_metadata(echoed);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_generated_server_passes_every_interop_case() {
    for case in ALL_CASES {
        let server = TestServer::serve(TestServiceServer::new(Generated)).await;
        let result =
            tokio::time::timeout(Duration::from_secs(60), run_case(case, &server.endpoint))
                .await
                .unwrap_or_else(|_| panic!("{case} did not finish in time"));
        server.stop().await;
        if let Err(err) = result {
            panic!("{case} failed: {err}");
        }
    }
}

#[tokio::test]
async fn the_generated_client_makes_every_kind_of_call() {
    let server = TestServer::serve(grpcx_interop::server::TestService).await;
    let client = TestServiceClient::new(server.channel.clone());

    // Unary, with metadata echoed both ways.
    let mut request = Request::new(Empty {});
    request
        .metadata_mut()
        .insert(ECHO_INITIAL, "hello")
        .unwrap();
    let response = client.empty_call(request).await.unwrap();
    assert_eq!(response.metadata().get(ECHO_INITIAL), Some("hello"));

    let response = client
        .unary_call(SimpleRequest {
            response_size: 314,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(response.into_inner().payload.unwrap().body.len(), 314);

    // A status the server is asked to fail with.
    let err = client
        .unary_call(SimpleRequest {
            response_status: Some(EchoStatus {
                code: Code::ResourceExhausted as i32,
                message: "tab\tand ünïcode".to_owned(),
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);
    assert_eq!(err.message(), "tab\tand ünïcode");

    // Server streaming.
    let sizes = [1, 10, 100];
    let request = StreamingOutputCallRequest {
        response_parameters: sizes
            .iter()
            .map(|&size| ResponseParameters {
                size,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    let responses: Vec<usize> = client
        .streaming_output_call(request)
        .await
        .unwrap()
        .into_inner()
        .map(|r| r.unwrap().payload.unwrap().body.len())
        .collect()
        .await;
    assert_eq!(responses, [1, 10, 100]);

    // Client streaming.
    let requests = [3, 4].map(|size| StreamingInputCallRequest {
        payload: Some(Payload {
            r#type: 0,
            body: vec![1; size],
        }),
        ..Default::default()
    });
    let response = client.streaming_input_call(requests).await.unwrap();
    assert_eq!(response.into_inner().aggregated_payload_size, 7);

    // Bidi: ping-pong, then a status at the end.
    let (requests, mut responses) = client.full_duplex_call();
    for size in [5, 6] {
        let request = StreamingOutputCallRequest {
            response_parameters: vec![ResponseParameters {
                size,
                ..Default::default()
            }],
            ..Default::default()
        };
        requests.send(request).await.unwrap();
        let response = responses.message().await.unwrap().unwrap();
        assert_eq!(response.payload.unwrap().body.len(), size as usize);
    }
    requests
        .send(StreamingOutputCallRequest {
            response_status: Some(EchoStatus {
                code: Code::Aborted as i32,
                message: "bye".to_owned(),
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    let err = responses.message().await.unwrap_err();
    assert_eq!((err.code(), err.message()), (Code::Aborted, "bye"));

    // Bidi with a timeout the server outlives.
    let request = Request::new(()).with_timeout(Duration::from_millis(50));
    let (requests, mut responses) = client.half_duplex_call_with(request);
    let err = responses.message().await.unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded);
    drop(requests);

    // Unimplemented, by method and by service.
    let err = client.unimplemented_call(Empty {}).await.unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented);
    let err = UnimplementedServiceClient::new(server.channel.clone())
        .unimplemented_call(Empty {})
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented);
    server.stop().await;
}
