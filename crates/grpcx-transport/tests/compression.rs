//! Compression negotiated per call and per server.

// Test helpers stop loudly on a broken setup.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use grpcx_codec::{CompressionEncoding, EncodingSet, ProstCodec};
use grpcx_status::{Code, Origin, Status};
use grpcx_transport::server::{BoxFuture, GrpcService, ResponseBody, ServerCall, handler};
use grpcx_transport::{Endpoint, Request, Response, Server, ServerRequest};
use http::uri::PathAndQuery;

/// `Which` answers with the name of the request's compression.
struct Which;

impl GrpcService for Which {
    fn name(&self) -> &'static str {
        "test.Which"
    }

    fn call(&self, method: &str, call: ServerCall) -> BoxFuture<http::Response<ResponseBody>> {
        match method {
            "Encoding" => Box::pin(handler::unary(
                call,
                ProstCodec::<String, String>::default(),
                |req: ServerRequest<String>| async move {
                    let encoding = req.context().request_compression();
                    Ok::<_, Status>(Response::new(format!("{encoding} {}", req.get_ref().len())))
                },
            )),
            _ => Box::pin(async move { call.unimplemented() }),
        }
    }
}

async fn serve(server: Server) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(server.add_service(Which).serve(listener));
    port
}

async fn call(port: u16, request: Request<String>) -> Result<String, Status> {
    Endpoint::new(format!("http://127.0.0.1:{port}"))
        .unwrap()
        .connect_lazy()
        .unary(
            PathAndQuery::from_static("/test.Which/Encoding"),
            request.with_timeout(Duration::from_secs(20)),
            ProstCodec::<String, String>::default(),
        )
        .await
        .map(Response::into_inner)
}

#[tokio::test]
async fn a_call_can_choose_its_own_compression() {
    let port = serve(Server::builder()).await;
    let body = "z".repeat(10_000);
    assert_eq!(
        call(port, Request::new(body.clone())).await.unwrap(),
        "identity 10000"
    );
    let gzip = Request::new(body.clone()).with_compression(CompressionEncoding::Gzip);
    assert_eq!(call(port, gzip).await.unwrap(), "gzip 10000");
    let deflate = Request::new(body).with_compression(CompressionEncoding::Deflate);
    assert_eq!(call(port, deflate).await.unwrap(), "deflate 10000");
}

#[tokio::test]
async fn an_encoding_the_server_refuses_is_unimplemented() {
    let port = serve(Server::builder().accept_compression(EncodingSet::IDENTITY)).await;
    let gzip = Request::new("x".to_owned()).with_compression(CompressionEncoding::Gzip);
    let status = call(port, gzip).await.unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
    assert_eq!(status.origin(), Origin::Peer);
    assert!(status.message().contains("gzip"), "{status:#}");
}
