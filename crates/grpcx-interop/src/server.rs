//! `grpc.testing.TestService` as the interop test descriptions specify.

use std::pin::Pin;
use std::time::Duration;

use futures_core::Stream;
use futures_util::StreamExt as _;
use grpcx_codec::{CompressionEncoding, ProstCodec};
use grpcx_status::{Code, Metadata, Status};
use grpcx_transport::server::{BoxFuture, GrpcService, ResponseBody, ServerCall, handler};
use grpcx_transport::{Context, Request, Response, Streaming};

use crate::pb::{
    Empty, Payload, SimpleRequest, SimpleResponse, StreamingInputCallRequest,
    StreamingInputCallResponse, StreamingOutputCallRequest, StreamingOutputCallResponse,
};

/// The initial metadata key a client asks to have echoed.
pub const ECHO_INITIAL: &str = "x-grpc-test-echo-initial";
/// The binary trailing metadata key a client asks to have echoed.
pub const ECHO_TRAILING: &str = "x-grpc-test-echo-trailing-bin";

type ResponseStream =
    Pin<Box<dyn Stream<Item = Result<StreamingOutputCallResponse, Status>> + Send>>;

/// The interop `TestService`.
#[derive(Clone, Copy, Debug, Default)]
pub struct TestService;

impl GrpcService for TestService {
    fn name(&self) -> &'static str {
        "grpc.testing.TestService"
    }

    fn call(&self, method: &str, call: ServerCall) -> BoxFuture<http::Response<ResponseBody>> {
        match method {
            "EmptyCall" => Box::pin(handler::unary(call, ProstCodec::default(), empty_call)),
            "UnaryCall" | "CacheableUnaryCall" => {
                Box::pin(handler::unary(call, ProstCodec::default(), unary_call))
            }
            "StreamingOutputCall" => Box::pin(handler::server_streaming(
                call,
                ProstCodec::default(),
                streaming_output_call,
            )),
            "StreamingInputCall" => Box::pin(handler::client_streaming(
                call,
                ProstCodec::default(),
                streaming_input_call,
            )),
            "FullDuplexCall" => Box::pin(handler::streaming(
                call,
                ProstCodec::default(),
                full_duplex_call,
            )),
            "HalfDuplexCall" => Box::pin(handler::streaming(
                call,
                ProstCodec::default(),
                half_duplex_call,
            )),
            // UnimplementedCall is deliberately not implemented.
            _ => Box::pin(async move { call.unimplemented() }),
        }
    }
}

async fn empty_call(request: Request<Empty>) -> Result<Response<Empty>, Status> {
    Ok(echo_metadata(
        request.metadata(),
        request.context(),
        Empty {},
    ))
}

async fn unary_call(request: Request<SimpleRequest>) -> Result<Response<SimpleResponse>, Status> {
    let ctx = request.context().clone();
    let response_md = echo_initial(request.metadata());
    echo_trailing(request.metadata(), &ctx);
    let message = request.into_inner();
    check_expect_compressed(message.expect_compressed.as_ref(), &ctx)?;
    if let Some(echo) = &message.response_status {
        if echo.code != 0 {
            return Err(Status::new(Code::from_i32(echo.code), echo.message.clone())
                .with_metadata(Metadata::new()));
        }
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
    Ok(Response::new(response).with_metadata(response_md))
}

async fn streaming_output_call(
    request: Request<StreamingOutputCallRequest>,
) -> Result<Response<ResponseStream>, Status> {
    let ctx = request.context().clone();
    let response_md = echo_initial(request.metadata());
    echo_trailing(request.metadata(), &ctx);
    let message = request.into_inner();
    if message
        .response_parameters
        .iter()
        .any(|p| p.compressed.as_ref().is_some_and(|c| c.value))
    {
        ctx.set_compression(CompressionEncoding::Gzip);
    }
    let stream = respond(message, Some(ctx));
    Ok(Response::new(Box::pin(stream) as ResponseStream).with_metadata(response_md))
}

async fn streaming_input_call(
    request: Request<Streaming<StreamingInputCallRequest>>,
) -> Result<Response<StreamingInputCallResponse>, Status> {
    let ctx = request.context().clone();
    let mut requests = request.into_inner();
    let mut total = 0usize;
    while let Some(message) = requests.message().await? {
        check_expect_compressed(message.expect_compressed.as_ref(), &ctx)?;
        total += message.payload.map_or(0, |p| p.body.len());
    }
    Ok(Response::new(StreamingInputCallResponse {
        aggregated_payload_size: i32::try_from(total).unwrap_or(i32::MAX),
    }))
}

async fn full_duplex_call(
    request: Request<Streaming<StreamingOutputCallRequest>>,
) -> Result<Response<ResponseStream>, Status> {
    let ctx = request.context().clone();
    let response_md = echo_initial(request.metadata());
    echo_trailing(request.metadata(), &ctx);
    let requests = request.into_inner();
    let stream = requests.flat_map(|message| match message {
        Ok(message) => Box::pin(respond(message, None)) as ResponseStream,
        Err(status) => Box::pin(futures_util::stream::iter([Err(status)])),
    });
    Ok(Response::new(Box::pin(stream) as ResponseStream).with_metadata(response_md))
}

async fn half_duplex_call(
    request: Request<Streaming<StreamingOutputCallRequest>>,
) -> Result<Response<ResponseStream>, Status> {
    let response_md = echo_initial(request.metadata());
    echo_trailing(request.metadata(), request.context());
    let mut requests = request.into_inner();
    let mut all = Vec::new();
    while let Some(message) = requests.message().await? {
        all.push(message);
    }
    let stream = futures_util::stream::iter(all).flat_map(|message| respond(message, None));
    Ok(Response::new(Box::pin(stream) as ResponseStream).with_metadata(response_md))
}

/// The responses one `StreamingOutputCallRequest` asks for, each after its
/// interval, then its status if it asks for one. With the call's context,
/// each response is compressed or not as its parameters say.
fn respond(
    message: StreamingOutputCallRequest,
    ctx: Option<Context>,
) -> impl Stream<Item = Result<StreamingOutputCallResponse, Status>> + Send + 'static {
    let status = message
        .response_status
        .filter(|s| s.code != 0)
        .map(|s| Status::new(Code::from_i32(s.code), s.message));
    let responses = futures_util::stream::iter(message.response_parameters).then(move |params| {
        let ctx = ctx.clone();
        async move {
            if params.interval_us > 0 {
                tokio::time::sleep(Duration::from_micros(params.interval_us as u64)).await;
            }
            if let Some(ctx) = ctx {
                let compressed = params.compressed.as_ref().is_some_and(|c| c.value);
                ctx.set_message_compression(compressed);
            }
            Ok(StreamingOutputCallResponse {
                payload: Some(payload(params.size)?),
            })
        }
    });
    responses.chain(futures_util::stream::iter(status.map(Err)))
}

fn payload(size: i32) -> Result<Payload, Status> {
    let size = usize::try_from(size)
        .map_err(|_| Status::invalid_argument(format!("negative response size {size}")))?;
    Ok(Payload {
        r#type: 0,
        body: vec![0; size],
    })
}

/// The interop spec's check of `expect_compressed`: the request must have
/// been sent compressed.
fn check_expect_compressed(
    expect: Option<&crate::pb::BoolValue>,
    ctx: &Context,
) -> Result<(), Status> {
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

fn echo_metadata<T>(metadata: &Metadata, ctx: &Context, message: T) -> Response<T> {
    echo_trailing(metadata, ctx);
    Response::new(message).with_metadata(echo_initial(metadata))
}
