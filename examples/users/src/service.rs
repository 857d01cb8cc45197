//! [`Users`]: the handlers. Each reads its request, calls the store, and
//! lets `?` turn a [`ServiceError`] into the right status.

use futures_util::stream;
use grpcx::{BoxStream, Code, Metadata, Response, ServerRequest, Status};

use crate::error::{AuthError, ServiceError, Violations};
use crate::pb::{
    ActivityEvent, CreateUserRequest, CreateUserResponse, GetUsersRequest, GetUsersResponse,
    StreamActivityRequest, TransactionRequest, TransactionResponse, UserService,
};
use crate::store::{ActivityLog, Directory, Ledger};
use crate::{ADMIN_TOKEN, CLIENT_ID_METADATA, Config, GUEST_TOKEN, READ_USERS};

/// The largest page `GetUsers` returns.
const MAX_PAGE_SIZE: u32 = 100;

/// The page size when the request gives none.
const DEFAULT_PAGE_SIZE: u32 = 10;

/// The tokens this example accepts, and their permissions. A real service
/// would verify a signed token instead.
const TOKENS: &[(&str, &[&str])] = &[(ADMIN_TOKEN, &[READ_USERS]), (GUEST_TOKEN, &[])];

/// The user service: an implementation of the generated [`UserService`]
/// trait, with its state in memory.
///
/// It starts with the users `alice` and `bob`, the accounts `alice` (100)
/// and `bob` (50), and an activity log whose fourth record is corrupt.
#[derive(Debug)]
pub struct Users {
    directory: Directory,
    activity: ActivityLog,
    ledger: Ledger,
}

impl Users {
    /// The service with `config`.
    pub fn new(config: Config) -> Users {
        Users {
            directory: Directory::new(
                config,
                &[("alice", "alice@example.com"), ("bob", "bob@example.com")],
            ),
            activity: ActivityLog::new(&[
                "1|alice|signed up",
                "2|bob|signed up",
                "3|alice|changed her email",
                "4|bo", // a record cut short on disk
                "5|bob|signed in",
            ]),
            ledger: Ledger::new(&[("alice", 100), ("bob", 50)]),
        }
    }
}

impl Default for Users {
    fn default() -> Self {
        Users::new(Config::default())
    }
}

impl UserService for Users {
    async fn create_user(
        &self,
        request: ServerRequest<CreateUserRequest>,
    ) -> Result<Response<CreateUserResponse>, Status> {
        let client_id = request
            .metadata()
            .get(CLIENT_ID_METADATA)
            .unwrap_or("anonymous")
            .to_owned();
        let CreateUserRequest { username, email } = request.into_inner();
        validate_new_user(&username, &email)?;
        let user = self.directory.create(&client_id, &username, &email)?;
        Ok(Response::new(CreateUserResponse { user: Some(user) }))
    }

    async fn get_users(
        &self,
        request: ServerRequest<GetUsersRequest>,
    ) -> Result<Response<GetUsersResponse>, Status> {
        let permissions = authenticate(request.metadata())?;
        if !permissions.contains(&READ_USERS) {
            return Err(ServiceError::PermissionDenied {
                permission: READ_USERS,
            }
            .into());
        }
        let GetUsersRequest { limit, offset } = request.into_inner();
        let limit = match limit {
            0 => DEFAULT_PAGE_SIZE,
            limit => limit,
        };
        if limit > MAX_PAGE_SIZE {
            let mut violations = Violations::default();
            violations.add("limit", format!("must be at most {MAX_PAGE_SIZE}"));
            violations.check()?;
        }
        let (users, total) = self.directory.page(offset, limit)?;
        Ok(Response::new(GetUsersResponse { users, total }))
    }

    type StreamActivityStream = BoxStream<ActivityEvent>;

