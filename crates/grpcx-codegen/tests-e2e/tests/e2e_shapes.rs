//! The generated async clients and servers of `weird/shapes.proto` and
//! `nopackage.proto`, over a real connection on loopback: every kind of
//! call, keyword names, nested and well-known types, statuses.

mod support;

use std::pin::Pin;

use futures_util::{Stream, StreamExt as _, stream};
use grpcx::server::GrpcService;
use grpcx::{Code, Request, Response, ServerRequest, Status, Streaming};
use grpcx_codegen_e2e::bare::{BareService, BareServiceClient, BareServiceServer, Ping, Pong};
use grpcx_codegen_e2e::weird::common::Money;
use grpcx_codegen_e2e::weird::nested::pkg::{
    self as pkg, ECHO_DESCRIPTOR, ECHO_SERVICE_NAME, Echo, EchoClient, EchoServer,
    KEYWORDS_DESCRIPTOR, Keywords, KeywordsClient, KeywordsServer, Type, Verdict, verdict,
};
use prost_types::Timestamp;
use support::TestServer;

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// `Keywords`, with behaviour the tests can steer through the requests.
struct KeywordsImpl;

impl Keywords for KeywordsImpl {
    async fn r#match(&self, request: ServerRequest<Type>) -> Result<Response<Verdict>, Status> {
        let message = request.into_inner();
        if message.r#match.is_empty() {
            return Err(Status::invalid_argument("nothing to match"));
        }
        Ok(Response::new(Verdict {
            status: Some(grpcx::rich::pb::Status {
                code: 5,
                message: message.r#type.clone(),
                details: Vec::new(),
            }),
            errors: vec![grpcx::rich::pb::ErrorInfo {
                reason: message.r#match.clone(),
                ..Default::default()
            }],
            detail: Some(verdict::Detail {
                text: message.r#match,
            }),
        }))
    }

    type TypeStream = BoxStream<Verdict>;

    /// `self_` verdicts, then a failure if `match` is `"fail"`; a negative
    /// count fails before any response.
    async fn r#type(
        &self,
        request: ServerRequest<Type>,
    ) -> Result<Response<Self::TypeStream>, Status> {
        let message = request.into_inner();
        let count = usize::try_from(message.self_)
            .map_err(|_| Status::out_of_range(format!("negative count {}", message.self_)))?;
        let fail = message.r#match == "fail";
        let verdicts = (0..count).map(|i| {
            Ok(Verdict {
                detail: Some(verdict::Detail {
                    text: i.to_string(),
                }),
                ..Default::default()
            })
        });
        let end = fail.then(|| Err(Status::aborted("failed mid-stream")));
        let stream = stream::iter(verdicts.chain(end));
        Ok(Response::new(Box::pin(stream) as BoxStream<Verdict>))
    }

    async fn r#async(
        &self,
        request: ServerRequest<Streaming<Type>>,
    ) -> Result<Response<pkg::Result>, Status> {
        let prefix = request
            .metadata()
            .get("x-prefix")
            .map(str::to_owned)
            .unwrap_or_default();
        let mut requests = request.into_inner();
        let mut value = prefix;
        while let Some(message) = requests.message().await? {
            value.push_str(&message.r#type);
        }
        Ok(Response::new(pkg::Result { value }))
    }

    type SelfStream = BoxStream<pkg::Result>;

    async fn self_(
        &self,
        request: ServerRequest<Streaming<pkg::Send>>,
    ) -> Result<Response<Self::SelfStream>, Status> {
        let prefix = request
            .metadata()
            .get("x-prefix")
            .map(str::to_owned)
            .unwrap_or_default();
        let stream = request.into_inner().map(move |message| {
            let message = message?;
            if message.value == "fail" {
                return Err(Status::failed_precondition("asked to fail"));
            }
            Ok(pkg::Result {
                value: format!("{prefix}{}", message.value.to_uppercase()),
            })
        });
        Ok(Response::new(Box::pin(stream) as BoxStream<pkg::Result>))
    }

    async fn new_(&self, _request: ServerRequest<()>) -> Result<Response<()>, Status> {
        Ok(Response::new(()))
    }

    async fn nested(
        &self,
        request: ServerRequest<verdict::Detail>,
    ) -> Result<Response<verdict::Detail>, Status> {
        let mut detail = request.into_inner();
        detail.text.push('!');
        Ok(Response::new(detail))
    }

    async fn no_comment(
        &self,
        request: ServerRequest<pkg::Option>,
    ) -> Result<Response<Timestamp>, Status> {
        let seconds = request.get_ref().value.parse().unwrap_or(-1);
        Ok(Response::new(Timestamp { seconds, nanos: 7 }))
    }
}

