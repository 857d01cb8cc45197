//! [`Advice`]: the handlers, and the one function that applies them to a
//! call's final status.

use std::any::type_name;
use std::cell::OnceCell;
use std::error::Error as StdError;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use grpcx_status::{Code, DebugInfo, DetailMessage, Origin, RequestInfo, Status};
use grpcx_transport::server::HandlerPanic;

/// The message of the status an unmapped error or a panic becomes, followed
/// by `; request id: <id>`.
pub const REDACTED_MESSAGE: &str = "internal server error";

/// How deep the walk down a source chain goes: a guard against a chain that
/// loops back on itself.
const MAX_CHAIN: usize = 32;

type Handler = Box<dyn Fn(&(dyn StdError + 'static), &Failure<'_>) -> Option<Status> + Send + Sync>;
type Fallback = Box<dyn Fn(&Failure<'_>) -> Status + Send + Sync>;

/// The server's error advice: handlers that turn an application's errors
/// into rich statuses, found by the error's type, and the rules for what no
/// handler maps.
///
/// Build it once, with one [`on`](Advice::on) per error type, and wrap the
/// server (or one service) in an
/// [`ErrorAdviceLayer`](super::ErrorAdviceLayer). See the [module
/// docs](super) for the rules; in short:
///
/// - a failed call's final status is looked at once: its source chain is
///   walked from the outermost error to the innermost, and the first error
///   for which a handler is registered is handed to that handler (among
///   handlers for the same type, the one registered first);
/// - an `UNKNOWN` or `INTERNAL` status made by application code that carries
///   a source no handler matched (or any, with
///   [`redact_internal_without_source`](Advice::redact_internal_without_source)),
///   and a panic, become `INTERNAL` with a
///   generic message and a correlation id (a `RequestInfo` detail), logged
///   with the whole error chain ([`fallback`](Advice::fallback) replaces
///   that answer, not the log);
/// - every other status goes out as it is, minus its `DebugInfo` details
///   (unless [`keep_debug_info`](Advice::keep_debug_info)).
#[derive(Default)]
pub struct Advice {
    handlers: Vec<Registered>,
    fallback: Option<Fallback>,
    keep_debug_info: bool,
    redact_without_source: bool,
}

struct Registered {
    type_name: &'static str,
    handler: Handler,
}

/// A failed call, as a handler sees it next to the error it handles: the
/// status the call was about to end with, and the method.
pub struct Failure<'a> {
    status: &'a Status,
    method: &'a str,
    request_id: OnceCell<String>,
}

impl<'a> Failure<'a> {
    fn new(status: &'a Status, method: &'a str) -> Failure<'a> {
        Failure {
            status,
            method,
            request_id: OnceCell::new(),
        }
    }

    /// The status the call was about to end with (its source is the error
    /// chain being handled).
    pub fn status(&self) -> &Status {
        self.status
    }

    /// The call's method path, `/package.Service/Method` (empty when the
    /// advice does not know it).
    pub fn method(&self) -> &str {
        self.method
    }

    /// The call's correlation id, made on first use: put it in the status
    /// (a `RequestInfo` detail) and the advice logs the failure with it, so
    /// the id a client quotes leads to the log event.
    pub fn request_id(&self) -> &str {
        self.request_id.get_or_init(next_request_id)
    }

    fn take_request_id(self) -> Option<String> {
        self.request_id.into_inner()
    }
}

impl fmt::Debug for Failure<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Failure")
            .field("status", self.status)
            .field("method", &self.method)
            .field("request_id", &self.request_id.get())
            .finish()
    }
}

impl Advice {
    /// Advice with no handler: it redacts unmapped errors and panics and
    /// strips `DebugInfo`, and leaves everything else alone.
    pub fn new() -> Advice {
        Advice::default()
    }

