//! Client interceptors over the wire: an async interceptor that awaits a
//! token adds it and the server's handler sees it; placed outside a
//! layer that sends each call twice it runs once per call, inside it once
//! per attempt; it reads the call's deadline and shortens it, and the
//! server gets the shorter one; a rejected call fails locally, unsent.

// Test code: failing loudly, with the reason, is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use grpcx::client::{ClientService, Grpc};
use grpcx::middleware::interceptor::{
    CallHead, InterceptorLayer, Side, interceptor_fn, sync_interceptor_fn,
};
use grpcx::middleware::retry::{CallPolicy, RetryLayer, RetryPolicy};
use grpcx::{Body, BoxError, Request, Response};
use grpcx::{Code, ErrorInfo, Origin, Progress, Status};
use grpcx_tests::probe::{Action, ProbeReply, ProbeRequest};
use grpcx_tests::{TestServer, codec, path, within};
use tokio::sync::{mpsc, oneshot};
use tower::{Service, ServiceExt};

async fn unary<T: ClientService + Sync>(
    client: &Grpc<T>,
    request: Request<ProbeRequest>,
) -> Result<Response<ProbeReply>, Status> {
    within(
        "a unary call",
        client.unary(path("Unary"), request, codec()),
    )
    .await
}

/// A token issuer running in its own task: each request gets the next
/// token, `token-1`, `token-2`, ...
fn token_issuer() -> mpsc::Sender<oneshot::Sender<String>> {
    let (tx, mut rx) = mpsc::channel::<oneshot::Sender<String>>(8);
    tokio::spawn(async move {
        let mut issued = 0;
        while let Some(reply) = rx.recv().await {
            issued += 1;
            let _ = reply.send(format!("token-{issued}"));
        }
    });
    tx
}

/// An interceptor that awaits a token from `issuer` and sends it as
/// `authorization: Bearer <token>`.
fn bearer(
    issuer: mpsc::Sender<oneshot::Sender<String>>,
) -> InterceptorLayer<impl grpcx::middleware::interceptor::Interceptor> {
    InterceptorLayer::new(interceptor_fn(move |mut call: CallHead| {
        let issuer = issuer.clone();
        async move {
            assert_eq!(call.side(), Side::Client);
            let (reply, token) = oneshot::channel();
            issuer
                .send(reply)
                .await
                .map_err(|_| Status::unavailable("the token issuer is gone"))?;
            let token = token.await.map_err(|_| Status::unavailable("no token"))?;
            call.metadata_mut()
                .insert("authorization", &format!("Bearer {token}"))
                .map_err(|err| Status::internal(err.to_string()))?;
            Ok(call)
        }
    }))
}

#[tokio::test]
async fn an_async_interceptor_adds_a_token_the_handler_sees() {
    let mut server = TestServer::start().await;
    let channel = server.channel();
    let stack = tower::ServiceBuilder::new()
        .layer(bearer(token_issuer()))
        .service(channel.clone());
    let client = Grpc::new(stack).with_config(channel.config());
    for (id, token) in [("first", "Bearer token-1"), ("second", "Bearer token-2")] {
        unary(&client, Request::new(ProbeRequest::new(id, Action::Reply)))
            .await
            .unwrap();
        let (metadata, _) = server.events.started(id).await;
        assert_eq!(metadata.get("authorization"), Some(token));
    }
}

/// Sends every call twice (the second time from the first attempt's
/// bytes): what a retry layer does to a call that failed, in its simplest
/// form.
#[derive(Clone)]
struct Twice<S>(S);

impl<S, B> Service<http::Request<Body>> for Twice<S>
where
    S: Service<http::Request<Body>, Response = http::Response<B>> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = http::Response<B>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<http::Response<B>, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.0.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let mut again = http::Request::new(request.body().try_clone().expect("a unary body"));
        *again.uri_mut() = request.uri().clone();
        *again.headers_mut() = request.headers().clone();
        *again.extensions_mut() = request.extensions().clone();
        let first = self.0.call(request);
        let mut inner = self.0.clone();
        Box::pin(async move {
            // The first attempt's answer is thrown away.
            drop(first.await.map_err(Into::into)?);
            inner
                .ready()
                .await
                .map_err(Into::into)?
                .call(again)
                .await
                .map_err(Into::into)
        })
    }
}

/// An interceptor stamping each request it sees with `x-stamp: <n>`, and
/// the count of its runs.
fn stamp() -> (
    InterceptorLayer<impl grpcx::middleware::interceptor::Interceptor>,
    Arc<AtomicUsize>,
) {
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = runs.clone();
    let layer = InterceptorLayer::new(sync_interceptor_fn(move |call: &mut CallHead| {
        let n = counted.fetch_add(1, Ordering::SeqCst) + 1;
        call.metadata_mut()
            .insert("x-stamp", &n.to_string())
            .map_err(|err| Status::internal(err.to_string()))
    }));
    (layer, runs)
}

#[tokio::test]
async fn outside_a_retrying_layer_it_runs_once_per_call_inside_once_per_attempt() {
    let mut server = TestServer::start().await;
    let channel = server.channel();

    let (outside, runs) = stamp();
    let stack = tower::ServiceBuilder::new()
        .layer(outside)
        .layer(tower::layer::layer_fn(Twice))
        .service(channel.clone());
    let client = Grpc::new(stack).with_config(channel.config());
    unary(
        &client,
        Request::new(ProbeRequest::new("outside", Action::Reply)),
    )
    .await
    .unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 1, "once per call");
    for _ in 0..2 {
        let (metadata, _) = server.events.started("outside").await;
        assert_eq!(metadata.get("x-stamp"), Some("1"), "both attempts carry it");
    }

    let (inside, runs) = stamp();
    let stack = tower::ServiceBuilder::new()
        .layer(tower::layer::layer_fn(Twice))
        .layer(inside)
        .service(channel.clone());
    let client = Grpc::new(stack).with_config(channel.config());
    unary(
        &client,
        Request::new(ProbeRequest::new("inside", Action::Reply)),
    )
    .await
    .unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 2, "once per attempt");
    let mut stamps = Vec::new();
    for _ in 0..2 {
        let (metadata, _) = server.events.started("inside").await;
        stamps.push(metadata.get("x-stamp").unwrap().to_owned());
    }
    stamps.sort();
    assert_eq!(stamps, ["1", "2"]);
}

