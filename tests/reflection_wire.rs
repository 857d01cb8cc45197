//! Server reflection over the wire, both API versions: list_services,
//! file_by_filename, file_containing_symbol, unknown names; every service
//! of the server with `ServerExt::add_reflection`; files not sent twice on
//! one call; the proto comments in the files served.

// Test helpers: failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use grpcx::Code;
use grpcx::Server;
use grpcx::reflection::pb::{v1, v1alpha};
use grpcx::reflection::{Builder, ServerExt as _};
use grpcx_tests::probe::Probe;
use grpcx_tests::{ServerHandle, channel, serve, within};
use prost::Message as _;
use prost_types::{DescriptorProto, FileDescriptorProto, FileDescriptorSet};
use v1::server_reflection_request::MessageRequest;
use v1::server_reflection_response::MessageResponse;

async fn start() -> ServerHandle {
    let (health, _reporter) = grpcx::health::service();
    let reflection = grpcx::reflection::service_for(&[grpcx::health::DESCRIPTOR]).unwrap();
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

fn files(answer: &MessageResponse) -> Vec<FileDescriptorProto> {
    match answer {
        MessageResponse::FileDescriptorResponse(files) => files
            .file_descriptor_proto
            .iter()
            .map(|bytes| FileDescriptorProto::decode(bytes.as_slice()).unwrap())
            .collect(),
        other => panic!("not files: {other:?}"),
    }
}

fn file_names(answer: &MessageResponse) -> Vec<String> {
    files(answer)
        .iter()
        .map(|file| file.name().to_owned())
        .collect()
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

/// A server with reflection added first, then health and a hand-written
/// service (no descriptor) after it.
async fn start_with_add_reflection(builder: Option<Builder>) -> ServerHandle {
    let (health, _reporter) = grpcx::health::service();
    let (events, _) = tokio::sync::mpsc::unbounded_channel();
    let (gate, _) = tokio::sync::watch::channel(true);
    let server = Server::builder();
    let server = match builder {
        Some(builder) => server.add_reflection_with(builder),
        None => server.add_reflection(),
    };
    serve(
        server
            .add_service(health)
            .add_service(Probe::new(events, gate)),
    )
    .await
}

#[tokio::test]
async fn add_reflection_lists_every_service_of_the_server() {
    let server = start_with_add_reflection(None).await;
    let answers = ask_v1(
        &server,
        vec![
            MessageRequest::ListServices(String::new()),
            MessageRequest::FileContainingSymbol("grpc.health.v1.Health".to_owned()),
            MessageRequest::FileContainingSymbol(
                "grpc.reflection.v1alpha.ServerReflection".to_owned(),
            ),
            // Listed by name, with no file to serve.
            MessageRequest::FileContainingSymbol("grpcx.test.Probe".to_owned()),
        ],
    )
    .await;
    assert_eq!(
        services(&answers[0]),
        [
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
            "grpcx.test.Probe",
        ]
    );
    assert_eq!(file_names(&answers[1]), ["grpc/health/v1/health.proto"]);
    assert_eq!(
        file_names(&answers[2]),
        ["grpc/reflection/v1alpha/reflection.proto"]
    );
    assert_eq!(error_code(&answers[3]), Code::NotFound as i32);
    server.shutdown().await;
}

/// `a.proto` imports `b.proto`, which imports `c.proto`; `d.proto`
/// imports `c.proto`. Each defines a message `chain.<File>` (`chain.A`...).
fn chain_set() -> Vec<u8> {
    let file = |name: &str, imports: &[&str]| FileDescriptorProto {
        name: Some(format!("{name}.proto")),
        package: Some("chain".to_owned()),
        dependency: imports.iter().map(|i| format!("{i}.proto")).collect(),
        message_type: vec![DescriptorProto {
            name: Some(name.to_uppercase()),
            ..DescriptorProto::default()
        }],
        syntax: Some("proto3".to_owned()),
        ..FileDescriptorProto::default()
    };
    FileDescriptorSet {
        file: vec![
            file("c", &[]),
            file("b", &["c"]),
            file("a", &["b"]),
            file("d", &["c"]),
        ],
    }
    .encode_to_vec()
}

#[tokio::test]
async fn a_call_does_not_send_a_file_twice_but_always_the_one_asked() {
    let server =
        start_with_add_reflection(Some(Builder::default().file_descriptor_set(chain_set()))).await;
    let symbol = |name: &str| MessageRequest::FileContainingSymbol(format!("chain.{name}"));
    let answers = ask_v1(
        &server,
        vec![
            symbol("A"),
            symbol("D"),
            MessageRequest::FileByFilename("b.proto".to_owned()),
            symbol("A"),
            MessageRequest::FileContainingSymbol("no.such.Symbol".to_owned()),
            symbol("C"),
        ],
    )
    .await;
    assert_eq!(file_names(&answers[0]), ["a.proto", "b.proto", "c.proto"]);
    assert_eq!(file_names(&answers[1]), ["d.proto"]);
    assert_eq!(file_names(&answers[2]), ["b.proto"]);
    assert_eq!(file_names(&answers[3]), ["a.proto"]);
    assert_eq!(error_code(&answers[4]), Code::NotFound as i32);
    assert_eq!(file_names(&answers[5]), ["c.proto"]);
    // Another call starts afresh.
    let answers = ask_v1(&server, vec![symbol("D")]).await;
    assert_eq!(file_names(&answers[0]), ["d.proto", "c.proto"]);
    // And so does v1alpha, which tracks its calls the same way.
    use v1alpha::server_reflection_response::MessageResponse as AlphaAnswer;
    let client = v1alpha::ServerReflectionClient::new(channel(server.addr));
    let (sender, mut responses) = client.server_reflection_info();
    let mut alpha_names = Vec::new();
    for name in ["A", "D"] {
        let request = v1alpha::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(
                v1alpha::server_reflection_request::MessageRequest::FileContainingSymbol(format!(
                    "chain.{name}"
                )),
            ),
        };
        within("send", sender.send(request)).await.unwrap();
        let response = within("a response", responses.message())
            .await
            .unwrap()
            .expect("a response");
        match response.message_response {
            Some(AlphaAnswer::FileDescriptorResponse(files)) => alpha_names.push(
                files
                    .file_descriptor_proto
                    .iter()
                    .map(|f| {
                        FileDescriptorProto::decode(f.as_slice())
                            .unwrap()
                            .name()
                            .to_owned()
                    })
                    .collect::<Vec<_>>(),
            ),
            other => panic!("not files: {other:?}"),
        }
    }
    sender.close();
    assert_eq!(
        alpha_names,
        [vec!["a.proto", "b.proto", "c.proto"], vec!["d.proto"]]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn served_files_carry_the_proto_comments() {
    let server = start_with_add_reflection(None).await;
    let answers = ask_v1(
        &server,
        vec![MessageRequest::FileContainingSymbol(
            "grpc.health.v1.Health.Check".to_owned(),
        )],
    )
    .await;
    let file = &files(&answers[0])[0];
    let info = file.source_code_info.as_ref().expect("source info");
    let comment = |path: &[i32]| {
        info.location
            .iter()
            .find(|l| l.path == path)
            .and_then(|l| l.leading_comments.clone())
    };
    // `service Health` is the file's service 0 (field 6); `Check` its
    // method 0 (field 2).
    assert_eq!(
        comment(&[6, 0]).as_deref(),
        Some(" The health of a server's services.\n")
    );
    assert!(
        comment(&[6, 0, 2, 0]).is_some_and(|c| c.contains("NOT_FOUND")),
        "{:?}",
        comment(&[6, 0, 2, 0])
    );
    server.shutdown().await;
}
