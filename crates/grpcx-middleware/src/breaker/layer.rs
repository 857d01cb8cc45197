//! [`CircuitBreakerLayer`] and [`CircuitBreaker`]: the tower middleware
//! that applies a [`Breaker`] to calls.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};
use std::task::{Context, Poll};

use grpcx_status::{Code, Origin, Progress, Status};
use grpcx_transport::{BoxError, GrpcMethod, status_from_layer_error};
use tower::{Layer, Service};

use super::config::BreakerConfig;
use super::future::ResponseFuture;
use super::state::{Breaker, BreakerState, Permit, StateChange};

/// The most methods a [per-method](CircuitBreakerLayer::per_method) layer
/// keeps a breaker of its own for; calls of any further method share one
/// more breaker, named after the layer with ` (other methods)` appended.
///
/// Method paths come from the client's own code, so a real client stays far
/// below this; the cap only keeps a client that makes up paths from growing
/// the map without bound.
pub const MAX_METHOD_BREAKERS: usize = 1024;

/// The name of a layer's breaker unless [`CircuitBreakerLayer::name`] sets
/// another.
pub const DEFAULT_NAME: &str = "channel";

/// Wraps a client service in a [`CircuitBreaker`]: one [`Breaker`] for every
/// call, or one per method ([`per_method`](Self::per_method)).
///
/// The services a layer makes share its breakers, so a layer stands for one
/// channel (or one backend): build one per channel, as with any per-channel
/// state. Each setter starts again with fresh, closed breakers.
///
/// ```
/// use std::time::Duration;
/// use grpcx_middleware::breaker::{BreakerConfig, BreakerState, CircuitBreakerLayer};
///
/// let breaker = CircuitBreakerLayer::new(
///     BreakerConfig::builder()
///         .without_failure_ratio()
///         .failure_count(5)
///         .open_for(Duration::from_secs(2))
///         .build()?,
/// )
/// .name("users")
/// .on_state_change(|name, from, to| {
///     println!("breaker {name}: {from:?} -> {to:?}");
/// });
/// assert_eq!(breaker.state("/shop.Users/Get"), Some(BreakerState::Closed));
///
/// let channel = grpcx_transport::Endpoint::new("http://127.0.0.1:50051")?.connect_lazy();
/// let service = tower::ServiceBuilder::new().layer(breaker).service(channel.clone());
/// let client = grpcx_transport::client::Grpc::new(service).with_config(channel.config());
/// # drop(client);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct CircuitBreakerLayer {
    shared: Arc<Shared>,
}

/// A client service that fails calls fast while their breaker is open, and
/// feeds every call's outcome to it. Made by [`CircuitBreakerLayer`].
///
/// - **Before a call** it asks the call's breaker for a [`Permit`]. An
///   open breaker (or a half-open one whose trial calls are all out) makes
///   the call fail at once with [`Open::to_status`](super::Open::to_status):
///   `UNAVAILABLE`, `ErrorInfo` reason `CIRCUIT_OPEN`, a `RetryInfo` with
///   the time until the breaker lets a call through, and
///   [`Progress::NotSent`]. The inner service is not called.
/// - **After a call** it records the call's final code: an `Err(status)`'s
///   code; for a response, the `grpc-status` of a Trailers-Only head, or
///   else the one in the trailers at the end of the body (`INTERNAL` when
///   the body ends without one, as the client reports it), or the code of
///   the status the body fails with. A call dropped before it ended (the
///   caller cancelled it or stopped reading) counts as neither a success
///   nor a failure, and so does a call that never left the client because
///   a layer below decided so (a status made there with origin
///   [`Origin::Application`] and [`Progress::NotSent`]: another breaker,
///   an interceptor, local load shedding), or one the caller cancelled
///   ([`Origin::Cancelled`]): none of these says anything about the server.
///
/// Which codes are failures is the [`BreakerConfig`]'s affair: by default
/// only those that say the server is unwell.
///
/// Its errors are [`Status`]es: an inner error goes through
/// [`status_from_layer_error`].
#[derive(Clone)]
pub struct CircuitBreaker<S> {
    inner: S,
    shared: Arc<Shared>,
}

