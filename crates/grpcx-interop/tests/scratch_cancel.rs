#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
use std::time::Duration;
use grpcx_interop::client::TestServiceClient;
use grpcx_interop::pb::*;
use grpcx_transport::{Endpoint, Request, Server};

#[tokio::test(flavor = "multi_thread")]
async fn scratch() {
    grpcx_interop::init_tracing();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(Server::builder().add_service(grpcx_interop::server::TestService).serve(listener));
    let channel = Endpoint::new(format!("http://{addr}")).unwrap().connect().await.unwrap();
    let client = TestServiceClient::new(channel);
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let requests = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|m| (m, rx)) });
    tx.send(StreamingOutputCallRequest { response_parameters: vec![ResponseParameters { size: 10, ..Default::default() }], ..Default::default() }).unwrap();
    let mut s = client.full_duplex_call(Request::new(requests)).await.unwrap().into_inner();
    s.message().await.unwrap().unwrap();
    eprintln!("=== dropping Streaming, keeping sender");
    drop(s);
    tokio::time::sleep(Duration::from_millis(300)).await;
    eprintln!("=== dropping sender");
    drop(tx);
    tokio::time::sleep(Duration::from_millis(300)).await;
    eprintln!("=== done");
}
