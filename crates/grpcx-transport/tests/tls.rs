//! h2 over TLS (ALPN) with rustls, both sides.
#![cfg(feature = "tls-rustls")]
// Test helpers stop loudly on a broken setup.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use grpcx_codec::ProstCodec;
use grpcx_status::{Code, Origin, Status};
use grpcx_transport::server::{BoxFuture, GrpcService, ResponseBody, ServerCall, handler};
use grpcx_transport::{Endpoint, Request, Response, Server, ServerRequest};
use http::uri::PathAndQuery;
use tokio_rustls::rustls;

struct Echo;

impl GrpcService for Echo {
    fn name(&self) -> &'static str {
        "test.Echo"
    }

    fn call(&self, method: &str, call: ServerCall) -> BoxFuture<http::Response<ResponseBody>> {
        match method {
            "Say" => Box::pin(handler::unary(
                call,
                ProstCodec::<String, String>::default(),
                |req: ServerRequest<String>| async move {
                    if req.get_ref() == "fail" {
                        return Err(Status::permission_denied("no ☺"));
                    }
                    Ok(Response::new(format!("echo {}", req.get_ref())))
                },
            )),
            // The client's certificate, as the server saw it.
            "Who" => Box::pin(handler::unary(
                call,
                ProstCodec::<Vec<u8>, Vec<u8>>::default(),
                |req: ServerRequest<Vec<u8>>| async move {
                    let certificates = req.context().peer_certificates().unwrap_or_default();
                    let first = certificates.first().map(|c| c.to_vec());
                    Ok::<_, Status>(Response::new(first.unwrap_or_default()))
                },
            )),
            _ => Box::pin(async move { call.unimplemented() }),
        }
    }
}

fn configs() -> (rustls::ServerConfig, rustls::ClientConfig) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert_der = cert.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der()).unwrap();
    let server = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert_der.clone()], key)
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert_der).unwrap();
    let client = rustls::ClientConfig::builder()
        .with_root_certificates(Arc::new(roots))
        .with_no_client_auth();
    (server, client)
}

#[tokio::test]
async fn unary_calls_and_errors_over_tls() {
    let (server_config, client_config) = configs();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        Server::builder()
            .tls_config(server_config)
            .add_service(Echo)
            .serve_with_shutdown(listener, async {
                let _ = stopped.await;
            }),
    );
    let channel = Endpoint::new(format!("https://localhost:{port}"))
        .unwrap()
        .tls_config(client_config)
        .connect_lazy();
    let path = PathAndQuery::from_static("/test.Echo/Say");
    let call = |message: &str| {
        channel.unary(
            path.clone(),
            Request::new(message.to_owned()).with_timeout(Duration::from_secs(10)),
            ProstCodec::<String, String>::default(),
        )
    };
    let response = call("hi").await.unwrap();
    assert_eq!(response.into_inner(), "echo hi");
    let status = call("fail").await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(status.message(), "no ☺");
    assert_eq!(status.origin(), Origin::Peer);

    // A plaintext client cannot talk to the TLS server: UNAVAILABLE, not a hang.
    let plain = Endpoint::new(format!("http://localhost:{port}"))
        .unwrap()
        .connect_timeout(Duration::from_secs(10))
        .connect_lazy();
    let status = plain
        .unary(
            path.clone(),
            Request::new("hi".to_owned()).with_timeout(Duration::from_secs(10)),
            ProstCodec::<String, String>::default(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(status.code(), Code::Unavailable | Code::Internal),
        "{status:#}"
    );

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(30), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_handler_sees_the_clients_certificate() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server_cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let client_cert = rcgen::generate_simple_self_signed(vec!["client".to_owned()]).unwrap();
    let der = |cert: &rcgen::CertifiedKey<rcgen::KeyPair>| cert.cert.der().clone();
    let key = |cert: &rcgen::CertifiedKey<rcgen::KeyPair>| {
        rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der()).unwrap()
    };
    let mut client_roots = rustls::RootCertStore::empty();
    client_roots.add(der(&client_cert)).unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(client_roots))
        .build()
        .unwrap();
    let server_config = rustls::ServerConfig::builder()
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![der(&server_cert)], key(&server_cert))
        .unwrap();
    let mut server_roots = rustls::RootCertStore::empty();
    server_roots.add(der(&server_cert)).unwrap();
    let client_config = rustls::ClientConfig::builder()
        .with_root_certificates(Arc::new(server_roots))
        .with_client_auth_cert(vec![der(&client_cert)], key(&client_cert))
        .unwrap();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(
        Server::builder()
            .tls_config(server_config)
            .add_service(Echo)
            .serve(listener),
    );
    let channel = Endpoint::new(format!("https://localhost:{port}"))
        .unwrap()
        .tls_config(client_config)
        .connect_lazy();
    let seen = channel
        .unary(
            PathAndQuery::from_static("/test.Echo/Who"),
            Request::new(Vec::new()).with_timeout(Duration::from_secs(10)),
            ProstCodec::<Vec<u8>, Vec<u8>>::default(),
        )
        .await
        .unwrap()
        .into_inner();
    assert_eq!(seen, der(&client_cert).to_vec());
    server.abort();
}

#[tokio::test]
async fn https_without_tls_config_fails_clearly() {
    // Something listens, so the TCP connection succeeds and TLS is what fails.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let channel = Endpoint::new(format!("https://localhost:{port}"))
        .unwrap()
        .connect_lazy();
    let status = channel
        .unary(
            PathAndQuery::from_static("/test.Echo/Say"),
            Request::new(String::new()),
            ProstCodec::<String, String>::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(status.origin(), Origin::Transport);
    assert!(
        status.message().contains("Endpoint::tls_config"),
        "{status:#}"
    );
}
