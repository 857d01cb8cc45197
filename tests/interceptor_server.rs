//! Server interceptors over the wire: an async authentication check
//! rejects calls with `UNAUTHENTICATED` or `PERMISSION_DENIED` and an
//! `ErrorInfo` the client receives, and the handler never runs; an
//! accepted call carries a principal the handler reads from its
//! extensions; the interceptor reads the call's deadline and context; a
//! per-service interceptor guards its service only.

// Test code: failing loudly, with the reason, is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use grpcx::codec::ProstCodec;
use grpcx::middleware::interceptor::{
    CallHead, Interceptor, InterceptorLayer, Side, interceptor_fn,
};
use grpcx::server::{BoxFuture, GrpcService, ResponseBody, ServerCall, handler};
use grpcx::{Channel, Request, Response, Server, ServerRequest};
use grpcx::{Code, ErrorInfo, Origin, Status};
use grpcx_tests::probe::{Action, ProbeRequest};
use grpcx_tests::{TestServer, channel, serve, unary, within};
use tokio::sync::RwLock;

/// Who an accepted caller is, for the handler.
#[derive(Clone, Debug)]
struct Principal(String);

/// `test.Vault`: `Open` answers `principal` from its extensions, and
/// counts its runs.
struct Vault {
    runs: Arc<AtomicUsize>,
}

impl GrpcService for Vault {
    fn name(&self) -> &'static str {
        "test.Vault"
    }

    fn call(&self, method: &str, call: ServerCall) -> BoxFuture<http::Response<ResponseBody>> {
        let runs = self.runs.clone();
        match method {
            "Open" => Box::pin(handler::unary(
                call,
                ProstCodec::<String, String>::default(),
                move |request: ServerRequest<String>| async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    let principal = request
                        .extensions()
                        .get::<Principal>()
                        .map_or("nobody", |p| p.0.as_str())
                        .to_owned();
                    Ok::<_, Status>(Response::new(principal))
                },
            )),
            _ => Box::pin(async move { call.unimplemented() }),
        }
    }
}

/// The tokens an authenticator knows, behind an async lock (as a cache
/// refreshed in the background would be).
type Tokens = Arc<RwLock<HashMap<String, (String, bool)>>>;

/// What the authenticator saw of each call: its side, method, time left
/// and whether the context had the same deadline.
type Seen = Arc<Mutex<Vec<(Side, String, Option<Duration>, bool)>>>;

/// Checks `authorization: Bearer <token>` against `tokens` (awaiting
/// them): unknown → UNAUTHENTICATED, known but not allowed →
/// PERMISSION_DENIED, each with an `ErrorInfo`; allowed → a `Principal`.
fn authenticator(tokens: Tokens, seen: Seen) -> impl Interceptor {
    interceptor_fn(move |mut call: CallHead| {
        let tokens = tokens.clone();
        let seen = seen.clone();
        async move {
            let context_deadline = call.context().and_then(|c| c.deadline());
            seen.lock().unwrap().push((
                call.side(),
                call.path().to_owned(),
                call.time_remaining(),
                context_deadline == call.deadline(),
            ));
            let token = call
                .metadata()
                .get("authorization")
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::to_owned);
            let Some(token) = token else {
                return Err(Status::unauthenticated("a bearer token is required")
                    .with_detail(ErrorInfo::new("MISSING_TOKEN", "vault.example")));
            };
            let known = tokens.read().await.get(&token).cloned();
            match known {
                None => Err(Status::unauthenticated("unknown token")
                    .with_detail(ErrorInfo::new("BAD_TOKEN", "vault.example"))),
                Some((name, false)) => Err(Status::permission_denied(format!(
                    "{name} may not open the vault"
                ))
                .with_detail(
                    ErrorInfo::new("NOT_ALLOWED", "vault.example").with_metadata("principal", name),
                )),
                Some((name, true)) => {
                    call.extensions_mut().insert(Principal(name));
                    Ok(call)
                }
            }
        }
    })
}

