//! The `TestServiceClient` generated here from
//! `proto/grpc/testing/test.proto` makes every kind of call to
//! grpcx-interop's `TestService`, which another crate generated from the
//! same proto. (grpcx-interop's own tests run every interop case with its
//! generated client and server.)

mod support;

use std::time::Duration;

use futures_util::StreamExt as _;
use grpcx::{Code, Request};
use grpcx_codegen_e2e::testing::{
    EchoStatus, Empty, Payload, ResponseParameters, SimpleRequest, StreamingInputCallRequest,
    StreamingOutputCallRequest, TestServiceClient, UnimplementedServiceClient,
};
use grpcx_interop::server::ECHO_INITIAL;
use support::TestServer;

#[tokio::test]
async fn the_generated_client_makes_every_kind_of_call() {
    let server = TestServer::serve(grpcx_interop::server::service()).await;
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
