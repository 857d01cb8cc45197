//! [`Routes`]: the tower service that routes a call to its service by the
//! request's path, and the [`GrpcService`] trait services implement.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use grpcx_status::__private::StatusInternals as _;
use grpcx_status::{Origin, Status};
use http::{Extensions, HeaderMap};
use tower::{Layer, Service, ServiceExt as _};

use super::body::ResponseBody;
use crate::body::Body;
use crate::context::CallContext;
use crate::descriptor::ServiceDescriptor;
use crate::error::{BoxError, status_from_layer_error};

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
    fn descriptor(&self) -> Option<&'static ServiceDescriptor> {
        None
    }
}

/// One incoming call, as a [`GrpcService`] receives it: the HTTP/2
/// request (its headers, the extensions layers set, the body) and the
/// call's [`CallContext`]. Pass it to a method adapter of
/// [`handler`](super::handler).
#[derive(Debug)]
pub struct ServerCall {
    request: http::Request<Body>,
    context: CallContext,
}

impl ServerCall {
    /// The call carried by `request`: its context is the one the server
    /// put in the request's extensions, or the one of the call being
    /// handled ([`CallContext::current`]), or else a new one, with the
    /// request's path and no deadline.
    pub fn new(request: http::Request<Body>) -> ServerCall {
        let context = match request.extensions().get::<CallContext>() {
            Some(context) => context.clone(),
            None => CallContext::current().unwrap_or_else(|| {
                CallContext::new(
                    request
                        .uri()
                        .path_and_query()
                        .cloned()
                        .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/")),
                    crate::context::Peer::default(),
                    None,
                    0,
                    Arc::default(),
                )
            }),
        };
        ServerCall { request, context }
    }

    /// The call's context.
    pub fn context(&self) -> &CallContext {
        &self.context
    }

    /// The request headers (custom metadata and the gRPC fields).
    pub fn headers(&self) -> &HeaderMap {
        self.request.headers()
    }

    /// The request's extensions: what server layers put there (an
    /// authenticated principal, say), and the call's [`CallContext`].
    pub fn extensions(&self) -> &Extensions {
        self.request.extensions()
    }

    /// The HTTP/2 request.
    pub fn into_request(self) -> http::Request<Body> {
        self.request
    }

    /// Answers `UNIMPLEMENTED` for a method the service does not have.
    pub fn unimplemented(self) -> http::Response<ResponseBody> {
        let status = Status::unimplemented(format!("unknown method {}", self.context.method()))
            .with_origin(Origin::Protocol);
        trailers_only(status, &self.context)
    }
}

/// A response that ends the call with `status` and no message.
pub(crate) fn trailers_only(status: Status, context: &CallContext) -> http::Response<ResponseBody> {
    let mut response = http::Response::new(ResponseBody::ended(status, context));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/grpc"),
    );
    response
}

/// The services of a server, by name: a tower service taking every call
/// and handing it to the service its path names.
///
/// [`Server`](super::Server) builds one and wraps it in the layers given to
/// [`Server::layer`](super::Server::layer); server layers are generic over
/// what they wrap, so they see it only as a
/// `Service<http::Request<Body>>` whose responses carry a
/// [`ResponseBody`].
#[derive(Clone, Default)]
pub struct Routes {
    /// Sorted by the length of the name, then the name. A server has a
    /// few services: a binary search costs a few comparisons, most settled
    /// by the length, where a `HashMap` would SipHash the name on every
    /// call.
    services: Arc<[(&'static str, Arc<dyn GrpcService>)]>,
}

impl Routes {
    pub(crate) fn new(services: HashMap<&'static str, Arc<dyn GrpcService>>) -> Routes {
        let mut services: Vec<_> = services.into_iter().collect();
        services.sort_unstable_by(|(a, _), (b, _)| by_length(a, b));
        Routes {
            services: services.into(),
        }
    }

    /// The service called `name`.
    fn find(&self, name: &str) -> Option<&Arc<dyn GrpcService>> {
        let index = self
            .services
            .binary_search_by(|(stored, _)| by_length(stored, name))
            .ok()?;
        self.services.get(index).map(|(_, service)| service)
    }

    /// The names of the services, sorted.
    pub fn names(&self) -> Vec<&'static str> {
        let mut names: Vec<_> = self.services.iter().map(|(name, _)| *name).collect();
        names.sort_unstable();
        names
    }

    /// The descriptor of the service called `name` (its full name,
    /// `package.Service`), when it is served and has one (generated services
    /// do).
    pub fn descriptor(&self, name: &str) -> Option<&'static ServiceDescriptor> {
        self.find(name).and_then(|service| service.descriptor())
    }
}

impl std::fmt::Debug for Routes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Routes")
            .field("services", &self.names())
            .finish()
    }
}

impl<B> Service<http::Request<B>> for Routes
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Status>,
{
    type Response = http::Response<ResponseBody>;
    type Error = Infallible;
    type Future = RoutesFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> RoutesFuture {
        // The common case, a request the server made, keeps its body as is.
        let mut slot = Some(request);
        let request = match (&mut slot as &mut dyn std::any::Any)
            .downcast_mut::<Option<http::Request<Body>>>()
            .and_then(Option::take)
        {
            Some(request) => request,
            None => match slot {
                Some(request) => request.map(Body::new),
                None => http::Request::new(Body::empty()),
            },
        };
        let call = ServerCall::new(request);
        // A clone of the context (one reference count) lends the path for
        // the method name without copying it.
        let context = call.context().clone();
        let path = context.method();
        let Some((service_name, method)) = split_path(path) else {
            let status = Status::unimplemented(format!("malformed method path {path:?}"))
                .with_origin(Origin::Protocol);
            return RoutesFuture::Ready(Some(trailers_only(status, call.context())));
        };
        let Some(service) = self.find(service_name) else {
            let status = Status::unimplemented(format!("unknown service {service_name}"))
                .with_origin(Origin::Protocol);
            return RoutesFuture::Ready(Some(trailers_only(status, call.context())));
        };
        RoutesFuture::Call(service.call(method, call))
    }
}

