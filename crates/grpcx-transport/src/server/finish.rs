//! How a server call ends: the one place that decides a call's final
//! status, records its outcome and renders the status into header fields.
//!
//! Every way a call can end comes through here:
//!
//! - the handler returns `Err` ([`from_handler_error`]: an abort through
//!   the context wins over it);
//! - the handler returns `Ok` ([`from_context`]: `OK`, or what
//!   `ctx.set_code`/`ctx.set_message` chose, or an abort);
//! - `ctx.abort` while the handler or its response stream runs (the
//!   dispatcher and the response body poll [`CallContext::poll_signal`]);
//! - the handler panics ([`panicked`]), the deadline passes
//!   ([`deadline_exceeded`]), a layer fails the call
//!   ([`crate::status_from_layer_error`]);
//! - a blocking handler's call is over ([`call_ended`],
//!   [`inactive_status`]), a response stream panics ([`stream_panicked`]);
//! - the client cancels, or the connection goes: no status is sent, and
//!   the call's guard ([`CallGuard`](crate::context::CallGuard)) records
//!   [`CallOutcome::Cancelled`] (or `DeadlineExceeded` when the deadline
//!   had passed).
//!
//! Until [`render`] turns it into header fields, as the response body
//! yields its last frame, the final status is a [`Status`] value that
//! server layers can read and replace
//! ([`ResponseBody::map_status`](super::ResponseBody::map_status)).
//! [`render`] adds the trailers set through the context, logs the status's
//! source chain (never sent), records the outcome for `on_done` and
//! `done()`, and writes `grpc-status`, `grpc-message`,
//! `grpc-status-details-bin` and the metadata.

use std::fmt;

use grpcx_status::__private::StatusInternals as _;
use grpcx_status::wire::GRPC_STATUS;
use grpcx_status::{Code, Origin, Status};
use http::HeaderMap;
use http::header::HeaderValue;

use crate::context::{CallContext, CallOutcome};

/// The status of a call whose handler returned `status`: an abort through
/// the context decided earlier, and wins.
pub(crate) fn from_handler_error(status: Status, context: &CallContext) -> Status {
    context.abort_status().unwrap_or(status)
}

/// The status of a call whose handler returned successfully: an abort, or
/// what `set_code`/`set_message` chose; `None` for a plain `OK`, which
/// [`render_ok`] sends without making a [`Status`].
pub(crate) fn from_context(context: &CallContext) -> Option<Status> {
    context.final_status()
}

/// The source of the status of a call whose handler, or response stream,
/// panicked: what tells a server layer (the error advice of
/// `grpcx-middleware`, say) that a plain `INTERNAL` "internal server error"
/// stands for a panic.
///
/// It is kept for logs, like every source, and never sent. The panic was
/// logged where it was caught; [`message`](HandlerPanic::message) is the
/// panic's text when the place that caught it knew it.
#[derive(Debug)]
pub struct HandlerPanic {
    message: Option<String>,
}

impl HandlerPanic {
    /// The panic's message (its `&str` or `String` payload), when known.
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }
}

impl fmt::Display for HandlerPanic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.message {
            Some(message) => write!(f, "the handler panicked: {message}"),
            None => f.write_str("the handler panicked"),
        }
    }
}

impl std::error::Error for HandlerPanic {}

/// The status a client receives when its handler (or its response stream)
/// panicked: nothing of the panic is revealed; it is logged where caught,
/// and the status's source, a [`HandlerPanic`], says it was a panic.
pub(crate) fn panicked() -> Status {
    panicked_with(None)
}

fn panicked_with(message: Option<String>) -> Status {
    Status::internal("internal server error").with_source(HandlerPanic { message })
}

/// The status of a call whose deadline passed on the server.
pub(crate) fn deadline_exceeded() -> Status {
    Status::deadline_exceeded("deadline exceeded").with_origin(Origin::Deadline)
}

/// The status a server reports for a request stream that failed: the
/// client reset it, so the call is cancelled.
pub(crate) fn request_body_error(err: &hyper::Error) -> Status {
    Status::new(Code::Cancelled, "the client cancelled the request stream")
        .with_origin(Origin::Cancelled)
        .with_source(err.to_string())
}

/// The status a blocking handler gets for a call that is over: reading
/// its requests fails with it, and a handler not yet started is not run.
pub(crate) fn call_ended(outcome: CallOutcome) -> Status {
    match outcome {
        CallOutcome::DeadlineExceeded => deadline_exceeded(),
        CallOutcome::Cancelled => {
            Status::cancelled("the client cancelled the call").with_origin(Origin::Cancelled)
        }
        _ => Status::cancelled("the call has ended").with_origin(Origin::Cancelled),
    }
}

/// Why a server call is no longer active, if it is not.
pub(crate) fn inactive_status(context: &CallContext) -> Option<Status> {
    if context.is_active() {
        return None;
    }
    Some(match (context.abort_status(), context.outcome()) {
        (Some(aborted), _) => aborted,
        (None, Some(outcome)) => call_ended(outcome),
        (None, None) => deadline_exceeded(),
    })
}

/// The status that ends a stream whose producer panicked, logged here with
/// the panic: a response stream's client learns nothing of it.
pub(crate) fn stream_panicked(
    context: Option<&CallContext>,
    panic: &(dyn std::any::Any + Send),
) -> Status {
    let panic = crate::panic::describe_panic(panic);
    match context {
        Some(context) => {
            tracing::error!(method = %context.method(), %panic, "response stream panicked");
            panicked_with(Some(panic.to_owned()))
        }
        None => {
            tracing::error!(%panic, "request stream panicked");
            Status::internal("the request stream panicked")
        }
    }
}