/// The callback of [`CircuitBreakerLayer::on_state_change`].
type Observer = Arc<dyn Fn(&str, BreakerState, BreakerState) + Send + Sync>;

/// What every service of a layer shares.
struct Shared {
    settings: Settings,
    breakers: Breakers,
}

#[derive(Clone)]
struct Settings {
    config: BreakerConfig,
    name: Arc<str>,
    per_method: bool,
    observer: Option<Observer>,
}

enum Breakers {
    One(Arc<Named>),
    PerMethod {
        methods: RwLock<HashMap<Box<str>, Arc<Named>>>,
        overflow: Arc<Named>,
    },
}

/// A breaker and the name it reports and fails calls with.
pub(super) struct Named {
    breaker: Breaker,
    name: Box<str>,
}

/// A granted call's permit, to record its outcome with.
pub(super) struct Recorder {
    permit: Permit,
    breaker: Arc<Named>,
    shared: Arc<Shared>,
}

impl CircuitBreakerLayer {
    /// A layer with one breaker of `config` for every call, named
    /// [`DEFAULT_NAME`].
    pub fn new(config: BreakerConfig) -> CircuitBreakerLayer {
        CircuitBreakerLayer::with_settings(Settings {
            config,
            name: Arc::from(DEFAULT_NAME),
            per_method: false,
            observer: None,
        })
    }

    /// Names the breaker (of a [per-method](Self::per_method) layer: the
    /// breaker of methods past [`MAX_METHOD_BREAKERS`]) in its refusals,
    /// state change callbacks and tracing events: the channel's backend,
    /// say.
    pub fn name(self, name: &str) -> CircuitBreakerLayer {
        self.rebuild(|settings| settings.name = Arc::from(name))
    }

    /// Gives each method a breaker of its own, made on the method's first
    /// call and named by its path (`/package.Service/Method`), so one
    /// failing method does not cut off the others.
    ///
    /// The method is the request's [`GrpcMethod`] extension, which the
    /// typed client sets, or else its URI path.
    pub fn per_method(self) -> CircuitBreakerLayer {
        self.rebuild(|settings| settings.per_method = true)
    }

    /// Calls `callback` with the breaker's name, the old state and the new
    /// one each time a breaker changes state. It runs on the task of the
    /// call that caused the change, outside the breaker's lock, so it
    /// should be quick (count, log, set a gauge). A per-method breaker
    /// is named by its method's path alone; a callback that must tell
    /// channels apart captures its own channel's identity.
    ///
    /// Every change is a tracing event too (target
    /// `grpcx_middleware::breaker`): `WARN` when a breaker opens, `INFO`
    /// otherwise.
    pub fn on_state_change<F>(self, callback: F) -> CircuitBreakerLayer
    where
        F: Fn(&str, BreakerState, BreakerState) + Send + Sync + 'static,
    {
        self.rebuild(|settings| settings.observer = Some(Arc::new(callback)))
    }

    /// The config of the breakers.
    pub fn config(&self) -> &BreakerConfig {
        &self.shared.settings.config
    }

    /// The state of the breaker that guards calls of `method`
    /// (`/package.Service/Method`): the layer's one breaker whatever the
    /// method, or the method's own, `None` when a per-method layer has not
    /// seen it yet.
    pub fn state(&self, method: &str) -> Option<BreakerState> {
        self.shared.state(method)
    }

    fn with_settings(settings: Settings) -> CircuitBreakerLayer {
        let breakers = if settings.per_method {
            let overflow = format!("{} (other methods)", settings.name);
            Breakers::PerMethod {
                methods: RwLock::default(),
                overflow: Named::new(&settings.config, &overflow),
            }
        } else {
            Breakers::One(Named::new(&settings.config, &settings.name))
        };
        CircuitBreakerLayer {
            shared: Arc::new(Shared { settings, breakers }),
        }
    }

    fn rebuild(self, change: impl FnOnce(&mut Settings)) -> CircuitBreakerLayer {
        let mut settings = self.shared.settings.clone();
        change(&mut settings);
        CircuitBreakerLayer::with_settings(settings)
    }
}