/// `Echo`: answers with what it is sent.
struct EchoImpl;

impl Echo for EchoImpl {
    async fn echo(&self, request: ServerRequest<Type>) -> Result<Response<Type>, Status> {
        Ok(Response::new(request.into_inner()))
    }

    async fn echo_again(&self, request: ServerRequest<Type>) -> Result<Response<Type>, Status> {
        let mut message = request.into_inner();
        message.r#type.push_str(" again");
        Ok(Response::new(message))
    }

    async fn collect(
        &self,
        request: ServerRequest<Streaming<Type>>,
    ) -> Result<Response<Type>, Status> {
        let mut requests = request.into_inner();
        let mut last = None;
        while let Some(message) = requests.message().await? {
            last = Some(message);
        }
        last.map(Response::new)
            .ok_or_else(|| Status::invalid_argument("no request"))
    }

    type ExpandStream = BoxStream<Type>;

    async fn expand(
        &self,
        request: ServerRequest<Type>,
    ) -> Result<Response<Self::ExpandStream>, Status> {
        let message = request.into_inner();
        let count = usize::try_from(message.self_).unwrap_or(0);
        let stream = stream::iter(std::iter::repeat_n(Ok(message), count));
        Ok(Response::new(Box::pin(stream) as BoxStream<Type>))
    }

    type ChatStream = Streaming<Type>;

    async fn chat(
        &self,
        request: ServerRequest<Streaming<Type>>,
    ) -> Result<Response<Self::ChatStream>, Status> {
        Ok(Response::new(request.into_inner()))
    }

    async fn fail(
        &self,
        request: ServerRequest<grpcx::rich::pb::Status>,
    ) -> Result<Response<()>, Status> {
        let status = request.into_inner();
        Err(Status::new(Code::from_i32(status.code), status.message))
    }
}

async fn serve_both() -> TestServer {
    TestServer::start(|server| {
        server
            .add_service(KeywordsServer::new(KeywordsImpl))
            .add_service(EchoServer::new(EchoImpl))
    })
    .await
}

fn typed(text: &str) -> Type {
    Type {
        r#type: text.to_owned(),
        ..Default::default()
    }
}

#[tokio::test]
async fn unary_with_a_keyword_name() {
    let server = serve_both().await;
    let client = KeywordsClient::new(server.channel.clone());

    let request = Type {
        r#type: "kind".to_owned(),
        r#match: "game".to_owned(),
        self_: 3,
        at: Some(Timestamp {
            seconds: 1,
            nanos: 2,
        }),
        price: Some(Money {
            currency: "EUR".to_owned(),
            units: 5,
        }),
    };
    let verdict = client.r#match(request).await.unwrap().into_inner();
    assert_eq!(verdict.detail.unwrap().text, "game");
    let status = verdict.status.unwrap();
    assert_eq!((status.code, status.message.as_str()), (5, "kind"));
    assert_eq!(verdict.errors[0].reason, "game");

    let err = client.r#match(Type::default()).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(err.message(), "nothing to match");
    server.stop().await;
}

#[tokio::test]
async fn server_streaming() {
    let server = serve_both().await;
    let client = KeywordsClient::new(server.channel.clone());

    let request = Type {
        self_: 3,
        ..Default::default()
    };
    let responses = client.r#type(request).await.unwrap().into_inner();
    let texts: Vec<String> = responses
        .map(|verdict| verdict.unwrap().detail.unwrap().text)
        .collect()
        .await;
    assert_eq!(texts, ["0", "1", "2"]);

    // A failure after two responses ends the stream with it.
    let request = Type {
        self_: 2,
        r#match: "fail".to_owned(),
        ..Default::default()
    };
    let mut responses = client.r#type(request).await.unwrap().into_inner();
    assert!(responses.message().await.unwrap().is_some());
    assert!(responses.message().await.unwrap().is_some());
    let err = responses.message().await.unwrap_err();
    assert_eq!(err.code(), Code::Aborted);
    assert_eq!(err.message(), "failed mid-stream");

    // A failure before any response fails the call.
    let request = Type {
        self_: -1,
        ..Default::default()
    };
    let err = match client.r#type(request).await {
        Ok(response) => response.into_inner().message().await.unwrap_err(),
        Err(err) => err,
    };
    assert_eq!(err.code(), Code::OutOfRange);
    assert_eq!(err.message(), "negative count -1");
    server.stop().await;
}

