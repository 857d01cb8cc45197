//! The service's errors, and the one place that says which status each
//! becomes.
//!
//! Handlers and the store return [`ServiceError`]; they never build a
//! [`Status`](grpcx::Status). The [`DomainError`] impl below decides the
//! code, the message the client sees, the typed `google.rpc` details and
//! the trailers, and `?` applies it: `From<ServiceError> for Status` comes
//! with the trait and keeps the error as the status's source, for the
//! server's logs only.

use std::fmt;
use std::time::Duration;

use grpcx::{
    BadRequest, Code, Detail, DomainError, ErrorInfo, Metadata, PreconditionFailure, QuotaFailure,
    ResourceInfo, RetryInfo,
};

/// The domain of this service's `ErrorInfo` reasons.
pub const ERROR_DOMAIN: &str = "users.example.com";

/// The `ErrorInfo` reason of a missing permission.
pub const REASON_MISSING_PERMISSION: &str = "MISSING_PERMISSION";

/// The `ErrorInfo` reason of a concurrent modification.
pub const REASON_VERSION_CONFLICT: &str = "VERSION_CONFLICT";

/// Everything that can go wrong in the user service.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Fields of the request are invalid; every one is listed.
    #[error("invalid request: {0}")]
    InvalidArgument(Violations),
    /// The username belongs to another user.
    #[error("username {username:?} is already taken")]
    UsernameTaken {
        /// The username asked for.
        username: String,
    },
    /// The caller created too many users in the quota's window.
    #[error(
        "client {client_id:?} may create {limit} users per {window:?}; retry in {retry_after:?}"
    )]
    QuotaExceeded {
        /// Who the quota is for (metadata `x-client-id`).
        client_id: String,
        /// The most creations per window.
        limit: u32,
        /// The quota's window.
        window: Duration,
        /// When the caller may create a user again.
        retry_after: Duration,
    },
    /// The caller did not prove who it is.
    #[error(transparent)]
    Unauthenticated(AuthError),
    /// The caller is known but may not do this.
    #[error("the token lacks the {permission} permission")]
    PermissionDenied {
        /// The permission needed.
        permission: &'static str,
    },
    /// A page starts past the last user.
    #[error("offset {offset} is past the last user (there are {total})")]
    PageOutOfRange {
        /// The offset asked for.
        offset: u32,
        /// How many users there are.
        total: u32,
    },
    /// A transaction names an account that does not exist.
    #[error("account {account:?} does not exist")]
    AccountNotFound {
        /// The account's name.
        account: String,
    },
    /// A transaction would take an account below zero.
    #[error("account {account:?} holds {balance}, too little to take {requested}")]
    InsufficientFunds {
        /// The account's name.
        account: String,
        /// Its balance at that point of the transaction.
        balance: i64,
        /// How much the operation takes.
        requested: i64,
    },
    /// An account changed since the version the caller read.
    #[error("account {account:?} is at version {actual}, not {expected}: it changed concurrently")]
    VersionConflict {
        /// The account's name.
        account: String,
        /// The version the operation expected.
        expected: u64,
        /// The account's version now.
        actual: u64,
    },
    /// The database failed. Its text names internal hosts, so the client
    /// only ever sees "internal server error".
    #[error("the user database failed")]
    Database(#[source] DbError),
}

/// Why a caller is not authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `authorization` metadata.
    #[error("authentication required: send `authorization: Bearer <token>`")]
    Missing,
    /// `authorization` is not `Bearer <token>`.
    #[error("the authorization metadata is not a bearer token")]
    Malformed,
    /// The token is not one the service issued.
    #[error("the token is invalid or expired")]
    UnknownToken,
}

impl AuthError {
    /// The `ErrorInfo` reason.
    fn reason(self) -> &'static str {
        match self {
            AuthError::Missing => "CREDENTIALS_MISSING",
            AuthError::Malformed => "CREDENTIALS_MALFORMED",
            AuthError::UnknownToken => "TOKEN_INVALID",
        }
    }
}

/// A failure of the (simulated) database, with text for the server's logs.
#[derive(Debug, thiserror::Error)]
#[error("{operation} failed: {cause}")]
pub struct DbError {
    /// What the service asked the database to do.
    pub operation: String,
    /// What the database answered.
    pub cause: String,
}

/// The invalid fields of a request, each with what is wrong with it.
///
/// Validation collects every violation before failing, so that the client
/// can fix all of them at once; they become one `BadRequest`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Violations(Vec<(String, String)>);

