//! From an HTTP/2 request to a service's method: validation, routing,
//! deadline, abort and panic containment.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use grpcx_status::{Code, Metadata, Origin, Status};
use http::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use http::{Method, StatusCode};
use hyper::body::Incoming;
use tokio::time::Instant;

use super::Config;
use super::body::ResponseBody;
use crate::context::{CallGuard, CallOutcome, Context};
use crate::panic::{CatchUnwind, describe_panic};
use crate::timeout::{GRPC_TIMEOUT, parse_timeout};

/// A boxed future, as [`GrpcService::call`] returns.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A gRPC service the server can route calls to: usually the glue grpcx's
/// code generator writes around a user's service trait.
pub trait GrpcService: Send + Sync + 'static {
    /// The full service name, `package.Service`.
    fn name(&self) -> &'static str;

    /// Handles one call of `method` (the part of the path after the service
    /// name). An unknown method answers with [`ServerCall::unimplemented`].
    fn call(&self, method: &str, call: ServerCall) -> BoxFuture<http::Response<ResponseBody>>;

    /// The service's descriptor, for reflection and interceptors; generated
    /// services have one.
    fn descriptor(&self) -> Option<&'static crate::descriptor::ServiceDescriptor> {
        None
    }
}

/// One incoming call, as a [`GrpcService`] receives it; pass it to a
/// method adapter of [`handler`](super::handler).
#[derive(Debug)]
pub struct ServerCall {
    pub(crate) headers: HeaderMap,
    pub(crate) body: Incoming,
    pub(crate) context: Context,
    pub(crate) config: Arc<Config>,
}

impl ServerCall {
    /// The call's context.
    pub fn context(&self) -> &Context {
        &self.context
    }

    /// Answers `UNIMPLEMENTED` for a method the service does not have.
    pub fn unimplemented(self) -> http::Response<ResponseBody> {
        let status = Status::unimplemented(format!("unknown method {}", self.context.method()))
            .with_origin(Origin::Protocol);
        trailers_only(status, &self.context)
    }
}

#[derive(Default)]
pub(crate) struct Router {
    services: HashMap<&'static str, Arc<dyn GrpcService>>,
}

impl Router {
    pub(crate) fn add(&mut self, service: Arc<dyn GrpcService>) {
        self.services.insert(service.name(), service);
    }

    pub(crate) fn names(&self) -> Vec<&'static str> {
        let mut names: Vec<_> = self.services.keys().copied().collect();
        names.sort_unstable();
        names
    }
}

/// The per-connection hyper service.
#[derive(Clone)]
pub(crate) struct ConnService {
    router: Arc<Router>,
    config: Arc<Config>,
    peer: Option<SocketAddr>,
}

impl ConnService {
    pub(crate) fn new(router: Arc<Router>, config: Arc<Config>, peer: Option<SocketAddr>) -> Self {
        ConnService {
            router,
            config,
            peer,
        }
    }
}

impl hyper::service::Service<http::Request<Incoming>> for ConnService {
    type Response = http::Response<ResponseBody>;
    type Error = Infallible;
    type Future = DispatchFuture;

    fn call(&self, request: http::Request<Incoming>) -> Self::Future {
        DispatchFuture(Box::pin(dispatch(
            self.router.clone(),
            self.config.clone(),
            self.peer,
            request,
        )))
    }
}

/// The future of one call's response head.
pub(crate) struct DispatchFuture(BoxFuture<http::Response<ResponseBody>>);

impl Future for DispatchFuture {
    type Output = Result<http::Response<ResponseBody>, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        self.0.as_mut().poll(cx).map(Ok)
    }
}

