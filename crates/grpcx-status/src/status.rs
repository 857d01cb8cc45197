//! [`Status`]: the outcome of a call.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use prost_types::Any;

use crate::code::Code;
use crate::metadata::Metadata;
use crate::pb;
use crate::rich::{Detail, DetailMessage};

/// The outcome of a gRPC call: a [`Code`], a message, typed details and
/// metadata.
///
/// `Status` is the currency of grpcx at every RPC boundary: handlers return
/// it, clients receive it, codecs and interceptors fail with it. It is one
/// pointer wide, so `Result<T, Status>` stays small, and it is cheap enough
/// to clone.
///
/// - The **message** is for developers, any Unicode; it travels
///   percent-encoded in `grpc-message`.
/// - The **details** are `google.rpc` messages (or any other protobuf
///   message) packed as `Any`; they travel in `grpc-status-details-bin`.
///   Read them back typed with [`Status::details`] or [`Status::get_detail`];
///   a detail that cannot be decoded is kept as [`Detail::Unknown`] with its
///   type URL and bytes.
/// - The **metadata** travels as trailers, next to the status; on a status
///   a client received, [`Status::initial_metadata`] holds the response
///   headers that came before it.
/// - The **source** is an error kept for logs; it is shown by the alternate
///   form of `Display` (`{:#}`) and is never sent to the peer.
/// - The **origin** says where the status was made: by application code,
///   by the peer, or locally by grpcx for a deadline, a cancellation, a
///   transport or protocol failure.
///
/// # Examples
///
/// ```
/// use grpcx_status::{BadRequest, Code, Detail, Status};
///
/// let status = Status::invalid_argument("username is too short")
///     .with_detail(BadRequest::default().violation("username", "must have at least 3 characters"));
///
/// assert_eq!(status.code(), Code::InvalidArgument);
/// assert_eq!(status.message(), "username is too short");
/// let bad = status.get_detail::<BadRequest>().unwrap();
/// assert_eq!(bad.field_violations[0].field, "username");
/// assert_eq!(status.to_string(), "INVALID_ARGUMENT: username is too short");
/// ```
#[derive(Clone)]
pub struct Status(Box<Inner>);

#[derive(Clone)]
struct Inner {
    code: Code,
    message: String,
    details: Vec<Any>,
    details_error: Option<DetailsError>,
    metadata: Metadata,
    initial_metadata: Metadata,
    origin: Origin,
    progress: Progress,
    pushback: Option<Pushback>,
    attempts: Option<u32>,
    source: Option<Arc<dyn StdError + Send + Sync + 'static>>,
}

/// How far a failed call got before it failed, as the client knows it.
///
/// Retry decides by this (gRFC A6): a call that was never sent, or that
/// the server's HTTP/2 layer refused before any handler saw it, can be
/// retried transparently whatever its code; a call that may have reached
/// the server's application is retried only under a retry policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Progress {
    /// The request never left this client: no connection could be made,
    /// the deadline passed or the call was cancelled while connecting.
    NotSent,
    /// The server's HTTP/2 layer refused the stream before any handler saw
    /// it: a `REFUSED_STREAM` reset, or a GOAWAY whose last stream id is
    /// below this call's stream.
    Refused,
    /// The request reached the server, which may have processed it (the
    /// default, and what every status received from the peer says).
    #[default]
    Processed,
}

impl Progress {
    /// Whether the server's application certainly never saw the call, so
    /// sending it again cannot repeat its effects.
    pub fn is_unprocessed(self) -> bool {
        matches!(self, Progress::NotSent | Progress::Refused)
    }
}

/// The server's retry pushback (`grpc-retry-pushback-ms`, gRFC A6): how a
/// server tells retrying clients to wait, or not to retry at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Pushback {
    /// Retry no sooner than after this delay (then the backoff starts over).
    Delay(Duration),
    /// Do not retry: the value was negative, malformed or repeated.
    Stop,
}

