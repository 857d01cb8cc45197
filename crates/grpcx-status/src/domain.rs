//! Domain errors: how an application's own error type becomes a [`Status`].
//!
//! Business code should not build transport types. It defines its errors as
//! it likes (with `thiserror`, say) and says once, in a [`DomainError`]
//! impl, which code each variant is, what message the client may see, and
//! which details go with it. Then `?` turns the error into a [`Status`]
//! wherever a handler returns `Result<_, Status>`, and the original error is
//! kept as the status's source for logs, never sent.
//!
//! ```
//! use grpcx_status::{Code, Detail, DomainError, ErrorInfo, Status};
//!
//! #[derive(Debug, thiserror::Error)]
//! enum UserError {
//!     #[error("user {0} not found")]
//!     NotFound(u64),
//!     #[error("database unavailable")]
//!     Db(#[source] std::io::Error),
//! }
//!
//! impl DomainError for UserError {
//!     fn code(&self) -> Code {
//!         match self {
//!             UserError::NotFound(_) => Code::NotFound,
//!             UserError::Db(_) => Code::Unavailable,
//!         }
//!     }
//!
//!     fn details(&self) -> Vec<Detail> {
//!         match self {
//!             UserError::NotFound(id) => vec![
//!                 ErrorInfo::new("USER_NOT_FOUND", "users.example.com")
//!                     .with_metadata("userId", id.to_string())
//!                     .into(),
//!             ],
//!             UserError::Db(_) => vec![],
//!         }
//!     }
//! }
//!
//! fn get_user(id: u64) -> Result<String, Status> {
//!     Err(UserError::NotFound(id))?
//! }
//!
//! let status = get_user(42).unwrap_err();
//! assert_eq!(status.code(), Code::NotFound);
//! assert_eq!(status.message(), "user 42 not found");
//! assert_eq!(status.get_detail::<ErrorInfo>().unwrap().metadata["userId"], "42");
//! ```
//!
//! [`Status`]: crate::Status

use std::error::Error as StdError;

use crate::code::Code;
use crate::metadata::Metadata;
use crate::rich::Detail;
use crate::status::Status;

/// An application error that knows which [`Status`] it becomes.
///
/// Only [`DomainError::code`] is required. The message defaults to the
/// error's `Display` text: write that text for the client, or override
/// [`DomainError::message`] when it holds something the client must not see.
/// The error itself is attached as the status's source (for logs) and is
/// never sent.
pub trait DomainError: StdError + Send + Sync + 'static {
    /// The status code of this error.
    fn code(&self) -> Code;

    /// The message the client sees; the `Display` text by default.
    fn message(&self) -> String {
        self.to_string()
    }

    /// Typed details to send with the status; none by default.
    fn details(&self) -> Vec<Detail> {
        Vec::new()
    }

    /// Trailing metadata to send with the status; none by default.
    fn metadata(&self) -> Metadata {
        Metadata::new()
    }

    /// The status this error becomes; rarely overridden.
    fn to_status(&self) -> Status {
        Status::new(self.code(), self.message())
            .with_details(self.details())
            .with_metadata(self.metadata())
    }
}

impl<E: DomainError> From<E> for Status {
    fn from(err: E) -> Status {
        err.to_status().with_source(err)
    }
}

/// Turns any error into a [`Status`] with a chosen code, at the call site.
///
/// For errors that are not [`DomainError`]s, such as a library's: the
/// message is the one given (the error's own text is not sent, since it may
/// reveal internals), and the error is kept as the source.
///
/// ```
/// use grpcx_status::{Code, ResultExt, Status};
///
/// fn parse(input: &str) -> Result<u32, Status> {
///     input.parse::<u32>().or_status(Code::Internal, "stored counter is corrupt")
/// }
///
/// let status = parse("x").unwrap_err();
/// assert_eq!(status.message(), "stored counter is corrupt");
/// assert_eq!(format!("{status:#}"), "INTERNAL: stored counter is corrupt: caused by: invalid digit found in string");
/// ```
pub trait ResultExt<T> {
    /// Maps the error to a status with `code` and `message`, keeping the
    /// error as the status's source.
    fn or_status(self, code: Code, message: impl Into<String>) -> Result<T, Status>;
}