impl Default for CircuitBreakerLayer {
    /// A layer with one breaker of [`BreakerConfig::default`].
    fn default() -> Self {
        CircuitBreakerLayer::new(BreakerConfig::default())
    }
}

impl<S> Layer<S> for CircuitBreakerLayer {
    type Service = CircuitBreaker<S>;

    fn layer(&self, inner: S) -> CircuitBreaker<S> {
        CircuitBreaker {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

impl fmt::Debug for CircuitBreakerLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.shared
            .fmt_fields(f.debug_struct("CircuitBreakerLayer"))
    }
}

impl<S> CircuitBreaker<S> {
    /// Wraps `inner` in the breakers of `layer`.
    pub fn new(inner: S, layer: &CircuitBreakerLayer) -> CircuitBreaker<S> {
        layer.layer(inner)
    }

    /// The state of the breaker that guards calls of `method`; see
    /// [`CircuitBreakerLayer::state`].
    pub fn state(&self, method: &str) -> Option<BreakerState> {
        self.shared.state(method)
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, to change it.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, consuming the breaker.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: fmt::Debug> fmt::Debug for CircuitBreaker<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("CircuitBreaker");
        debug.field("inner", &self.inner);
        self.shared.fmt_fields(debug)
    }
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for CircuitBreaker<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Error: Into<BoxError>,
{
    type Response = http::Response<super::future::RecordingBody<ResBody>>;
    type Error = Status;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
        self.inner
            .poll_ready(cx)
            .map_err(|err| status_from_layer_error(err.into()))
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let method = match request.extensions().get::<GrpcMethod>() {
            Some(method) => method.path(),
            None => request.uri().path(),
        };
        let named = self.shared.breaker(method);
        let (acquired, change) = named.breaker.acquire(now());
        self.shared.notify(&named.name, change);
        match acquired {
            Err(open) => ResponseFuture::refused(open.to_status(&named.name)),
            Ok(permit) => {
                let recorder = Recorder {
                    permit,
                    breaker: named,
                    shared: Arc::clone(&self.shared),
                };
                ResponseFuture::called(self.inner.call(request), recorder)
            }
        }
    }
}

impl Shared {
    /// The breaker of calls of `method`, made on the method's first call.
    fn breaker(&self, method: &str) -> Arc<Named> {
        let (methods, overflow) = match &self.breakers {
            Breakers::One(named) => return Arc::clone(named),
            Breakers::PerMethod { methods, overflow } => (methods, overflow),
        };
        // The common case: a method seen before, under a shared lock.
        if let Some(named) = methods
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(method)
        {
            return Arc::clone(named);
        }
        let mut methods = methods.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(named) = methods.get(method) {
            return Arc::clone(named);
        }
        if methods.len() >= MAX_METHOD_BREAKERS {
            return Arc::clone(overflow);
        }
        let named = Named::new(&self.settings.config, method);
        methods.insert(Box::from(method), Arc::clone(&named));
        named
    }

    fn state(&self, method: &str) -> Option<BreakerState> {
        match &self.breakers {
            Breakers::One(named) => Some(named.breaker.state()),
            Breakers::PerMethod { methods, .. } => methods
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .get(method)
                .map(|named| named.breaker.state()),
        }
    }

    /// Reports a state change: a tracing event and the callback.
    fn notify(&self, name: &str, change: Option<StateChange>) {
        let Some((from, to)) = change else {
            return;
        };
        if to == BreakerState::Open {
            tracing::warn!(target: "grpcx_middleware::breaker", breaker = name, ?from, ?to, "circuit breaker opened");
        } else {
            tracing::info!(target: "grpcx_middleware::breaker", breaker = name, ?from, ?to, "circuit breaker changed state");
        }
        if let Some(observer) = &self.settings.observer {
            observer(name, from, to);
        }
    }

    fn fmt_fields(&self, mut debug: fmt::DebugStruct<'_, '_>) -> fmt::Result {
        debug
            .field("name", &self.settings.name)
            .field("per_method", &self.settings.per_method)
            .field("config", &self.settings.config)
            .finish_non_exhaustive()
    }
}

impl Named {
    fn new(config: &BreakerConfig, name: &str) -> Arc<Named> {
        Arc::new(Named {
            breaker: Breaker::new(config.clone()),
            name: Box::from(name),
        })
    }
}

impl Recorder {
    /// Records that the call ended with `code`.
    pub(super) fn record(self, code: Code) {
        let change = self.permit.record_change(code, now());
        self.shared.notify(&self.breaker.name, change);
    }