    /// Maps errors of type `E` found in a failed call's source chain to the
    /// status `handler` returns.
    ///
    /// The handler gets the error and the [`Failure`] (the status it is
    /// found in, the method, a correlation id on demand). Its status goes
    /// out as it is, `DebugInfo` stripped; when it has no source of its own,
    /// the original error chain is kept as its source, for logs. A handler
    /// for a type already registered is never reached: the first one wins.
    ///
    /// Only errors whose concrete type is visible are found: the error a
    /// status was made from ([`DomainError`](grpcx_status::DomainError),
    /// [`ResultExt::or_status`](grpcx_status::ResultExt::or_status),
    /// [`Status::with_source`]), each `source()` below it, and the error an
    /// `io::Error` wraps. An error boxed from a string, or hidden behind a
    /// type that does not expose it as its source, is not.
    pub fn on<E, F>(mut self, handler: F) -> Advice
    where
        E: StdError + 'static,
        F: Fn(&E, &Failure<'_>) -> Status + Send + Sync + 'static,
    {
        self.handlers.push(Registered {
            type_name: type_name::<E>(),
            handler: Box::new(move |err, failure| {
                err.downcast_ref::<E>().map(|err| handler(err, failure))
            }),
        });
        self
    }

    /// Answers the failures no handler maps (see the [module
    /// docs](super#what-is-unmapped)) with `fallback`'s status instead of
    /// the redacted `INTERNAL` one.
    ///
    /// The failure is still logged, at error level, with
    /// [`Failure::request_id`] and its whole chain; the fallback decides
    /// what the client sees, and should not reveal the error's text. Panics
    /// never reach it: they are always redacted.
    pub fn fallback<F>(mut self, fallback: F) -> Advice
    where
        F: Fn(&Failure<'_>) -> Status + Send + Sync + 'static,
    {
        self.fallback = Some(Box::new(fallback));
        self
    }

    /// Whether `google.rpc.DebugInfo` details may leave the server (`false`
    /// by default: they are removed from every status the advice looks at,
    /// and logged). Turn it on in development only; it also copies an
    /// unmapped error's `DebugInfo` into the redacted status.
    pub fn keep_debug_info(mut self, keep: bool) -> Advice {
        self.keep_debug_info = keep;
        self
    }

    /// Whether an `UNKNOWN` or `INTERNAL` status made by application code
    /// is redacted even without a source (`false` by default: its message
    /// is taken to be written for the client, as in
    /// `Status::internal("quota store unreachable")`).
    ///
    /// Turn it on when handlers may format internal text into such a
    /// message (`Status::internal(format!("query failed: {err}"))`): every
    /// one then reaches the client as the redacted status, with a
    /// correlation id, and is logged with it.
    pub fn redact_internal_without_source(mut self, redact: bool) -> Advice {
        self.redact_without_source = redact;
        self
    }

    /// Applies the advice to a call's final status: what the
    /// [`ErrorAdvice`](super::ErrorAdvice) service does as each call ends.
    ///
    /// `method` is the call's path, for handlers and the log. A status that
    /// has been through an advice already comes back unchanged.
    pub fn apply(&self, status: Status, method: &str) -> Status {
        self.advise(status, &CallInfo::new(method))
    }

    /// The advice for a call, with what it knows of the call.
    pub(crate) fn advise(&self, status: Status, call: &CallInfo<'_>) -> Status {
        if status.is_ok() {
            return status;
        }
        let Some(first) = status.source() else {
            // Nothing to map, and, unless configured otherwise, nothing to
            // redact: the message was written for the client.
            if self.redact_without_source && is_internal(&status) && !is_redacted_answer(&status) {
                return self.unmapped(status, call, Why::Unmapped);
            }
            return self.strip_debug_info(status, call);
        };
        if first.is::<Advised>() {
            return status;
        }
        if is_panic(first) {
            return self.unmapped(status, call, Why::Panic);
        }
        let walked = 'walk: {
            let failure = Failure::new(&status, call.method);
            let mut next = Some(first);
            let mut depth = 0;
            while let Some(error) = next {
                for registered in &self.handlers {
                    // A handler's panic is the advice's own bug: the call
                    // gets the redacted status, not the transport's.
                    let answer =
                        catch_unwind(AssertUnwindSafe(|| (registered.handler)(error, &failure)));
                    match answer {
                        Ok(None) => {}
                        Ok(Some(mapped)) => {
                            break 'walk Walk::Mapped(mapped, failure.take_request_id());
                        }
                        Err(panic) => {
                            break 'walk Walk::Redact(Why::HandlerPanicked {
                                handler: registered.type_name,
                                panic: describe_panic(&*panic),
                            });
                        }
                    }
                }
                depth += 1;
                next = if depth < MAX_CHAIN {
                    next_in_chain(error)
                } else {
                    None
                };
            }
            Walk::Unmatched
        };
        match walked {
            Walk::Mapped(mapped, request_id) => self.mapped(status, mapped, request_id, call),
            Walk::Redact(why) => self.unmapped(status, call, why),
            Walk::Unmatched if is_redacted(&status) => self.unmapped(status, call, Why::Unmapped),
            Walk::Unmatched => {
                let status = self.strip_debug_info(status, call);
                mark(status, None)
            }
        }
    }

    /// A handler's status: `DebugInfo` stripped, the error chain kept, the
    /// failure logged if the handler took a correlation id.
    fn mapped(
        &self,
        original: Status,
        mapped: Status,
        request_id: Option<String>,
        call: &CallInfo<'_>,
    ) -> Status {
        if let Some(id) = &request_id {
            tracing::warn!(
                request_id = %id,
                method = call.method,
                client_request_id = call.client_request_id,
                code = %mapped.code(),
                error = %format_args!("{original:#}"),
                "call failed; the error advice mapped its error"
            );
        }
        let mapped = self.strip_debug_info(mapped, call);
        let cause = if mapped.source().is_some() {
            mapped.clone()
        } else {
            original
        };
        mapped.with_source(Advised {
            mapped: true,
            cause: Some(cause),
            request_id,
        })
    }

    /// An error no handler maps, or a panic: logged with a correlation id,
    /// answered with the redacted status (or the fallback's).
    fn unmapped(&self, status: Status, call: &CallInfo<'_>, why: Why) -> Status {
        let debug_info = debug_infos(&status);
        let failure = Failure::new(&status, call.method);
        let request_id = failure.request_id().to_owned();
        let (what, advice_panic) = match &why {
            Why::Unmapped => ("call failed with an unmapped error", None),
            Why::Panic => ("call failed: the handler panicked", None),
            Why::HandlerPanicked { handler, panic } => (
                "call failed, and the error advice's handler for it panicked",
                Some(format!("the handler for {handler} panicked: {panic}")),
            ),
        };
        tracing::error!(
            request_id = %request_id,
            method = call.method,
            client_request_id = call.client_request_id,
            code = %status.code(),
            error = %format_args!("{status:#}"),
            debug_info = ?debug_info,
            advice_panic,
            "{what}; the client gets a redacted INTERNAL status"
        );
        let fallback = match (&self.fallback, why) {
            (Some(fallback), Why::Unmapped) => {
                match catch_unwind(AssertUnwindSafe(|| fallback(&failure))) {
                    Ok(answer) => Some(answer),
                    Err(panic) => {
                        tracing::error!(
                            request_id = %request_id,
                            method = call.method,
                            panic = %describe_panic(&*panic),
                            "the error advice's fallback panicked; the client gets a redacted INTERNAL status"
                        );
                        None
                    }
                }
            }
            _ => None,
        };
        drop(failure);
        match fallback {
            Some(answer) => {
                let answer = self.strip_debug_info(answer, call);
                if answer.source().is_some() {
                    let cause = answer.clone();
                    answer.with_source(Advised {
                        mapped: true,
                        cause: Some(cause),
                        request_id: Some(request_id),
                    })
                } else {
                    answer
                }
            }
            None => {
                let mut redacted =
                    Status::internal(format!("{REDACTED_MESSAGE}; request id: {request_id}"))
                        .with_detail(RequestInfo::new(request_id, ""));
                if self.keep_debug_info {
                    redacted = redacted.with_details(debug_info);
                }
                // No source: the chain is logged, and a status without one
                // is left alone by any advice it meets later.
                redacted
            }
        }
    }

    /// Removes the `DebugInfo` details unless they may be sent; logs them.
    fn strip_debug_info(&self, mut status: Status, call: &CallInfo<'_>) -> Status {
        if self.keep_debug_info || !has_debug_info(&status) {
            return status;
        }
        let debug_info = debug_infos(&status);
        status.retain_details(|any| any.type_url != DebugInfo::TYPE_URL);
        tracing::info!(
            method = call.method,
            code = %status.code(),
            debug_info = ?debug_info,
            "the error advice removed DebugInfo details from a status"
        );
        status
    }
}