    async fn stream_activity(
        &self,
        request: ServerRequest<StreamActivityRequest>,
    ) -> Result<Response<Self::StreamActivityStream>, Status> {
        let context = request.context().clone();
        let records = self.activity.read_after(request.get_ref().after_sequence);
        let events = stream::unfold((records, context), |(mut records, context)| async move {
            // Between items: is the client still there, and within its
            // deadline? If not, the work is wasted.
            if !context.is_active() {
                tracing::info!("the client went away; activity stream stopped");
                return None;
            }
            match records.next()? {
                Ok(event) => Some((Ok(event), (records, context))),
                Err(corrupt) => {
                    tracing::warn!(error = %corrupt, "activity stream ends at a corrupt record");
                    // As grpcio's `context.set_code`: the stream ends
                    // normally, and the client gets this status after the
                    // events already sent.
                    context.set_code(Code::DataLoss);
                    context.set_message(format!(
                        "activity record {} is corrupt; the events before it are intact",
                        corrupt.position
                    ));
                    None
                }
            }
        });
        Ok(Response::new(Box::pin(events)))
    }

    async fn process_transaction(
        &self,
        request: ServerRequest<TransactionRequest>,
    ) -> Result<Response<TransactionResponse>, Status> {
        let operations = request.into_inner().operations;
        if operations.is_empty() {
            let mut violations = Violations::default();
            violations.add("operations", "at least one is required");
            violations.check()?;
        }
        let mut transaction = self.ledger.begin();
        for (index, operation) in operations.iter().enumerate() {
            // On an error, `?` returns and drops the transaction, which
            // undoes the operations already applied.
            transaction.apply(index, operation)?;
        }
        let accounts = transaction.commit();
        Ok(Response::new(TransactionResponse { accounts }))
    }
}

/// Checks every field of a new user, and reports every problem at once.
fn validate_new_user(username: &str, email: &str) -> Result<(), ServiceError> {
    let mut violations = Violations::default();
    if username.is_empty() {
        violations.add("username", "is required");
    } else if username.chars().count() < 3 {
        violations.add("username", "must be at least 3 characters");
    }
    if email.is_empty() {
        violations.add("email", "is required");
    } else if !looks_like_an_email(email) {
        violations.add("email", "is not an email address");
    }
    violations.check()
}

/// A deliberately simple check: `local@domain.tld`, no spaces.
fn looks_like_an_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    let dot = domain.find('.');
    !local.is_empty()
        && !email.contains(char::is_whitespace)
        && !domain.contains('@')
        && dot.is_some_and(|dot| dot > 0 && dot + 1 < domain.len())
}

/// The permissions of the caller's bearer token.
fn authenticate(metadata: &Metadata) -> Result<&'static [&'static str], ServiceError> {
    let header = metadata.get("authorization").ok_or(AuthError::Missing)?;
    let token = match header.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => return Err(AuthError::Malformed.into()),
    };
    let (_, permissions) = TOKENS
        .iter()
        .find(|(known, _)| *known == token)
        .ok_or(AuthError::UnknownToken)?;
    Ok(permissions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_reports_every_invalid_field() {
        let Err(ServiceError::InvalidArgument(violations)) = validate_new_user("", "nope") else {
            panic!("expected a validation error");
        };
        assert_eq!(
            violations.to_string(),
            "username: is required; email: is not an email address"
        );
        assert!(validate_new_user("ada", "ada@example.com").is_ok());
    }

    #[test]
    fn emails() {
        for good in ["a@b.co", "ada.lovelace@example.com"] {
            assert!(looks_like_an_email(good), "{good}");
        }
        for bad in [
            "",
            "ada",
            "@example.com",
            "ada@",
            "ada@example",
            "ada@.com",
            "a b@c.de",
        ] {
            assert!(!looks_like_an_email(bad), "{bad}");
        }
    }

    #[test]
    fn bearer_tokens() {
        fn auth_error(metadata: &Metadata) -> Option<AuthError> {
            match authenticate(metadata) {
                Err(ServiceError::Unauthenticated(err)) => Some(err),
                _ => None,
            }
        }
        let mut metadata = Metadata::new();
        assert_eq!(auth_error(&metadata), Some(AuthError::Missing));
        metadata.insert("authorization", "Basic abc").unwrap();
        assert_eq!(auth_error(&metadata), Some(AuthError::Malformed));
        metadata.insert("authorization", "Bearer nope").unwrap();
        assert_eq!(auth_error(&metadata), Some(AuthError::UnknownToken));
        metadata
            .insert("authorization", "bearer admin-token")
            .unwrap();
        assert_eq!(authenticate(&metadata).unwrap(), &[READ_USERS][..]);
        metadata
            .insert("authorization", "Bearer guest-token")
            .unwrap();
        assert!(authenticate(&metadata).unwrap().is_empty());
    }
}
