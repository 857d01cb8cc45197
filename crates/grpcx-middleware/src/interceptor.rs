//! Async interceptors for clients and servers: look at a call before it
//! goes on, change its metadata, deadline or extensions, or reject it with
//! a [`Status`].
//!
//! An [`Interceptor`] gets the call's head as a [`CallHead`] (its
//! metadata as a validated [`Metadata`](grpcx_status::Metadata), its
//! method, its deadline, its extensions, and on the server its
//! [`CallContext`](grpcx_transport::CallContext)) and gives it back, changed or
//! not, or fails the call with a `Status`. It is **async**: it may await a
//! token cache, a remote authorization check or a rate limiter before
//! answering, which synchronous interceptors cannot do without a
//! hand-written tower service.
//!
//! [`InterceptorLayer`] runs one as a tower layer, on either side:
//!
//! - **Client**: in a stack over a `Channel`, under the typed client
//!   (`Grpc` or a generated client), to add credentials or a request id,
//!   shorten a deadline, or refuse a call locally. A refused call fails
//!   with the interceptor's status, origin
//!   [`Origin::Application`](grpcx_status::Origin::Application) and
//!   [`Progress::NotSent`](grpcx_status::Progress::NotSent): it never left
//!   the client, so a retry layer knows it is safe to send again.
//! - **Server**: with `Server::layer` (every call, unknown methods
//!   included) or `Server::add_layered_service` (one service), to check
//!   credentials and hand what they prove to the handler through the
//!   request's extensions, which the handler reads with
//!   `Request::extensions`. A refused call ends with the interceptor's
//!   status, details and all, and its handler never starts.
//!
//! Write one with [`interceptor_fn`] from an async closure, with
//! [`sync_interceptor_fn`] from a closure that only needs `&mut CallHead`,
//! or implement [`Interceptor`] on a type of your own.
//!
//! # Where it goes in a client stack
//!
//! Layers run from the outside in. An interceptor **outside** a retry
//! layer runs once per call, and every attempt sends what it set; one
//! **inside** runs once per attempt, so each attempt gets, say, a fresh
//! token or its own request id. An interceptor that refuses calls belongs
//! outside: a refusal is final, and inside it would only make the retry
//! layer try again.
//!
//! ```text
//! ServiceBuilder::new()
//!     .layer(InterceptorLayer::new(auth))     // once per call
//!     .layer(retry)
//!     .layer(InterceptorLayer::new(stamp))    // once per attempt
//!     .service(channel)
//! ```
//!
//! # Examples
//!
//! A client that sends a token it awaits from a cache:
//!
//! ```
//! use std::sync::Arc;
//! use grpcx_middleware::interceptor::{CallHead, InterceptorLayer, interceptor_fn};
//! use grpcx_status::Status;
//! use grpcx_transport::Body;
//! use tokio::sync::RwLock;
//! use tower::{Service, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Status> {
//! let token = Arc::new(RwLock::new(String::from("secret-1")));
//! let auth = interceptor_fn(move |mut call: CallHead| {
//!     let token = token.clone();
//!     async move {
//!         let bearer = format!("Bearer {}", token.read().await);
//!         call.metadata_mut()
//!             .insert("authorization", &bearer)
//!             .map_err(|err| Status::internal(err.to_string()))?;
//!         Ok(call)
//!     }
//! });
//!
//! // In a real client the inner service is a `Channel`; this one shows
//! // what the channel would send.
//! let channel = tower::service_fn(|request: http::Request<Body>| async move {
//!     assert_eq!(request.headers()["authorization"], "Bearer secret-1");
//!     Ok::<_, Status>(http::Response::new(Body::empty()))
//! });
//! let mut client = tower::ServiceBuilder::new()
//!     .layer(InterceptorLayer::new(auth))
//!     .service(channel);
//! client.ready().await?.call(http::Request::new(Body::empty())).await?;
//! # Ok(())
//! # }
//! ```
//!
//! A server that admits only callers with an API key, and tells the
//! handler who they are:
//!
//! ```
//! use grpcx_middleware::interceptor::{CallHead, InterceptorLayer, sync_interceptor_fn};
//! use grpcx_status::{ErrorInfo, Status};
//! use grpcx_transport::Server;
//!
//! /// Who the caller is, for handlers: `request.extensions().get::<Caller>()`.
//! #[derive(Clone, Debug)]
//! struct Caller(String);
//!
//! let check = sync_interceptor_fn(|call: &mut CallHead| {
//!     let caller = match call.metadata().get("x-api-key") {
//!         Some("k-123") => Caller("billing".to_owned()),
//!         Some(_) => {
//!             return Err(Status::permission_denied("this key may not call the service")
//!                 .with_detail(ErrorInfo::new("KEY_NOT_ALLOWED", "example.com")));
//!         }
//!         None => return Err(Status::unauthenticated("an x-api-key is required")),
//!     };
//!     call.extensions_mut().insert(caller);
//!     Ok(())
//! });
//! let server = Server::builder().layer(InterceptorLayer::new(check));
//! # drop(server);
//! ```

