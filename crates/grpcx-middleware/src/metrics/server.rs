//! [`ServerMetricsLayer`] and [`ServerMetrics`]: A66's server metrics.

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Instant;

use grpcx_status::Code;
use grpcx_transport::descriptor::ServiceDescriptor;
use grpcx_transport::server::ResponseBody;
use grpcx_transport::{Body, CallContext, CallOutcome};
use pin_project::pin_project;
use tower::{Layer, Service};

use super::size::{CountedBody, MessageBytes};
use super::{
    METHOD, OTHER_METHOD, SERVER_CALL_DURATION, SERVER_CALL_RCVD_SIZE, SERVER_CALL_SENT_SIZE,
    SERVER_CALL_STARTED, STATUS,
};

/// Records `grpc.server.call.started`, `grpc.server.call.duration` and the
/// call's message sizes (`grpc.server.call.sent_total_compressed_message_size`,
/// `grpc.server.call.rcvd_total_compressed_message_size`) for every call of
/// a server (see the [module docs](super)). Add it with `Server::layer`.
///
/// The sizes are counted as the messages go by: the request body is
/// wrapped in a counting one, and the response's [`ResponseBody`] counts
/// through [`ResponseBody::inspect_data`]; a response body that a layer
/// inside this one made of its own is not counted (its sent size is 0).
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
/// and records its duration, code and message sizes when it ends. Requests
/// and responses pass unchanged, the request body wrapped in one that
/// counts.
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

impl<S, ResBody> Service<http::Request<Body>> for ServerMetrics<S>
where
    S: Service<http::Request<Body>, Response = http::Response<ResBody>>,
    ResBody: 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ServerMetricsFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        let method = self.layer.method_label(request.uri().path());
        metrics::counter!(SERVER_CALL_STARTED, METHOD => method).increment(1);
        let start = Instant::now();
        // The server puts the call's context in the extensions (and makes
        // it current while layers are called); a request made up by hand
        // has neither, and only its start is counted.
        let context = request
            .extensions()
            .get::<CallContext>()
            .cloned()
            .or_else(CallContext::current);
        let Some(context) = context else {
            return ServerMetricsFuture {
                inner: self.inner.call(request),
                sizes: None,
            };
        };
        let sizes = Arc::new(Sizes::default());
        let recorded = sizes.clone();
        context.on_done(move |outcome| {
            let status = outcome_code(outcome).as_str();
            metrics::histogram!(SERVER_CALL_DURATION, METHOD => method, STATUS => status)
                .record(start.elapsed().as_secs_f64());
            for (name, total) in [
                (SERVER_CALL_SENT_SIZE, &recorded.sent),
                (SERVER_CALL_RCVD_SIZE, &recorded.rcvd),
            ] {
                metrics::histogram!(name, METHOD => method, STATUS => status)
                    .record(total.load(Ordering::Relaxed) as f64);
            }
        });
        let body = std::mem::take(request.body_mut());
        *request.body_mut() = Body::new(CountedBody::new(body, sizes.clone(), |sizes| &sizes.rcvd));
        ServerMetricsFuture {
            inner: self.inner.call(request),
            sizes: Some(sizes),
        }
    }
}

/// The message bytes a server call sent and received so far.
#[derive(Debug, Default)]
struct Sizes {
    sent: AtomicU64,
    rcvd: AtomicU64,
}

/// The future of a call through a [`ServerMetrics`]: the inner service's,
/// with the response's messages counted as they go out.
#[pin_project]
pub struct ServerMetricsFuture<F> {
    #[pin]
    inner: F,
    sizes: Option<Arc<Sizes>>,
}

impl<F, ResBody, E> Future for ServerMetricsFuture<F>
where
    F: Future<Output = Result<http::Response<ResBody>, E>>,
    ResBody: 'static,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = ready!(this.inner.poll(cx))?;
        if let Some(sizes) = this.sizes.take() {
            // The server's own body: counted by the hook it offers.
            if let Some(body) = (response.body_mut() as &mut dyn Any).downcast_mut::<ResponseBody>()
            {
                let mut counter = MessageBytes::default();
                body.inspect_data(move |data| {
                    let counted = counter.feed(data);
                    if counted > 0 {
                        sizes.sent.fetch_add(counted, Ordering::Relaxed);
                    }
                });
            }
        }
        Poll::Ready(Ok(response))
    }
}

impl<F> fmt::Debug for ServerMetricsFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerMetricsFuture")
            .finish_non_exhaustive()
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
