//! The health service over the wire: Check, Watch and List through their
//! transitions, unknown services, and graceful shutdown seen by a watcher.

// Test helpers: failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use grpcx::Code;
use grpcx::health::pb::health_check_response::ServingStatus;
use grpcx::health::pb::{HealthCheckRequest, HealthClient, HealthListRequest};
use grpcx::health::{HealthReporter, pb};
use grpcx::{Server, Streaming};
use grpcx_tests::{ServerHandle, channel, serve, within};

async fn start() -> (ServerHandle, HealthReporter, HealthClient) {
    let (health, reporter) = grpcx::health::service();
    let server = Server::builder()
        .drain_timeout(std::time::Duration::from_secs(60))
        .add_service(health)
        .on_shutdown(reporter.shutdown_hook());
    let handle = serve(server).await;
    let client = HealthClient::new(channel(handle.addr));
    (handle, reporter, client)
}

fn request(service: &str) -> HealthCheckRequest {
    HealthCheckRequest {
        service: service.to_owned(),
    }
}

async fn check(client: &HealthClient, service: &str) -> Result<ServingStatus, Code> {
    match within("check", client.check(request(service))).await {
        Ok(response) => Ok(response.into_inner().status()),
        Err(status) => Err(status.code()),
    }
}

async fn next(watch: &mut Streaming<pb::HealthCheckResponse>) -> ServingStatus {
    within("a watch message", watch.message())
        .await
        .unwrap()
        .expect("a message, not the end")
        .status()
}

async fn watch(client: &HealthClient, service: &str) -> Streaming<pb::HealthCheckResponse> {
    within("watch", client.watch(request(service)))
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test]
async fn check_follows_the_reporter_and_unknown_is_not_found() {
    let (server, reporter, client) = start().await;
    assert_eq!(check(&client, "").await, Ok(ServingStatus::Serving));
    assert_eq!(check(&client, "a.B").await, Err(Code::NotFound));
    reporter.set_serving("a.B");
    assert_eq!(check(&client, "a.B").await, Ok(ServingStatus::Serving));
    reporter.set_not_serving("a.B");
    assert_eq!(check(&client, "a.B").await, Ok(ServingStatus::NotServing));
    reporter.clear("a.B");
    assert_eq!(check(&client, "a.B").await, Err(Code::NotFound));
    server.shutdown().await;
}

#[tokio::test]
async fn list_answers_every_status() {
    let (server, reporter, client) = start().await;
    reporter.set_serving("a.B");
    reporter.set_not_serving("c.D");
    let list = within("list", client.list(HealthListRequest {}))
        .await
        .unwrap()
        .into_inner();
    let mut statuses: Vec<(String, ServingStatus)> = list
        .statuses
        .into_iter()
        .map(|(name, response)| (name, response.status()))
        .collect();
    statuses.sort();
    assert_eq!(
        statuses,
        [
            (String::new(), ServingStatus::Serving),
            ("a.B".to_owned(), ServingStatus::Serving),
            ("c.D".to_owned(), ServingStatus::NotServing),
        ]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn watch_streams_the_status_then_each_change() {
    let (server, reporter, client) = start().await;
    reporter.set_serving("a.B");
    let mut watch = watch(&client, "a.B").await;
    assert_eq!(next(&mut watch).await, ServingStatus::Serving);
    reporter.set_not_serving("a.B");
    assert_eq!(next(&mut watch).await, ServingStatus::NotServing);
    // Setting the same status again sends nothing; the next change does.
    reporter.set_not_serving("a.B");
    reporter.set_serving("a.B");
    assert_eq!(next(&mut watch).await, ServingStatus::Serving);
    reporter.clear("a.B");
    assert_eq!(next(&mut watch).await, ServingStatus::ServiceUnknown);
    server.shutdown().await;
}

#[tokio::test]
async fn watching_an_unknown_service_stays_open_until_it_appears() {
    let (server, reporter, client) = start().await;
    let mut watch = watch(&client, "later.Service").await;
    assert_eq!(next(&mut watch).await, ServingStatus::ServiceUnknown);
    reporter.set_serving("later.Service");
    assert_eq!(next(&mut watch).await, ServingStatus::Serving);
    server.shutdown().await;
}

#[tokio::test]
async fn a_watcher_sees_not_serving_on_graceful_shutdown_before_the_call_ends() {
    let (mut server, reporter, client) = start().await;
    reporter.set_serving("a.B");
    let mut service = watch(&client, "a.B").await;
    let mut whole = watch(&client, "").await;
    assert_eq!(next(&mut service).await, ServingStatus::Serving);
    assert_eq!(next(&mut whole).await, ServingStatus::Serving);

    server.begin_shutdown();
    assert_eq!(next(&mut service).await, ServingStatus::NotServing);
    assert_eq!(next(&mut whole).await, ServingStatus::NotServing);
    for watch in [&mut service, &mut whole] {
        let end = within("the end of the watch", watch.message()).await;
        assert_eq!(end.unwrap_err().code(), Code::Unavailable);
    }
    // The watches ended, so the drain ends long before its 60 s timeout.
    server.shutdown().await;
    assert_eq!(
        reporter.status("a.B"),
        Some(grpcx::health::ServingStatus::NotServing)
    );
}
