//! A product server and a gateway on 127.0.0.1:0, and an HTTP/1.1 client.

// Test helpers: failing loudly is the point. Not every test uses every one.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use grpcx::{Channel, Endpoint};
use http_body_util::{BodyExt, Full};
use hyper::header::{CONTENT_TYPE, HOST, HeaderMap};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A task serving on a fresh port, stopped by [`Running::stop`].
pub(crate) struct Running<E> {
    pub(crate) addr: SocketAddr,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<Result<(), E>>,
}

impl<E: std::fmt::Debug> Running<E> {
    /// Stops serving and checks that it stopped cleanly.
    pub(crate) async fn stop(self) {
        let _ = self.shutdown.send(());
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("did not stop in time")
            .expect("the task panicked")
            .expect("serving failed");
    }
}

/// The product service.
pub(crate) async fn grpc_server() -> Running<grpcx::Error> {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (shutdown, signal) = oneshot::channel::<()>();
    let task = tokio::spawn(grpcx_example_products::server().serve_with_shutdown(
        listener,
        async {
            let _ = signal.await;
        },
    ));
    Running {
        addr,
        shutdown,
        task,
    }
}

/// A channel to `addr`.
pub(crate) fn channel(addr: SocketAddr) -> Channel {
    Endpoint::new(format!("http://{addr}"))
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .connect_lazy()
}

/// The gateway, calling the service at `grpc`.
pub(crate) async fn gateway(grpc: SocketAddr) -> Running<std::io::Error> {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (shutdown, signal) = oneshot::channel::<()>();
    let task = tokio::spawn(grpcx_example_products::gateway::serve_with_shutdown(
        listener,
        channel(grpc),
        async {
            let _ = signal.await;
        },
    ));
    Running {
        addr,
        shutdown,
        task,
    }
}

/// An HTTP/1.1 response: status, headers and the body parsed as JSON.
pub(crate) struct HttpResponse {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Value,
    pub(crate) text: String,
}

/// Sends one request to `addr` on a new connection.
pub(crate) async fn http(
    addr: SocketAddr,
    method: Method,
    path: &str,
    body: Option<&str>,
) -> HttpResponse {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header(HOST, addr.to_string());
    if body.is_some() {
        request = request.header(CONTENT_TYPE, "application/json");
    }
    let request = request
        .body(Full::new(Bytes::from(body.unwrap_or_default().to_owned())))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    assert_eq!(parts.headers[CONTENT_TYPE], "application/json", "{text}");
    let body = serde_json::from_str(&text).unwrap_or_else(|err| panic!("{err}: {text}"));
    HttpResponse {
        status: parts.status,
        headers: parts.headers,
        body,
        text,
    }
}
