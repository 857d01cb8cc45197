//! [`InterceptorLayer`] and [`Intercepted`]: the tower middleware that runs
//! an [`Interceptor`] before each call.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use grpcx_status::__private::StatusInternals as _;
use grpcx_status::{Origin, Progress, Status};
use grpcx_transport::{BoxError, status_from_layer_error};
use pin_project::pin_project;
use tower::{Layer, Service};

use super::{CallHead, Interceptor, Side};

/// Runs an [`Interceptor`] before every call of the service it wraps, on
/// a client stack or in a server's layers alike. See the
/// [module docs](super).
pub struct InterceptorLayer<I> {
    interceptor: Arc<I>,
}

/// A service that runs an [`Interceptor`] on each call's head before
/// passing the call on, or fails the call with the interceptor's status.
/// Made by [`InterceptorLayer`].
///
/// A rejected call never reaches the inner service: on the server the
/// handler does not start. Its status gets origin
/// [`Origin::Application`], and on the client [`Progress::NotSent`] too,
/// since nothing was sent. An inner error becomes a status through
/// [`status_from_layer_error`].
pub struct Intercepted<S, I> {
    inner: S,
    interceptor: Arc<I>,
}

/// The future of a call through [`Intercepted`]: the interceptor, then
/// the inner call.
#[pin_project]
pub struct ResponseFuture<S, F, B>
where
    S: Service<http::Request<B>>,
{
    #[pin]
    state: State<S, F, B>,
}

#[pin_project(project = StateProj)]
enum State<S, F, B>
where
    S: Service<http::Request<B>>,
{
    Intercepting {
        #[pin]
        future: F,
        /// The inner service, ready for this call.
        service: Option<S>,
        body: Option<B>,
        side: Side,
    },
    Calling {
        #[pin]
        future: S::Future,
    },
}

impl<I> InterceptorLayer<I> {
    /// A layer running `interceptor`.
    pub fn new(interceptor: I) -> InterceptorLayer<I> {
        InterceptorLayer {
            interceptor: Arc::new(interceptor),
        }
    }

    /// The interceptor.
    pub fn interceptor(&self) -> &I {
        &self.interceptor
    }
}

impl<I> Clone for InterceptorLayer<I> {
    fn clone(&self) -> Self {
        InterceptorLayer {
            interceptor: Arc::clone(&self.interceptor),
        }
    }
}

impl<I> fmt::Debug for InterceptorLayer<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InterceptorLayer").finish_non_exhaustive()
    }
}

impl<S, I> Layer<S> for InterceptorLayer<I> {
    type Service = Intercepted<S, I>;

    fn layer(&self, inner: S) -> Intercepted<S, I> {
        Intercepted {
            inner,
            interceptor: Arc::clone(&self.interceptor),
        }
    }
}

impl<S, I> Intercepted<S, I> {
    /// Wraps `inner`, running `interceptor` before each call.
    pub fn new(inner: S, interceptor: I) -> Intercepted<S, I> {
        Intercepted {
            inner,
            interceptor: Arc::new(interceptor),
        }
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

impl<S: Clone, I> Clone for Intercepted<S, I> {
    fn clone(&self) -> Self {
        Intercepted {
            inner: self.inner.clone(),
            interceptor: Arc::clone(&self.interceptor),
        }
    }
}

impl<S: fmt::Debug, I> fmt::Debug for Intercepted<S, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Intercepted")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, I, B> Service<http::Request<B>> for Intercepted<S, I>
where
    S: Service<http::Request<B>> + Clone,
    S::Error: Into<BoxError>,
    I: Interceptor,
{
    type Response = S::Response;
    type Error = Status;
    type Future = ResponseFuture<S, I::Future, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
        self.inner
            .poll_ready(cx)
            .map_err(|err| status_from_layer_error(err.into()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let (parts, body) = request.into_parts();
        let head = CallHead::from_parts(parts);
        let side = head.side();
        // The service made ready by `poll_ready` goes with this call, which
        // calls it once the interceptor is done; a clone stays for the next.
        let clone = self.inner.clone();
        let service = std::mem::replace(&mut self.inner, clone);
        ResponseFuture {
            state: State::Intercepting {
                future: self.interceptor.intercept(head),
                service: Some(service),
                body: Some(body),
                side,
            },
        }
    }
}

impl<S, F, B> Future for ResponseFuture<S, F, B>
where
    S: Service<http::Request<B>>,
    S::Error: Into<BoxError>,
    F: Future<Output = Result<CallHead, Status>>,
{
    type Output = Result<S::Response, Status>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let mut this = self.as_mut().project();
            let call = match this.state.as_mut().project() {
                StateProj::Calling { future } => {
                    return future
                        .poll(cx)
                        .map_err(|err| status_from_layer_error(err.into()));
                }
                StateProj::Intercepting {
                    future,
                    service,
                    body,
                    side,
                } => match ready!(future.poll(cx)) {
                    Err(status) => return Poll::Ready(Err(rejected(status, *side))),
                    Ok(head) => match (service.take(), body.take()) {
                        (Some(mut service), Some(body)) => {
                            service.call(http::Request::from_parts(head.into_parts(), body))
                        }
                        _ => {
                            return Poll::Ready(Err(Status::internal(
                                "an interceptor's future was polled after it completed",
                            )));
                        }
                    },
                },
            };
            this.state.set(State::Calling { future: call });
        }
    }
}

impl<S, F, B> fmt::Debug for ResponseFuture<S, F, B>
where
    S: Service<http::Request<B>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Intercepting { .. } => "intercepting",
            State::Calling { .. } => "calling",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}