/// The future of [`Routes`]: an answer at once, or the service's call.
pub enum RoutesFuture {
    /// The call was refused (malformed path, unknown service).
    Ready(Option<http::Response<ResponseBody>>),
    /// The service handles the call.
    Call(BoxFuture<http::Response<ResponseBody>>),
}

impl Future for RoutesFuture {
    type Output = Result<http::Response<ResponseBody>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            RoutesFuture::Ready(response) => Poll::Ready(Ok(response
                .take()
                .unwrap_or_else(|| http::Response::new(ResponseBody::empty())))),
            RoutesFuture::Call(future) => future.as_mut().poll(cx).map(Ok),
        }
    }
}

impl std::fmt::Debug for RoutesFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RoutesFuture")
    }
}

/// The order of [`Routes`]' services: by length, then by name.
fn by_length(a: &str, b: &str) -> std::cmp::Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// `/package.Service/Method` split into service and method.
pub(crate) fn split_path(path: &str) -> Option<(&str, &str)> {
    let (service, method) = path.strip_prefix('/')?.split_once('/')?;
    (!service.is_empty() && !method.is_empty() && !method.contains('/'))
        .then_some((service, method))
}

/// One service as a tower service: what a per-service layer wraps (see
/// [`Server::add_layered_service`](super::Server::add_layered_service)).
pub struct ServiceRoute<S>(Arc<S>);

impl<S> std::fmt::Debug for ServiceRoute<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServiceRoute")
    }
}

impl<S> Clone for ServiceRoute<S> {
    fn clone(&self) -> Self {
        ServiceRoute(self.0.clone())
    }
}

impl<S: GrpcService> Service<http::Request<Body>> for ServiceRoute<S> {
    type Response = http::Response<ResponseBody>;
    type Error = Infallible;
    type Future = RoutesFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> RoutesFuture {
        let call = ServerCall::new(request);
        let context = call.context().clone();
        let method = split_path(context.method()).map_or("", |(_, method)| method);
        RoutesFuture::Call(self.0.call(method, call))
    }
}

/// A service wrapped in a layer of its own, routed by the service's name.
pub(crate) struct Layered<T> {
    name: &'static str,
    descriptor: Option<&'static ServiceDescriptor>,
    service: T,
}

impl<T> Layered<T> {
    pub(crate) fn new<S, L>(layer: L, service: S) -> Layered<L::Service>
    where
        S: GrpcService,
        L: Layer<ServiceRoute<S>, Service = T>,
    {
        let name = service.name();
        let descriptor = service.descriptor();
        Layered {
            name,
            descriptor,
            service: layer.layer(ServiceRoute(Arc::new(service))),
        }
    }
}

impl<T, B> GrpcService for Layered<T>
where
    T: Service<http::Request<Body>, Response = http::Response<B>> + Clone + Send + Sync + 'static,
    T::Future: Send + 'static,
    T::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    fn name(&self) -> &'static str {
        self.name
    }

    fn call(&self, _: &str, call: ServerCall) -> BoxFuture<http::Response<ResponseBody>> {
        let service = self.service.clone();
        let context = call.context().clone();
        let mut request = call.into_request();
        if request.extensions().get::<CallContext>().is_none() {
            request.extensions_mut().insert(context.clone());
        }
        Box::pin(async move {
            match service.oneshot(request).await {
                Ok(response) => response.map(|body| ResponseBody::from_body(body, &context)),
                Err(err) => trailers_only(status_from_layer_error(err.into()), &context),
            }
        })
    }

    fn descriptor(&self) -> Option<&'static ServiceDescriptor> {
        self.descriptor
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    struct Named(&'static str);

    impl GrpcService for Named {
        fn name(&self) -> &'static str {
            self.0
        }

        fn call(&self, _: &str, call: ServerCall) -> BoxFuture<http::Response<ResponseBody>> {
            Box::pin(async move { call.unimplemented() })
        }
    }

    #[test]
    fn every_service_is_found_by_name_and_no_other() {
        // Names of the same length and of different lengths, in no order.
        let names = ["b.S", "a.Long", "a.S", "c.S", "x", "a.Longer", "a.Lone"];
        let services = names
            .iter()
            .map(|name| (*name, Arc::new(Named(name)) as Arc<dyn GrpcService>))
            .collect();
        let routes = Routes::new(services);
        for name in names {
            assert_eq!(routes.find(name).map(|s| s.name()), Some(name));
        }
        for unknown in ["", "a", "a.s", "b.Long", "a.Longest", "d.S"] {
            assert!(routes.find(unknown).is_none(), "{unknown:?}");
        }
        let mut sorted = names.to_vec();
        sorted.sort_unstable();
        assert_eq!(routes.names(), sorted);
        assert!(Routes::default().find("a.S").is_none());
    }
}
