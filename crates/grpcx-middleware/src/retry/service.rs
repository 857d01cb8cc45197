//! [`Retry`]: the service, and the future of its calls.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use grpcx_status::Status;
use grpcx_transport::{Body, BoxError, status_from_layer_error};
use pin_project::pin_project;
use tower::Service;

use super::call::{Call, Start};
use super::layer::{ChannelState, RetryLayer, Settings};

/// Retries and hedges calls as gRFC A6 says; made by [`RetryLayer`].
///
/// Its errors are [`Status`]es: the inner service's errors are converted
/// with [`status_from_layer_error`], and a call that fails after retries
/// ends with its last attempt's status (code, message, details, metadata),
/// which says how many attempts were made ([`Status::attempts`]), or with
/// a local `DEADLINE_EXCEEDED` when the deadline cut the retries short.
///
/// ```
/// use std::time::Duration;
/// use grpcx_middleware::retry::{CallPolicy, RetryLayer, RetryPolicy};
/// use grpcx_status::{Code, Status};
/// use grpcx_transport::Body;
/// use tower::{Service, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let policy = RetryPolicy::builder(3)
///     .initial_backoff(Duration::from_millis(10))
///     .max_backoff(Duration::from_millis(100))
///     .backoff_multiplier(2.0)
///     .retryable_codes([Code::Unavailable])
///     .build()?;
/// // A service that always fails, in place of a channel.
/// let mut service = ServiceBuilder::new()
///     .layer(RetryLayer::with_policy(CallPolicy::Retry(policy)))
///     .service_fn(|_request: http::Request<Body>| async {
///         Err::<http::Response<Body>, _>(Status::unavailable("down"))
///     });
/// let status = service.ready().await?.call(http::Request::new(Body::empty())).await.unwrap_err();
/// assert_eq!(status.code(), Code::Unavailable);
/// assert_eq!(status.attempts(), Some(3));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Retry<S> {
    inner: S,
    settings: Arc<Settings>,
    channel: Arc<ChannelState>,
}

/// The future of a [`Retry`] call.
///
/// The first attempt is polled in place, without boxing; a call that needs
/// another attempt, or hedges, continues in a boxed future.
#[pin_project]
pub struct ResponseFuture<S, B>
where
    S: Service<http::Request<Body>>,
{
    #[pin]
    state: State<S, B>,
}

type BoxFuture<B> = Pin<Box<dyn Future<Output = Result<http::Response<B>, Status>> + Send>>;

// The call is boxed (see `Call::start`) next to the first attempt's
// future.
#[pin_project(project = StateProj)]
enum State<S, B>
where
    S: Service<http::Request<Body>>,
{
    First {
        #[pin]
        future: S::Future,
        call: Option<Box<Call<S>>>,
    },
    Boxed {
        future: BoxFuture<B>,
    },
}

impl<S> Retry<S> {
    /// Wraps `inner` with `layer`'s settings, throttle and replay budget.
    pub fn new(inner: S, layer: &RetryLayer) -> Retry<S> {
        Retry {
            inner,
            settings: layer.settings.clone(),
            channel: layer.channel.clone(),
        }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, B> Service<http::Request<Body>> for Retry<S>
where
    S: Service<http::Request<Body>, Response = http::Response<B>> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = http::Response<B>;
    type Error = Status;
    type Future = ResponseFuture<S, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
        self.inner
            .poll_ready(cx)
            .map_err(|err| status_from_layer_error(err.into()))
    }

    fn call(&mut self, mut request: http::Request<Body>) -> ResponseFuture<S, B> {
        // The service made ready makes the first attempt; the call keeps a
        // clone for later ones.
        let start = Call::start(
            self.inner.clone(),
            &mut request,
            &self.settings,
            &self.channel,
        );
        let state = match start {
            Start::Retry(call) => State::First {
                future: self.inner.call(request),
                call: Some(call),
            },
            Start::Hedge(mut call, policy) => {
                call.swap_inner(&mut self.inner);
                State::Boxed {
                    future: Box::pin((*call).hedge(request, policy)),
                }
            }
        };
        ResponseFuture { state }
    }
}

impl<S, B> Future for ResponseFuture<S, B>
where
    S: Service<http::Request<Body>, Response = http::Response<B>> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Output = Result<http::Response<B>, Status>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let mut this = self.as_mut().project();
            let next = match this.state.as_mut().project() {
                StateProj::Boxed { future } => return future.as_mut().poll(cx),
                StateProj::First { future, call } => {
                    let result = ready!(future.poll(cx));
                    let Some(call) = call.take() else {
                        return Poll::Ready(Err(Status::internal(
                            "a retry future was polled after it completed",
                        )));
                    };
                    match result {
                        Ok(mut response) => {
                            call.commit(&mut response);
                            return Poll::Ready(Ok(response));
                        }
                        Err(err) => {
                            let status = status_from_layer_error(err.into());
                            State::Boxed {
                                future: Box::pin((*call).retry(status)),
                            }
                        }
                    }
                }
            };
            this.state.set(next);
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for Retry<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retry")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, B> fmt::Debug for ResponseFuture<S, B>
where
    S: Service<http::Request<Body>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
