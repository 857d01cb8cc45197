//! [`Channel`] as a `tower::Service` of `http::Request`s: the wire-level
//! seam that tower layers wrap.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use grpcx_status::__private::StatusInternals as _;
use grpcx_status::{Code, Origin, Status};
use http::header::{CONTENT_TYPE, HeaderValue, TE, USER_AGENT};
use tokio::time::Instant;

use super::body::ResponseBody;
use super::channel::{Channel, Ready};
use super::connect::OpenCall;
use super::errors::{Refusal, deadline_status, not_sent, refusal, status_from_hyper};
use super::resend::Resend;
use super::span::ServerAuthority;
use crate::body::Body;
use crate::extensions::Deadline;
use crate::timeout::{GRPC_TIMEOUT, format_timeout};

/// The future of a call made through [`Channel`]'s `Service`
/// implementation: resolves when the response headers arrive.
pub struct ResponseFuture {
    inner: Pin<Box<dyn Future<Output = Result<http::Response<Body>, Status>> + Send>>,
}

impl Future for ResponseFuture {
    type Output = Result<http::Response<Body>, Status>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl fmt::Debug for ResponseFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

/// A channel sends gRPC requests as they are and returns the response
/// head; it is what tower layers (retry, limits, tracing) wrap.
///
/// The request is a gRPC request made by the typed front
/// ([`Grpc`](super::Grpc)) or by hand: its URI's path names the method
/// (the channel fills in the scheme and authority), its body is framed
/// messages. The channel adds `te: trailers`, and `content-type:
/// application/grpc` and its `user-agent` when absent. The call's deadline
/// is the request's [`Deadline`] extension, or else the endpoint's default
/// timeout from now; each time the request goes on the wire,
/// `grpc-timeout` is the time left then.
///
/// # The line between `Err` and `Ok`
///
/// - `Err(status)`: the call ended before any response headers. The
///   server answered Trailers-Only with a non-`OK` status (origin
///   [`Origin::Peer`]), or no connection could be made, the deadline
///   passed, the stream was refused or reset, the connection was lost.
///   [`Status::progress`] says how far the call got:
///   [`NotSent`](grpcx_status::Progress::NotSent) (it never left this
///   client), [`Refused`](grpcx_status::Progress::Refused) (the server's
///   HTTP/2 layer refused the stream: `REFUSED_STREAM`, or a GOAWAY whose
///   last stream id is below it), or
///   [`Processed`](grpcx_status::Progress::Processed).
/// - `Ok(response)`: response headers arrived and the call is committed
///   (gRFC A6). Messages and trailers follow in the [`Body`]; a later
///   failure, including the deadline, comes out of the body as its
///   error. A Trailers-Only answer with status `OK` is `Ok` too: its
///   headers hold the status (`grpc-status: 0`) and the body is empty.
///
/// A request the connection gave back unsent (it was going away) is sent
/// once more on a new connection. So is one whose stream the server's
/// HTTP/2 layer refused (`REFUSED_STREAM`, or above a GOAWAY's last stream
/// id), which the server never processed, when its body is one chunk of
/// `Bytes` (a copy is kept until the response headers arrive): gRFC A6's
/// transparent retry, done whatever the retry policy. A proxy that
/// recycles its connections relies on it. Nothing that may have been
/// processed is ever sent twice here.
impl<B> tower::Service<http::Request<B>> for Channel
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Status>,
{
    type Response = http::Response<Body>;
    type Error = Status;
    type Future = ResponseFuture;

    /// Always ready: the connection is made (or found failing) by `call`.
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> ResponseFuture {
        ResponseFuture {
            inner: Box::pin(self.clone().send(request.map(Body::new))),
        }
    }
}

impl Channel {
    /// Sends `request` and waits for the response head; the deadline is
    /// the request's [`Deadline`] extension.
    fn send(
        self,
        request: http::Request<Body>,
    ) -> impl Future<Output = Result<http::Response<Body>, Status>> + Send + 'static {
        let deadline = request.extensions().get::<Deadline>().map(|d| d.instant());
        // The typed client's span, when enabled, wants the server's address.
        if let Some(slot) = request.extensions().get::<ServerAuthority>() {
            slot.set(&self.endpoint().authority);
        }
        self.send_until(request, deadline)
    }

