//! The generated blocking clients and servers of `weird/shapes.proto` and
//! `grpc/testing/test.proto`, over a real connection on loopback. The
//! tests run on plain threads; only the server runs on a tokio runtime.

mod support;

use std::time::Duration;

// FIXME: the facade exposes the blocking types only in the hidden `codegen`
// module; use their public path once there is one.
use grpcx::codegen::{BlockingChannel, BlockingStreaming, ResponseSink};
use grpcx::{Code, Request, Response, ServerRequest, Status};
use grpcx_codegen_e2e::testing::{SimpleRequest, TestServiceBlockingClient};
use grpcx_codegen_e2e::weird::nested::pkg::{
    self as pkg, EchoBlocking, EchoBlockingClient, EchoBlockingServer, KeywordsBlocking,
    KeywordsBlockingClient, KeywordsBlockingServer, Type, Verdict, verdict,
};
use prost_types::Timestamp;
use support::TestServer;
use tokio::runtime::Runtime;

/// `Keywords` with blocking handlers, behaving as the async one of
/// `e2e_shapes.rs`.
struct KeywordsImpl;

fn closed<T>(_: T) -> Status {
    Status::cancelled("the client went away")
}

impl KeywordsBlocking for KeywordsImpl {
    fn r#match(&self, request: ServerRequest<Type>) -> Result<Response<Verdict>, Status> {
        let message = request.into_inner();
        if message.r#match.is_empty() {
            return Err(Status::invalid_argument("nothing to match"));
        }
        Ok(Response::new(Verdict {
            detail: Some(verdict::Detail {
                text: message.r#match,
            }),
            ..Default::default()
        }))
    }

    fn r#type(
        &self,
        request: ServerRequest<Type>,
        responses: ResponseSink<Verdict>,
    ) -> Result<(), Status> {
        let message = request.into_inner();
        let count = usize::try_from(message.self_)
            .map_err(|_| Status::out_of_range(format!("negative count {}", message.self_)))?;
        for i in 0..count {
            let verdict = Verdict {
                detail: Some(verdict::Detail {
                    text: i.to_string(),
                }),
                ..Default::default()
            };
            responses.send(verdict).map_err(closed)?;
        }
        if message.r#match == "fail" {
            return Err(Status::aborted("failed mid-stream"));
        }
        Ok(())
    }

    fn r#async(
        &self,
        requests: ServerRequest<BlockingStreaming<Type>>,
    ) -> Result<Response<pkg::Result>, Status> {
        let mut value = requests
            .metadata()
            .get("x-prefix")
            .map(str::to_owned)
            .unwrap_or_default();
        for message in requests.into_inner() {
            value.push_str(&message?.r#type);
        }
        Ok(Response::new(pkg::Result { value }))
    }

    fn self_(
        &self,
        requests: ServerRequest<BlockingStreaming<pkg::Send>>,
        responses: ResponseSink<pkg::Result>,
    ) -> Result<(), Status> {
        for message in requests.into_inner() {
            let message = message?;
            if message.value == "fail" {
                return Err(Status::failed_precondition("asked to fail"));
            }
            let reply = pkg::Result {
                value: message.value.to_uppercase(),
            };
            responses.send(reply).map_err(closed)?;
        }
        Ok(())
    }

    fn new_(&self, _request: ServerRequest<()>) -> Result<Response<()>, Status> {
        Ok(Response::new(()))
    }

    fn nested(
        &self,
        request: ServerRequest<verdict::Detail>,
    ) -> Result<Response<verdict::Detail>, Status> {
        let mut detail = request.into_inner();
        detail.text.push('!');
        Ok(Response::new(detail))
    }

    fn no_comment(
        &self,
        _request: ServerRequest<pkg::Option>,
    ) -> Result<Response<Timestamp>, Status> {
        // Slow, so that the `_future` variant has something to wait for.
        std::thread::sleep(Duration::from_millis(20));
        Ok(Response::new(Timestamp {
            seconds: 42,
            nanos: 0,
        }))
    }
}

/// `Echo` with blocking handlers.
struct EchoImpl;

impl EchoBlocking for EchoImpl {
    fn echo(&self, request: ServerRequest<Type>) -> Result<Response<Type>, Status> {
        Ok(Response::new(request.into_inner()))
    }

    fn echo_again(&self, request: ServerRequest<Type>) -> Result<Response<Type>, Status> {
        self.echo(request)
    }

    fn collect(
        &self,
        requests: ServerRequest<BlockingStreaming<Type>>,
    ) -> Result<Response<Type>, Status> {
        let mut last = None;
        for message in requests.into_inner() {
            last = Some(message?);
        }
        last.map(Response::new)
            .ok_or_else(|| Status::invalid_argument("no request"))
    }

    fn expand(
        &self,
        request: ServerRequest<Type>,
        responses: ResponseSink<Type>,
    ) -> Result<(), Status> {
        let message = request.into_inner();
        for _ in 0..message.self_ {
            responses.send(message.clone()).map_err(closed)?;
        }
        Ok(())
    }

    fn chat(
        &self,
        requests: ServerRequest<BlockingStreaming<Type>>,
        responses: ResponseSink<Type>,
    ) -> Result<(), Status> {
        for message in requests.into_inner() {
            responses.send(message?).map_err(closed)?;
        }
        Ok(())
    }