impl<T, E> ResultExt<T> for Result<T, E>
where
    E: Into<Box<dyn StdError + Send + Sync>>,
{
    fn or_status(self, code: Code, message: impl Into<String>) -> Result<T, Status> {
        self.map_err(|err| Status::new(code, message).with_source(err))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rich::{BadRequest, ErrorInfo};

    #[derive(Debug, thiserror::Error)]
    enum AccountError {
        #[error("account {0} is frozen")]
        Frozen(String),
        #[error("invalid amount")]
        InvalidAmount { field: &'static str },
        #[error("ledger write failed: {0}")]
        Ledger(#[source] std::io::Error),
    }

    impl DomainError for AccountError {
        fn code(&self) -> Code {
            match self {
                AccountError::Frozen(_) => Code::FailedPrecondition,
                AccountError::InvalidAmount { .. } => Code::InvalidArgument,
                AccountError::Ledger(_) => Code::Internal,
            }
        }

        fn message(&self) -> String {
            match self {
                // The ledger's error text is for logs only.
                AccountError::Ledger(_) => "internal error".to_owned(),
                other => other.to_string(),
            }
        }

        fn details(&self) -> Vec<Detail> {
            match self {
                AccountError::Frozen(id) => vec![
                    ErrorInfo::new("ACCOUNT_FROZEN", "bank.example.com")
                        .with_metadata("accountId", id.clone())
                        .into(),
                ],
                AccountError::InvalidAmount { field } => {
                    vec![
                        BadRequest::default()
                            .violation(*field, "must be positive")
                            .into(),
                    ]
                }
                AccountError::Ledger(_) => vec![],
            }
        }

        fn metadata(&self) -> Metadata {
            let mut md = Metadata::new();
            let _ = md.insert("x-error-domain", "bank");
            md
        }
    }

    fn transfer(err: AccountError) -> Result<(), Status> {
        Err(err)?;
        Ok(())
    }

    #[test]
    fn question_mark_maps_code_message_details_metadata_and_source() {
        let status = transfer(AccountError::Frozen("acc-1".into())).unwrap_err();
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert_eq!(status.message(), "account acc-1 is frozen");
        let info = status.get_detail::<ErrorInfo>().unwrap();
        assert_eq!(info.reason, "ACCOUNT_FROZEN");
        assert_eq!(info.metadata["accountId"], "acc-1");
        assert_eq!(status.metadata().get("x-error-domain"), Some("bank"));
        assert_eq!(
            status.source().unwrap().to_string(),
            "account acc-1 is frozen"
        );

        let status = transfer(AccountError::InvalidAmount { field: "amount" }).unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(
            status.get_detail::<BadRequest>().unwrap().field_violations[0].field,
            "amount"
        );
    }

    #[test]
    fn overridden_message_hides_internals_but_keeps_the_source() {
        let status = transfer(AccountError::Ledger(std::io::Error::other(
            "disk /dev/sda1 full",
        )))
        .unwrap_err();
        assert_eq!(status.code(), Code::Internal);
        assert_eq!(status.message(), "internal error");
        assert!(!status.to_string().contains("sda1"));
        assert!(format!("{status:#}").contains("disk /dev/sda1 full"));
    }

    #[test]
    fn or_status_keeps_the_source() {
        let result: Result<(), std::io::Error> = Err(std::io::Error::other("secret path"));
        let status = result
            .or_status(Code::Unavailable, "storage offline")
            .unwrap_err();
        assert_eq!(status.code(), Code::Unavailable);
        assert_eq!(status.message(), "storage offline");
        assert_eq!(status.source().unwrap().to_string(), "secret path");
    }
}