fn tokens() -> Tokens {
    let mut tokens = HashMap::new();
    tokens.insert("t-alice".to_owned(), ("alice".to_owned(), true));
    tokens.insert("t-mallory".to_owned(), ("mallory".to_owned(), false));
    Arc::new(RwLock::new(tokens))
}

async fn open(channel: &Channel, token: Option<&str>) -> Result<Response<String>, Status> {
    let mut request = Request::new(String::new()).with_timeout(Duration::from_secs(60));
    if let Some(token) = token {
        request
            .metadata_mut()
            .insert("authorization", &format!("Bearer {token}"))
            .unwrap();
    }
    within(
        "a Vault call",
        channel.unary(
            "/test.Vault/Open".parse().unwrap(),
            request,
            ProstCodec::<String, String>::default(),
        ),
    )
    .await
}

#[track_caller]
fn assert_rejected(status: &Status, code: Code, message: &str, reason: &str) -> ErrorInfo {
    assert_eq!(status.code(), code, "{status:?}");
    assert_eq!(status.message(), message);
    assert_eq!(status.origin(), Origin::Peer);
    let info = status.get_detail::<ErrorInfo>().expect("an ErrorInfo");
    assert_eq!(
        (info.reason.as_str(), info.domain.as_str()),
        (reason, "vault.example")
    );
    info
}

#[tokio::test]
async fn an_auth_interceptor_rejects_before_the_handler_and_hands_it_the_principal() {
    let runs = Arc::new(AtomicUsize::new(0));
    let seen = Seen::default();
    let handle = serve(
        Server::builder()
            .layer(InterceptorLayer::new(authenticator(tokens(), seen.clone())))
            .add_service(Vault { runs: runs.clone() }),
    )
    .await;
    let channel = channel(handle.addr);

    let status = open(&channel, None).await.unwrap_err();
    assert_rejected(
        &status,
        Code::Unauthenticated,
        "a bearer token is required",
        "MISSING_TOKEN",
    );
    let status = open(&channel, Some("t-nobody")).await.unwrap_err();
    assert_rejected(&status, Code::Unauthenticated, "unknown token", "BAD_TOKEN");
    let status = open(&channel, Some("t-mallory")).await.unwrap_err();
    let info = assert_rejected(
        &status,
        Code::PermissionDenied,
        "mallory may not open the vault",
        "NOT_ALLOWED",
    );
    assert_eq!(info.metadata["principal"], "mallory");
    assert_eq!(runs.load(Ordering::SeqCst), 0, "no handler ran");

    let reply = open(&channel, Some("t-alice")).await.unwrap();
    assert_eq!(reply.get_ref(), "alice");
    assert_eq!(runs.load(Ordering::SeqCst), 1);

    // The interceptor saw every call on the server side, with the
    // client's deadline, which is the context's.
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 4);
    for (side, path, left, same) in seen.iter() {
        assert_eq!(*side, Side::Server);
        assert_eq!(path, "/test.Vault/Open");
        let left = left.expect("the client sent grpc-timeout");
        assert!(
            left > Duration::from_secs(30) && left <= Duration::from_secs(60),
            "{left:?}"
        );
        assert!(same, "the deadline is the context's");
    }
}

#[tokio::test]
async fn a_per_service_interceptor_guards_its_service_only() {
    let runs = Arc::new(AtomicUsize::new(0));
    let seen = Seen::default();
    let vault = Vault { runs: runs.clone() };
    let layer = InterceptorLayer::new(authenticator(tokens(), seen.clone()));
    let server =
        TestServer::start_with(move |server| server.add_layered_service(layer, vault)).await;
    let channel = server.channel();

    // The probe has no interceptor.
    unary(&channel, ProbeRequest::new("free", Action::Reply))
        .await
        .unwrap();
    let status = open(&channel, Some("t-mallory")).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(
        open(&channel, Some("t-alice")).await.unwrap().get_ref(),
        "alice"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(seen.lock().unwrap().len(), 2, "only the vault's calls");
}
