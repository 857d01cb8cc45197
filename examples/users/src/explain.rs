//! What a client tells its user when a call fails: match on the code, read
//! the typed details, never parse the message.
//!
//! The async and the blocking clients get the very same [`Status`], so
//! both binaries use these functions.

use std::time::Duration;

use grpcx::{
    BadRequest, Code, ErrorInfo, Origin, PreconditionFailure, QuotaFailure, ResourceInfo,
    RetryInfo, Status,
};

use crate::{REASON_MISSING_PERMISSION, REASON_VERSION_CONFLICT};

/// A failed `CreateUser`, for the person filling the sign-up form.
pub fn create_user_failure(status: &Status) -> String {
    match status.code() {
        Code::InvalidArgument => format!("please fix the form: {}", bad_request(status)),
        Code::AlreadyExists => match status.get_detail::<ResourceInfo>() {
            Some(resource) => format!(
                "{} already exists; pick another username",
                resource.resource_name
            ),
            None => "that username is taken; pick another one".to_owned(),
        },
        Code::ResourceExhausted => {
            let quota = status
                .get_detail::<QuotaFailure>()
                .and_then(|quota| quota.violations.into_iter().next())
                .map(|v| format!(" ({} for {})", v.description, v.subject))
                .unwrap_or_default();
            match retry_delay(status) {
                Some(delay) => format!(
                    "too many sign-ups{quota}; try again in {}s",
                    delay.as_secs()
                ),
                None => format!("too many sign-ups{quota}; try again later"),
            }
        }
        // The message is the server's generic one; there is nothing more
        // to tell, and nothing more was sent.
        Code::Internal => "something went wrong on our side; please try again later".to_owned(),
        _ => general(status),
    }
}

/// A failed `GetUsers`.
pub fn get_users_failure(status: &Status) -> String {
    match status.code() {
        Code::Unauthenticated => {
            let challenge = status
                .metadata()
                .get("www-authenticate")
                .map(|value| format!(" (the server asks for: {value})"))
                .unwrap_or_default();
            format!("please sign in: {}{challenge}", status.message())
        }
        Code::PermissionDenied => match status.get_detail::<ErrorInfo>() {
            Some(info) if info.reason == REASON_MISSING_PERMISSION => {
                let permission = info.metadata.get("permission").map_or("?", String::as_str);
                format!("your account lacks the {permission} permission; ask an administrator")
            }
            _ => "you may not list users".to_owned(),
        },
        Code::OutOfRange => format!("there is no such page: {}", bad_request(status)),
        Code::InvalidArgument => format!("bad page request: {}", bad_request(status)),
        _ => general(status),
    }
}

/// A failed `ProcessTransaction`; nothing of it was applied.
pub fn transaction_failure(status: &Status) -> String {
    match status.code() {
        Code::Aborted => match conflict(status) {
            Some((account, actual)) => format!(
                "{account} changed meanwhile (now version {actual}); read it again and retry"
            ),
            None => "the transaction conflicted with another; retry it".to_owned(),
        },
        Code::InvalidArgument => format!("invalid transaction: {}", bad_request(status)),
        Code::NotFound => match status.get_detail::<ResourceInfo>() {
            Some(resource) => format!("{} does not exist", resource.resource_name),
            None => "an account does not exist".to_owned(),
        },
        Code::FailedPrecondition => match status
            .get_detail::<PreconditionFailure>()
            .and_then(|failure| failure.violations.into_iter().next())
        {
            Some(v) => format!("{} on {}: {}", v.r#type, v.subject, v.description),
            None => format!("refused: {}", status.message()),
        },
        _ => general(status),
    }
}

/// The account and its current version, from the `ErrorInfo` of an
/// `ABORTED` transaction.
pub fn conflict(status: &Status) -> Option<(String, u64)> {
    let info = status.get_detail::<ErrorInfo>()?;
    if info.reason != REASON_VERSION_CONFLICT {
        return None;
    }
    let account = info.metadata.get("account")?.clone();
    let actual = info.metadata.get("actualVersion")?.parse().ok()?;
    Some((account, actual))
}

/// Any failure without a special case, as grpcio's examples print them;
/// the origin tells this client's own timeouts and connection failures
/// from what the server sent.
pub fn general(status: &Status) -> String {
    match (status.code(), status.origin()) {
        (Code::Unavailable, Origin::Transport) => {
            "cannot reach the server; retrying might help".to_owned()
        }
        (Code::Unavailable, _) => "the service is unavailable; retrying might help".to_owned(),
        (Code::DeadlineExceeded, Origin::Deadline) => "we gave up waiting".to_owned(),
        (Code::DeadlineExceeded, _) => "the server ran out of time".to_owned(),
        (Code::Cancelled, Origin::Cancelled) => "cancelled".to_owned(),
        (code, _) => format!("RPC failed: {code} - {}", status.message()),
    }
}

/// The `RetryInfo` delay, if the server sent one.
pub fn retry_delay(status: &Status) -> Option<Duration> {
    status.get_detail::<RetryInfo>()?.delay()
}

/// The field violations of the `BadRequest`, as `field: why; ...`, or the
/// message when there is none.
fn bad_request(status: &Status) -> String {
    match status.get_detail::<BadRequest>() {
        Some(bad) if !bad.is_empty() => bad
            .field_violations
            .iter()
            .map(|v| format!("{}: {}", v.field, v.description))
            .collect::<Vec<_>>()
            .join("; "),
        _ => status.message().to_owned(),
    }
}
