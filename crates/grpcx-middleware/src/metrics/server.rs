//! [`ServerMetricsLayer`] and [`ServerMetrics`]: A66's server metrics.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use grpcx_status::Code;
use grpcx_transport::descriptor::ServiceDescriptor;
use grpcx_transport::{CallOutcome, Context};
use tower::{Layer, Service};

use super::{METHOD, OTHER_METHOD, SERVER_CALL_DURATION, SERVER_CALL_STARTED, STATUS};

/// Records `grpc.server.call.started` and `grpc.server.call.duration` for
/// every call of a server (see the [module docs](super)). Add it with
/// `Server::layer`.
///
/// Only the methods of the services given to
/// [`service`](ServerMetricsLayer::service) are reported by name; any
/// other path a client sends is reported as `"other"`.
///
/// ```
/// use grpcx_middleware::metrics::ServerMetricsLayer;
/// use grpcx_transport::descriptor::{MethodDescriptor, MethodKind, ServiceDescriptor};
///
/// static ECHO: ServiceDescriptor = ServiceDescriptor::new(
///     "echo.Echo",
///     &[MethodDescriptor::new("Say", "/echo.Echo/Say", MethodKind::Unary, "echo.M", "echo.M")],
/// );
/// let layer = ServerMetricsLayer::new().service(&ECHO);
/// assert_eq!(layer.method_label("/echo.Echo/Say"), "echo.Echo/Say");
/// assert_eq!(layer.method_label("/echo.Echo/Shout"), "other");
/// ```
#[derive(Clone, Default)]
pub struct ServerMetricsLayer {
    /// Registered paths (`/package.Service/Method`) to their label
    /// (`package.Service/Method`).
    methods: Arc<HashMap<&'static str, &'static str>>,
}

impl ServerMetricsLayer {
    /// A layer that knows no service yet: every method is `"other"` until
    /// [`service`](ServerMetricsLayer::service) names them.
    pub fn new() -> ServerMetricsLayer {
        ServerMetricsLayer::default()
    }

    /// Reports the methods of `service` by name.
    pub fn service(mut self, service: &'static ServiceDescriptor) -> ServerMetricsLayer {
        let methods = Arc::make_mut(&mut self.methods);
        for method in service.methods {
            let label = method.path.strip_prefix('/').unwrap_or(method.path);
            methods.insert(method.path, label);
        }
        self
    }

    /// The `grpc.method` reported for a call of `path`
    /// (`/package.Service/Method`).
    pub fn method_label(&self, path: &str) -> &'static str {
        self.methods.get(path).copied().unwrap_or(OTHER_METHOD)
    }
}

impl fmt::Debug for ServerMetricsLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut methods: Vec<_> = self.methods.values().collect();
        methods.sort_unstable();
        f.debug_struct("ServerMetricsLayer")
            .field("methods", &methods)
            .finish()
    }
}

impl<S> Layer<S> for ServerMetricsLayer {
    type Service = ServerMetrics<S>;

    fn layer(&self, inner: S) -> ServerMetrics<S> {
        ServerMetrics {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of a [`ServerMetricsLayer`]: counts each call as it starts
/// and records its duration and code when it ends. Requests and responses
/// pass unchanged.
#[derive(Clone, Debug)]
pub struct ServerMetrics<S> {
    inner: S,
    layer: ServerMetricsLayer,
}

impl<S> ServerMetrics<S> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, to change it.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The wrapped service, consuming this one.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, B> Service<http::Request<B>> for ServerMetrics<S>
where
    S: Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> S::Future {
        let method = self.layer.method_label(request.uri().path());
        metrics::counter!(SERVER_CALL_STARTED, METHOD => method).increment(1);
        let start = Instant::now();
        // The server puts the call's context in the extensions (and makes
        // it current while layers are called); a request made up by hand
        // has neither, and only its start is counted.
        let context = request
            .extensions()
            .get::<Context>()
            .cloned()
            .or_else(Context::current);
        if let Some(context) = context {
            context.on_done(move |outcome| {
                let code = outcome_code(outcome);
                metrics::histogram!(SERVER_CALL_DURATION, METHOD => method, STATUS => code.as_str())
                    .record(start.elapsed().as_secs_f64());
            });
        }
        self.inner.call(request)
    }
}

/// The code a call that ended with `outcome` is reported with.
fn outcome_code(outcome: CallOutcome) -> Code {
    match outcome {
        CallOutcome::Completed(code) => code,
        CallOutcome::DeadlineExceeded => Code::DeadlineExceeded,
        CallOutcome::Cancelled => Code::Cancelled,
        _ => Code::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_outcome_is_the_code_reported() {
        assert_eq!(
            outcome_code(CallOutcome::Completed(Code::NotFound)),
            Code::NotFound
        );
        assert_eq!(outcome_code(CallOutcome::Cancelled), Code::Cancelled);
        assert_eq!(
            outcome_code(CallOutcome::DeadlineExceeded),
            Code::DeadlineExceeded
        );
    }
}
