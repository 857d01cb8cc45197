//! Turns tower's own errors into the statuses they mean.
//!
//! tower's middleware fails calls with errors of its own types, boxed:
//! [`Elapsed`] from `tower::timeout`, [`Overloaded`] from
//! `tower::load_shed`, [`Closed`] and [`ServiceError`] from
//! `tower::buffer`. A gRPC caller needs a [`Status`], and the right code
//! matters: it decides whether the call is retried, whether a circuit
//! breaker counts it, and what the caller is told. [`MapTowerErrorsLayer`]
//! sits outside such layers and maps their errors once, so the service it
//! makes has `Error = Status`:
//!
//! | tower error | status |
//! | --- | --- |
//! | [`Status`] (from grpcx below) | itself, unchanged |
//! | [`Elapsed`] (`tower::timeout`) | `DEADLINE_EXCEEDED`, origin [`Origin::Deadline`] |
//! | [`Overloaded`] (`tower::load_shed`) | `UNAVAILABLE` (or the code set with [`overloaded_as`]), [`Progress::NotSent`], with a `RetryInfo` and retry pushback when [`overloaded_retry_after`] sets one |
//! | [`Closed`], [`ServiceError`] (`tower::buffer`) | `UNAVAILABLE`, [`Progress::NotSent`] |
//! | anything else | `UNKNOWN`, with a message that reveals nothing of the error |
//!
//! Every error is kept as the status's source, for the logs; it is never
//! sent to the peer. The shared cases are those of
//! [`status_from_layer_error`], which grpcx's client and server apply to any
//! layer error; this layer adds the buffer's errors, the deadline origin
//! and the choice of the overload code, and gives the stack a `Status`
//! error type for the layers above it (a breaker or a retry layer reads
//! codes, not boxed errors).
//!
//! # Client or server: what overload means
//!
//! On a **client**, load shedding refuses a call locally before it is
//! sent: `UNAVAILABLE` with [`Progress::NotSent`] (the default) tells a
//! retry layer that sending it again is safe. On a **server** over its
//! concurrency limit, gRPC's code is `RESOURCE_EXHAUSTED`: set it with
//! [`overloaded_as`], and add a hint of when to come back with
//! [`overloaded_retry_after`] (a `RetryInfo` detail, and
//! `grpc-retry-pushback-ms` for retrying gRPC clients).
//!
//! # Examples
//!
//! A client whose calls time out after 2 seconds in a tower layer:
//!
//! ```
//! use std::time::Duration;
//! use grpcx_middleware::tower_errors::MapTowerErrorsLayer;
//! use grpcx_transport::{Endpoint, client::Grpc};
//!
//! let channel = Endpoint::new("http://127.0.0.1:50051")?.connect_lazy();
//! let stack = tower::ServiceBuilder::new()
//!     .layer(MapTowerErrorsLayer::new())
//!     .timeout(Duration::from_secs(2))
//!     .service(channel.clone());
//! let client = Grpc::new(stack).with_config(channel.config());
//! # drop(client);
//! # Ok::<(), grpcx_transport::Error>(())
//! ```
//!
//! A server that turns away calls over 256 at once with
//! `RESOURCE_EXHAUSTED`, asking clients to come back in 100ms:
//!
//! ```
//! use std::time::Duration;
//! use grpcx_middleware::tower_errors::MapTowerErrorsLayer;
//! use grpcx_status::Code;
//! use grpcx_transport::Server;
//!
//! let server = Server::builder()
//!     .layer(
//!         MapTowerErrorsLayer::new()
//!             .overloaded_as(Code::ResourceExhausted)
//!             .overloaded_retry_after(Duration::from_millis(100)),
//!     )
//!     .layer(tower::load_shed::LoadShedLayer::new())
//!     .layer(tower::limit::ConcurrencyLimitLayer::new(256));
//! # drop(server);
//! ```
//!
//! The mapping on its own:
//!
//! ```
//! use grpcx_middleware::tower_errors::MapTowerErrorsLayer;
//! use grpcx_status::{Code, Progress};
//!
//! let map = MapTowerErrorsLayer::new();
//! let status = map.status_for(Box::new(tower::load_shed::error::Overloaded::new()));
//! assert_eq!(status.code(), Code::Unavailable);
//! assert_eq!(status.progress(), Progress::NotSent);
//! let status = map.status_for(Box::new(tower::timeout::error::Elapsed::new()));
//! assert_eq!(status.code(), Code::DeadlineExceeded);
//! ```
//!
//! [`Elapsed`]: tower::timeout::error::Elapsed
//! [`Overloaded`]: tower::load_shed::error::Overloaded
//! [`Closed`]: tower::buffer::error::Closed
//! [`ServiceError`]: tower::buffer::error::ServiceError
//! [`overloaded_as`]: MapTowerErrorsLayer::overloaded_as
//! [`overloaded_retry_after`]: MapTowerErrorsLayer::overloaded_retry_after
//! [`status_from_layer_error`]: grpcx_transport::status_from_layer_error

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use grpcx_status::__private::StatusInternals as _;
use grpcx_status::{Code, Origin, Progress, Pushback, RetryInfo, Status};
use grpcx_transport::{BoxError, status_from_layer_error};
use pin_project::pin_project;
use tower::buffer::error::{Closed, ServiceError};
use tower::load_shed::error::Overloaded;
use tower::timeout::error::Elapsed;
use tower::{Layer, Service};

