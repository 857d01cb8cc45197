//! [`Error`]: failures outside any call (bind, accept, connect, bad URI).

use std::error::Error as StdError;
use std::fmt;

use grpcx_status::__private::StatusInternals as _;
use grpcx_status::{Origin, Status};

type Source = Box<dyn StdError + Send + Sync>;

/// A failure of the transport outside any single call: binding a listener,
/// a bad endpoint URI, connecting.
///
/// Opaque in the style of hyper's error: ask what kind it is with the
/// `is_*` methods and walk [`source`](StdError::source) for the cause. Its
/// `Display` is one line; the wording is not part of the API.
///
/// Converted into a [`Status`] (`UNAVAILABLE` for a connection failure,
/// `INTERNAL` otherwise) with the error kept as the status's source.
pub struct Error {
    kind: Kind,
    source: Option<Source>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Bind,
    Accept,
    InvalidUri,
    Connect,
    Timeout,
    Runtime,
}

impl Error {
    pub(crate) fn new(kind: Kind, source: impl Into<Source>) -> Error {
        Error {
            kind,
            source: Some(source.into()),
        }
    }

    pub(crate) fn kind(&self) -> Kind {
        self.kind
    }

    /// Whether binding a listening socket failed.
    pub fn is_bind(&self) -> bool {
        self.kind == Kind::Bind
    }

    /// Whether accepting connections failed for good.
    pub fn is_accept(&self) -> bool {
        self.kind == Kind::Accept
    }

    /// Whether an endpoint's URI is invalid.
    pub fn is_invalid_uri(&self) -> bool {
        self.kind == Kind::InvalidUri
    }

    /// Whether connecting to the server failed.
    pub fn is_connect(&self) -> bool {
        self.kind == Kind::Connect
    }

    /// Whether starting the async runtime of a blocking channel failed.
    pub fn is_runtime(&self) -> bool {
        self.kind == Kind::Runtime
    }

    /// Whether connecting took longer than the connect timeout.
    pub fn is_timeout(&self) -> bool {
        self.kind == Kind::Timeout
    }

    fn description(&self) -> &'static str {
        match self.kind {
            Kind::Bind => "could not bind the listening socket",
            Kind::Accept => "could not accept connections",
            Kind::InvalidUri => "invalid endpoint URI",
            Kind::Connect => "could not connect to the server",
            Kind::Timeout => "timed out connecting to the server",
            Kind::Runtime => "could not start the async runtime of a blocking channel",
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_tuple("grpcx_transport::Error");
        d.field(&self.kind);
        if let Some(source) = &self.source {
            d.field(source);
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description())
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

impl From<Error> for Status {
    fn from(err: Error) -> Status {
        let status = match err.kind {
            Kind::Connect | Kind::Timeout => Status::unavailable(err.to_string()),
            _ => Status::internal(err.to_string()),
        };
        status.with_origin(Origin::Transport).with_source(err)
    }
}

/// The error type of tower middleware (`tower::BoxError`).
pub type BoxError = Box<dyn StdError + Send + Sync>;

/// The status for an error a tower layer failed a call with, on either
/// side.
///
/// A [`Status`] is itself. Otherwise the error's type is unknown to grpcx
/// and can only be recognised by downcasting: tower's timeout (`Elapsed`)
/// is `DEADLINE_EXCEEDED`, tower's load shedding (`Overloaded`) is
/// `UNAVAILABLE` with [`Progress::NotSent`](grpcx_status::Progress::NotSent)
/// (the call was not processed, so it is safe to retry), and
/// anything else is `UNKNOWN`, with a message that reveals nothing of the
/// error, which is kept as the status's source for the logs.
pub fn status_from_layer_error(err: BoxError) -> Status {
    let err = match err.downcast::<Status>() {
        Ok(status) => return *status,
        Err(err) => err,
    };
    if err.is::<tower::timeout::error::Elapsed>() {
        return Status::deadline_exceeded("the call timed out in a middleware layer")
            .with_source(err);
    }
    if err.is::<tower::load_shed::error::Overloaded>() {
        // Shed before it went anywhere: safe to send again.
        return Status::unavailable("the service is overloaded")
            .with_progress(grpcx_status::Progress::NotSent)
            .with_source(err);
    }
    Status::unknown("a middleware layer failed the call").with_source(err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use grpcx_status::Code;

    #[test]
    fn layer_errors_map_to_codes_and_keep_their_source() {
        let status = status_from_layer_error(Box::new(Status::not_found("no user")));
        assert_eq!(status.code(), Code::NotFound);
        assert_eq!(status.message(), "no user");
        let elapsed = status_from_layer_error(Box::new(tower::timeout::error::Elapsed::new()));
        assert_eq!(elapsed.code(), Code::DeadlineExceeded);
        let shed = status_from_layer_error(Box::new(tower::load_shed::error::Overloaded::new()));
        assert_eq!(shed.code(), Code::Unavailable);
        assert_eq!(shed.progress(), grpcx_status::Progress::NotSent);
        let other = status_from_layer_error("secret database password".into());
        assert_eq!(other.code(), Code::Unknown);
        assert!(!other.message().contains("secret"));
        assert!(format!("{other:#}").contains("secret"), "kept for the logs");
    }

    #[test]
    fn connect_errors_become_unavailable_with_the_cause() {
        let err = Error::new(Kind::Connect, std::io::Error::other("connection refused"));
        assert!(err.is_connect());
        assert_eq!(err.to_string(), "could not connect to the server");
        let status = Status::from(err);
        assert_eq!(status.code(), Code::Unavailable);
        assert_eq!(status.origin(), Origin::Transport);
        assert!(format!("{status:#}").ends_with("caused by: connection refused"));
    }

    #[test]
    fn other_errors_become_internal() {
        let status = Status::from(Error::new(Kind::InvalidUri, "no authority"));
        assert_eq!(status.code(), Code::Internal);
    }
}