/// What was wrong with a received `grpc-status-details-bin`.
///
/// See the [`wire`](crate::wire) module for what is kept in each case.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DetailsError {
    /// The header's value is not base64; the status has no details.
    #[error("grpc-status-details-bin is not valid base64")]
    InvalidBase64,
    /// The decoded bytes are not a `google.rpc.Status`; the status has no
    /// details.
    #[error("grpc-status-details-bin is not a valid google.rpc.Status: {0}")]
    InvalidProtobuf(prost::DecodeError),
    /// The details name another code or message than `grpc-status` and
    /// `grpc-message`; the details are kept.
    #[error(
        "grpc-status-details-bin disagrees with grpc-status: the details say {} {:?}",
        Code::from_i32(*.details_code),
        .details_message
    )]
    Mismatch {
        /// The code the `google.rpc.Status` named (as sent).
        details_code: i32,
        /// The message the `google.rpc.Status` named.
        details_message: String,
    },
}

/// Where a [`Status`] was made.
///
/// A client looks at the origin to tell a status the server sent from one
/// grpcx made locally with the same code: `DEADLINE_EXCEEDED` from the
/// server's own deadline is [`Origin::Peer`], the client's expired timer is
/// [`Origin::Deadline`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Origin {
    /// Made by application code in this process (a handler, an interceptor,
    /// a domain error's mapping). The default.
    #[default]
    Application,
    /// Received from the peer (from `grpc-status` and its companions, or
    /// from the HTTP status of a response that carried none).
    Peer,
    /// Made locally because the call's deadline passed.
    Deadline,
    /// Made locally because the call was cancelled by this side.
    Cancelled,
    /// Made locally because a connection could not be made or was lost.
    Transport,
    /// Made locally because the peer broke the gRPC or HTTP/2 protocol, or
    /// sent something over a configured limit.
    Protocol,
}

impl Origin {
    /// Whether the status was made in this process rather than received.
    pub fn is_local(self) -> bool {
        !matches!(self, Origin::Peer)
    }