/// Wraps a service in [`MapTowerErrors`]: its errors, tower's included,
/// become the statuses they mean. See the [module docs](self).
#[derive(Clone, Copy, Debug)]
pub struct MapTowerErrorsLayer {
    settings: Settings,
}

/// A service whose errors, tower's own included, become [`Status`]es.
/// Made by [`MapTowerErrorsLayer`]; see the [module docs](self) for the
/// mapping.
#[derive(Clone, Debug)]
pub struct MapTowerErrors<S> {
    inner: S,
    settings: Settings,
}

/// The future of a call through [`MapTowerErrors`].
#[pin_project]
pub struct ResponseFuture<F> {
    #[pin]
    inner: F,
    settings: Settings,
}

#[derive(Clone, Copy, Debug)]
struct Settings {
    overloaded: Code,
    retry_after: Option<Duration>,
}

impl MapTowerErrorsLayer {
    /// A layer with the client's mapping: [`Overloaded`] is `UNAVAILABLE`,
    /// with no retry hint.
    pub const fn new() -> MapTowerErrorsLayer {
        MapTowerErrorsLayer {
            settings: Settings {
                overloaded: Code::Unavailable,
                retry_after: None,
            },
        }
    }

    /// The code of a call refused by load shedding: `UNAVAILABLE` by
    /// default; `RESOURCE_EXHAUSTED` on a server over its concurrency
    /// limit. Either way the status says [`Progress::NotSent`]: the
    /// service behind the shedding never saw the call.
    pub const fn overloaded_as(mut self, code: Code) -> MapTowerErrorsLayer {
        self.settings.overloaded = code;
        self
    }

    /// Tells callers refused by load shedding when to try again: the
    /// status carries a `RetryInfo` with `delay` and a retry pushback
    /// (`grpc-retry-pushback-ms`, which gRFC A6 retrying clients obey).
    pub const fn overloaded_retry_after(mut self, delay: Duration) -> MapTowerErrorsLayer {
        self.settings.retry_after = Some(delay);
        self
    }

    /// The status for `err`, as the layer maps it (see the
    /// [module docs](self)).
    pub fn status_for(&self, err: BoxError) -> Status {
        self.settings.status_for(err)
    }
}

impl Default for MapTowerErrorsLayer {
    fn default() -> Self {
        MapTowerErrorsLayer::new()
    }
}

impl<S> Layer<S> for MapTowerErrorsLayer {
    type Service = MapTowerErrors<S>;

    fn layer(&self, inner: S) -> MapTowerErrors<S> {
        MapTowerErrors {
            inner,
            settings: self.settings,
        }
    }
}

impl<S> MapTowerErrors<S> {
    /// Wraps `inner` with the mapping of `layer`.
    pub fn new(inner: S, layer: MapTowerErrorsLayer) -> MapTowerErrors<S> {
        layer.layer(inner)
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, to change it.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, consuming this one.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, Request> Service<Request> for MapTowerErrors<S>
where
    S: Service<Request>,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = Status;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
        let settings = self.settings;
        self.inner
            .poll_ready(cx)
            .map_err(|err| settings.status_for(err.into()))
    }

    fn call(&mut self, request: Request) -> ResponseFuture<S::Future> {
        ResponseFuture {
            inner: self.inner.call(request),
            settings: self.settings,
        }
    }
}

