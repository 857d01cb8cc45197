//! The service's state, in memory: users, creation quotas, the activity
//! log and the accounts' ledger. It speaks [`ServiceError`], never
//! `Status`: it knows nothing of gRPC.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::error::{DbError, ServiceError, Violations};
use crate::pb::{Account, ActivityEvent, Operation, User};
use crate::{Config, FAILING_USERNAME};

/// Users and the creation quotas, behind one lock so that a quota check
/// and the creation it allows are one step.
#[derive(Debug)]
pub(crate) struct Directory {
    state: Mutex<DirectoryState>,
    config: Config,
}

#[derive(Debug, Default)]
struct DirectoryState {
    users: Vec<User>,
    next_id: u64,
    /// Per client id: when its current window started, and how many users
    /// it created since.
    quotas: HashMap<String, (Instant, u32)>,
}

/// Locks `mutex`. A panic while it was held cannot leave our state
/// half-updated (every update is a few assignments that cannot panic), so
/// a poisoned lock is used as it is.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Directory {
    /// A directory holding `seed` users.
    pub(crate) fn new(config: Config, seed: &[(&str, &str)]) -> Directory {
        let mut state = DirectoryState::default();
        for (username, email) in seed {
            state.insert(username, email);
        }
        Directory {
            state: Mutex::new(state),
            config,
        }
    }

    /// Creates a user for `client_id`, within its quota.
    pub(crate) fn create(
        &self,
        client_id: &str,
        username: &str,
        email: &str,
    ) -> Result<User, ServiceError> {
        let now = Instant::now();
        let Config {
            creation_quota: limit,
            quota_window: window,
        } = self.config;
        let mut state = lock(&self.state);
        let (started, used) = match state.quotas.get(client_id) {
            Some(&(started, used)) if now.duration_since(started) < window => (started, used),
            _ => (now, 0),
        };
        if used >= limit {
            return Err(ServiceError::QuotaExceeded {
                client_id: client_id.to_owned(),
                limit,
                window,
                retry_after: round_up_to_seconds(window.saturating_sub(now - started)),
            });
        }
        if state.users.iter().any(|user| user.username == username) {
            return Err(ServiceError::UsernameTaken {
                username: username.to_owned(),
            });
        }
        simulated_database_write(username).map_err(|cause| {
            // The one place the cause is logged: the client gets only
            // "internal server error", and the status keeps the cause as
            // its source.
            tracing::error!(%username, error = %cause, "could not store a new user");
            ServiceError::Database(cause)
        })?;
        let user = state.insert(username, email);
        // Only users actually created count against the quota.
        state
            .quotas
            .insert(client_id.to_owned(), (started, used + 1));
        Ok(user)
    }

    /// A page of users, and how many there are.
    pub(crate) fn page(&self, offset: u32, limit: u32) -> Result<(Vec<User>, u32), ServiceError> {
        let state = lock(&self.state);
        let total = u32::try_from(state.users.len()).unwrap_or(u32::MAX);
        if offset > total {
            return Err(ServiceError::PageOutOfRange { offset, total });
        }
        let page = state
            .users
            .iter()
            .skip(offset as usize)
            .take(limit as usize)
            .cloned()
            .collect();
        Ok((page, total))
    }
}

impl DirectoryState {
    fn insert(&mut self, username: &str, email: &str) -> User {
        self.next_id += 1;
        let user = User {
            id: format!("u-{}", self.next_id),
            username: username.to_owned(),
            email: email.to_owned(),
        };
        self.users.push(user.clone());
        user
    }
}

/// The database this example pretends to have: it fails on one username,
/// with an error text that names an internal host (which must never reach
/// a client).
fn simulated_database_write(username: &str) -> Result<(), DbError> {
    if username == FAILING_USERNAME {
        return Err(DbError {
            operation: format!("INSERT INTO users (username) VALUES ('{username}')"),
            cause: "connection reset by db-primary.internal:5432".to_owned(),
        });
    }
    Ok(())
}

/// Whole seconds, rounded up: a client told "retry in 0s" would retry too
/// early.
fn round_up_to_seconds(delay: Duration) -> Duration {
    let secs = delay.as_secs() + u64::from(delay.subsec_nanos() > 0);
    Duration::from_secs(secs)
}

/// The activity log, as stored: one `sequence|username|action` record per
/// event, unless a record got corrupted.
#[derive(Clone, Debug)]
pub(crate) struct ActivityLog {
    records: Vec<String>,
}

/// A record of the activity log that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("activity record {position} is corrupt: {record:?}")]
pub(crate) struct CorruptRecord {
    /// The record's position in the log, from 1.
    pub(crate) position: usize,
    record: String,
}