/// Renders the final status of a call into the header fields that carry
/// it (trailers, or the headers of a Trailers-Only response), with the
/// trailing metadata set through the context; logs its cause and records
/// how the call ended.
pub(crate) fn render(status: Status, context: &CallContext) -> HeaderMap {
    settle(status, context).to_header_map()
}

/// Renders as [`render`] does, into `headers` (the head of a Trailers-Only
/// response, which then needs no map of its own).
pub(crate) fn render_into(status: Status, context: &CallContext, headers: &mut HeaderMap) {
    settle(status, context).write_headers(headers);
}

/// The final status with the context's trailers, logged, and recorded as
/// the call's outcome.
fn settle(mut status: Status, context: &CallContext) -> Status {
    let trailers = context.take_trailers();
    if !trailers.is_empty() {
        status.metadata_mut().extend(trailers);
    }
    // The log is an event of the call's span, whoever polls the end.
    let entered = (!context.span().is_none()).then(|| context.span().enter());
    log(&status, context);
    drop(entered);
    context.finish(match status.origin() {
        Origin::Deadline => CallOutcome::DeadlineExceeded,
        _ => CallOutcome::Completed(status.code()),
    });
    status
}

/// Renders a plain `OK` (what [`from_context`] gives as `None`) as
/// [`render`] renders `Status::ok()`, without making one when the context
/// set no trailers: the common end of a call costs no `Status`.
pub(crate) fn render_ok(context: &CallContext) -> HeaderMap {
    let trailers = context.take_trailers();
    if !trailers.is_empty() {
        let mut status = Status::ok();
        status.metadata_mut().extend(trailers);
        return render(status, context);
    }
    context.finish(CallOutcome::Completed(Code::Ok));
    let mut headers = HeaderMap::with_capacity(1);
    headers.insert(GRPC_STATUS, HeaderValue::from_static("0"));
    headers
}

/// Logs the cause a status carries (its source, which is never sent): as
/// an error for the codes that mean a server-side failure, at debug level
/// for the others. A status without a source has nothing more to tell than
/// what the client sees, and a panic was logged where it was caught.
fn log(status: &Status, context: &CallContext) {
    match std::error::Error::source(status) {
        None => return,
        Some(source) if source.is::<HandlerPanic>() => return,
        Some(_) => {}
    }
    match status.code() {
        Code::Internal | Code::Unknown | Code::DataLoss => {
            tracing::error!(method = %context.method(), "call failed: {status:#}");
        }
        _ => tracing::debug!(method = %context.method(), "call failed: {status:#}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::test_context;
    use grpcx_status::Metadata;

    #[test]
    fn render_merges_the_context_trailers_and_records_the_outcome() {
        let context = test_context(None);
        let mut trailers = Metadata::new();
        trailers.insert("x-trace", "t-1").unwrap();
        context.set_trailing_metadata(trailers);
        let headers = render(Status::not_found("no user"), &context);
        assert_eq!(headers["grpc-status"], "5");
        assert_eq!(headers["grpc-message"], "no user");
        assert_eq!(headers["x-trace"], "t-1");
        assert_eq!(
            context.outcome(),
            Some(CallOutcome::Completed(Code::NotFound))
        );
    }

    #[test]
    fn a_plain_ok_renders_as_status_ok_does() {
        let plain = test_context(None);
        let made = test_context(None);
        assert_eq!(render_ok(&plain), render(Status::ok(), &made));
        assert_eq!(plain.outcome(), Some(CallOutcome::Completed(Code::Ok)));
        let with_trailers = test_context(None);
        let mut trailers = Metadata::new();
        trailers.insert("x-trace", "t-2").unwrap();
        with_trailers.set_trailing_metadata(trailers);
        let headers = render_ok(&with_trailers);
        assert_eq!(headers["grpc-status"], "0");
        assert_eq!(headers["x-trace"], "t-2");
    }

    #[test]
    fn the_deadline_is_its_own_outcome() {
        let context = test_context(None);
        let headers = render(deadline_exceeded(), &context);
        assert_eq!(headers["grpc-status"], "4");
        assert_eq!(context.outcome(), Some(CallOutcome::DeadlineExceeded));
    }

    #[test]
    fn an_abort_wins_over_a_later_error_and_a_success() {
        let context = test_context(None);
        assert!(
            from_context(&context).is_none(),
            "a plain OK makes no status"
        );
        context.set_code(Code::DataLoss);
        assert_eq!(from_context(&context).unwrap().code(), Code::DataLoss);
        context.abort(Code::PermissionDenied, "no");
        assert_eq!(
            from_handler_error(Status::internal("x"), &context).code(),
            Code::PermissionDenied
        );
        assert_eq!(
            from_context(&context).unwrap().code(),
            Code::PermissionDenied
        );
    }

    #[test]
    fn a_panic_reveals_nothing_and_its_source_says_it_was_a_panic() {
        let status = panicked();
        assert_eq!(status.code(), Code::Internal);
        assert_eq!(status.message(), "internal server error");
        let source = std::error::Error::source(&status).unwrap();
        assert_eq!(
            source.downcast_ref::<HandlerPanic>().unwrap().message(),
            None
        );

        let payload: Box<dyn std::any::Any + Send> = Box::new("index out of bounds");
        let status = stream_panicked(Some(&test_context(None)), &*payload);
        assert_eq!(status.message(), "internal server error");
        let source = std::error::Error::source(&status).unwrap();
        assert_eq!(
            source.to_string(),
            "the handler panicked: index out of bounds"
        );
        assert_eq!(
            source.downcast_ref::<HandlerPanic>().unwrap().message(),
            Some("index out of bounds")
        );
    }
}
