//! [`ErrorAdvice`]: the service that applies an [`Advice`] to its calls.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::task::Poll;

use grpcx_status::Status;
use grpcx_transport::server::ResponseBody;
use grpcx_transport::{BoxError, CallContext, status_from_layer_error};
use http::HeaderValue;
use http::uri::PathAndQuery;
use tower::Service;

use super::future::ResponseFuture;
use super::handlers::{Advice, CallInfo, panic_status};

/// The header whose value, when a client sends it, is logged next to the
/// advice's correlation id.
const CLIENT_REQUEST_ID: &str = "x-request-id";

/// The longest client request id logged; a longer one is not.
const MAX_CLIENT_REQUEST_ID: usize = 128;

/// A server service that applies an [`Advice`] to the final status of each
/// call of the service it wraps, and turns its panics into the advice's
/// redacted `INTERNAL` status.
///
/// It wraps a service answering `http::Response<ResponseBody>` (a server's
/// routes, one service's route, or a layer over them that keeps the body)
/// and answers the same: the body is the inner one, given the advice with
/// [`ResponseBody::map_status`], so the status that ends the call is mapped
/// whenever it comes (a unary error, a stream failing midway, the deadline,
/// an abort).
///
/// # Errors
///
/// When the inner service fails, or panics, before answering (in
/// `poll_ready`, `call` or its future), the call fails with the advised
/// `Status` as the service error, which the server sends as it is: the
/// redacted `INTERNAL` for a panic or an unmapped error (an inner layer's
/// error becomes a status as
/// [`status_from_layer_error`](grpcx_transport::status_from_layer_error)
/// says first), or what a handler mapped it to.
#[derive(Clone)]
pub struct ErrorAdvice<S> {
    inner: S,
    advice: Arc<Advice>,
}

impl<S> ErrorAdvice<S> {
    /// Wraps `inner` in `advice`.
    pub fn new(inner: S, advice: impl Into<Arc<Advice>>) -> ErrorAdvice<S> {
        ErrorAdvice {
            inner,
            advice: advice.into(),
        }
    }

