//! A user server on 127.0.0.1:0, and clients of it.

// Test helpers: failing loudly is the point. Not every test uses every one.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use grpcx::{Channel, Endpoint, Request};
use grpcx_example_users::Config;
use grpcx_example_users::pb::UserServiceClient;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running user server, stopped by [`TestServer::stop`].
pub(crate) struct TestServer {
    pub(crate) addr: SocketAddr,
    pub(crate) channel: Channel,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<Result<(), grpcx::Error>>,
}

impl TestServer {
    /// A server with the default settings.
    pub(crate) async fn start() -> TestServer {
        TestServer::start_with(Config::default()).await
    }

    /// A server with `config`, on a fresh port.
    pub(crate) async fn start_with(config: Config) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (shutdown, signal) = oneshot::channel::<()>();
        let server = grpcx_example_users::server(config);
        let task = tokio::spawn(server.serve_with_shutdown(listener, async {
            let _ = signal.await;
        }));
        let channel = Endpoint::new(format!("http://{addr}"))
            .unwrap()
            .timeout(Duration::from_secs(10))
            .connect_lazy();
        TestServer {
            addr,
            channel,
            shutdown,
            task,
        }
    }

    /// An async client.
    pub(crate) fn client(&self) -> UserServiceClient {
        UserServiceClient::new(self.channel.clone())
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

/// `message` with the metadata `key: value`.
pub(crate) fn with_metadata<T>(message: T, key: &str, value: &str) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(key, value).unwrap();
    request
}

/// `message` with `authorization: Bearer <token>`.
pub(crate) fn bearer<T>(message: T, token: &str) -> Request<T> {
    with_metadata(message, "authorization", &format!("Bearer {token}"))
}