/// The status of a call an interceptor rejected.
fn rejected(status: Status, side: Side) -> Status {
    let status = status.with_origin(Origin::Application);
    match side {
        Side::Client => status.with_progress(Progress::NotSent),
        Side::Server => status,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use grpcx_status::Code;
    use grpcx_transport::CallContext;
    use tower::ServiceExt as _;

    use super::super::{interceptor_fn, sync_interceptor_fn};
    use super::*;

    /// The `authorization` of each call an inner service got.
    type Seen = Arc<Mutex<Vec<Option<String>>>>;

    /// An inner service that records the `authorization` it got and how
    /// often it was called.
    fn recording() -> (
        impl Service<http::Request<()>, Response = http::Response<()>, Error = Status> + Clone,
        Seen,
    ) {
        let seen = Seen::default();
        let recorded = Arc::clone(&seen);
        let service = tower::service_fn(move |request: http::Request<()>| {
            let auth = request
                .headers()
                .get("authorization")
                .map(|v| v.to_str().unwrap().to_owned());
            recorded.lock().unwrap().push(auth);
            async { Ok(http::Response::new(())) }
        });
        (service, seen)
    }

    fn request(server: bool) -> http::Request<()> {
        let mut request = http::Request::new(());
        *request.uri_mut() = http::Uri::from_static("/a.B/C");
        if server {
            request
                .extensions_mut()
                .insert(CallContext::detached().clone());
        }
        request
    }

    #[tokio::test]
    async fn an_accepted_call_goes_on_with_what_the_interceptor_set() {
        let (inner, seen) = recording();
        let layer = InterceptorLayer::new(sync_interceptor_fn(|call: &mut CallHead| {
            call.metadata_mut()
                .insert("authorization", "Bearer t")
                .map_err(|err| Status::internal(err.to_string()))?;
            Ok(())
        }));
        let mut service = layer.layer(inner);
        service
            .ready()
            .await
            .unwrap()
            .call(request(false))
            .await
            .unwrap();
        assert_eq!(*seen.lock().unwrap(), [Some("Bearer t".to_owned())]);
    }

    #[tokio::test]
    async fn a_rejected_call_never_reaches_the_inner_service() {
        for side in [Side::Client, Side::Server] {
            let (inner, seen) = recording();
            let layer = InterceptorLayer::new(sync_interceptor_fn(|_: &mut CallHead| {
                Err(Status::unauthenticated("who are you").with_origin(Origin::Peer))
            }));
            let mut service = layer.layer(inner);
            let status = service
                .ready()
                .await
                .unwrap()
                .call(request(side == Side::Server))
                .await
                .unwrap_err();
            assert_eq!(status.code(), Code::Unauthenticated);
            assert_eq!(status.message(), "who are you");
            assert_eq!(status.origin(), Origin::Application, "made here");
            let progress = match side {
                Side::Client => Progress::NotSent,
                Side::Server => Progress::Processed,
            };
            assert_eq!(status.progress(), progress, "{side:?}");
            assert!(seen.lock().unwrap().is_empty());
        }
    }

    #[tokio::test]
    async fn an_async_interceptor_holds_the_call_until_it_answers() {
        let (inner, seen) = recording();
        let (tx, rx) = tokio::sync::oneshot::channel::<String>();
        let rx = Arc::new(tokio::sync::Mutex::new(Some(rx)));
        let layer = InterceptorLayer::new(interceptor_fn(move |mut call: CallHead| {
            let rx = Arc::clone(&rx);
            async move {
                let token = match rx.lock().await.take() {
                    Some(rx) => rx.await.map_err(|_| Status::internal("no token"))?,
                    None => return Err(Status::internal("no token")),
                };
                call.metadata_mut()
                    .insert("authorization", &token)
                    .map_err(|err| Status::internal(err.to_string()))?;
                Ok(call)
            }
        }));
        let mut service = layer.layer(inner);
        let mut call = std::pin::pin!(service.ready().await.unwrap().call(request(false)));
        let pending =
            std::future::poll_fn(|cx| Poll::Ready(call.as_mut().poll(cx).is_pending())).await;
        assert!(pending);
        assert!(seen.lock().unwrap().is_empty(), "not called while waiting");
        tx.send("Bearer late".to_owned()).unwrap();
        call.await.unwrap();
        assert_eq!(*seen.lock().unwrap(), [Some("Bearer late".to_owned())]);
    }

    #[tokio::test]
    async fn inner_errors_become_statuses() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&calls);
        let inner = tower::service_fn(move |_: http::Request<()>| {
            counted.fetch_add(1, Ordering::SeqCst);
            async { Err::<http::Response<()>, BoxError>("a secret failure".into()) }
        });
        let mut service = Intercepted::new(inner, sync_interceptor_fn(|_: &mut CallHead| Ok(())));
        let status = service
            .ready()
            .await
            .unwrap()
            .call(request(false))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unknown);
        assert!(!status.message().contains("secret"));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn layers_and_services_are_send_sync_and_clone() {
        fn check<T: Send + Sync + Clone>(_: &T) {}
        let layer = InterceptorLayer::new(sync_interceptor_fn(|_: &mut CallHead| Ok(())));
        check(&layer);
        check(
            &layer.layer(
                grpcx_transport::Endpoint::new("http://x")
                    .unwrap()
                    .connect_lazy(),
            ),
        );
    }
}
