//! The metrics endpoint after a few calls that succeed and fail: the
//! counts by method and code, as Prometheus reads them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use grpcx::codec::ProstCodec;
use grpcx::{Code, Request};
use grpcx_example_metrics::{client, install_recorder, serve_metrics, server};
use grpcx_example_users::pb::CreateUserRequest;
use grpcx_example_users::{CLIENT_ID_METADATA, Config, FAILING_USERNAME};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

const CREATE: &str = "example.users.v1.UserService/CreateUser";

fn create(username: &str) -> Request<CreateUserRequest> {
    let mut request = Request::new(CreateUserRequest {
        username: username.to_owned(),
        email: format!("{username}@example.com"),
    });
    request
        .metadata_mut()
        .insert(CLIENT_ID_METADATA, "metrics-test")
        .unwrap();
    request
}

/// `GET /metrics`, the body.
async fn scrape(addr: std::net::SocketAddr) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nhost: test\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    body.to_owned()
}

/// The value of the sample `name{labels}` (labels in any order).
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (series_name, rest) = series.split_once('{').unwrap_or((series, "}"));
        if series_name != name {
            return None;
        }
        let rest = rest.strip_suffix('}')?;
        let found: Vec<&str> = if rest.is_empty() {
            Vec::new()
        } else {
            rest.split(',').collect()
        };
        let wanted: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        (found.len() == wanted.len() && wanted.iter().all(|w| found.contains(&w.as_str())))
            .then(|| value.parse().ok())
            .flatten()
    })
}

#[tokio::test]
async fn the_endpoint_counts_calls_by_method_and_code() {
    let handle = install_recorder().unwrap();

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let metrics_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics_addr = metrics_listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (stop_metrics, metrics_stopped) = tokio::sync::oneshot::channel::<()>();
    let grpc_task = tokio::spawn(
        server(Config::default()).serve_with_shutdown(listener, async {
            let _ = stopped.await;
        }),
    );
    let metrics_task = tokio::spawn(serve_metrics(metrics_listener, handle, async {
        let _ = metrics_stopped.await;
    }));

    let target = format!("http://{addr}");
    let users = client(&target).unwrap();
    for name in ["ada", "grace"] {
        users.create_user(create(name)).await.unwrap();
    }
    for _ in 0..2 {
        let status = users.create_user(create("")).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
    }
    let status = users
        .create_user(create(FAILING_USERNAME))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Internal);
    // A method the server does not have: reported as "other".
    let raw =
        grpcx::client::Grpc::new(grpcx::Endpoint::new(target.clone()).unwrap().connect_lazy());
    let status = raw
        .unary::<ProstCodec<CreateUserRequest, CreateUserRequest>>(
            grpcx::codegen::PathAndQuery::from_static("/example.users.v1.UserService/Nope"),
            create("nope"),
            ProstCodec::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);

    let text = tokio::time::timeout(Duration::from_secs(10), scrape(metrics_addr))
        .await
        .unwrap();
    let method = ("grpc_method", CREATE);
    let target = ("grpc_target", target.as_str());
    for (code, count) in [("OK", 2.0), ("INVALID_ARGUMENT", 2.0), ("INTERNAL", 1.0)] {
        let status = ("grpc_status", code);
        assert_eq!(
            sample(&text, "grpc_server_call_duration_count", &[method, status]),
            Some(count),
            "server {code}:\n{text}"
        );
        assert_eq!(
            sample(
                &text,
                "grpc_client_call_duration_count",
                &[method, target, status]
            ),
            Some(count),
            "client call {code}:\n{text}"
        );
        assert_eq!(
            sample(
                &text,
                "grpc_client_attempt_duration_count",
                &[method, target, status]
            ),
            Some(count),
            "client attempt {code}:\n{text}"
        );
    }
    assert_eq!(
        sample(&text, "grpc_server_call_started", &[method]),
        Some(5.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "grpc_client_attempt_started", &[method, target]),
        Some(5.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "grpc_server_call_duration_count",
            &[("grpc_method", "other"), ("grpc_status", "UNIMPLEMENTED")]
        ),
        Some(1.0),
        "{text}"
    );
    assert!(
        text.contains("# TYPE grpc_server_call_duration histogram"),
        "{text}"
    );

    // The message sizes of the two calls that succeeded: what the client
    // sent is what the server received, and the other way round.
    let ok = ("grpc_status", "OK");
    let sent: usize = ["ada", "grace"]
        .iter()
        .map(|name| grpcx::codegen::prost::Message::encoded_len(create(name).get_ref()))
        .sum();
    let server_rcvd = sample(
        &text,
        "grpc_server_call_rcvd_total_compressed_message_size_sum",
        &[method, ok],
    );
    assert_eq!(server_rcvd, Some(sent as f64), "{text}");
    assert_eq!(
        sample(
            &text,
            "grpc_client_attempt_sent_total_compressed_message_size_sum",
            &[method, target, ok]
        ),
        server_rcvd,
        "{text}"
    );
    let server_sent = sample(
        &text,
        "grpc_server_call_sent_total_compressed_message_size_sum",
        &[method, ok],
    );
    assert!(server_sent.is_some_and(|sent| sent > 0.0), "{text}");
    assert_eq!(
        sample(
            &text,
            "grpc_client_attempt_rcvd_total_compressed_message_size_sum",
            &[method, target, ok]
        ),
        server_sent,
        "{text}"
    );

    let _ = stop.send(());
    let _ = stop_metrics.send(());
    drop(users);
    drop(raw);
    tokio::time::timeout(Duration::from_secs(10), grpc_task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), metrics_task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