impl fmt::Debug for Advice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let handlers: Vec<_> = self.handlers.iter().map(|r| r.type_name).collect();
        f.debug_struct("Advice")
            .field("handlers", &handlers)
            .field("fallback", &self.fallback.is_some())
            .field("keep_debug_info", &self.keep_debug_info)
            .field(
                "redact_internal_without_source",
                &self.redact_without_source,
            )
            .finish()
    }
}

/// What walking a failure's chain found.
enum Walk {
    /// A handler's status, and the correlation id it took, if any.
    Mapped(Status, Option<String>),
    /// No handler answered, and the failure must be redacted.
    Redact(Why),
    /// No handler matched.
    Unmatched,
}

/// Why a failure gets the redacted status.
enum Why {
    /// No handler maps it, and its text must not reach the client.
    Unmapped,
    /// The handler (or its response stream) panicked.
    Panic,
    /// The advice's own handler for one of its errors panicked.
    HandlerPanicked {
        handler: &'static str,
        panic: String,
    },
}

/// What the advice knows of a call, for handlers and the log.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct CallInfo<'a> {
    /// The method path.
    pub(crate) method: &'a str,
    /// The `x-request-id` the client sent, if any: logged next to the
    /// advice's own id, never used as it (a client's id may repeat).
    pub(crate) client_request_id: Option<&'a str>,
}

