//! Server reflection over the wire, both API versions: list_services,
//! file_by_filename, file_containing_symbol, unknown names.

// Test helpers: failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use grpcx_reflection::pb::{v1, v1alpha};
use grpcx_status::Code;
use grpcx_tests::{ServerHandle, channel, serve, within};
use grpcx_transport::Server;
use prost::Message as _;
use prost_types::FileDescriptorProto;
use v1::server_reflection_request::MessageRequest;
use v1::server_reflection_response::MessageResponse;

async fn start() -> ServerHandle {
    let (health, _reporter) = grpcx_health::service();
    let reflection = grpcx_reflection::service_for(&[grpcx_health::DESCRIPTOR]).unwrap();
    serve(
        Server::builder()
            .add_service(health)
            .add_service(reflection.v1())
            .add_service(reflection.v1alpha()),
    )
    .await
}

/// Asks each of `requests` on one v1 call; returns the answers in order.
async fn ask_v1(server: &ServerHandle, requests: Vec<MessageRequest>) -> Vec<MessageResponse> {
    let client = v1::ServerReflectionClient::new(channel(server.addr));
    let (sender, mut responses) = client.server_reflection_info();
    let mut answers = Vec::new();
    for request in requests {
        let request_copy = request.clone();
        let request = v1::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(request),
        };
        within("send", sender.send(request)).await.unwrap();
        let response = within("a response", responses.message())
            .await
            .unwrap()
            .expect("a response");
        assert_eq!(
            response.original_request.and_then(|r| r.message_request),
            Some(request_copy)
        );
        answers.push(response.message_response.expect("an answer"));
    }
    sender.close();
    assert!(
        within("the end", responses.message())
            .await
            .unwrap()
            .is_none()
    );
    answers
}

/// Asks one request on a v1alpha call.
async fn ask_v1alpha(
    server: &ServerHandle,
    request: v1alpha::server_reflection_request::MessageRequest,
) -> v1alpha::server_reflection_response::MessageResponse {
    let client = v1alpha::ServerReflectionClient::new(channel(server.addr));
    let (sender, mut responses) = client.server_reflection_info();
    let request = v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(request),
    };
    within("send", sender.send(request)).await.unwrap();
    let response = within("a response", responses.message())
        .await
        .unwrap()
        .expect("a response");
    sender.close();
    response.message_response.expect("an answer")
}

fn services(answer: &MessageResponse) -> Vec<String> {
    match answer {
        MessageResponse::ListServicesResponse(list) => {
            list.service.iter().map(|s| s.name.clone()).collect()
        }
        other => panic!("not a service list: {other:?}"),
    }
}

fn file_names(answer: &MessageResponse) -> Vec<String> {
    match answer {
        MessageResponse::FileDescriptorResponse(files) => files
            .file_descriptor_proto
            .iter()
            .map(|bytes| {
                FileDescriptorProto::decode(bytes.as_slice())
                    .unwrap()
                    .name()
                    .to_owned()
            })
            .collect(),
        other => panic!("not files: {other:?}"),
    }
}

fn error_code(answer: &MessageResponse) -> i32 {
    match answer {
        MessageResponse::ErrorResponse(error) => error.error_code,
        other => panic!("not an error: {other:?}"),
    }
}

const ALL_SERVICES: [&str; 3] = [
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
];

#[tokio::test]
async fn v1_lists_and_resolves_on_one_call() {
    let server = start().await;
    let answers = ask_v1(
        &server,
        vec![
            MessageRequest::ListServices(String::new()),
            MessageRequest::FileContainingSymbol("grpc.health.v1.Health.Check".to_owned()),
            MessageRequest::FileContainingSymbol(
                "grpc.health.v1.HealthCheckResponse.ServingStatus".to_owned(),
            ),
            MessageRequest::FileByFilename("grpc/reflection/v1/reflection.proto".to_owned()),
            MessageRequest::FileContainingSymbol("no.such.Symbol".to_owned()),
            MessageRequest::FileByFilename("no/such.proto".to_owned()),
            MessageRequest::AllExtensionNumbersOfType(
                "grpc.health.v1.HealthCheckRequest".to_owned(),
            ),
            MessageRequest::FileContainingExtension(v1::ExtensionRequest {
                containing_type: "grpc.health.v1.HealthCheckRequest".to_owned(),
                extension_number: 100,
            }),
        ],
    )
    .await;
    assert_eq!(services(&answers[0]), ALL_SERVICES);
    assert_eq!(file_names(&answers[1]), ["grpc/health/v1/health.proto"]);
    assert_eq!(file_names(&answers[2]), ["grpc/health/v1/health.proto"]);
    assert_eq!(
        file_names(&answers[3]),
        ["grpc/reflection/v1/reflection.proto"]
    );
    assert_eq!(error_code(&answers[4]), Code::NotFound as i32);
    assert_eq!(error_code(&answers[5]), Code::NotFound as i32);
    match &answers[6] {
        MessageResponse::AllExtensionNumbersResponse(numbers) => {
            assert_eq!(numbers.base_type_name, "grpc.health.v1.HealthCheckRequest");
            assert!(numbers.extension_number.is_empty());
        }
        other => panic!("not extension numbers: {other:?}"),
    }
    assert_eq!(error_code(&answers[7]), Code::NotFound as i32);
    server.shutdown().await;
}

#[tokio::test]
async fn v1alpha_answers_the_same() {
    use v1alpha::server_reflection_request::MessageRequest as Alpha;
    use v1alpha::server_reflection_response::MessageResponse as AlphaAnswer;
    let server = start().await;
    match ask_v1alpha(&server, Alpha::ListServices("*".to_owned())).await {
        AlphaAnswer::ListServicesResponse(list) => {
            let names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
            assert_eq!(names, ALL_SERVICES);
        }
        other => panic!("not a service list: {other:?}"),
    }
    match ask_v1alpha(
        &server,
        Alpha::FileContainingSymbol("grpc.health.v1.Health".to_owned()),
    )
    .await
    {
        AlphaAnswer::FileDescriptorResponse(files) => {
            assert_eq!(files.file_descriptor_proto.len(), 1)
        }
        other => panic!("not files: {other:?}"),
    }
    match ask_v1alpha(&server, Alpha::FileContainingSymbol("nope".to_owned())).await {
        AlphaAnswer::ErrorResponse(error) => assert_eq!(error.error_code, Code::NotFound as i32),
        other => panic!("not an error: {other:?}"),
    }
    server.shutdown().await;
}