impl<F, T, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<T, Status>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let settings = *this.settings;
        this.inner
            .poll(cx)
            .map_err(|err| settings.status_for(err.into()))
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl Settings {
    fn status_for(self, err: BoxError) -> Status {
        if err.is::<Overloaded>() {
            // The shared mapping says UNAVAILABLE, NotSent, source kept.
            let status = status_from_layer_error(err).with_code(self.overloaded);
            return match self.retry_after {
                Some(delay) => status
                    .with_detail(RetryInfo::after(delay))
                    .with_pushback(Pushback::Delay(delay)),
                None => status,
            };
        }
        if err.is::<Closed>() || err.is::<ServiceError>() {
            // The buffer's worker is gone, or its service failed: the
            // request never reached that service.
            return Status::unavailable("the buffered service is unavailable")
                .with_progress(Progress::NotSent)
                .with_source(err);
        }
        let elapsed = err.is::<Elapsed>();
        let status = status_from_layer_error(err);
        if elapsed {
            status.with_origin(Origin::Deadline)
        } else {
            status
        }
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::error::Error as _;

    use grpcx_status::{ErrorInfo, Origin};
    use tower::ServiceExt as _;

    use super::*;

    #[test]
    fn each_tower_error_maps_to_its_status_and_is_kept_as_the_source() {
        let map = MapTowerErrorsLayer::new();
        let status = map.status_for(Box::new(Elapsed::new()));
        assert_eq!(status.code(), Code::DeadlineExceeded);
        assert_eq!(status.origin(), Origin::Deadline);
        assert!(status.source().is_some_and(|s| s.is::<Elapsed>()));

        let status = map.status_for(Box::new(Overloaded::new()));
        assert_eq!(status.code(), Code::Unavailable);
        assert_eq!(status.progress(), Progress::NotSent);
        assert!(status.get_detail::<RetryInfo>().is_none());
        assert_eq!(status.pushback(), None);

        let status = map.status_for(Box::new(Status::not_found("no such user")));
        assert_eq!(status.code(), Code::NotFound);
        assert_eq!(status.message(), "no such user");

        let status = map.status_for("db password hunter2".into());
        assert_eq!(status.code(), Code::Unknown);
        assert!(!status.message().contains("hunter2"));
        assert!(
            format!("{status:#}").contains("hunter2"),
            "kept for the logs"
        );
    }

    #[test]
    fn overload_can_be_resource_exhausted_with_a_retry_hint() {
        let map = MapTowerErrorsLayer::new()
            .overloaded_as(Code::ResourceExhausted)
            .overloaded_retry_after(Duration::from_millis(250));
        let status = map.status_for(Box::new(Overloaded::new()));
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert_eq!(status.progress(), Progress::NotSent);
        assert_eq!(
            status.get_detail::<RetryInfo>().unwrap().delay(),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            status.pushback(),
            Some(Pushback::Delay(Duration::from_millis(250)))
        );
        // Other errors are unaffected.
        let status = map.status_for(Box::new(Elapsed::new()));
        assert!(status.get_detail::<RetryInfo>().is_none());
    }

    /// A service that never answers.
    fn never() -> impl Service<(), Response = (), Error = Infallible, Future: Send> + Clone + Send {
        tower::service_fn(|()| std::future::pending::<Result<(), Infallible>>())
    }

    #[tokio::test(start_paused = true)]
    async fn a_timeout_under_the_layer_is_deadline_exceeded() {
        let mut service = tower::ServiceBuilder::new()
            .layer(MapTowerErrorsLayer::new())
            .timeout(Duration::from_secs(1))
            .service(never());
        let status = service.ready().await.unwrap().call(()).await.unwrap_err();
        assert_eq!(status.code(), Code::DeadlineExceeded);
        assert_eq!(status.origin(), Origin::Deadline);
    }

    #[tokio::test]
    async fn load_shedding_under_the_layer_is_unavailable_and_unsent() {
        let mut service = tower::ServiceBuilder::new()
            .layer(MapTowerErrorsLayer::new())
            .load_shed()
            .concurrency_limit(1)
            .service(never());
        let busy = service.ready().await.unwrap().call(());
        let status = service.ready().await.unwrap().call(()).await.unwrap_err();
        assert_eq!(status.code(), Code::Unavailable);
        assert_eq!(status.progress(), Progress::NotSent);
        drop(busy);
    }

    #[tokio::test]
    async fn a_buffer_whose_worker_is_gone_is_unavailable() {
        let (buffer, worker) = tower::buffer::Buffer::pair(never(), 4);
        drop(worker);
        let mut service = MapTowerErrorsLayer::new().layer(buffer);
        let status = match service.ready().await {
            Err(status) => status,
            Ok(service) => service.call(()).await.unwrap_err(),
        };
        assert_eq!(status.code(), Code::Unavailable);
        assert_eq!(status.progress(), Progress::NotSent);
        assert!(status.source().is_some_and(|s| s.is::<Closed>()));
    }

    #[tokio::test]
    async fn a_buffer_whose_service_failed_is_unavailable() {
        let (buffer, worker) = tower::buffer::Buffer::pair(FailingReady, 4);
        tokio::spawn(worker);
        let mut service = MapTowerErrorsLayer::new().layer(buffer);
        let status = match service.ready().await {
            Err(status) => status,
            Ok(service) => service.call(()).await.unwrap_err(),
        };
        assert_eq!(status.code(), Code::Unavailable);
        assert_eq!(status.progress(), Progress::NotSent);
        let source = status.source().unwrap();
        assert!(source.is::<ServiceError>(), "{source:?}");
        assert!(status.get_detail::<ErrorInfo>().is_none());
    }

    /// A service whose `poll_ready` always fails.
    #[derive(Clone)]
    struct FailingReady;

    impl Service<()> for FailingReady {
        type Response = ();
        type Error = BoxError;
        type Future = std::future::Ready<Result<(), BoxError>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
            Poll::Ready(Err("the backend is gone".into()))
        }

        fn call(&mut self, (): ()) -> Self::Future {
            std::future::ready(Ok(()))
        }
    }
}