    /// A short lowercase name (`"peer"`, `"deadline"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Application => "application",
            Origin::Peer => "peer",
            Origin::Deadline => "deadline",
            Origin::Cancelled => "cancelled",
            Origin::Transport => "transport",
            Origin::Protocol => "protocol",
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

macro_rules! constructors {
    ($($(#[$doc:meta])* $name:ident => $code:ident;)*) => {
        $(
            $(#[$doc])*
            pub fn $name(message: impl Into<String>) -> Status {
                Status::new(Code::$code, message)
            }
        )*
    };
}

impl Status {
    /// A status with `code` and `message`, no details and no metadata.
    pub fn new(code: Code, message: impl Into<String>) -> Status {
        Status(Box::new(Inner {
            code,
            message: message.into(),
            details: Vec::new(),
            details_error: None,
            metadata: Metadata::new(),
            initial_metadata: Metadata::new(),
            origin: Origin::Application,
            progress: Progress::Processed,
            pushback: None,
            attempts: None,
            source: None,
        }))
    }

    /// The `OK` status, with an empty message.
    pub fn ok() -> Status {
        Status::new(Code::Ok, String::new())
    }

    constructors! {
        /// A `CANCELLED` status.
        cancelled => Cancelled;
        /// An `UNKNOWN` status.
        unknown => Unknown;
        /// An `INVALID_ARGUMENT` status.
        invalid_argument => InvalidArgument;
        /// A `DEADLINE_EXCEEDED` status.
        deadline_exceeded => DeadlineExceeded;
        /// A `NOT_FOUND` status.
        not_found => NotFound;
        /// An `ALREADY_EXISTS` status.
        already_exists => AlreadyExists;
        /// A `PERMISSION_DENIED` status.
        permission_denied => PermissionDenied;
        /// A `RESOURCE_EXHAUSTED` status.
        resource_exhausted => ResourceExhausted;
        /// A `FAILED_PRECONDITION` status.
        failed_precondition => FailedPrecondition;
        /// An `ABORTED` status.
        aborted => Aborted;
        /// An `OUT_OF_RANGE` status.
        out_of_range => OutOfRange;
        /// An `UNIMPLEMENTED` status.
        unimplemented => Unimplemented;
        /// An `INTERNAL` status.
        internal => Internal;
        /// An `UNAVAILABLE` status.
        unavailable => Unavailable;
        /// A `DATA_LOSS` status.
        data_loss => DataLoss;
        /// An `UNAUTHENTICATED` status.
        unauthenticated => Unauthenticated;
    }

    /// The status code.
    pub fn code(&self) -> Code {
        self.0.code
    }

    /// The developer-facing message (may be empty).
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// Whether the code is `OK`.
    pub fn is_ok(&self) -> bool {
        self.0.code.is_ok()
    }

    /// Where the status was made.
    pub fn origin(&self) -> Origin {
        self.0.origin
    }

    /// The custom metadata sent or received with the status (trailers).
    pub fn metadata(&self) -> &Metadata {
        &self.0.metadata
    }

    /// The custom metadata, to change it.
    pub fn metadata_mut(&mut self) -> &mut Metadata {
        &mut self.0.metadata
    }

    /// The initial metadata (response headers) the server sent before
    /// failing, on a status a client received; empty otherwise, and for a
    /// Trailers-Only response.
    pub fn initial_metadata(&self) -> &Metadata {
        &self.0.initial_metadata
    }

    /// The details, decoded: one [`Detail`] per packed message, in order.
    ///
    /// Known `google.rpc` types come out typed; any other type, and a known
    /// type whose bytes do not decode, comes out as [`Detail::Unknown`] with
    /// its type URL and bytes. Nothing is dropped.
    pub fn details(&self) -> Vec<Detail> {
        self.0.details.iter().map(Detail::from_any).collect()
    }

    /// The details as sent: each a type URL and the message's bytes.
    pub fn details_any(&self) -> &[Any] {
        &self.0.details
    }

    /// The first detail of type `T`, decoded; `None` when there is none (or
    /// the first one of that type URL does not decode).
    pub fn get_detail<T: DetailMessage>(&self) -> Option<T> {
        self.0
            .details
            .iter()
            .find(|any| any.type_url == T::TYPE_URL)
            .and_then(|any| T::decode(any.value.as_slice()).ok())
    }

    /// Every detail of type `T` that decodes, in order.
    pub fn get_details<T: DetailMessage>(&self) -> Vec<T> {
        self.0
            .details
            .iter()
            .filter(|any| any.type_url == T::TYPE_URL)
            .filter_map(|any| T::decode(any.value.as_slice()).ok())
            .collect()
    }

    /// What was wrong with the `grpc-status-details-bin` a peer sent, if
    /// anything: the header could not be decoded, or its code or message
    /// disagreed with `grpc-status` and `grpc-message`. The code and
    /// message of the status are always those of `grpc-status` and
    /// `grpc-message`.
    pub fn details_error(&self) -> Option<&DetailsError> {
        self.0.details_error.as_ref()
    }

    /// Adds a detail (a `google.rpc` message, a [`Detail`], or an `Any`).
    pub fn with_detail(mut self, detail: impl Into<Detail>) -> Status {
        self.add_detail(detail);
        self
    }

    /// Adds several details, in order.
    pub fn with_details<I>(mut self, details: I) -> Status
    where
        I: IntoIterator,
        I::Item: Into<Detail>,
    {
        for detail in details {
            self.add_detail(detail);
        }
        self
    }

    /// Adds a detail (a `google.rpc` message, a [`Detail`], or an `Any`).
    pub fn add_detail(&mut self, detail: impl Into<Detail>) -> &mut Status {
        self.0.details.push(detail.into().into_any());
        self
    }

    /// Removes every detail of type `T`: for instance
    /// `status.without_details::<DebugInfo>()` before a status crosses from
    /// a trusted service to the public.
    ///
    /// ```
    /// use grpcx_status::{DebugInfo, ErrorInfo, Status};
    ///
    /// let status = Status::internal("boom")
    ///     .with_detail(DebugInfo::new("stack", ["db.rs:12"]))
    ///     .with_detail(ErrorInfo::new("DB_DOWN", "example.com"))
    ///     .without_details::<DebugInfo>();
    /// assert_eq!(status.details_any().len(), 1);
    /// ```
    pub fn without_details<T: DetailMessage>(mut self) -> Status {
        self.retain_details(|any| any.type_url != T::TYPE_URL);
        self
    }

    /// Keeps only the details (as sent: type URL and bytes) that `keep`
    /// accepts, in order.
    pub fn retain_details(&mut self, keep: impl FnMut(&Any) -> bool) {
        self.0.details.retain(keep);
    }

    /// Replaces the custom metadata.
    pub fn with_metadata(mut self, metadata: Metadata) -> Status {
        self.0.metadata = metadata;
        self
    }

    /// How far the call got before it failed (see [`Progress`]); statuses
    /// received from the peer and made by applications say
    /// [`Progress::Processed`].
    pub fn progress(&self) -> Progress {
        self.0.progress
    }

    /// Sets how far the call got (grpcx's client transport does this; a
    /// test double of a channel may too).
    pub fn with_progress(mut self, progress: Progress) -> Status {
        self.0.progress = progress;
        self
    }

    /// The server's retry pushback, from `grpc-retry-pushback-ms`: absent,
    /// a delay, or [`Pushback::Stop`] for a negative, malformed or repeated
    /// value.
    ///
    /// ```
    /// use std::time::Duration;
    /// use grpcx_status::{Pushback, Status};
    ///
    /// let sent = Status::unavailable("overloaded").with_pushback(Pushback::Delay(Duration::from_millis(250)));
    /// let headers = sent.to_header_map();
    /// assert_eq!(headers["grpc-retry-pushback-ms"], "250");
    /// let received = Status::from_header_map(&headers).unwrap();
    /// assert_eq!(received.pushback(), Some(Pushback::Delay(Duration::from_millis(250))));
    /// ```
    pub fn pushback(&self) -> Option<Pushback> {
        self.0.pushback
    }

    /// Sets the retry pushback a server sends with this status
    /// (`grpc-retry-pushback-ms`).
    pub fn with_pushback(mut self, pushback: Pushback) -> Status {
        self.0.pushback = Some(pushback);
        self
    }

    /// How many attempts the call made before it ended with this status,
    /// the original one included, as the retry layer that saw the call
    /// counts them (transparent retries, which never reached the server's
    /// application, are not counted); `None` when no retry layer saw the
    /// call.
    ///
    /// The status is the last attempt's (its code, message, details and
    /// metadata); this only says how many came before it. The count is
    /// local: it is never sent to the peer nor read from it.
    ///
    /// ```
    /// use grpcx_status::Status;
    ///
    /// let status = Status::unavailable("the server is restarting");
    /// assert_eq!(status.attempts(), None);
    /// let status = status.with_attempts(3);
    /// assert_eq!(status.attempts(), Some(3));
    /// assert_eq!(status.message(), "the server is restarting");
    /// ```
    pub fn attempts(&self) -> Option<u32> {
        self.0.attempts
    }

    /// Records how many attempts the call made (a retry layer does this).
    pub fn with_attempts(mut self, attempts: u32) -> Status {
        self.0.attempts = Some(attempts);
        self
    }

    /// Attaches an error kept for logs: it appears in `{:#}` and as
    /// [`std::error::Error::source`], and is never sent to the peer.
    pub fn with_source(mut self, source: impl Into<Box<dyn StdError + Send + Sync>>) -> Status {
        self.0.source = Some(Arc::from(source.into()));
        self
    }

    /// Replaces the message.
    pub fn with_message(mut self, message: impl Into<String>) -> Status {
        self.0.message = message.into();
        self
    }

    /// Replaces the code.
    pub fn with_code(mut self, code: Code) -> Status {
        self.0.code = code;
        self
    }

    /// The status as a `google.rpc.Status` message.
    pub fn to_proto(&self) -> pb::Status {
        pb::Status {
            code: self.code().as_i32(),
            message: self.message().to_owned(),
            details: self.details_any().to_vec(),
        }
    }

    /// A status from a `google.rpc.Status` message (origin
    /// [`Origin::Application`]); a code out of range becomes `UNKNOWN`.
    pub fn from_proto(proto: pb::Status) -> Status {
        let mut status = Status::new(Code::from_i32(proto.code), proto.message);
        status.0.details = proto.details;
        status
    }

    /// Takes the details a peer sent (the `google.rpc.Status` of
    /// `grpc-status-details-bin`, or why it could not be read) as the
    /// status's details, recording in [`Status::details_error`] what was
    /// wrong: nothing, a header that could not be read (no details), or a
    /// code or message that disagrees with this status's (details kept).
    pub(crate) fn with_received_details(
        mut self,
        received: Result<pb::Status, DetailsError>,
    ) -> Status {
        match received {
            Ok(proto) => {
                let mismatch =
                    proto.code != self.code().as_i32() || proto.message != self.message();
                self.0.details = proto.details;
                self.0.details_error = mismatch.then_some(DetailsError::Mismatch {
                    details_code: proto.code,
                    details_message: proto.message,
                });
            }
            Err(error) => {
                self.0.details = Vec::new();
                self.0.details_error = Some(error);
            }
        }
        self
    }
}

impl Default for Status {
    fn default() -> Self {
        Status::ok()
    }
}

impl fmt::Display for Status {
    /// `CODE: message` (just `CODE` when the message is empty). The
    /// alternate form `{:#}` adds the origin when it is not the application
    /// and the chain of source errors, for logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.code.as_str())?;
        if !self.0.message.is_empty() {
            write!(f, ": {}", self.0.message)?;
        }
        if f.alternate() {
            if self.0.origin != Origin::Application {
                write!(f, " (origin: {})", self.0.origin)?;
            }
            let mut source = self.0.source.as_deref().map(|e| e as &dyn StdError);
            while let Some(err) = source {
                write!(f, ": caused by: {err}")?;
                source = err.source();
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Status");
        d.field("code", &self.0.code)
            .field("message", &self.0.message)
            .field("origin", &self.0.origin);
        if !self.0.details.is_empty() {
            d.field("details", &self.details());
        }
        if let Some(err) = &self.0.details_error {
            d.field("details_error", err);
        }
        if !self.0.metadata.is_empty() {
            d.field("metadata", &self.0.metadata);
        }
        if !self.0.initial_metadata.is_empty() {
            d.field("initial_metadata", &self.0.initial_metadata);
        }
        if self.0.progress != Progress::Processed {
            d.field("progress", &self.0.progress);
        }
        if let Some(pushback) = &self.0.pushback {
            d.field("pushback", pushback);
        }
        if let Some(attempts) = self.0.attempts {
            d.field("attempts", &attempts);
        }
        if let Some(source) = &self.0.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl StdError for Status {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.0
            .source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

/// An error that cannot happen, as a status: lets an infallible body or
/// service stand where a fallible one is expected.
impl From<std::convert::Infallible> for Status {
    fn from(never: std::convert::Infallible) -> Self {
        match never {}
    }
}

impl From<Code> for Status {
    /// A status with the code and an empty message.
    fn from(code: Code) -> Self {
        Status::new(code, String::new())
    }
}

/// Not part of the API: the setters only grpcx's own crates may use, so
/// that where a status came from (above all [`Origin::Peer`]) and the
/// initial metadata a client received are facts the library records, never
/// something an application claims. Anything here may change in any
/// release.
#[doc(hidden)]
pub mod internals {
    use super::{Metadata, Origin, Status};

    /// What grpcx's transport, codec and middleware set on a [`Status`].
    pub trait StatusInternals {
        /// Sets where the status was made.
        fn with_origin(self, origin: Origin) -> Status;
        /// Sets the initial metadata (response headers) the client received
        /// before the call failed.
        fn with_initial_metadata(self, metadata: Metadata) -> Status;
    }

    impl StatusInternals for Status {
        fn with_origin(mut self, origin: Origin) -> Status {
            self.0.origin = origin;
            self
        }

        fn with_initial_metadata(mut self, metadata: Metadata) -> Status {
            self.0.initial_metadata = metadata;
            self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::internals::StatusInternals as _;
    use super::*;
    use crate::rich::{ErrorInfo, RetryInfo};

    #[test]
    fn status_is_one_pointer_wide() {
        assert_eq!(std::mem::size_of::<Status>(), std::mem::size_of::<usize>());
        assert_eq!(
            std::mem::size_of::<Result<(), Status>>(),
            std::mem::size_of::<usize>()
        );
    }

    #[test]
    fn attempts_are_kept_locally_and_never_sent() {
        let status = Status::unavailable("down").with_attempts(4);
        assert_eq!(status.attempts(), Some(4));
        assert_eq!(status.clone().attempts(), Some(4));
        assert!(format!("{status:?}").contains("attempts: 4"));
        assert_eq!(status.to_string(), "UNAVAILABLE: down");
        let received = Status::from_header_map(&status.to_header_map()).unwrap();
        assert_eq!(received.attempts(), None);
        assert_eq!(Status::internal("x").attempts(), None);
    }

    #[test]
    fn status_is_send_sync_clone_error() {
        fn check<T: Send + Sync + Clone + StdError + 'static>() {}
        check::<Status>();
    }

    #[test]
    fn constructors_set_code_and_message() {
        type Constructor = fn(String) -> Status;
        let cases: [(Constructor, Code); 16] = [
            (|m| Status::cancelled(m), Code::Cancelled),
            (|m| Status::unknown(m), Code::Unknown),
            (|m| Status::invalid_argument(m), Code::InvalidArgument),
            (|m| Status::deadline_exceeded(m), Code::DeadlineExceeded),
            (|m| Status::not_found(m), Code::NotFound),
            (|m| Status::already_exists(m), Code::AlreadyExists),
            (|m| Status::permission_denied(m), Code::PermissionDenied),
            (|m| Status::resource_exhausted(m), Code::ResourceExhausted),
            (|m| Status::failed_precondition(m), Code::FailedPrecondition),
            (|m| Status::aborted(m), Code::Aborted),
            (|m| Status::out_of_range(m), Code::OutOfRange),
            (|m| Status::unimplemented(m), Code::Unimplemented),
            (|m| Status::internal(m), Code::Internal),
            (|m| Status::unavailable(m), Code::Unavailable),
            (|m| Status::data_loss(m), Code::DataLoss),
            (|m| Status::unauthenticated(m), Code::Unauthenticated),
        ];
        for (make, code) in cases {
            let status = make(format!("{code} ☺ 😈"));
            assert_eq!(status.code(), code);
            assert_eq!(status.message(), format!("{code} ☺ 😈"));
            assert_eq!(status.origin(), Origin::Application);
            assert!(status.details().is_empty());
            assert!(status.metadata().is_empty());
        }
        assert!(Status::ok().is_ok());
        assert_eq!(Status::from(Code::Aborted).message(), "");
    }

    #[test]
    fn display_is_one_line_and_alternate_shows_the_source_chain() {
        #[derive(Debug, thiserror::Error)]
        #[error("db query failed")]
        struct Db(#[source] std::io::Error);

        let status = Status::internal("could not load user")
            .with_source(Db(std::io::Error::other("connection reset")))
            .with_origin(Origin::Transport);
        assert_eq!(status.to_string(), "INTERNAL: could not load user");
        assert_eq!(
            format!("{status:#}"),
            "INTERNAL: could not load user (origin: transport): caused by: db query failed: caused by: connection reset"
        );
        assert_eq!(status.source().unwrap().to_string(), "db query failed");
        assert_eq!(Status::from(Code::NotFound).to_string(), "NOT_FOUND");
        // A clone shares the source.
        let clone = status.clone();
        assert!(clone.source().is_some());
    }

    #[test]
    fn details_keep_order_and_duplicates() {
        let status = Status::unavailable("busy")
            .with_detail(ErrorInfo::new("OVERLOADED", "example.com"))
            .with_detail(RetryInfo::after(std::time::Duration::from_millis(1500)))
            .with_detail(ErrorInfo::new("SECOND", "example.com"));
        let infos = status.get_details::<ErrorInfo>();
        assert_eq!(infos.len(), 2);
        assert_eq!(infos[0].reason, "OVERLOADED");
        assert_eq!(infos[1].reason, "SECOND");
        assert_eq!(
            status.get_detail::<ErrorInfo>().unwrap().reason,
            "OVERLOADED"
        );
        let kinds: Vec<_> = status
            .details_any()
            .iter()
            .map(|a| a.type_url.as_str())
            .collect();
        assert_eq!(
            kinds,
            [
                "type.googleapis.com/google.rpc.ErrorInfo",
                "type.googleapis.com/google.rpc.RetryInfo",
                "type.googleapis.com/google.rpc.ErrorInfo"
            ]
        );
    }
}
