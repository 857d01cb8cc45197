//! `grpc.testing.TestService` as the interop test descriptions specify,
//! written against the generated `TestService` trait.

use std::pin::Pin;
use std::time::Duration;

use futures_core::Stream;
use futures_util::{StreamExt as _, stream};
use grpcx::codec::CompressionEncoding;
use grpcx::{CallContext, Code, Metadata, Response, ServerRequest, Status, Streaming};

use crate::pb::{
    BoolValue, EchoStatus, Empty, Payload, SimpleRequest, SimpleResponse,
    StreamingInputCallRequest, StreamingInputCallResponse, StreamingOutputCallRequest,
    StreamingOutputCallResponse, TestService, TestServiceServer,
};

/// The initial metadata key a client asks to have echoed.
pub const ECHO_INITIAL: &str = "x-grpc-test-echo-initial";
/// The binary trailing metadata key a client asks to have echoed.
pub const ECHO_TRAILING: &str = "x-grpc-test-echo-trailing-bin";

/// The response stream of the streaming methods.
pub type ResponseStream =
    Pin<Box<dyn Stream<Item = Result<StreamingOutputCallResponse, Status>> + Send>>;

/// The interop `TestService`: every method but `UnimplementedCall`, which
/// the descriptions leave unimplemented on purpose.
#[derive(Clone, Copy, Debug, Default)]
pub struct InteropTestService;

/// [`InteropTestService`], ready for `Server::add_service`.
pub fn service() -> TestServiceServer<InteropTestService> {
    TestServiceServer::new(InteropTestService)
}

impl TestService for InteropTestService {
    async fn empty_call(&self, request: ServerRequest<Empty>) -> Result<Response<Empty>, Status> {
        echo_trailing(request.metadata(), request.context());
        Ok(Response::new(Empty {}).with_metadata(echo_initial(request.metadata())))
    }

    async fn unary_call(
        &self,
        request: ServerRequest<SimpleRequest>,
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
        request: ServerRequest<SimpleRequest>,
    ) -> Result<Response<SimpleResponse>, Status> {
        self.unary_call(request).await
    }

    type StreamingOutputCallStream = ResponseStream;

    async fn streaming_output_call(
        &self,
        request: ServerRequest<StreamingOutputCallRequest>,
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
        request: ServerRequest<Streaming<StreamingInputCallRequest>>,
    ) -> Result<Response<StreamingInputCallResponse>, Status> {
        let ctx = request.context().clone();
        let mut requests = request.into_inner();
        let mut total = 0_usize;
        while let Some(message) = requests.message().await? {
            check_expect_compressed(message.expect_compressed.as_ref(), &ctx)?;
            total = total.saturating_add(message.payload.map_or(0, |p| p.body.len()));
        }
        Ok(Response::new(StreamingInputCallResponse {
            aggregated_payload_size: i32::try_from(total).unwrap_or(i32::MAX),
        }))
    }

    type FullDuplexCallStream = ResponseStream;

    async fn full_duplex_call(
        &self,
        request: ServerRequest<Streaming<StreamingOutputCallRequest>>,
    ) -> Result<Response<ResponseStream>, Status> {
        let metadata = echo_initial(request.metadata());
        echo_trailing(request.metadata(), request.context());
        let responses = request.into_inner().flat_map(|message| match message {
            Ok(message) => respond(message, None),
            Err(status) => Box::pin(stream::iter([Err(status)])),
        });
        Ok(Response::new(Box::pin(responses) as ResponseStream).with_metadata(metadata))
    }

    type HalfDuplexCallStream = ResponseStream;

    async fn half_duplex_call(
        &self,
        request: ServerRequest<Streaming<StreamingOutputCallRequest>>,
    ) -> Result<Response<ResponseStream>, Status> {
        let metadata = echo_initial(request.metadata());
        echo_trailing(request.metadata(), request.context());
        let mut requests = request.into_inner();
        let mut all = Vec::new();
        while let Some(message) = requests.message().await? {
            all.push(message);
        }
        let responses = stream::iter(all).flat_map(|message| respond(message, None));
        Ok(Response::new(Box::pin(responses) as ResponseStream).with_metadata(metadata))
    }

    async fn unimplemented_call(
        &self,
        _request: ServerRequest<Empty>,
    ) -> Result<Response<Empty>, Status> {
        Err(Status::unimplemented(
            "UnimplementedCall is not implemented",
        ))
    }
}

/// The responses one `StreamingOutputCallRequest` asks for, each after its
/// interval, then its status if it asks for one. With the call's context,
/// each response is compressed or not as its parameters say.
fn respond(message: StreamingOutputCallRequest, ctx: Option<CallContext>) -> ResponseStream {
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

/// The status a request asks to be answered with, unless it is OK.
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

/// The interop spec's check of `expect_compressed`: the request must have
/// been sent compressed.
fn check_expect_compressed(expect: Option<&BoolValue>, ctx: &CallContext) -> Result<(), Status> {
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

fn echo_trailing(metadata: &Metadata, ctx: &CallContext) {
    let mut echoed = Metadata::new();
    for value in metadata.get_all_bin(ECHO_TRAILING).flatten() {
        let _ = echoed.append_bin(ECHO_TRAILING, value);
    }
    if !echoed.is_empty() {
        ctx.set_trailing_metadata(echoed);
    }
}