    /// The advice applied.
    pub fn advice(&self) -> &Advice {
        &self.advice
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, to change it.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The wrapped service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, B> Service<http::Request<B>> for ErrorAdvice<S>
where
    S: Service<http::Request<B>, Response = http::Response<ResponseBody>>,
    S::Error: Into<BoxError>,
{
    type Response = http::Response<ResponseBody>;
    type Error = Status;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> Poll<Result<(), Status>> {
        let inner = &mut self.inner;
        let status = match catch_unwind(AssertUnwindSafe(|| inner.poll_ready(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(Ok(()))) => return Poll::Ready(Ok(())),
            Ok(Poll::Ready(Err(err))) => status_from_layer_error(err.into()),
            Err(panic) => panic_status(&*panic),
        };
        Poll::Ready(Err(self.advice.advise(status, &CallInfo::default())))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let call = Call::of(&request);
        let inner = &mut self.inner;
        match catch_unwind(AssertUnwindSafe(|| inner.call(request))) {
            Ok(future) => ResponseFuture::new(future, self.advice.clone(), call),
            Err(panic) => {
                ResponseFuture::failed(self.advice.advise(panic_status(&*panic), &call.info()))
            }
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for ErrorAdvice<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ErrorAdvice")
            .field("inner", &self.inner)
            .field("advice", &self.advice)
            .finish()
    }
}

/// What a call's advice keeps of its request, for handlers and the log:
/// reference counts, no copy.
#[derive(Default)]
pub(crate) struct Call {
    /// The call's context, whose method is the path: the server puts it in
    /// the extensions of every request that goes through layers.
    context: Option<CallContext>,
    /// The path, when there is no context (a service used on its own).
    path: Option<PathAndQuery>,
    client_request_id: Option<HeaderValue>,
}

impl Call {
    fn of<B>(request: &http::Request<B>) -> Call {
        let context = request.extensions().get::<CallContext>().cloned();
        let path = match context {
            Some(_) => None,
            None => request.uri().path_and_query().cloned(),
        };
        Call {
            context,
            path,
            client_request_id: request
                .headers()
                .get(CLIENT_REQUEST_ID)
                .filter(|value| value.len() <= MAX_CLIENT_REQUEST_ID)
                .cloned(),
        }
    }

    pub(crate) fn info(&self) -> CallInfo<'_> {
        let method = match (&self.context, &self.path) {
            (Some(context), _) => context.method(),
            (None, Some(path)) => path.path(),
            (None, None) => "",
        };
        CallInfo {
            method,
            client_request_id: self
                .client_request_id
                .as_ref()
                .and_then(|value| value.to_str().ok()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use bytes::Bytes;
    use grpcx_codec::ProstCodec;
    use grpcx_status::{Code, RequestInfo, ResourceInfo};
    use grpcx_transport::server::{ServerCall, handler};
    use grpcx_transport::{Body, Response, ServerRequest};
    use http_body_util::BodyExt as _;
    use tower::{Layer as _, ServiceExt as _};

    use super::*;
    use crate::advice::ErrorAdviceLayer;
    use crate::advice::handlers::Failure;
    use crate::advice::test_log::Recording;

    #[derive(Debug, thiserror::Error)]
    #[error("product {0} not found")]
    struct ProductNotFound(&'static str);

    fn not_found(err: &ProductNotFound, _: &Failure<'_>) -> Status {
        Status::not_found("no such product")
            .with_detail(ResourceInfo::new("product", err.0, "", ""))
    }

    fn domain_error() -> Status {
        Status::unknown("x").with_source(ProductNotFound("sku-1"))
    }

    fn secret_error() -> Status {
        Status::internal("select failed").with_source(std::io::Error::other("secret /srv/db"))
    }

    /// A request for `/t.S/<method>` with one empty message.
    fn request(method: &str) -> http::Request<Body> {
        let mut request = http::Request::new(Body::from(Bytes::from_static(&[0, 0, 0, 0, 0])));
        *request.uri_mut() = format!("/t.S/{method}").parse().unwrap();
        request
    }

    type Messages = futures_util::stream::BoxStream<'static, Result<String, Status>>;

    /// `Ok`, `Fail` (the status `fail` makes), `Panic`, `Stream` (two
    /// messages, then `fail`), `StreamPanic` (one message, then a panic).
    fn handlers(
        fail: fn() -> Status,
    ) -> impl Service<
        http::Request<Body>,
        Response = http::Response<ResponseBody>,
        Error = Infallible,
        Future = impl Send,
    > + Clone {
        tower::service_fn(move |request: http::Request<Body>| async move {
            let call = ServerCall::new(request);
            let method = call.context().method().to_owned();
            let codec = ProstCodec::<String, String>::default();
            let response = match method.as_str() {
                "/t.S/Ok" => {
                    handler::unary(call, codec, |_: ServerRequest<String>| async {
                        Ok::<_, Status>(Response::new("hi".to_owned()))
                    })
                    .await
                }
                "/t.S/Fail" => {
                    handler::unary(call, codec, move |_: ServerRequest<String>| async move {
                        Err::<Response<String>, _>(fail())
                    })
                    .await
                }
                "/t.S/Panic" => {
                    handler::unary(call, codec, |_: ServerRequest<String>| async {
                        if method.len() > 1 {
                            panic!("boom at /srv/secret");
                        }
                        Ok::<_, Status>(Response::new(String::new()))
                    })
                    .await
                }
                "/t.S/Stream" | "/t.S/StreamPanic" => {
                    let panics = method.ends_with("Panic");
                    handler::server_streaming(
                        call,
                        codec,
                        move |_: ServerRequest<String>| async move {
                            let messages: Messages = if panics {
                                Box::pin(futures_util::stream::unfold(0, |n| async move {
                                    if n == 1 {
                                        panic!("kaboom at /srv/secret");
                                    }
                                    Some((Ok("one".to_owned()), n + 1))
                                }))
                            } else {
                                Box::pin(futures_util::stream::iter([
                                    Ok("one".to_owned()),
                                    Ok("two".to_owned()),
                                    Err(fail()),
                                ]))
                            };
                            Ok::<_, Status>(Response::new(messages))
                        },
                    )
                    .await
                }
                _ => call.unimplemented(),
            };
            Ok::<_, Infallible>(response)
        })
    }

    /// The messages (their count) and the final status of a response.
    async fn end(response: http::Response<ResponseBody>) -> (usize, Status) {
        let collected = response.into_body().collect().await.unwrap();
        let trailers = collected.trailers().cloned().unwrap();
        let mut data = collected.to_bytes();
        let mut messages = 0;
        while data.len() >= 5 {
            let len = u32::from_be_bytes([data[1], data[2], data[3], data[4]]) as usize;
            data = data.slice(5 + len..);
            messages += 1;
        }
        (messages, Status::from_header_map(&trailers).unwrap())
    }

    fn request_id(status: &Status) -> String {
        status.get_detail::<RequestInfo>().unwrap().request_id
    }

    #[tokio::test]
    async fn a_unary_error_is_mapped_and_a_success_is_left_alone() {
        let service =
            ErrorAdviceLayer::new(Advice::new().on(not_found)).layer(handlers(domain_error));
        let response = service.clone().oneshot(request("Fail")).await.unwrap();
        let (_, status) = end(response).await;
        assert_eq!(status.code(), Code::NotFound);
        assert_eq!(status.message(), "no such product");
        assert_eq!(
            status.get_detail::<ResourceInfo>().unwrap().resource_name,
            "sku-1"
        );

        let response = service.oneshot(request("Ok")).await.unwrap();
        let (messages, status) = end(response).await;
        assert_eq!((messages, status.code()), (1, Code::Ok));
    }

    #[tokio::test]
    async fn a_stream_failing_midway_is_mapped_after_its_messages() {
        let service = ErrorAdvice::new(handlers(domain_error), Advice::new().on(not_found));
        let response = service.oneshot(request("Stream")).await.unwrap();
        let (messages, status) = end(response).await;
        assert_eq!(messages, 2);
        assert_eq!(status.code(), Code::NotFound);

        let recording = Recording::start();
        let service = ErrorAdvice::new(handlers(secret_error), Advice::new());
        let response = service.oneshot(request("Stream")).await.unwrap();
        let (messages, status) = end(response).await;
        assert_eq!(messages, 2);
        assert_eq!(status.code(), Code::Internal);
        let id = request_id(&status);
        assert!(!format!("{status:?}").contains("secret"), "{status:?}");
        let lines = recording.lines();
        let logged: Vec<_> = lines.iter().filter(|l| l.contains(&id)).collect();
        assert_eq!(logged.len(), 1, "{lines:#?}");
        assert!(logged[0].contains("secret /srv/db"), "{logged:?}");
        assert!(logged[0].contains("method=/t.S/Stream"), "{logged:?}");
    }

    #[tokio::test]
    async fn a_panicking_handler_fails_the_call_with_the_redacted_status_and_the_log_has_the_panic()
    {
        let recording = Recording::start();
        let service = ErrorAdvice::new(handlers(domain_error), Advice::new());
        let mut request = request("Panic");
        request
            .headers_mut()
            .insert("x-request-id", HeaderValue::from_static("client-7"));
        let status = service.oneshot(request).await.unwrap_err();
        assert_eq!(status.code(), Code::Internal);
        let id = request_id(&status);
        assert_eq!(
            status.message(),
            format!("internal server error; request id: {id}")
        );
        assert!(std::error::Error::source(&status).is_none());
        let lines = recording.lines();
        let logged: Vec<_> = lines.iter().filter(|l| l.contains(&id)).collect();
        assert_eq!(logged.len(), 1, "{lines:#?}");
        assert!(logged[0].starts_with("ERROR"), "{logged:?}");
        assert!(logged[0].contains("boom at /srv/secret"), "{logged:?}");
        assert!(
            logged[0].contains("client_request_id=client-7"),
            "{logged:?}"
        );
    }

    #[tokio::test]
    async fn a_response_stream_that_panics_midway_ends_with_the_redacted_status() {
        let recording = Recording::start();
        let service = ErrorAdvice::new(handlers(domain_error), Advice::new());
        let response = service.oneshot(request("StreamPanic")).await.unwrap();
        let (messages, status) = end(response).await;
        assert_eq!(messages, 1);
        assert_eq!(status.code(), Code::Internal);
        let id = request_id(&status);
        assert!(!status.message().contains("kaboom"));
        let lines = recording.lines();
        let logged: Vec<_> = lines.iter().filter(|l| l.contains(&id)).collect();
        assert_eq!(logged.len(), 1, "{lines:#?}");
        assert!(
            logged[0].contains("the handler panicked: kaboom at /srv/secret"),
            "{logged:?}"
        );
    }

    /// A service whose `call` panics, or whose future fails.
    #[derive(Clone)]
    struct Broken(bool);

    impl Service<http::Request<Body>> for Broken {
        type Response = http::Response<ResponseBody>;
        type Error = BoxError;
        type Future = std::future::Ready<Result<http::Response<ResponseBody>, BoxError>>;

        fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> Poll<Result<(), BoxError>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: http::Request<Body>) -> Self::Future {
            if self.0 {
                panic!("call panicked at /srv/secret");
            }
            std::future::ready(Err("layer failed at /srv/secret".into()))
        }
    }

    #[tokio::test]
    async fn a_panic_in_call_and_an_inner_layers_error_are_advised() {
        for panics in [true, false] {
            let recording = Recording::start();
            let service = ErrorAdvice::new(Broken(panics), Advice::new());
            let status = service.oneshot(request("Any")).await.unwrap_err();
            assert_eq!(status.code(), Code::Internal);
            assert!(!status.message().contains("secret"));
            let id = request_id(&status);
            let lines = recording.lines();
            assert!(
                lines
                    .iter()
                    .any(|l| l.contains(&id) && l.contains("at /srv/secret")),
                "{lines:#?}"
            );
        }
    }

    #[tokio::test]
    async fn stacked_advice_maps_a_status_once_the_inner_one_applying() {
        let inner_calls = std::sync::Arc::new(AtomicUsize::new(0));
        let counted = inner_calls.clone();
        let inner = Advice::new().on(move |err: &ProductNotFound, f: &Failure<'_>| {
            counted.fetch_add(1, Ordering::SeqCst);
            not_found(err, f)
        });
        let outer_calls = std::sync::Arc::new(AtomicUsize::new(0));
        let counted = outer_calls.clone();
        let outer = Advice::new().on(move |_: &ProductNotFound, _: &Failure<'_>| {
            counted.fetch_add(1, Ordering::SeqCst);
            Status::aborted("mapped again")
        });
        let (inner, outer) = (Arc::new(inner), Arc::new(outer));
        let recording = Recording::start();
        let cases = [
            (domain_error as fn() -> Status, Code::NotFound),
            (secret_error, Code::Internal),
        ];
        for (fail, code) in cases {
            let service = tower::ServiceBuilder::new()
                .layer(ErrorAdviceLayer::new(outer.clone()))
                .layer(ErrorAdviceLayer::new(inner.clone()))
                .service(handlers(fail));
            for method in ["Fail", "Stream"] {
                let response = service.clone().oneshot(request(method)).await.unwrap();
                let (_, status) = end(response).await;
                assert_eq!(status.code(), code, "{method}");
                if code == Code::Internal {
                    let id = request_id(&status);
                    let lines = recording.lines();
                    let logged = lines.iter().filter(|l| l.contains(&id)).count();
                    assert_eq!(logged, 1, "{lines:#?}");
                }
            }
        }
        assert_eq!(inner_calls.load(Ordering::SeqCst), 2);
        assert_eq!(outer_calls.load(Ordering::SeqCst), 0);
    }
}