#[tokio::test]
async fn client_streaming_takes_iterators_streams_and_requests() {
    let server = serve_both().await;
    let client = KeywordsClient::new(server.channel.clone());

    let from_vec = client
        .r#async(vec![typed("a"), typed("b"), typed("c")])
        .await
        .unwrap();
    assert_eq!(from_vec.into_inner().value, "abc");

    let from_stream = client
        .r#async(stream::iter([typed("x"), typed("y")]))
        .await
        .unwrap();
    assert_eq!(from_stream.into_inner().value, "xy");

    let mut request = Request::new(stream::iter([typed("1")]));
    request
        .metadata_mut()
        .insert("x-prefix", "stream:")
        .unwrap();
    let with_metadata = client.r#async(request).await.unwrap();
    assert_eq!(with_metadata.into_inner().value, "stream:1");

    let mut request = Request::new(vec![typed("2")]);
    request.metadata_mut().insert("x-prefix", "vec:").unwrap();
    let with_metadata = client.r#async(request).await.unwrap();
    assert_eq!(with_metadata.into_inner().value, "vec:2");

    let empty = client.r#async(Vec::<Type>::new()).await.unwrap();
    assert_eq!(empty.into_inner().value, "");
    server.stop().await;
}

#[tokio::test]
async fn bidi_streaming() {
    let server = serve_both().await;
    let client = KeywordsClient::new(server.channel.clone());

    let (requests, mut responses) = client.self_();
    for word in ["one", "two"] {
        requests
            .send(pkg::Send {
                value: word.to_owned(),
            })
            .await
            .unwrap();
        let reply = responses.message().await.unwrap().unwrap();
        assert_eq!(reply.value, word.to_uppercase());
    }
    drop(requests);
    assert!(responses.message().await.unwrap().is_none());

    let mut request = Request::new(());
    request.metadata_mut().insert("x-prefix", "> ").unwrap();
    let (requests, mut responses) = client.self_with(request);
    requests
        .send(pkg::Send {
            value: "hi".to_owned(),
        })
        .await
        .unwrap();
    assert_eq!(responses.message().await.unwrap().unwrap().value, "> HI");
    requests
        .send(pkg::Send {
            value: "fail".to_owned(),
        })
        .await
        .unwrap();
    let err = responses.message().await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(err.message(), "asked to fail");
    server.stop().await;
}

#[tokio::test]
async fn empty_nested_and_well_known_types() {
    let server = serve_both().await;
    let client = KeywordsClient::new(server.channel.clone());

    client.new_(()).await.unwrap();
    let detail = client
        .nested(verdict::Detail {
            text: "deep".to_owned(),
        })
        .await
        .unwrap();
    assert_eq!(detail.into_inner().text, "deep!");
    let timestamp = client
        .no_comment(pkg::Option {
            value: "42".to_owned(),
        })
        .await
        .unwrap();
    assert_eq!(
        timestamp.into_inner(),
        Timestamp {
            seconds: 42,
            nanos: 7
        }
    );
    server.stop().await;
}