impl<'a> CallInfo<'a> {
    pub(crate) fn new(method: &'a str) -> CallInfo<'a> {
        CallInfo {
            method,
            client_request_id: None,
        }
    }
}

/// The status a panic caught by the advice's service becomes, before the
/// advice applies.
pub(crate) fn panic_status(payload: &(dyn std::any::Any + Send)) -> Status {
    Status::internal(REDACTED_MESSAGE).with_source(Panicked(describe_panic(payload)))
}

/// The text of a panic's payload, for the log.
fn describe_panic(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&'static str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a non-string panic payload".to_owned()
    }
}

/// A panic the advice's service caught.
#[derive(Debug)]
struct Panicked(String);

impl fmt::Display for Panicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the handler panicked: {}", self.0)
    }
}

impl StdError for Panicked {}

/// The mark of a status an advice has looked at: its source, in front of
/// the error chain it had (kept for logs). A status whose source is this is
/// left alone by every advice, which makes the advice apply once.
#[derive(Debug)]
struct Advised {
    /// Whether a handler or the fallback made the status.
    mapped: bool,
    /// The status whose source chain this one continues.
    cause: Option<Status>,
    /// The correlation id the failure was logged with, if any.
    request_id: Option<String>,
}

impl fmt::Display for Advised {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.mapped {
            "mapped by the error advice"
        } else {
            "passed by the error advice"
        })?;
        if let Some(id) = &self.request_id {
            write!(f, " (request id {id})")?;
        }
        Ok(())
    }
}

impl StdError for Advised {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.cause.as_ref().and_then(StdError::source)
    }
}

/// Marks a status that passes with its source, so a later advice leaves it.
fn mark(status: Status, request_id: Option<String>) -> Status {
    if status.source().is_none() {
        return status;
    }
    let cause = status.clone();
    status.with_source(Advised {
        mapped: false,
        cause: Some(cause),
        request_id,
    })
}

/// Whether a status no handler mapped is an internal failure whose text
/// must not reach the client: `UNKNOWN` or `INTERNAL`, made by application
/// code (not received from a peer, nor made by grpcx for a deadline, a
/// cancellation, a transport or protocol failure), with a source.
fn is_redacted(status: &Status) -> bool {
    is_internal(status) && status.source().is_some()
}

/// `UNKNOWN` or `INTERNAL`, made by application code.
fn is_internal(status: &Status) -> bool {
    matches!(status.code(), Code::Unknown | Code::Internal)
        && status.origin() == Origin::Application
}

/// Whether `status` is the redacted answer of an advice: what
/// [`Advice::redact_internal_without_source`] must not redact again.
fn is_redacted_answer(status: &Status) -> bool {
    let Some(id) = status
        .get_detail::<RequestInfo>()
        .map(|info| info.request_id)
    else {
        return false;
    };
    status
        .message()
        .strip_prefix(REDACTED_MESSAGE)
        .and_then(|rest| rest.strip_prefix("; request id: "))
        == Some(id.as_str())
}