mod call;
mod layer;

use std::fmt;
use std::future::{Future, Ready};

use grpcx_status::Status;

pub use call::{CallHead, Side};
pub use layer::{Intercepted, InterceptorLayer, ResponseFuture};

/// Looks at a call's head before the call goes on: gives it back (changed
/// or not) to let the call through, or a [`Status`] to fail it with.
///
/// Run one with [`InterceptorLayer`]. Closures become interceptors with
/// [`interceptor_fn`] and [`sync_interceptor_fn`]; a type of your own
/// implements this trait, naming its future (no boxing is needed for a
/// future you can name):
///
/// ```
/// use std::future::{Ready, ready};
/// use grpcx_middleware::interceptor::{CallHead, Interceptor};
/// use grpcx_status::Status;
///
/// /// Refuses calls without an `x-tenant`.
/// struct RequireTenant;
///
/// impl Interceptor for RequireTenant {
///     type Future = Ready<Result<CallHead, Status>>;
///
///     fn intercept(&self, call: CallHead) -> Self::Future {
///         ready(match call.metadata().get("x-tenant") {
///             Some(_) => Ok(call),
///             None => Err(Status::invalid_argument("x-tenant is required")),
///         })
///     }
/// }
/// ```
pub trait Interceptor: Send + Sync + 'static {
    /// The future of [`intercept`](Self::intercept).
    type Future: Future<Output = Result<CallHead, Status>> + Send + 'static;

    /// Decides on the call whose head is `call`.
    ///
    /// # Errors
    ///
    /// The status to fail the call with (`UNAUTHENTICATED`,
    /// `PERMISSION_DENIED`, `RESOURCE_EXHAUSTED`, ...). Its code, message,
    /// details and metadata reach the caller as they are.
    fn intercept(&self, call: CallHead) -> Self::Future;
}

/// An [`Interceptor`] made of an async closure; see [`interceptor_fn`].
#[derive(Clone, Copy)]
pub struct InterceptorFn<F> {
    f: F,
}

/// An [`Interceptor`] made of a closure on `&mut CallHead`; see
/// [`sync_interceptor_fn`].
#[derive(Clone, Copy)]
pub struct SyncInterceptorFn<F> {
    f: F,
}

/// An interceptor that calls `f` with each call's head and awaits its
/// answer: the head to go on with, or the status to fail the call with.
///
/// ```
/// use std::time::Duration;
/// use grpcx_middleware::interceptor::{CallHead, interceptor_fn};
///
/// // Caps every call's deadline at 5s from now.
/// let cap = interceptor_fn(|mut call: CallHead| async move {
///     let cap = tokio::time::Instant::now() + Duration::from_secs(5);
///     if call.deadline().is_none_or(|deadline| deadline > cap) {
///         call.set_deadline(cap);
///     }
///     Ok(call)
/// });
/// # drop(cap);
/// ```
pub fn interceptor_fn<F, Fut>(f: F) -> InterceptorFn<F>
where
    F: Fn(CallHead) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<CallHead, Status>> + Send + 'static,
{
    InterceptorFn { f }
}

/// An interceptor that calls `f` with each call's head, to change it in
/// place or fail the call: for checks that need not await anything. Its
/// future is ready at once and costs no allocation.
pub fn sync_interceptor_fn<F>(f: F) -> SyncInterceptorFn<F>
where
    F: Fn(&mut CallHead) -> Result<(), Status> + Send + Sync + 'static,
{
    SyncInterceptorFn { f }
}

impl<F, Fut> Interceptor for InterceptorFn<F>
where
    F: Fn(CallHead) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<CallHead, Status>> + Send + 'static,
{
    type Future = Fut;

    fn intercept(&self, call: CallHead) -> Fut {
        (self.f)(call)
    }
}

impl<F> Interceptor for SyncInterceptorFn<F>
where
    F: Fn(&mut CallHead) -> Result<(), Status> + Send + Sync + 'static,
{
    type Future = Ready<Result<CallHead, Status>>;

    fn intercept(&self, mut call: CallHead) -> Self::Future {
        std::future::ready((self.f)(&mut call).map(|()| call))
    }
}

impl<F> fmt::Debug for InterceptorFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InterceptorFn").finish_non_exhaustive()
    }
}

impl<F> fmt::Debug for SyncInterceptorFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncInterceptorFn").finish_non_exhaustive()
    }
}