impl Violations {
    /// Records that `field` is invalid, and why.
    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push((field.into(), description.into()));
    }

    /// `Ok` when nothing was recorded, otherwise the error listing every
    /// violation.
    ///
    /// # Errors
    ///
    /// [`ServiceError::InvalidArgument`] when a violation was recorded.
    pub fn check(self) -> Result<(), ServiceError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ServiceError::InvalidArgument(self))
        }
    }

    /// The violations as `(field, description)` pairs.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(f, d)| (f.as_str(), d.as_str()))
    }
}

impl fmt::Display for Violations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (field, description)) in self.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{field}: {description}")?;
        }
        Ok(())
    }
}

impl DomainError for ServiceError {
    fn code(&self) -> Code {
        match self {
            ServiceError::InvalidArgument(_) => Code::InvalidArgument,
            ServiceError::UsernameTaken { .. } => Code::AlreadyExists,
            ServiceError::QuotaExceeded { .. } => Code::ResourceExhausted,
            ServiceError::Unauthenticated(_) => Code::Unauthenticated,
            ServiceError::PermissionDenied { .. } => Code::PermissionDenied,
            ServiceError::PageOutOfRange { .. } => Code::OutOfRange,
            ServiceError::AccountNotFound { .. } => Code::NotFound,
            ServiceError::InsufficientFunds { .. } => Code::FailedPrecondition,
            ServiceError::VersionConflict { .. } => Code::Aborted,
            ServiceError::Database(_) => Code::Internal,
        }
    }

    fn message(&self) -> String {
        match self {
            // The cause stays on the server, as the status's source.
            ServiceError::Database(_) => "internal server error".to_owned(),
            ServiceError::QuotaExceeded { limit, window, .. } => {
                format!(
                    "too many users created: at most {limit} per {}s",
                    window.as_secs()
                )
            }
            other => other.to_string(),
        }
    }

    fn details(&self) -> Vec<Detail> {
        match self {
            ServiceError::InvalidArgument(violations) => {
                let bad = violations
                    .iter()
                    .fold(BadRequest::default(), |bad, (field, description)| {
                        bad.violation(field, description)
                    });
                vec![bad.into()]
            }
            ServiceError::UsernameTaken { username } => vec![
                ResourceInfo::new(
                    "example.users.v1.User",
                    format!("users/{username}"),
                    "",
                    "a user with this username already exists",
                )
                .into(),
            ],
            ServiceError::QuotaExceeded {
                client_id,
                limit,
                window,
                retry_after,
            } => vec![
                QuotaFailure::default()
                    .violation(
                        format!("client:{client_id}"),
                        format!("{limit} user creations per {}s", window.as_secs()),
                    )
                    .into(),
                RetryInfo::after(*retry_after).into(),
            ],
            ServiceError::Unauthenticated(auth) => {
                vec![ErrorInfo::new(auth.reason(), ERROR_DOMAIN).into()]
            }
            ServiceError::PermissionDenied { permission } => vec![
                ErrorInfo::new(REASON_MISSING_PERMISSION, ERROR_DOMAIN)
                    .with_metadata("permission", *permission)
                    .into(),
            ],
            ServiceError::PageOutOfRange { total, .. } => vec![
                BadRequest::default()
                    .violation("offset", format!("must be at most {total}"))
                    .into(),
            ],
            ServiceError::AccountNotFound { account } => vec![
                ResourceInfo::new(
                    "example.users.v1.Account",
                    format!("accounts/{account}"),
                    "",
                    "no such account",
                )
                .into(),
            ],
            ServiceError::InsufficientFunds {
                account,
                balance,
                requested,
            } => vec![
                PreconditionFailure::default()
                    .violation(
                        "INSUFFICIENT_FUNDS",
                        format!("accounts/{account}"),
                        format!("balance {balance} is less than {requested}"),
                    )
                    .into(),
            ],
            ServiceError::VersionConflict {
                account,
                expected,
                actual,
            } => vec![
                ErrorInfo::new(REASON_VERSION_CONFLICT, ERROR_DOMAIN)
                    .with_metadata("account", account.clone())
                    .with_metadata("expectedVersion", expected.to_string())
                    .with_metadata("actualVersion", actual.to_string())
                    .into(),
            ],
            ServiceError::Database(_) => Vec::new(),
        }
    }

    fn metadata(&self) -> Metadata {
        let mut metadata = Metadata::new();
        if let ServiceError::Unauthenticated(_) = self {
            // As HTTP's 401: say how to authenticate. The value is a
            // constant, valid ASCII, so inserting it cannot fail.
            let _ = metadata.insert("www-authenticate", r#"Bearer realm="example.users""#);
        }
        metadata
    }
}

/// Lets authentication write `Err(AuthError::Missing)?`.
impl From<AuthError> for ServiceError {
    fn from(err: AuthError) -> Self {
        ServiceError::Unauthenticated(err)
    }
}