fn is_panic(error: &(dyn StdError + 'static)) -> bool {
    error.is::<Panicked>() || error.is::<HandlerPanic>()
}

/// The next error down a chain: the source, or the error an `io::Error`
/// wraps (whose `source()` skips it).
fn next_in_chain<'e>(error: &'e (dyn StdError + 'static)) -> Option<&'e (dyn StdError + 'static)> {
    if let Some(io) = error.downcast_ref::<std::io::Error>() {
        if let Some(inner) = io.get_ref() {
            return Some(inner);
        }
    }
    error.source()
}

fn has_debug_info(status: &Status) -> bool {
    status
        .details_any()
        .iter()
        .any(|any| any.type_url == DebugInfo::TYPE_URL)
}

fn debug_infos(status: &Status) -> Vec<DebugInfo> {
    if has_debug_info(status) {
        status.get_details::<DebugInfo>()
    } else {
        Vec::new()
    }
}

/// A new correlation id: a random prefix drawn once per process, then a
/// counter, as `3f9c2a71d04e8b15-42`. Unique within the process, and across
/// processes but for a 2⁻⁶⁴ chance; cheap: one relaxed atomic add.
pub(crate) fn next_request_id() -> String {
    static PREFIX: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(1);
    let prefix = *PREFIX.get_or_init(|| fastrand::u64(..));
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix:016x}-{n}")
}

#[cfg(test)]
mod tests {
    use grpcx_status::__private::StatusInternals as _;
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;

    use grpcx_status::{ErrorInfo, Metadata, ResourceInfo, ResultExt};

    use super::*;
    use crate::advice::test_log::capture;

    #[derive(Debug, thiserror::Error)]
    #[error("product {0} not found")]
    struct ProductNotFound(String);

    #[derive(Debug, thiserror::Error)]
    #[error("pool timed out")]
    struct PoolTimedOut;

    /// A repository error wrapping the driver's.
    #[derive(Debug, thiserror::Error)]
    #[error("could not load product {0}")]
    struct LoadFailed(String, #[source] PoolTimedOut);

    const METHOD: &str = "/shop.Products/Get";

    fn not_found(err: &ProductNotFound, _: &Failure<'_>) -> Status {
        Status::not_found(format!("no product {}", err.0))
            .with_detail(ResourceInfo::new("product", &err.0, "", ""))
    }

    fn unavailable(_: &PoolTimedOut, _: &Failure<'_>) -> Status {
        Status::unavailable("database unavailable")
    }

    fn chain(status: &Status) -> Vec<String> {
        let mut chain = Vec::new();
        let mut next = status.source();
        while let Some(err) = next {
            chain.push(err.to_string());
            next = err.source();
        }
        chain
    }

    fn request_id(status: &Status) -> String {
        status.get_detail::<RequestInfo>().unwrap().request_id
    }

    #[test]
    fn a_handler_maps_its_error_and_the_chain_stays_for_the_logs() {
        let advice = Advice::new().on(not_found);
        let failed = Status::unknown("x").with_source(ProductNotFound("sku-1".into()));
        let status = advice.apply(failed, METHOD);
        assert_eq!(status.code(), Code::NotFound);
        assert_eq!(status.message(), "no product sku-1");
        assert_eq!(
            status.get_detail::<ResourceInfo>().unwrap().resource_name,
            "sku-1"
        );
        assert_eq!(
            chain(&status),
            ["mapped by the error advice", "product sku-1 not found"]
        );
    }

    #[test]
    fn the_outermost_error_with_a_handler_wins_and_a_cause_is_found_below_the_others() {
        let failed = || Status::internal("x").with_source(LoadFailed("sku-2".into(), PoolTimedOut));
        // Both registered, the cause first: the outer error still wins.
        let advice = Advice::new()
            .on(unavailable)
            .on(|err: &LoadFailed, _: &Failure<'_>| Status::aborted(err.0.clone()));
        let status = advice.apply(failed(), METHOD);
        assert_eq!(status.code(), Code::Aborted);
        assert_eq!(status.message(), "sku-2");

        // Only the cause registered: its handler answers.
        let advice = Advice::new().on(not_found).on(unavailable);
        assert_eq!(advice.apply(failed(), METHOD).code(), Code::Unavailable);

        // Two handlers for one type: the first registered.
        let advice = Advice::new()
            .on(|_: &PoolTimedOut, _: &Failure<'_>| Status::resource_exhausted("first"))
            .on(unavailable);
        assert_eq!(advice.apply(failed(), METHOD).message(), "first");
    }

    #[test]
    fn the_error_an_io_error_wraps_is_found() {
        let advice = Advice::new().on(unavailable);
        let failed = Status::internal("x").with_source(std::io::Error::other(PoolTimedOut));
        assert_eq!(advice.apply(failed, METHOD).code(), Code::Unavailable);
    }

    #[test]
    fn a_relayed_upstream_status_in_the_chain_has_a_handler_too() {
        let advice = Advice::new().on(|upstream: &Status, _: &Failure<'_>| {
            Status::unavailable(format!("inventory said {}", upstream.code()))
        });
        let upstream = Status::internal("boom").with_origin(Origin::Peer);
        let failed = Status::internal("inventory call failed").with_source(upstream);
        let status = advice.apply(failed, METHOD);
        assert_eq!(status.message(), "inventory said INTERNAL");
    }

    #[test]
    fn an_unmapped_internal_error_is_redacted_with_an_id_that_the_log_carries_with_the_chain() {
        let advice = Advice::new().on(not_found);
        let failed: Result<(), Status> = Err(LoadFailed("sku-3".into(), PoolTimedOut))
            .or_status(Code::Internal, "select * from products failed");
        let mut failed = failed.unwrap_err();
        failed.metadata_mut().insert("x-secret", "s3").unwrap();
        let failed = failed.with_detail(ErrorInfo::new("DB", "db.internal"));
        let (status, log) = capture(|| advice.apply(failed, METHOD));

        assert_eq!(status.code(), Code::Internal);
        let id = request_id(&status);
        assert_eq!(
            status.message(),
            format!("internal server error; request id: {id}")
        );
        assert_eq!(status.details_any().len(), 1, "only the RequestInfo");
        assert!(status.metadata().is_empty());
        assert!(status.source().is_none());
        assert_eq!(status.origin(), Origin::Application);

        assert_eq!(log.len(), 1, "{log:#?}");
        let line = &log[0];
        assert!(line.starts_with("ERROR"), "{line}");
        assert!(line.contains(&format!("request_id={id}")), "{line}");
        assert!(line.contains(&format!("method={METHOD}")), "{line}");
        assert!(
            line.contains(
                "INTERNAL: select * from products failed: caused by: could not load product sku-3: caused by: pool timed out"
            ),
            "{line}"
        );
    }

    #[test]
    fn what_counts_as_unmapped() {
        let advice = Advice::new();
        let source = || std::io::Error::other("secret");
        // UNKNOWN with a source: redacted.
        let status = advice.apply(Status::unknown("secret").with_source(source()), METHOD);
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("secret"));
        // INTERNAL without a source: written for the client, kept.
        let status = advice.apply(Status::internal("quota store unreachable"), METHOD);
        assert_eq!(status.message(), "quota store unreachable");
        assert!(status.get_detail::<RequestInfo>().is_none());
        // Relayed from a peer, or made by grpcx: kept.
        for origin in [
            Origin::Peer,
            Origin::Protocol,
            Origin::Transport,
            Origin::Deadline,
            Origin::Cancelled,
        ] {
            let failed = Status::internal("from elsewhere")
                .with_source(source())
                .with_origin(origin);
            let status = advice.apply(failed, METHOD);
            assert_eq!(status.message(), "from elsewhere", "{origin}");
            assert_eq!(status.origin(), origin);
        }
        // A chosen code, with a source no handler maps: kept.
        let status = advice.apply(
            Status::permission_denied("not yours").with_source(source()),
            METHOD,
        );
        assert_eq!(status.code(), Code::PermissionDenied);
        assert_eq!(status.message(), "not yours");
        assert_eq!(chain(&status), ["passed by the error advice", "secret"]);
    }

    #[derive(Debug, thiserror::Error)]
    enum CartError {
        #[error("cart {0} is frozen")]
        Frozen(String),
        #[error("ledger write failed at /srv/ledger")]
        Ledger,
    }

    impl grpcx_status::DomainError for CartError {
        fn code(&self) -> Code {
            match self {
                CartError::Frozen(_) => Code::FailedPrecondition,
                CartError::Ledger => Code::Internal,
            }
        }

        fn details(&self) -> Vec<grpcx_status::Detail> {
            vec![ErrorInfo::new("CART", "shop").into()]
        }
    }

    /// The status `?` makes of `err`.
    fn domain(err: CartError) -> Status {
        Status::from(err)
    }

    #[test]
    fn a_domain_errors_own_mapping_passes_unless_internal_or_a_handler_matches_it() {
        let advice = Advice::new();
        let status = advice.apply(domain(CartError::Frozen("c-1".into())), METHOD);
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert_eq!(status.message(), "cart c-1 is frozen");
        assert_eq!(status.get_detail::<ErrorInfo>().unwrap().reason, "CART");

        // Mapped to INTERNAL with its own text: redacted.
        let status = advice.apply(domain(CartError::Ledger), METHOD);
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("/srv"), "{status:?}");
        assert!(status.get_detail::<ErrorInfo>().is_none());

        // A handler for the type wins over its own mapping.
        let advice = Advice::new().on(|err: &CartError, _: &Failure<'_>| match err {
            CartError::Frozen(_) => Status::aborted("frozen, retry later"),
            CartError::Ledger => Status::unavailable("ledger unavailable"),
        });
        let status = advice.apply(domain(CartError::Frozen("c-2".into())), METHOD);
        assert_eq!(status.code(), Code::Aborted);
        let status = advice.apply(domain(CartError::Ledger), METHOD);
        assert_eq!(status.code(), Code::Unavailable);
    }

    #[test]
    fn internal_statuses_without_a_source_are_redacted_when_configured_and_once() {
        let strict = Advice::new().redact_internal_without_source(true);
        let failed = Status::internal("query failed: password=hunter2");
        let (status, log) = capture(|| strict.apply(failed, METHOD));
        let id = request_id(&status);
        assert_eq!(
            status.message(),
            format!("internal server error; request id: {id}")
        );
        assert_eq!(log.len(), 1, "{log:?}");
        assert!(log[0].contains("hunter2"), "{log:?}");

        // Its own answer, met again, is left alone.
        let (again, log) = capture(|| strict.apply(status.clone(), METHOD));
        assert_eq!(again.message(), status.message());
        assert!(log.is_empty(), "{log:?}");

        // Other codes, and other origins, are not.
        let status = strict.apply(Status::not_found("no cart"), METHOD);
        assert_eq!(status.message(), "no cart");
        let peer = Status::internal("upstream").with_origin(Origin::Peer);
        assert_eq!(strict.apply(peer, METHOD).message(), "upstream");
    }

    #[test]
    fn a_deliberate_status_and_ok_pass_untouched() {
        let advice = Advice::new().on(not_found);
        let mut md = Metadata::new();
        md.insert("x-shard", "7").unwrap();
        let deliberate = Status::not_found("no such cart")
            .with_detail(ErrorInfo::new("CART", "shop"))
            .with_metadata(md);
        let (status, log) = capture(|| advice.apply(deliberate, METHOD));
        assert_eq!(status.code(), Code::NotFound);
        assert_eq!(status.message(), "no such cart");
        assert_eq!(status.get_detail::<ErrorInfo>().unwrap().reason, "CART");
        assert_eq!(status.metadata().get("x-shard"), Some("7"));
        assert!(status.source().is_none());
        assert!(log.is_empty(), "{log:?}");
        assert!(advice.apply(Status::ok(), METHOD).is_ok());
    }

    #[test]
    fn debug_info_is_stripped_and_logged_unless_kept() {
        let with_debug = || {
            Status::not_found("gone")
                .with_detail(DebugInfo::new("lookup missed", ["repo.rs:12"]))
                .with_detail(ErrorInfo::new("GONE", "shop"))
        };
        let (status, log) = capture(|| Advice::new().apply(with_debug(), METHOD));
        assert!(status.get_detail::<DebugInfo>().is_none());
        assert!(status.get_detail::<ErrorInfo>().is_some());
        assert_eq!(log.len(), 1);
        assert!(log[0].contains("repo.rs:12"), "{log:?}");

        let status = Advice::new()
            .keep_debug_info(true)
            .apply(with_debug(), METHOD);
        assert!(status.get_detail::<DebugInfo>().is_some());

        // A handler's DebugInfo goes too.
        let advice = Advice::new().on(|_: &PoolTimedOut, _: &Failure<'_>| {
            Status::unavailable("db").with_detail(DebugInfo::new("pool: 0/10", ["pool.rs:1"]))
        });
        let status = advice.apply(Status::internal("x").with_source(PoolTimedOut), METHOD);
        assert!(status.details_any().is_empty());

        // An unmapped error's DebugInfo goes into its log event, and into
        // the redacted status only when kept.
        let failed = || {
            Status::internal("x")
                .with_source(std::io::Error::other("disk"))
                .with_detail(DebugInfo::new("fsync failed", ["wal.rs:99"]))
        };
        let (status, log) = capture(|| Advice::new().apply(failed(), METHOD));
        assert!(status.get_detail::<DebugInfo>().is_none());
        assert!(log[0].contains("wal.rs:99"), "{log:?}");
        let status = Advice::new().keep_debug_info(true).apply(failed(), METHOD);
        assert_eq!(
            status.get_detail::<DebugInfo>().unwrap().detail,
            "fsync failed"
        );
    }

    #[test]
    fn a_status_is_advised_once() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let first = Advice::new().on(move |err: &ProductNotFound, f: &Failure<'_>| {
            counted.fetch_add(1, Ordering::SeqCst);
            not_found(err, f)
        });
        let second = Advice::new()
            .on(|_: &ProductNotFound, _: &Failure<'_>| Status::aborted("mapped twice"));
        let failed = Status::unknown("x").with_source(ProductNotFound("sku".into()));
        let once = first.apply(failed, METHOD);
        let twice = first.apply(once.clone(), METHOD);
        let stacked = second.apply(twice, METHOD);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(stacked.code(), Code::NotFound);
        assert_eq!(stacked.message(), once.message());

        // A redacted status keeps its id and is logged once.
        let failed = Status::internal("x").with_source(std::io::Error::other("disk"));
        let (statuses, log) = capture(|| {
            let redacted = first.apply(failed, METHOD);
            let again = second.apply(redacted.clone(), METHOD);
            (redacted, again)
        });
        assert_eq!(request_id(&statuses.0), request_id(&statuses.1));
        assert_eq!(statuses.0.message(), statuses.1.message());
        assert_eq!(log.len(), 1, "{log:#?}");

        // A status passed with its source is not looked at again either.
        let passed = second.apply(Status::not_found("x").with_source(PoolTimedOut), METHOD);
        let advice = Advice::new().on(unavailable);
        assert_eq!(advice.apply(passed, METHOD).code(), Code::NotFound);
    }

    #[test]
    fn the_fallback_answers_unmapped_errors_with_the_logged_id_but_not_panics() {
        let advice = Advice::new().fallback(|failure| {
            Status::unavailable("try later")
                .with_detail(RequestInfo::new(failure.request_id(), "fallback"))
        });
        let failed = Status::internal("x").with_source(std::io::Error::other("disk"));
        let (status, log) = capture(|| advice.apply(failed, METHOD));
        assert_eq!(status.code(), Code::Unavailable);
        let id = request_id(&status);
        assert!(log[0].contains(&format!("request_id={id}")), "{log:?}");

        let (status, log) = capture(|| advice.apply(panic_status(&"index out of bounds"), METHOD));
        assert_eq!(status.code(), Code::Internal);
        let id = request_id(&status);
        assert_eq!(
            status.message(),
            format!("internal server error; request id: {id}")
        );
        assert!(log[0].contains(&format!("request_id={id}")), "{log:?}");
        assert!(
            log[0].contains("the handler panicked: index out of bounds"),
            "{log:?}"
        );
    }

    #[test]
    fn a_handler_can_give_its_status_the_correlation_id_and_the_failure_is_logged_with_it() {
        let advice = Advice::new().on(|_: &PoolTimedOut, failure: &Failure<'_>| {
            assert_eq!(failure.method(), METHOD);
            assert_eq!(failure.status().message(), "load failed");
            Status::unavailable("db").with_detail(RequestInfo::new(failure.request_id(), ""))
        });
        let failed = Status::internal("load failed").with_source(PoolTimedOut);
        let (status, log) = capture(|| advice.apply(failed, METHOD));
        let id = request_id(&status);
        assert_eq!(log.len(), 1, "{log:?}");
        assert!(log[0].starts_with("WARN"), "{log:?}");
        assert!(log[0].contains(&format!("request_id={id}")), "{log:?}");
        assert!(log[0].contains("pool timed out"), "{log:?}");
        assert_eq!(
            chain(&status)[0],
            format!("mapped by the error advice (request id {id})")
        );
    }

    #[test]
    fn a_panicking_handler_or_fallback_gets_the_redacted_status_and_is_logged() {
        let advice = Advice::new()
            .on(|_: &PoolTimedOut, _: &Failure<'_>| -> Status {
                panic!("the mapping of {} is broken", "PoolTimedOut")
            })
            .fallback(|_| panic!("the fallback is broken"));
        let failed = Status::unavailable("x").with_source(PoolTimedOut);
        let (status, log) = capture(|| advice.apply(failed, METHOD));
        let id = request_id(&status);
        assert_eq!(status.code(), Code::Internal);
        assert_eq!(log.len(), 1, "{log:#?}");
        assert!(log[0].contains(&format!("request_id={id}")), "{log:?}");
        assert!(
            log[0].contains("PoolTimedOut panicked: the mapping of PoolTimedOut is broken"),
            "{log:?}"
        );
        assert!(log[0].contains("pool timed out"), "the chain: {log:?}");

        let failed = Status::internal("x").with_source(std::io::Error::other("disk"));
        let (status, log) = capture(|| advice.apply(failed, METHOD));
        let id = request_id(&status);
        assert_eq!(status.code(), Code::Internal);
        assert_eq!(log.len(), 2, "{log:#?}");
        assert!(log.iter().all(|l| l.contains(&format!("request_id={id}"))));
        assert!(log[1].contains("the fallback is broken"), "{log:?}");
    }

    #[test]
    fn the_advice_and_its_layer_are_send_and_sync() {
        fn check<T: Send + Sync + 'static>() {}
        check::<Advice>();
        check::<crate::advice::ErrorAdviceLayer>();
        check::<crate::advice::ErrorAdvice<grpcx_transport::server::Routes>>();
        fn send<T: Send + 'static>() {}
        send::<crate::advice::ResponseFuture<grpcx_transport::server::RoutesFuture>>();
    }

    #[test]
    fn request_ids_are_unique_and_share_the_process_prefix() {
        let ids: Vec<String> = (0..1000).map(|_| next_request_id()).collect();
        let unique: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len());
        let prefix = ids[0].split_once('-').unwrap().0;
        assert_eq!(prefix.len(), 16);
        assert!(ids.iter().all(|id| id.starts_with(prefix)));
    }

    #[test]
    fn the_advice_says_what_it_holds() {
        let advice = Advice::new().on(not_found).keep_debug_info(true);
        let shown = format!("{advice:?}");
        assert!(shown.contains("ProductNotFound"), "{shown}");
        assert!(shown.contains("keep_debug_info: true"), "{shown}");
    }
}