    /// Records that the call failed with `status`, unless the status says
    /// nothing about the server (see [`CircuitBreaker`]); the permit is
    /// then dropped, which counts as neither.
    pub(super) fn record_status(self, status: &Status) {
        let local_refusal =
            status.origin() == Origin::Application && status.progress() == Progress::NotSent;
        if !local_refusal && status.origin() != Origin::Cancelled {
            self.record(status.code());
        }
    }
}

/// The breaker's clock: tokio's, so that a paused test clock drives it.
fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

#[cfg(test)]
mod tests {
    use grpcx_status::__private::StatusInternals as _;
    use std::collections::VecDeque;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use bytes::Bytes;
    use grpcx_status::{ErrorInfo, RetryInfo};
    use grpcx_transport::descriptor::MethodKind;
    use http::HeaderMap;
    use http_body::Frame;
    use http_body_util::{BodyExt as _, StreamBody};
    use tower::ServiceExt as _;

    use super::super::RecordingBody;
    use super::*;

    /// How a scripted inner call ends.
    #[derive(Clone, Copy, Debug)]
    enum Outcome {
        /// `Err` before any response.
        Err(Code),
        /// A Trailers-Only response: the code in the head.
        Head(Code),
        /// A message, then trailers with the code.
        Trailers(Code),
        /// A message, then the body fails with the code.
        BodyError(Code),
        /// A message, then the end, without trailers.
        NoTrailers,
    }

    type TestBody =
        StreamBody<futures_util::stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, Status>>>>;

    type Script = Arc<Mutex<VecDeque<Outcome>>>;

    /// An inner service answering each call with the next scripted
    /// outcome (`OK` in the trailers once the script is out), and the
    /// number of calls it got.
    fn scripted(
        script: &Script,
    ) -> (
        impl Service<
            http::Request<()>,
            Response = http::Response<TestBody>,
            Error = Status,
            Future: Send,
        > + Clone
        + Send
        + 'static,
        Arc<AtomicUsize>,
    ) {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&calls);
        let script = Arc::clone(script);
        let service = tower::service_fn(move |_: http::Request<()>| {
            counted.fetch_add(1, Ordering::SeqCst);
            let outcome = script
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or(Outcome::Trailers(Code::Ok));
            async move { respond(outcome) }
        });
        (service, calls)
    }

    fn respond(outcome: Outcome) -> Result<http::Response<TestBody>, Status> {
        let message = Ok(Frame::data(Bytes::from_static(b"\0\0\0\0\0")));
        let trailers = |code: Code| {
            let mut trailers = HeaderMap::new();
            trailers.insert("grpc-status", code.header_value().parse().unwrap());
            Ok(Frame::trailers(trailers))
        };
        let frames = match outcome {
            Outcome::Err(code) => {
                return Err(Status::new(code, "scripted").with_origin(Origin::Peer));
            }
            Outcome::Head(code) => {
                let body = StreamBody::new(futures_util::stream::iter(Vec::new()));
                let mut response = http::Response::new(body);
                response
                    .headers_mut()
                    .insert("grpc-status", code.header_value().parse().unwrap());
                return Ok(response);
            }
            Outcome::Trailers(code) => vec![message, trailers(code)],
            Outcome::BodyError(code) => vec![message, Err(Status::new(code, "scripted body"))],
            Outcome::NoTrailers => vec![message],
        };
        Ok(http::Response::new(StreamBody::new(
            futures_util::stream::iter(frames),
        )))
    }

    fn request(path: &'static str) -> http::Request<()> {
        let mut request = http::Request::new(());
        *request.uri_mut() = http::Uri::from_static(path);
        request
    }

