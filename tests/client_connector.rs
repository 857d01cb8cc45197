//! Dialing through a connector: a full call whose bytes go through an
//! in-memory `tokio::io::duplex` pipe.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use grpcx_status::{Code, Progress};
use grpcx_tests::{Action, ProbeRequest, TestServer, drain, server_streaming, unary};
use grpcx_transport::Endpoint;

#[tokio::test]
async fn a_full_call_over_an_in_memory_duplex_pipe() {
    let server = TestServer::start().await;
    let addr = server.addr();
    let dials = Arc::new(AtomicUsize::new(0));
    let connector = {
        let dials = dials.clone();
        tower::service_fn(move |uri: http::Uri| {
            dials.fetch_add(1, Ordering::SeqCst);
            async move {
                assert_eq!(uri.authority().map(|a| a.as_str()), Some("in-memory"));
                // The client gets one end of the pipe; the other end is
                // carried to the server.
                let (client, mut pipe) = tokio::io::duplex(64 * 1024);
                let mut tcp = tokio::net::TcpStream::connect(addr).await?;
                tokio::spawn(async move {
                    let _ = tokio::io::copy_bidirectional(&mut pipe, &mut tcp).await;
                });
                Ok::<_, std::io::Error>(client)
            }
        })
    };
    let channel = Endpoint::new("http://in-memory")
        .unwrap()
        .connect_with_connector(connector)
        .await
        .expect("connected through the pipe");

    let reply = unary(&channel, ProbeRequest::new("piped", Action::Reply))
        .await
        .unwrap();
    assert_eq!(reply.get_ref().id, "piped");
    let mut stream = server_streaming(
        &channel,
        ProbeRequest::new("stream", Action::Reply).after(3),
    )
    .await
    .unwrap()
    .into_inner();
    let (messages, end) = drain(&mut stream).await;
    assert_eq!(messages.len(), 3);
    end.unwrap();
    assert_eq!(
        dials.load(Ordering::SeqCst),
        1,
        "one connection for every call"
    );
}

#[tokio::test]
async fn a_failing_connector_fails_the_call_unsent() {
    let connector = tower::service_fn(|_uri: http::Uri| async {
        Err::<tokio::io::DuplexStream, _>(std::io::Error::other("no pipe today"))
    });
    let channel = Endpoint::new("http://in-memory")
        .unwrap()
        .connect_with_connector_lazy(connector);
    let status = unary(&channel, ProbeRequest::default()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(status.progress(), Progress::NotSent);
    assert!(status.message().contains("no pipe today"), "{status}");
}