async fn dispatch(
    router: Arc<Router>,
    config: Arc<Config>,
    peer: Option<SocketAddr>,
    request: http::Request<Incoming>,
) -> http::Response<ResponseBody> {
    let (parts, body) = request.into_parts();
    if let Some(response) = check_request(&parts.method, &parts.headers) {
        return response;
    }
    let path = parts.uri.path();
    let deadline = match parts.headers.get(GRPC_TIMEOUT) {
        None => None,
        Some(value) => match parse_timeout(value.as_bytes()) {
            // A deadline too far to represent is no deadline at all.
            Ok(timeout) => Instant::now().checked_add(timeout),
            Err(err) => {
                let status = Status::internal(err.to_string()).with_origin(Origin::Protocol);
                return trailers_only(status, &Context::new(parts.uri.path(), peer, None));
            }
        },
    };
    let context = Context::new(path, peer, deadline);
    let Some((service_name, method)) = split_path(path) else {
        let status = Status::unimplemented(format!("malformed method path {path:?}"))
            .with_origin(Origin::Protocol);
        return trailers_only(status, &context);
    };
    let Some(service) = router.services.get(service_name) else {
        let status = Status::unimplemented(format!("unknown service {service_name}"))
            .with_origin(Origin::Protocol);
        return trailers_only(status, &context);
    };
    // The guard marks the call cancelled if hyper drops this future (the
    // client reset the stream) before a response exists; once one does, it
    // moves into the response body, which ends the call.
    let guard = CallGuard::new(context.clone());
    let call = ServerCall {
        headers: parts.headers,
        body,
        context: context.clone(),
        config,
    };
    let handler = CatchUnwind::new(AssertUnwindSafe(
        context.clone().scope(service.call(method, call)),
    ));
    let outcome = tokio::select! {
        biased;
        result = handler => match result {
            Ok(response) => Ok(response),
            Err(panic) => {
                tracing::error!(method = %context.method(), panic = %describe_panic(&*panic), "handler panicked");
                Err(panicked())
            }
        },
        status = context.aborted() => Err(status),
        () = sleep_until(deadline) => Err(deadline_exceeded()),
    };
    match outcome {
        Ok(mut response) => {
            response.body_mut().attach(guard);
            response
        }
        Err(status) => {
            let response = trailers_only(status, &context);
            drop(guard);
            response
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Logs the cause a handler's status carries (its source, which is never
/// sent): as an error for the codes that mean a server-side failure, at
/// debug level for the others. A status without a source has nothing more
/// to tell than what the client sees.
pub(crate) fn log_handler_error(status: &Status, context: &Context) {
    if std::error::Error::source(status).is_none() {
        return;
    }
    match status.code() {
        Code::Internal | Code::Unknown | Code::DataLoss => {
            tracing::error!(method = %context.method(), "handler failed: {status:#}");
        }
        _ => tracing::debug!(method = %context.method(), "handler failed: {status:#}"),
    }
}

/// The status a client receives when its handler panicked: nothing of the
/// panic is revealed (it is logged on the server).
pub(crate) fn panicked() -> Status {
    Status::internal("internal server error")
}

pub(crate) fn deadline_exceeded() -> Status {
    Status::deadline_exceeded("deadline exceeded").with_origin(Origin::Deadline)
}

/// Refuses what is not a gRPC request, as `PROTOCOL-HTTP2.md` prescribes.
fn check_request(method: &Method, headers: &HeaderMap) -> Option<http::Response<ResponseBody>> {
    if method != Method::POST {
        let status = Status::unimplemented(format!("gRPC requires POST, got {method}"));
        let mut response = http_error(StatusCode::METHOD_NOT_ALLOWED, status);
        response
            .headers_mut()
            .insert(http::header::ALLOW, HeaderValue::from_static("POST"));
        return Some(response);
    }
    let content_type = headers.get(CONTENT_TYPE).map(HeaderValue::as_bytes);
    if !content_type.is_some_and(is_grpc_content_type) {
        let shown = content_type.map_or_else(
            || "none".to_owned(),
            |v| format!("{:?}", String::from_utf8_lossy(v)),
        );
        let status = Status::internal(format!("invalid gRPC request content-type: {shown}"));
        return Some(http_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, status));
    }
    None
}

/// `application/grpc`, `application/grpc+proto`, with optional parameters.
pub(crate) fn is_grpc_content_type(value: &[u8]) -> bool {
    let Some(rest) = value.strip_prefix(b"application/grpc") else {
        return false;
    };
    let rest = rest.strip_prefix(b"+proto").unwrap_or(rest);
    rest.is_empty() || rest.starts_with(b";")
}

fn split_path(path: &str) -> Option<(&str, &str)> {
    let (service, method) = path.strip_prefix('/')?.split_once('/')?;
    (!service.is_empty() && !method.is_empty() && !method.contains('/'))
        .then_some((service, method))
}

/// A non-200 answer that still carries a gRPC status for gRPC-aware peers.
fn http_error(code: StatusCode, status: Status) -> http::Response<ResponseBody> {
    let mut response = http::Response::new(ResponseBody::empty());
    *response.status_mut() = code;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    status.write_headers(headers);
    response
}

/// A Trailers-Only response: one HEADERS frame with `:status 200`, the
/// content-type and the status, ending the stream. Ends the call.
pub(crate) fn trailers_only(status: Status, context: &Context) -> http::Response<ResponseBody> {
    let code = status.code();
    let mut response = http::Response::new(ResponseBody::empty());
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    let status = merge_trailers(status, context.take_trailers());
    status.write_headers(headers);
    context.finish(match status.origin() {
        Origin::Deadline => CallOutcome::DeadlineExceeded,
        _ => CallOutcome::Completed(code),
    });
    response
}

/// Adds the trailing metadata a handler set through its context to the
/// status's own.
pub(crate) fn merge_trailers(mut status: Status, trailers: Metadata) -> Status {
    if !trailers.is_empty() {
        status.metadata_mut().extend(trailers);
    }
    status
}

/// The code a server reports for a request stream that failed: the client
/// reset it, so the call is cancelled.
pub(crate) fn request_body_error(err: &hyper::Error) -> Status {
    Status::new(Code::Cancelled, "the client cancelled the request stream")
        .with_origin(Origin::Cancelled)
        .with_source(err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_content_types() {
        for ok in [
            &b"application/grpc"[..],
            b"application/grpc+proto",
            b"application/grpc;charset=utf-8",
        ] {
            assert!(is_grpc_content_type(ok), "{ok:?}");
        }
        for bad in [
            &b"application/json"[..],
            b"application/grpc+json",
            b"application/grpc-web",
            b"text/plain",
            b"",
        ] {
            assert!(!is_grpc_content_type(bad), "{bad:?}");
        }
    }

    #[test]
    fn paths_split_into_service_and_method() {
        assert_eq!(
            split_path("/grpc.testing.TestService/UnaryCall"),
            Some(("grpc.testing.TestService", "UnaryCall"))
        );
        for bad in ["", "/", "//", "/a", "/a/", "//m", "a/b", "/a/b/c"] {
            assert_eq!(split_path(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn non_grpc_requests_get_the_prescribed_http_status() {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        let response = check_request(&Method::GET, &headers).unwrap();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);

        headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/html"));
        let response = check_request(&Method::POST, &headers).unwrap();
        assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(response.headers()["grpc-status"], "13");
        assert_eq!(
            response.headers()["grpc-message"],
            "invalid gRPC request content-type: \"text/html\""
        );
        assert!(check_request(&Method::POST, &HeaderMap::new()).is_some());
    }
}
