//! Dialing through a connector: full calls whose bytes go through in-memory
//! `tokio::io::duplex` pipes, to a server that serves those pipes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use grpcx::{Code, Progress};
use grpcx::{Endpoint, Server};
use grpcx_tests::probe::Probe;
use grpcx_tests::{Action, ProbeRequest, drain, server_streaming, unary};

#[tokio::test]
async fn a_full_call_over_an_in_memory_duplex_pipe() {
    // The server serves every pipe the client dials; no socket anywhere.
    let (pipes, accepted) = tokio::sync::mpsc::unbounded_channel::<tokio::io::DuplexStream>();
    let incoming = futures_util::stream::unfold(accepted, |mut accepted| async move {
        let pipe = accepted.recv().await?;
        Some((Ok::<_, std::io::Error>(pipe), accepted))
    });
    let (events, _) = tokio::sync::mpsc::unbounded_channel();
    let (gate, _) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(
        Server::builder()
            .add_service(Probe::new(events, gate))
            .serve_with_incoming(incoming),
    );
    let dials = Arc::new(AtomicUsize::new(0));
    let connector = {
        let dials = dials.clone();
        tower::service_fn(move |uri: http::Uri| {
            dials.fetch_add(1, Ordering::SeqCst);
            let pipes = pipes.clone();
            async move {
                assert_eq!(uri.authority().map(|a| a.as_str()), Some("in-memory"));
                let (client, server) = tokio::io::duplex(64 * 1024);
                pipes
                    .send(server)
                    .map_err(|_| std::io::Error::other("the server is gone"))?;
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
    server.abort();
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