    /// Makes a call and reads its body to the end: the final code.
    async fn call<S>(service: &mut S, path: &'static str) -> Result<(), Status>
    where
        S: Service<
                http::Request<()>,
                Response = http::Response<RecordingBody<TestBody>>,
                Error = Status,
            >,
    {
        let response = service.ready().await?.call(request(path)).await?;
        let (parts, body) = response.into_parts();
        if let Some(code) = parts.headers.get("grpc-status") {
            let code = Code::from_header_bytes(code.as_bytes());
            return if code == Code::Ok {
                Ok(())
            } else {
                Err(Status::new(code, "trailers-only"))
            };
        }
        let collected = body.collect().await?;
        match collected.trailers().and_then(|t| t.get("grpc-status")) {
            Some(code) => match Code::from_header_bytes(code.as_bytes()) {
                Code::Ok => Ok(()),
                code => Err(Status::new(code, "trailers")),
            },
            None => Err(Status::internal("no trailers")),
        }
    }

    fn config(failures: u32) -> BreakerConfig {
        BreakerConfig::builder()
            .window(Duration::from_secs(10), 10)
            .without_failure_ratio()
            .failure_count(failures)
            .open_for(Duration::from_secs(2))
            .build()
            .unwrap()
    }

    type Changes = Arc<Mutex<Vec<(String, BreakerState, BreakerState)>>>;

    fn observed(layer: CircuitBreakerLayer) -> (CircuitBreakerLayer, Changes) {
        let changes = Changes::default();
        let seen = Arc::clone(&changes);
        let layer = layer.on_state_change(move |name, from, to| {
            seen.lock().unwrap().push((name.to_owned(), from, to));
        });
        (layer, changes)
    }

    fn script(outcomes: &[Outcome]) -> Script {
        Arc::new(Mutex::new(outcomes.iter().copied().collect()))
    }

    #[tokio::test(start_paused = true)]
    async fn failures_open_it_and_an_open_breaker_fails_fast_without_calling_inner() {
        let script = script(&[Outcome::Err(Code::Unavailable); 3]);
        let (inner, calls) = scripted(&script);
        let (layer, changes) = observed(CircuitBreakerLayer::new(config(3)).name("backend"));
        let mut service = layer.layer(inner);
        for _ in 0..3 {
            let status = call(&mut service, "/a.S/M").await.unwrap_err();
            assert_eq!(status.message(), "scripted", "the inner status, as is");
            assert_eq!(status.origin(), Origin::Peer);
        }
        assert_eq!(layer.state("/a.S/M"), Some(BreakerState::Open));
        assert_eq!(
            *changes.lock().unwrap(),
            [(
                "backend".to_owned(),
                BreakerState::Closed,
                BreakerState::Open
            )]
        );

        tokio::time::advance(Duration::from_millis(500)).await;
        let status = call(&mut service, "/a.S/M").await.unwrap_err();
        assert_eq!(
            calls.load(Ordering::SeqCst),
            3,
            "the inner service was not called"
        );
        assert_eq!(status.code(), Code::Unavailable);
        assert_eq!(status.message(), "circuit breaker backend is open");
        assert_eq!(status.progress(), Progress::NotSent);
        let info = status.get_detail::<ErrorInfo>().unwrap();
        assert_eq!(info.reason, "CIRCUIT_OPEN");
        assert_eq!(info.domain, "grpcx");
        assert_eq!(info.metadata["breaker"], "backend");
        assert_eq!(
            status.get_detail::<RetryInfo>().unwrap().delay(),
            Some(Duration::from_millis(1500))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn after_open_for_one_probe_goes_through_and_its_success_closes_it() {
        let script = script(&[Outcome::Err(Code::Unavailable); 2]);
        let (inner, calls) = scripted(&script);
        let (layer, changes) = observed(CircuitBreakerLayer::new(config(2)));
        let mut service = layer.layer(inner.clone());
        for _ in 0..2 {
            call(&mut service, "/a.S/M").await.unwrap_err();
        }
        tokio::time::advance(Duration::from_secs(2)).await;

        // The probe: its response head is in, its body not yet read. A
        // second call meanwhile is refused: the one trial call is out.
        let probe = service
            .ready()
            .await
            .unwrap()
            .call(request("/a.S/M"))
            .await
            .unwrap();
        assert_eq!(layer.state("/a.S/M"), Some(BreakerState::HalfOpen));
        let refused = call(&mut service, "/a.S/M").await.unwrap_err();
        assert_eq!(
            refused.message(),
            "circuit breaker channel is half-open and its trial calls are out"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 3);

        // Its trailers say OK: closed.
        probe.into_body().collect().await.unwrap();
        assert_eq!(layer.state("/a.S/M"), Some(BreakerState::Closed));
        call(&mut service, "/a.S/M").await.unwrap();
        let names: Vec<_> = changes.lock().unwrap().iter().map(|c| (c.1, c.2)).collect();
        assert_eq!(
            names,
            [
                (BreakerState::Closed, BreakerState::Open),
                (BreakerState::Open, BreakerState::HalfOpen),
                (BreakerState::HalfOpen, BreakerState::Closed),
            ]
        );
        assert!(changes.lock().unwrap().iter().all(|c| c.0 == "channel"));
    }

    #[tokio::test(start_paused = true)]
    async fn the_final_code_comes_from_the_head_the_trailers_or_the_body_error() {
        for failing in [
            Outcome::Err(Code::Internal),
            Outcome::Head(Code::Unavailable),
            Outcome::Trailers(Code::DeadlineExceeded),
            Outcome::BodyError(Code::Unavailable),
            Outcome::NoTrailers,
        ] {
            let script = script(&[failing]);
            let (inner, _) = scripted(&script);
            let layer = CircuitBreakerLayer::new(config(1));
            let mut service = layer.layer(inner);
            call(&mut service, "/a.S/M").await.unwrap_err();
            assert_eq!(
                layer.state("/a.S/M"),
                Some(BreakerState::Open),
                "{failing:?} is a failure"
            );
        }
        for fine in [
            Outcome::Head(Code::Ok),
            Outcome::Trailers(Code::Ok),
            Outcome::Trailers(Code::NotFound),
            Outcome::Err(Code::InvalidArgument),
        ] {
            let script = script(&[fine]);
            let (inner, _) = scripted(&script);
            let layer = CircuitBreakerLayer::new(config(1));
            let mut service = layer.layer(inner);
            let _ = call(&mut service, "/a.S/M").await;
            assert_eq!(
                layer.state("/a.S/M"),
                Some(BreakerState::Closed),
                "{fine:?} is no failure"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn client_fault_codes_never_open_it() {
        let faults = [
            Code::InvalidArgument,
            Code::NotFound,
            Code::AlreadyExists,
            Code::PermissionDenied,
            Code::Unauthenticated,
            Code::FailedPrecondition,
            Code::OutOfRange,
            Code::Cancelled,
            Code::Aborted,
            Code::Unimplemented,
        ];
        let outcomes: Vec<_> = faults.iter().map(|&code| Outcome::Trailers(code)).collect();
        let script = script(&outcomes);
        let (inner, calls) = scripted(&script);
        let layer = CircuitBreakerLayer::new(config(1));
        let mut service = layer.layer(inner);
        for _ in faults {
            call(&mut service, "/a.S/M").await.unwrap_err();
        }
        assert_eq!(calls.load(Ordering::SeqCst), faults.len());
        assert_eq!(layer.state("/a.S/M"), Some(BreakerState::Closed));
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_dropped_before_its_end_counts_as_neither() {
        let script = script(&[Outcome::Trailers(Code::Unavailable); 4]);
        let (inner, _) = scripted(&script);
        let layer = CircuitBreakerLayer::new(config(1));
        let mut service = layer.layer(inner);
        // The future, dropped before it is polled.
        drop(service.ready().await.unwrap().call(request("/a.S/M")));
        // The response, dropped before its trailers.
        let response = service
            .ready()
            .await
            .unwrap()
            .call(request("/a.S/M"))
            .await
            .unwrap();
        let mut body = response.into_body();
        let first = body.frame().await.unwrap().unwrap();
        assert!(first.is_data());
        drop(body);
        assert_eq!(layer.state("/a.S/M"), Some(BreakerState::Closed));
        // Read to the end, the same outcome counts.
        call(&mut service, "/a.S/M").await.unwrap_err();
        assert_eq!(layer.state("/a.S/M"), Some(BreakerState::Open));
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_probe_frees_its_trial_slot() {
        let script = script(&[Outcome::Err(Code::Unavailable)]);
        let (inner, calls) = scripted(&script);
        let layer = CircuitBreakerLayer::new(config(1));
        let mut service = layer.layer(inner);
        call(&mut service, "/a.S/M").await.unwrap_err();
        tokio::time::advance(Duration::from_secs(2)).await;
        let probe = service.ready().await.unwrap().call(request("/a.S/M"));
        assert!(
            call(&mut service, "/a.S/M").await.is_err(),
            "the slot is taken"
        );
        drop(probe);
        call(&mut service, "/a.S/M").await.unwrap();
        assert_eq!(layer.state("/a.S/M"), Some(BreakerState::Closed));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn local_refusals_and_cancellations_say_nothing_about_the_server() {
        let layer = CircuitBreakerLayer::new(config(1));
        let mut service = layer.layer(tower::service_fn(|request: http::Request<()>| {
            let status = match request.uri().path() {
                "/shed" => Status::unavailable("shed here").with_progress(Progress::NotSent),
                _ => Status::deadline_exceeded("gave up").with_origin(Origin::Cancelled),
            };
            async move { Err::<http::Response<TestBody>, _>(status) }
        }));
        for path in ["/shed", "/cancelled", "/shed"] {
            let status = call(&mut service, path).await.unwrap_err();
            assert_ne!(status.message(), "circuit breaker channel is open");
        }
        assert_eq!(layer.state("/x"), Some(BreakerState::Closed));
    }

    #[tokio::test(start_paused = true)]
    async fn per_method_breakers_are_isolated_and_named_by_path() {
        let script = script(&[Outcome::Err(Code::Unavailable)]);
        let (inner, _) = scripted(&script);
        let (layer, changes) = observed(CircuitBreakerLayer::new(config(1)).per_method());
        let mut service = layer.layer(inner);
        assert_eq!(layer.state("/a.S/Bad"), None, "made on first use");
        call(&mut service, "/a.S/Bad").await.unwrap_err();
        assert_eq!(layer.state("/a.S/Bad"), Some(BreakerState::Open));
        let status = call(&mut service, "/a.S/Bad").await.unwrap_err();
        assert_eq!(status.message(), "circuit breaker /a.S/Bad is open");
        call(&mut service, "/a.S/Good").await.unwrap();
        assert_eq!(layer.state("/a.S/Good"), Some(BreakerState::Closed));
        assert_eq!(changes.lock().unwrap()[0].0, "/a.S/Bad");

        // The typed client's GrpcMethod extension names the method.
        let mut request = request("/a.S/Good");
        request.extensions_mut().insert(GrpcMethod::new(
            http::uri::PathAndQuery::from_static("/a.S/Bad"),
            MethodKind::Unary,
        ));
        let status = service
            .ready()
            .await
            .unwrap()
            .call(request)
            .await
            .unwrap_err();
        assert_eq!(status.message(), "circuit breaker /a.S/Bad is open");
    }

    #[tokio::test(start_paused = true)]
    async fn methods_past_the_cap_share_one_breaker() {
        let paths: Vec<&'static str> = (0..=MAX_METHOD_BREAKERS)
            .map(|i| &*Box::leak(format!("/a.S/M{i}").into_boxed_str()))
            .collect();
        let script = script(&[]);
        let (inner, _) = scripted(&script);
        let layer = CircuitBreakerLayer::new(config(1)).per_method().name("api");
        let mut service = layer.layer(inner);
        for path in &paths {
            call(&mut service, path).await.unwrap();
        }
        assert_eq!(
            layer.state(paths[MAX_METHOD_BREAKERS - 1]),
            Some(BreakerState::Closed)
        );
        assert_eq!(layer.state(paths[MAX_METHOD_BREAKERS]), None);
        let named = layer.shared.breaker("/a.S/another");
        assert_eq!(&*named.name, "api (other methods)");
    }

    #[test]
    fn services_are_send_sync_and_clone() {
        fn assert_send_sync<T: Send + Sync + Clone>() {}
        assert_send_sync::<CircuitBreakerLayer>();
        assert_send_sync::<CircuitBreaker<grpcx_transport::Channel>>();
    }
}
