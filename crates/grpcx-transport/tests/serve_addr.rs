//! `Server::serve_addr`: binding the listener itself, and the error that
//! says the address could not be bound.

use std::time::Duration;

use grpcx_status::{Code, Origin, Status};
use grpcx_transport::Server;

#[tokio::test]
async fn an_address_in_use_is_a_bind_error() {
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let addr = taken.local_addr().expect("its address");

    let err = tokio::time::timeout(Duration::from_secs(20), Server::builder().serve_addr(addr))
        .await
        .expect("binding fails at once")
        .expect_err("the address is taken");
    assert!(err.is_bind(), "{err:?}");
    assert!(!err.is_accept() && !err.is_connect(), "{err:?}");
    assert_eq!(err.to_string(), "could not bind the listening socket");
    let io = std::error::Error::source(&err)
        .and_then(|source| source.downcast_ref::<std::io::Error>())
        .expect("the I/O error is the source");
    assert_eq!(io.kind(), std::io::ErrorKind::AddrInUse);

    let status = Status::from(err);
    assert_eq!(status.code(), Code::Internal);
    assert_eq!(status.origin(), Origin::Transport);
}

#[tokio::test]
async fn a_server_bound_by_address_stops_on_its_signal() {
    let served = tokio::time::timeout(
        Duration::from_secs(20),
        Server::builder().serve_addr_with_shutdown(([127, 0, 0, 1], 0).into(), async {}),
    )
    .await
    .expect("the server stops on its signal");
    assert!(served.is_ok(), "{served:?}");
}