    /// Sends `request` with `deadline` (the endpoint's default timeout from
    /// now when `None`) and waits for the response head: what
    /// [`Grpc`](super::Grpc) calls directly over a bare channel, with no
    /// extensions to fill and no future to box.
    pub(crate) async fn send_until(
        self,
        mut request: http::Request<Body>,
        deadline: Option<Instant>,
    ) -> Result<http::Response<Body>, Status> {
        let endpoint = self.endpoint();
        let now = Instant::now();
        // A timeout too long to represent is no deadline at all.
        let deadline = deadline.or_else(|| endpoint.timeout.and_then(|t| now.checked_add(t)));
        let timeout = deadline.map(|d| d.saturating_duration_since(now));
        if deadline.is_some_and(|d| d <= now) {
            return Err(not_sent(deadline_status(timeout)));
        }
        // Taken before `prepare`: the head is smaller then (a typed call's
        // fits inline), and `prepare` runs again on the copy.
        let resend = Resend::of(&mut request);
        self.prepare(&mut request)?;

        // Whether hyper has taken the request: a deadline before that
        // leaves the call unsent.
        let sent = AtomicBool::new(false);
        let exchange = self.exchange(request, resend, deadline, &sent);
        let exchanged = match deadline {
            Some(at) => match tokio::time::timeout_at(at, exchange).await {
                Ok(result) => result,
                Err(_) => {
                    let status = deadline_status(timeout);
                    Err(if sent.load(Ordering::Relaxed) {
                        status
                    } else {
                        not_sent(status)
                    })
                }
            },
            None => exchange.await,
        };
        let (response, open) =
            exchanged.map_err(|status| super::grpc::after_deadline(status, deadline, timeout))?;
        let (parts, body) = response.into_parts();
        // A status in the headers: Trailers-Only (or an error page that
        // still speaks gRPC).
        if let Some(status) = Status::from_header_map(&parts.headers) {
            if status.code() == Code::Ok && parts.status == http::StatusCode::OK {
                return Ok(http::Response::from_parts(parts, Body::empty()));
            }
            return Err(super::grpc::after_deadline(status, deadline, timeout));
        }
        // No gRPC status, and either an HTTP error or a response that
        // already ended: the code comes from the HTTP status (200 gives
        // UNKNOWN), as gRPC's http-grpc-status-mapping says.
        if parts.status != http::StatusCode::OK || http_body::Body::is_end_stream(&body) {
            return Err(super::errors::status_from_http(parts.status));
        }
        let content_type = parts.headers.get(CONTENT_TYPE).map(HeaderValue::as_bytes);
        if !content_type.is_some_and(crate::protocol::is_grpc_content_type) {
            let shown = content_type.map_or_else(
                || "none".to_owned(),
                |v| String::from_utf8_lossy(v).into_owned(),
            );
            return Err(Status::unknown(format!(
                "the server answered with content-type {shown:?}, not application/grpc"
            ))
            .with_origin(Origin::Protocol));
        }
        let body = Body::response(ResponseBody::new(body, deadline, timeout, open));
        Ok(http::Response::from_parts(parts, body))
    }

    /// Fills in what the channel owns in a request head.
    fn prepare(&self, request: &mut http::Request<Body>) -> Result<(), Status> {
        let endpoint = self.endpoint();
        if request.uri().scheme().is_none() || request.uri().authority().is_none() {
            let path = request
                .uri()
                .path_and_query()
                .cloned()
                .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/"));
            *request.uri_mut() = http::Uri::builder()
                .scheme(endpoint.scheme.clone())
                .authority(endpoint.authority.clone())
                .path_and_query(path)
                .build()
                .map_err(|err| not_sent(Status::internal(format!("invalid request URI: {err}"))))?;
        }
        *request.method_mut() = http::Method::POST;
        let headers = request.headers_mut();
        headers.insert(TE, HeaderValue::from_static("trailers"));
        if !headers.contains_key(CONTENT_TYPE) {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        }
        if !headers.contains_key(USER_AGENT) {
            headers.insert(USER_AGENT, endpoint.user_agent.clone());
        }
        Ok(())
    }

    /// Gets a connection and sends the request on it; a request the
    /// connection gives back unsent goes once more, on a new connection.
    ///
    /// So does `resend`, the request's copy, when the server's HTTP/2
    /// layer refuses the stream: the server never processed it, and gRFC
    /// A6 sends such a call once more whatever the retry policy, as
    /// grpc-go, grpc-java and gRPC C-core do. A proxy that recycles its
    /// connections (nginx after 1,000 requests) sends a GOAWAY whose last
    /// stream id is below the streams in flight; without this, each
    /// recycling failed the calls in flight with `UNAVAILABLE`.
    async fn exchange(
        &self,
        mut request: http::Request<Body>,
        mut resend: Option<Box<Resend>>,
        deadline: Option<Instant>,
        sent: &AtomicBool,
    ) -> Result<(http::Response<hyper::body::Incoming>, OpenCall), Status> {
        let mut retried = false;
        loop {
            let Ready {
                mut sender,
                generation,
                open,
            } = self.sender().await?;
            // Counted from now until the response body is dropped.
            let open = OpenCall::new(&open);
            if let Some(deadline) = deadline {
                let left = deadline.saturating_duration_since(Instant::now());
                request
                    .headers_mut()
                    .insert(GRPC_TIMEOUT, format_timeout(left));
            }
            sent.store(true, Ordering::Relaxed);
            match sender.try_send_request(request).await {
                Ok(response) => return Ok((response, open)),
                Err(mut err) => match err.take_message() {
                    Some(unsent) => {
                        sent.store(false, Ordering::Relaxed);
                        self.forget(generation);
                        let status = status_from_hyper(err.error());
                        if retried {
                            return Err(not_sent(status));
                        }
                        retried = true;
                        request = unsent;
                    }
                    None => {
                        let status = status_from_hyper(err.error());
                        let (Some(refusal), Some(copy)) = (refusal(err.error()), resend.take())
                        else {
                            return Err(status);
                        };
                        tracing::debug!(%status, "the server refused the stream; sending the call once more");
                        if refusal == Refusal::GoAway {
                            self.forget(generation);
                        }
                        request = copy.into_request();
                        self.prepare(&mut request)?;
                    }
                },
            }
        }
    }
}
