//! A server on 127.0.0.1:0 and a channel to it.

// Test helpers: failing loudly is the point. Not every test uses every one.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use grpcx::server::GrpcService;
use grpcx::{Channel, Endpoint, Server};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running server, stopped by [`TestServer::stop`].
pub(crate) struct TestServer {
    pub(crate) endpoint: Endpoint,
    pub(crate) channel: Channel,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<Result<(), grpcx::Error>>,
}

impl TestServer {
    /// Serves `server`'s services on a fresh port.
    pub(crate) async fn start(add: impl FnOnce(Server) -> Server) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (shutdown, signal) = oneshot::channel::<()>();
        let server = add(Server::builder().drain_timeout(Duration::from_secs(5)));
        let task = tokio::spawn(server.serve_with_shutdown(listener, async {
            let _ = signal.await;
        }));
        let endpoint = Endpoint::new(format!("http://{addr}"))
            .unwrap()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30));
        let channel = endpoint.clone().connect_lazy();
        TestServer {
            endpoint,
            channel,
            shutdown,
            task,
        }
    }

    /// Serves one service.
    pub(crate) async fn serve(service: impl GrpcService) -> TestServer {
        TestServer::start(|server| server.add_service(service)).await
    }

    /// Shuts the server down and checks that it stopped cleanly.
    pub(crate) async fn stop(self) {
        drop(self.channel);
        let _ = self.shutdown.send(());
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("the server did not shut down in time")
            .expect("the server task panicked")
            .expect("the server failed");
    }
}