#[tokio::test]
async fn a_second_service_in_the_same_file() {
    let server = serve_both().await;
    let client = EchoClient::new(server.channel.clone());

    assert_eq!(
        client.echo(typed("hi")).await.unwrap().into_inner(),
        typed("hi")
    );
    let again = client.echo_again(Request::new(typed("hi"))).await.unwrap();
    assert_eq!(again.into_inner().r#type, "hi again");
    let last = client.collect(vec![typed("a"), typed("b")]).await.unwrap();
    assert_eq!(last.into_inner(), typed("b"));
    let err = client.collect(Vec::<Type>::new()).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);

    let request = Type {
        self_: 4,
        ..typed("x")
    };
    let copies: Vec<_> = client
        .expand(request.clone())
        .await
        .unwrap()
        .into_inner()
        .collect()
        .await;
    assert_eq!(copies.len(), 4);
    assert!(copies.into_iter().all(|copy| copy.unwrap() == request));

    let (requests, mut responses) = client.chat();
    requests.send(typed("ping")).await.unwrap();
    assert_eq!(responses.message().await.unwrap().unwrap(), typed("ping"));
    drop(requests);
    assert!(responses.message().await.unwrap().is_none());

    let err = client
        .fail(grpcx::rich::pb::Status {
            code: Code::PermissionDenied as i32,
            message: "not you".to_owned(),
            details: Vec::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert_eq!(err.message(), "not you");
    server.stop().await;
}

#[tokio::test]
async fn unknown_methods_and_services_are_unimplemented() {
    // Only Echo is served.
    let server = TestServer::serve(EchoServer::new(EchoImpl)).await;

    let err = KeywordsClient::new(server.channel.clone())
        .nested(verdict::Detail::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented);
    assert_eq!(err.message(), "unknown service weird.nested.pkg.Keywords");

    let err = server
        .channel
        .unary(
            http::uri::PathAndQuery::from_static("/weird.nested.pkg.Echo/Nope"),
            Request::new(Type::default()),
            grpcx::codec::ProstCodec::<Type, Type>::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented);
    server.stop().await;
}

#[tokio::test]
async fn a_service_without_a_package() {
    struct Bare;

    impl BareService for Bare {
        async fn ping(&self, request: ServerRequest<Ping>) -> Result<Response<Pong>, Status> {
            Ok(Response::new(Pong {
                n: request.get_ref().n + 1,
            }))
        }

        type PingTwiceStream = BoxStream<Pong>;

        async fn ping_twice(
            &self,
            request: ServerRequest<Streaming<Ping>>,
        ) -> Result<Response<Self::PingTwiceStream>, Status> {
            let stream = request.into_inner().flat_map(|ping| {
                let replies = match ping {
                    Ok(ping) => vec![Ok(Pong { n: ping.n }), Ok(Pong { n: ping.n })],
                    Err(status) => vec![Err(status)],
                };
                stream::iter(replies)
            });
            Ok(Response::new(Box::pin(stream) as BoxStream<Pong>))
        }
    }

    let server = TestServer::serve(BareServiceServer::new(Bare)).await;
    let client = BareServiceClient::new(server.channel.clone());
    assert_eq!(client.ping(Ping { n: 1 }).await.unwrap().into_inner().n, 2);
    let (requests, responses) = client.ping_twice();
    requests.send(Ping { n: 7 }).await.unwrap();
    drop(requests);
    let pongs: Vec<u32> = responses.map(|pong| pong.unwrap().n).collect().await;
    assert_eq!(pongs, [7, 7]);
    server.stop().await;
}

#[test]
fn descriptors_list_the_methods() {
    assert_eq!(KEYWORDS_DESCRIPTOR.name, "weird.nested.pkg.Keywords");
    let kinds: Vec<_> = KEYWORDS_DESCRIPTOR
        .methods
        .iter()
        .map(|m| (m.name, m.kind))
        .collect();
    // FIXME: the facade exposes the descriptor types only in the hidden
    // `codegen` module; use the public path once there is one.
    use grpcx::codegen::MethodKind::*;
    assert_eq!(
        kinds,
        [
            ("Match", Unary),
            ("Type", ServerStreaming),
            ("Async", ClientStreaming),
            ("Self", BidiStreaming),
            ("New", Unary),
            ("Nested", Unary),
            ("NoComment", Unary),
        ]
    );
    let nested = KEYWORDS_DESCRIPTOR.method("Nested").unwrap();
    assert_eq!(nested.path, "/weird.nested.pkg.Keywords/Nested");
    assert_eq!(nested.input_type, "weird.nested.pkg.Verdict.Detail");
    let no_comment = KEYWORDS_DESCRIPTOR.method("NoComment").unwrap();
    assert_eq!(no_comment.output_type, "google.protobuf.Timestamp");

    let server = EchoServer::new(EchoImpl);
    assert_eq!(server.name(), ECHO_SERVICE_NAME);
    assert!(std::ptr::eq(server.descriptor().unwrap(), &ECHO_DESCRIPTOR));
    assert_eq!(ECHO_DESCRIPTOR.methods.len(), 6);
}