impl ActivityLog {
    pub(crate) fn new(records: &[&str]) -> ActivityLog {
        ActivityLog {
            records: records.iter().map(|r| (*r).to_owned()).collect(),
        }
    }

    /// The events after `after_sequence`, decoded one at a time as a
    /// stream would read them from disk. Record `n` of the log has
    /// sequence `n`.
    pub(crate) fn read_after(
        &self,
        after_sequence: u64,
    ) -> impl Iterator<Item = Result<ActivityEvent, CorruptRecord>> + Send + 'static {
        let skip = usize::try_from(after_sequence).unwrap_or(usize::MAX);
        self.records
            .clone()
            .into_iter()
            .enumerate()
            .skip(skip)
            .map(|(i, record)| parse_record(i + 1, record))
    }
}

fn parse_record(position: usize, record: String) -> Result<ActivityEvent, CorruptRecord> {
    let mut fields = record.split('|');
    let parsed = match (fields.next(), fields.next(), fields.next(), fields.next()) {
        (Some(sequence), Some(username), Some(action), None) => {
            sequence.parse().ok().map(|sequence| ActivityEvent {
                sequence,
                username: username.to_owned(),
                action: action.to_owned(),
            })
        }
        _ => None,
    };
    parsed.ok_or(CorruptRecord { position, record })
}

/// The accounts. Changes go through a [`Transaction`].
#[derive(Debug)]
pub(crate) struct Ledger {
    accounts: Mutex<BTreeMap<String, Account>>,
}

impl Ledger {
    pub(crate) fn new(seed: &[(&str, i64)]) -> Ledger {
        let accounts = seed
            .iter()
            .map(|(name, balance)| {
                let account = Account {
                    name: (*name).to_owned(),
                    balance: *balance,
                    version: 1,
                };
                ((*name).to_owned(), account)
            })
            .collect();
        Ledger {
            accounts: Mutex::new(accounts),
        }
    }

    /// Starts a transaction. It holds the ledger's lock until it is
    /// committed or dropped, so transactions run one at a time.
    pub(crate) fn begin(&self) -> Transaction<'_> {
        Transaction {
            accounts: lock(&self.accounts),
            originals: Vec::new(),
            committed: false,
        }
    }
}

/// Changes to the ledger that apply at once and are undone when the
/// transaction is dropped without [`Transaction::commit`]: on every early
/// return, including each `?`, the rollback happens by itself.
pub(crate) struct Transaction<'a> {
    accounts: MutexGuard<'a, BTreeMap<String, Account>>,
    /// Each touched account as it was before, in the order first touched.
    originals: Vec<Account>,
    committed: bool,
}

impl Transaction<'_> {
    /// Applies `op`, the `index`th operation of the request.
    pub(crate) fn apply(&mut self, index: usize, op: &Operation) -> Result<(), ServiceError> {
        let mut violations = Violations::default();
        if op.account.is_empty() {
            violations.add(format!("operations[{index}].account"), "is required");
        }
        if op.amount == 0 {
            violations.add(format!("operations[{index}].amount"), "must not be zero");
        }
        violations.check()?;

        let account =
            self.accounts
                .get_mut(&op.account)
                .ok_or_else(|| ServiceError::AccountNotFound {
                    account: op.account.clone(),
                })?;
        // Versions change only when a transaction commits, so the check
        // compares with the version the caller could have read.
        if let Some(expected) = op.expected_version {
            if expected != account.version {
                return Err(ServiceError::VersionConflict {
                    account: op.account.clone(),
                    expected,
                    actual: account.version,
                });
            }
        }
        let balance = account
            .balance
            .checked_add(op.amount)
            .filter(|balance| *balance >= 0)
            .ok_or_else(|| ServiceError::InsufficientFunds {
                account: op.account.clone(),
                balance: account.balance,
                requested: op.amount.saturating_neg(),
            })?;
        if !self.originals.iter().any(|a| a.name == op.account) {
            self.originals.push(account.clone());
        }
        account.balance = balance;
        Ok(())
    }

    /// Makes the changes permanent: each touched account's version goes
    /// up by one. Returns the touched accounts.
    pub(crate) fn commit(mut self) -> Vec<Account> {
        self.committed = true;
        let mut touched = Vec::with_capacity(self.originals.len());
        for original in &self.originals {
            if let Some(account) = self.accounts.get_mut(&original.name) {
                account.version += 1;
                touched.push(account.clone());
            }
        }
        touched
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        let undone = self.originals.len();
        for original in self.originals.drain(..).rev() {
            self.accounts.insert(original.name.clone(), original);
        }
        if undone > 0 {
            tracing::info!(accounts = undone, "transaction rolled back");
        }
    }
}