/// The same with grpcx's own retry layer: a call failing `UNAVAILABLE`
/// twice under a policy of 2 attempts.
#[tokio::test]
async fn around_the_retry_layer_it_runs_once_per_call_or_once_per_attempt() {
    let mut server = TestServer::start().await;
    let channel = server.channel();
    let retry = || {
        let policy = RetryPolicy::builder(2)
            .initial_backoff(Duration::from_millis(1))
            .max_backoff(Duration::from_millis(5))
            .backoff_multiplier(2.0)
            .retryable_codes([Code::Unavailable])
            .build()
            .unwrap();
        RetryLayer::with_policy(CallPolicy::Retry(policy))
    };
    let failing = |id: &str| Request::new(ProbeRequest::fail(id, Code::Unavailable, "down"));

    let (outside, runs) = stamp();
    let stack = tower::ServiceBuilder::new()
        .layer(outside)
        .layer(retry())
        .service(channel.clone());
    let client = Grpc::new(stack).with_config(channel.config());
    let status = unary(&client, failing("outside")).await.unwrap_err();
    assert_eq!(status.attempts(), Some(2));
    assert_eq!(runs.load(Ordering::SeqCst), 1, "once per call");
    for _ in 0..2 {
        let (metadata, _) = server.events.started("outside").await;
        assert_eq!(
            metadata.get("x-stamp"),
            Some("1"),
            "every attempt carries it"
        );
    }

    let (inside, runs) = stamp();
    let stack = tower::ServiceBuilder::new()
        .layer(retry())
        .layer(inside)
        .service(channel.clone());
    let client = Grpc::new(stack).with_config(channel.config());
    let status = unary(&client, failing("inside")).await.unwrap_err();
    assert_eq!(status.attempts(), Some(2));
    assert_eq!(runs.load(Ordering::SeqCst), 2, "once per attempt");
    let mut stamps = Vec::new();
    for _ in 0..2 {
        let (metadata, _) = server.events.started("inside").await;
        stamps.push(metadata.get("x-stamp").unwrap().to_owned());
    }
    stamps.sort();
    assert_eq!(stamps, ["1", "2"]);
}

#[tokio::test]
async fn it_reads_the_deadline_and_a_shorter_one_reaches_the_server() {
    let mut server = TestServer::start().await;
    let channel = server.channel();
    let seen: Arc<Mutex<Option<Duration>>> = Arc::default();
    let recorded = seen.clone();
    let shorten = InterceptorLayer::new(sync_interceptor_fn(move |call: &mut CallHead| {
        *recorded.lock().unwrap() = call.time_remaining();
        let shorter = tokio::time::Instant::now() + Duration::from_secs(5);
        assert!(call.set_deadline(shorter), "the client's deadline can move");
        Ok(())
    }));
    let stack = tower::ServiceBuilder::new()
        .layer(shorten)
        .service(channel.clone());
    let client = Grpc::new(stack).with_config(channel.config());
    let request = Request::new(ProbeRequest::new("deadline", Action::Reply))
        .with_timeout(Duration::from_secs(60));
    unary(&client, request).await.unwrap();
    let left = seen.lock().unwrap().expect("the call has a deadline");
    assert!(
        left > Duration::from_secs(30) && left <= Duration::from_secs(60),
        "{left:?}"
    );
    let (_, on_server) = server.events.started("deadline").await;
    let on_server = on_server.expect("grpc-timeout was sent");
    assert!(on_server <= Duration::from_secs(5), "{on_server:?}");
    assert!(on_server > Duration::from_secs(1), "{on_server:?}");
}

#[tokio::test]
async fn a_rejected_call_fails_locally_and_unsent() {
    let mut server = TestServer::start().await;
    let channel = server.channel();
    let refuse = InterceptorLayer::new(sync_interceptor_fn(|call: &mut CallHead| {
        match call.metadata().get("x-tenant") {
            Some(_) => Ok(()),
            None => Err(Status::failed_precondition("pick a tenant first")
                .with_detail(ErrorInfo::new("NO_TENANT", "client.example"))),
        }
    }));
    let stack = tower::ServiceBuilder::new()
        .layer(refuse)
        .service(channel.clone());
    let client = Grpc::new(stack).with_config(channel.config());
    let status = unary(
        &client,
        Request::new(ProbeRequest::new("refused", Action::Reply)),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(status.message(), "pick a tenant first");
    assert_eq!(status.origin(), Origin::Application);
    assert_eq!(status.progress(), Progress::NotSent);
    assert_eq!(
        status.get_detail::<ErrorInfo>().unwrap().reason,
        "NO_TENANT"
    );

    let mut request = Request::new(ProbeRequest::new("admitted", Action::Reply));
    request.metadata_mut().insert("x-tenant", "acme").unwrap();
    unary(&client, request).await.unwrap();
    let (metadata, _) = server.events.started("admitted").await;
    assert_eq!(metadata.get("x-tenant"), Some("acme"));
    assert!(!server.events.was_started("refused"));
}