    fn fail(
        &self,
        request: ServerRequest<grpcx::rich::pb::Status>,
    ) -> Result<Response<()>, Status> {
        let status = request.into_inner();
        Err(Status::new(Code::from_i32(status.code), status.message))
    }
}

/// A runtime for the server, and the server on it.
fn serve(runtime: &Runtime) -> TestServer {
    runtime.block_on(TestServer::start(|server| {
        server
            .add_service(KeywordsBlockingServer::new(KeywordsImpl))
            .add_service(EchoBlockingServer::new(EchoImpl))
    }))
}

fn typed(text: &str) -> Type {
    Type {
        r#type: text.to_owned(),
        ..Default::default()
    }
}

#[test]
fn every_kind_of_call_between_blocking_clients_and_servers() {
    let runtime = Runtime::new().unwrap();
    let server = serve(&runtime);
    let channel = BlockingChannel::new(server.channel.clone()).unwrap();
    let client = KeywordsBlockingClient::new(channel.clone());

    // Unary, and its failure.
    let request = Type {
        r#match: "game".to_owned(),
        ..Default::default()
    };
    let verdict = client.r#match(request).unwrap().into_inner();
    assert_eq!(verdict.detail.unwrap().text, "game");
    let err = client.r#match(Type::default()).unwrap_err();
    assert_eq!(
        (err.code(), err.message()),
        (Code::InvalidArgument, "nothing to match")
    );

    // Unary, started now and awaited later.
    let handle = client.no_comment_future(pkg::Option::default());
    let timestamp = handle.wait().unwrap().into_inner();
    assert_eq!(timestamp.seconds, 42);
    client.new_(()).unwrap();
    let detail = client.nested(verdict::Detail::default()).unwrap();
    assert_eq!(detail.into_inner().text, "!");

    // Server streaming: an iterator, ending with the handler's status.
    let request = Type {
        self_: 2,
        r#match: "fail".to_owned(),
        ..Default::default()
    };
    let results: Vec<_> = client.r#type(request).unwrap().into_inner().collect();
    assert_eq!(results.len(), 3);
    assert_eq!(
        results[1].as_ref().unwrap().detail.as_ref().unwrap().text,
        "1"
    );
    assert_eq!(results[2].as_ref().unwrap_err().code(), Code::Aborted);

    // Client streaming: an iterator, or one in a request with metadata.
    let response = client.r#async(vec![typed("a"), typed("b")]).unwrap();
    assert_eq!(response.into_inner().value, "ab");
    let mut request = Request::new((0..3).map(|i| typed(&i.to_string())));
    request.metadata_mut().insert("x-prefix", "n:").unwrap();
    assert_eq!(client.r#async(request).unwrap().into_inner().value, "n:012");

    // Bidi: a sender and an iterator of responses.
    let (requests, mut responses) = client.self_();
    requests
        .send(pkg::Send {
            value: "one".to_owned(),
        })
        .unwrap();
    assert_eq!(responses.message().unwrap().unwrap().value, "ONE");
    requests
        .send(pkg::Send {
            value: "fail".to_owned(),
        })
        .unwrap();
    let err = responses.message().unwrap_err();
    assert_eq!(
        (err.code(), err.message()),
        (Code::FailedPrecondition, "asked to fail")
    );

    // The second service of the file.
    let echo = EchoBlockingClient::new(channel);
    assert_eq!(echo.echo(typed("hi")).unwrap().into_inner(), typed("hi"));
    assert_eq!(
        echo.collect(vec![typed("a"), typed("z")])
            .unwrap()
            .into_inner(),
        typed("z")
    );
    let request = Type {
        self_: 3,
        ..typed("x")
    };
    assert_eq!(echo.expand(request).unwrap().into_inner().count(), 3);
    let (requests, responses) =
        echo.chat_with(Request::new(()).with_timeout(Duration::from_secs(10)));
    requests.send(typed("p")).unwrap();
    drop(requests);
    let replies: Vec<_> = responses.map(Result::unwrap).collect();
    assert_eq!(replies, [typed("p")]);
    let err = echo
        .fail(grpcx::rich::pb::Status {
            code: Code::NotFound as i32,
            message: "gone".to_owned(),
            details: Vec::new(),
        })
        .unwrap_err();
    assert_eq!((err.code(), err.message()), (Code::NotFound, "gone"));

    runtime.block_on(server.stop());
}

#[test]
fn the_blocking_client_against_the_hand_written_interop_server() {
    let runtime = Runtime::new().unwrap();
    let server = runtime.block_on(TestServer::serve(grpcx_interop::server::service()));
    let channel = BlockingChannel::new(server.channel.clone()).unwrap();
    let client = TestServiceBlockingClient::new(channel);

    let request = SimpleRequest {
        response_size: 10,
        ..Default::default()
    };
    let response = client.unary_call(request).unwrap();
    assert_eq!(response.into_inner().payload.unwrap().body.len(), 10);
    let err = client
        .unimplemented_call(grpcx_codegen_e2e::testing::Empty {})
        .unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented);

    runtime.block_on(server.stop());
}

#[test]
fn blocking_calls_inside_an_async_runtime_fail_instead_of_blocking() {
    let runtime = Runtime::new().unwrap();
    let server = serve(&runtime);
    let channel = BlockingChannel::new(server.channel.clone()).unwrap();
    let client = KeywordsBlockingClient::new(channel);
    let err = runtime.block_on(async { client.new_(()) }).unwrap_err();
    assert_eq!(err.code(), Code::Internal);
    runtime.block_on(server.stop());
}
