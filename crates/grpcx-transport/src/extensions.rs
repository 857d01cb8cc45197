//! What a client call carries in its `http::Request` extensions for the
//! layers between the typed client and the [`Channel`](crate::Channel).

use http::uri::PathAndQuery;
use tokio::time::Instant;

use crate::descriptor::MethodKind;

/// The absolute deadline of a client call, in its request's extensions.
///
/// The typed client puts it there (from the request's timeout, the
/// endpoint's default, and the deadline of the server call it is made
/// from); each time the request goes on the wire, `grpc-timeout` is the
/// time left then, and the [`Channel`](crate::Channel) ends the call with
/// `DEADLINE_EXCEEDED` when it passes. A retry layer reads it to never wait
/// past it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Deadline(pub Instant);

impl Deadline {
    /// The instant the call's time runs out.
    pub fn instant(self) -> Instant {
        self.0
    }

    /// The time left (zero once it has passed).
    pub fn remaining(self) -> std::time::Duration {
        self.0.saturating_duration_since(Instant::now())
    }
}

/// The method a client request calls: its path and kind, in the request's
/// extensions for layers to decide by (a retry policy per method, say).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrpcMethod {
    path: PathAndQuery,
    kind: MethodKind,
}

impl GrpcMethod {
    /// A method at `path` (`/package.Service/Method`) of `kind`.
    pub fn new(path: PathAndQuery, kind: MethodKind) -> GrpcMethod {
        GrpcMethod { path, kind }
    }

    /// The full path, `/package.Service/Method`.
    pub fn path(&self) -> &str {
        self.path.path()
    }

    /// The service part of the path, `package.Service`.
    pub fn service(&self) -> &str {
        self.path()
            .strip_prefix('/')
            .and_then(|rest| rest.split_once('/'))
            .map_or("", |(service, _)| service)
    }

    /// The method part of the path, `Method`.
    pub fn method(&self) -> &str {
        self.path()
            .rsplit_once('/')
            .map_or("", |(_, method)| method)
    }

    /// Whether each side streams.
    pub fn kind(&self) -> MethodKind {
        self.kind
    }
}

/// The count of attempts of a call that succeeded after retries or
/// hedges, in its response's extensions: set by a retry layer (as
/// `grpcx_middleware::retry::Attempts`), read by the typed client for the
/// call's tracing span.
///
/// It is set only when more than one attempt was sent (counting
/// transparent retries as none); a response without it came from the
/// first attempt. A failed call says the same with
/// [`Status::attempts`](grpcx_status::Status::attempts).
///
/// ```
/// use grpcx_transport::Attempts;
///
/// let mut response = http::Response::new(());
/// response.extensions_mut().insert(Attempts(3));
/// let attempts = response.extensions().get::<Attempts>().map_or(1, |a| a.0);
/// assert_eq!(attempts, 3);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Attempts(pub u32);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_method_splits_into_service_and_method() {
        let method = GrpcMethod::new(
            PathAndQuery::from_static("/grpc.testing.TestService/UnaryCall"),
            MethodKind::Unary,
        );
        assert_eq!(method.service(), "grpc.testing.TestService");
        assert_eq!(method.method(), "UnaryCall");
        assert_eq!(method.path(), "/grpc.testing.TestService/UnaryCall");
        assert_eq!(method.kind(), MethodKind::Unary);
    }
}
