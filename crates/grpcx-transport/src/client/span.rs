//! The tracing span of a client call (`grpc.client`): made by [`Grpc`]
//! for every call, owned by the call until its response head arrives and
//! by the response stream after that, so that it covers the whole call and
//! closes with the final status.
//!
//! [`Grpc`]: super::Grpc

use std::sync::{Arc, OnceLock};

use grpcx_status::{Code, Status};
use http::uri::{Authority, PathAndQuery};
use tracing::Span;

/// A client call's span, and the promise to record how the call ended in
/// it once: [`CallSpan::end`] records the final code (and logs a failure),
/// and dropping it before then records `CANCELLED` (the caller dropped the
/// call or its response stream).
///
/// When no subscriber wants the span it is `Span::none()` and every method
/// returns at once: nothing is computed, cloned or allocated.
#[derive(Debug)]
pub(crate) struct CallSpan {
    /// `Span::none()` once the end is recorded, or when disabled.
    span: Span,
    /// Whether a code is already recorded in a span still open (a
    /// Trailers-Only `OK`, whose stream a caller may still find at fault).
    recorded: bool,
    /// Where the channel under layers says which server it called.
    authority: Option<ServerAuthority>,
}

/// The request extension by which a [`Channel`](super::Channel) under
/// layers tells the typed client the server's authority, for the span's
/// `server.address` and `server.port`. Only put in a request whose span is
/// enabled.
#[derive(Clone, Debug, Default)]
pub(crate) struct ServerAuthority(Arc<OnceLock<Authority>>);

impl ServerAuthority {
    /// Called by the channel as it sends the request.
    pub(crate) fn set(&self, authority: &Authority) {
        let _ = self.0.set(authority.clone());
    }
}

impl Default for CallSpan {
    /// A span that records nothing.
    fn default() -> CallSpan {
        CallSpan {
            span: Span::none(),
            recorded: false,
            authority: None,
        }
    }
}

impl CallSpan {
    /// The span of a call of `path`, named and attributed after
    /// OpenTelemetry's RPC conventions: `otel.name` is
    /// `package.Service/Method` (tracing's own span name is static:
    /// `grpc.client`); `server.address` and `server.port` are `authority`'s
    /// when it is known now (a bare [`Channel`](super::Channel)), or the
    /// channel's under layers once it has sent the request;
    /// `rpc.grpc.status_code` and `grpcx.attempts` (when a retry layer made
    /// more than one) are recorded as the call ends.
    pub(crate) fn new(path: &PathAndQuery, authority: Option<&Authority>) -> CallSpan {
        use tracing::field::Empty;
        let span = tracing::info_span!(
            target: "grpcx::client",
            "grpc.client",
            otel.name = Empty,
            otel.kind = "client",
            rpc.system = "grpc",
            rpc.service = Empty,
            rpc.method = Empty,
            rpc.grpc.status_code = Empty,
            server.address = Empty,
            server.port = Empty,
            grpcx.attempts = Empty,
        );
        if span.is_none() {
            return CallSpan::default();
        }
        let path = path.path();
        let name = path.strip_prefix('/').unwrap_or(path);
        span.record("otel.name", name);
        if let Some((service, method)) = name.split_once('/') {
            span.record("rpc.service", service);
            span.record("rpc.method", method);
        }
        let mut call = CallSpan {
            span,
            recorded: false,
            authority: None,
        };
        match authority {
            Some(authority) => call.record_authority(authority),
            None => call.authority = Some(ServerAuthority::default()),
        }
        call
    }

    /// The span, to enter while the call runs.
    pub(crate) fn span(&self) -> &Span {
        &self.span
    }

    /// The slot a channel under layers fills with its authority: `None`
    /// when the span is disabled or the authority already known.
    pub(crate) fn authority_slot(&self) -> Option<&ServerAuthority> {
        self.authority.as_ref()
    }

    fn record_authority(&self, authority: &Authority) {
        self.span.record("server.address", authority.host());
        if let Some(port) = authority.port_u16() {
            self.span.record("server.port", port);
        }
    }

    /// Records the number of attempts a retry layer made.
    pub(crate) fn attempts(&self, attempts: u32) {
        if !self.span.is_none() {
            self.span.record("grpcx.attempts", attempts);
        }
    }

    /// Records `OK` for a call that ended in its response head, keeping
    /// the span open while its (empty) stream lives.
    pub(crate) fn ok_in_head(&mut self) {
        if !self.span.is_none() {
            self.fill_authority();
            self.span.record("rpc.grpc.status_code", Code::Ok.as_i32());
            self.recorded = true;
        }
    }

    /// Records how the call ended, `error` or `OK`, and closes the span
    /// (unless other clones of it are entered). A failure is logged once,
    /// as an event in the span, with its source chain, at debug level: the
    /// caller gets the status, and decides.
    #[inline]
    pub(crate) fn end(&mut self, error: Option<&Status>) {
        if self.span.is_none() {
            return;
        }
        self.fill_authority();
        let span = std::mem::replace(&mut self.span, Span::none());
        match error {
            None => {
                span.record("rpc.grpc.status_code", Code::Ok.as_i32());
            }
            Some(status) => {
                span.record("rpc.grpc.status_code", status.code().as_i32());
                if let Some(attempts) = status.attempts() {
                    span.record("grpcx.attempts", attempts);
                }
                span.in_scope(
                    || tracing::debug!(target: "grpcx::client", "call failed: {status:#}"),
                );
            }
        }
    }

    /// Copies the authority a channel under layers reported, once.
    fn fill_authority(&mut self) {
        if let Some(slot) = self.authority.take() {
            if let Some(authority) = slot.0.get() {
                self.record_authority(authority);
            }
        }
    }
}

impl Drop for CallSpan {
    #[inline]
    fn drop(&mut self) {
        if self.span.is_none() || self.recorded {
            return;
        }
        self.fill_authority();
        self.span
            .record("rpc.grpc.status_code", Code::Cancelled.as_i32());
    }
}
