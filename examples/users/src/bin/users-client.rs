//! Walks the async client through every outcome of the user service and
//! prints what a user would see; each failure is handled as an
//! application would: match on the code, read the typed details, retry
//! when the status says a retry can work.
//!
//! ```text
//! cargo run -p grpcx-example-users --bin users-server            # one terminal
//! cargo run -p grpcx-example-users --bin users-client -- [--port 50051]
//! ```
//!
//! It exits with an error when a call ends differently than the server is
//! documented to answer, so it doubles as a check.

use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use grpcx::{Code, Endpoint, Request, Status};
use grpcx_example_users::pb::{
    Account, CreateUserRequest, GetUsersRequest, Operation, StreamActivityRequest,
    TransactionRequest, UserServiceClient,
};
use grpcx_example_users::{
    ADMIN_TOKEN, CLIENT_ID_METADATA, DEFAULT_PORT, FAILING_USERNAME, GUEST_TOKEN, explain,
    port_from_args,
};

type Error = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("users-client: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Error> {
    let port = port_from_args(std::env::args().skip(1), DEFAULT_PORT)?;
    let channel = Endpoint::new(format!("http://127.0.0.1:{port}"))?
        // Every call gets a deadline unless it sets its own.
        .timeout(Duration::from_secs(5))
        .connect_lazy();
    let client = UserServiceClient::new(channel);
    // Usernames and the quota are per server: a suffix lets the walk run
    // again against the same server.
    let run = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() % 1_000_000);

    println!("== CreateUser");
    let me = format!("ada{run}");
    sign_up(&client, &me, &me, "ada@example.com", Code::Ok).await?;
    sign_up(&client, &me, "", "ada-at-example", Code::InvalidArgument).await?;
    sign_up(&client, &me, "ad", "ada@example.com", Code::InvalidArgument).await?;
    sign_up(
        &client,
        &me,
        "alice",
        "alice2@example.com",
        Code::AlreadyExists,
    )
    .await?;
    sign_up(
        &client,
        &me,
        FAILING_USERNAME,
        "x@example.com",
        Code::Internal,
    )
    .await?;
    // The quota allows 3 creations a minute per client; the first counted.
    for n in 2..=3 {
        let username = format!("{me}-{n}");
        sign_up(&client, &me, &username, "ada@example.com", Code::Ok).await?;
    }
    let username = format!("{me}-4");
    sign_up(
        &client,
        &me,
        &username,
        "ada@example.com",
        Code::ResourceExhausted,
    )
    .await?;

    println!("\n== GetUsers");
    list_users(&client).await?;

    println!("\n== StreamActivity");
    stream_activity(&client).await?;

    println!("\n== ProcessTransaction");
    transactions(&client).await?;
    Ok(())
}

/// Signs up a user and tells the person at the keyboard how it went.
async fn sign_up(
    client: &UserServiceClient,
    client_id: &str,
    username: &str,
    email: &str,
    expected: Code,
) -> Result<(), Error> {
    println!("CreateUser(username: {username:?}, email: {email:?})");
    let mut request = Request::new(CreateUserRequest {
        username: username.to_owned(),
        email: email.to_owned(),
    });
    request
        .metadata_mut()
        .insert(CLIENT_ID_METADATA, client_id)?;
    let result = client.create_user(request).await;
    if let Some(response) = expect_code(expected, result, explain::create_user_failure)? {
        let user = response.into_inner().user.unwrap_or_default();
        println!("  ok: welcome, {} (id {})", user.username, user.id);
    }
    Ok(())
}

/// Lists users: without a token (then signs in and retries, as the seed's
/// "refresh credentials and retry"), with a token lacking the permission,
/// and past the last page.
async fn list_users(client: &UserServiceClient) -> Result<(), Error> {
    println!("GetUsers without a token");
    let result = client.get_users(GetUsersRequest::default()).await;
    expect_code(Code::Unauthenticated, result, explain::get_users_failure)?;

    println!("  signing in and retrying");
    let request = authorized(GetUsersRequest::default(), ADMIN_TOKEN)?;
    let page = client.get_users(request).await?.into_inner();
    let names: Vec<_> = page.users.iter().map(|u| u.username.as_str()).collect();
    println!("  ok: {} users: {}", page.total, names.join(", "));

    println!("GetUsers as a guest");
    let request = authorized(GetUsersRequest::default(), GUEST_TOKEN)?;
    let result = client.get_users(request).await;
    expect_code(Code::PermissionDenied, result, explain::get_users_failure)?;

    println!("GetUsers(offset: 1000)");
    let page = GetUsersRequest {
        limit: 10,
        offset: 1000,
    };
    let result = client.get_users(authorized(page, ADMIN_TOKEN)?).await;
    expect_code(Code::OutOfRange, result, explain::get_users_failure)?;
    Ok(())
}

/// Reads the activity log: it breaks at a corrupt record, the events before
/// it stay good, and reading can resume after it.
async fn stream_activity(client: &UserServiceClient) -> Result<(), Error> {
    for after_sequence in [0, 4] {
        println!("StreamActivity(after_sequence: {after_sequence})");
        let request = StreamActivityRequest { after_sequence };
        let mut events = client.stream_activity(request).await?.into_inner();
        let mut received = 0;
        loop {
            match events.message().await {
                Ok(Some(event)) => {
                    received += 1;
                    println!("  #{} {} {}", event.sequence, event.username, event.action);
                }
                Ok(None) => {
                    println!("  ok: end of the log");
                    break;
                }
                // The record after the last event received is corrupt:
                // what arrived is good, and reading may resume after it.
                Err(status) if status.code() == Code::DataLoss && after_sequence == 0 => {
                    println!(
                        "  the log is damaged ({}); the {received} events above are good",
                        status.message()
                    );
                    break;
                }
                Err(status) => return Err(status.into()),
            }
        }
    }

    // Not interested any more after the first event: cancel the call. The
    // server's handler sees it (`ctx.is_active()` turns false).
    println!("StreamActivity, cancelled after one event");
    let request = StreamActivityRequest { after_sequence: 0 };
    let mut events = client.stream_activity(request).await?.into_inner();
    if let Some(event) = events.message().await? {
        println!("  #{} {} {}", event.sequence, event.username, event.action);
    }
    events.cancel();
    let result = events.message().await;
    expect_code(Code::Cancelled, result, |status| {
        format!("{} (origin: {})", explain::general(status), status.origin())
    })?;
    Ok(())
}

/// Moves money between accounts, all or nothing; retries a transaction
/// that lost a race, as `ABORTED` invites.
async fn transactions(client: &UserServiceClient) -> Result<(), Error> {
    println!("ProcessTransaction: deposit 10 to alice and to bob");
    let accounts = transact(client, vec![op("alice", 10, None), op("bob", 10, None)]).await?;
    let (alice, bob) = (find(&accounts, "alice")?, find(&accounts, "bob")?);

    println!("  ...meanwhile another client deposits 1 to alice");
    transact(client, vec![op("alice", 1, None)]).await?;

    // Our transaction still expects the version of alice we read: the
    // server refuses it, undoing the step on bob it had already applied.
    println!(
        "ProcessTransaction: bob pays alice 5 (expecting alice v{})",
        alice.version
    );
    let mut alice_version = alice.version;
    let mut attempt = 1;
    let accounts = loop {
        let ops = vec![op("bob", -5, None), op("alice", 5, Some(alice_version))];
        match client
            .process_transaction(TransactionRequest { operations: ops })
            .await
        {
            Ok(response) => break response.into_inner().accounts,
            Err(status) if status.code() == Code::Aborted && attempt < 3 => {
                println!(
                    "  attempt {attempt}: {}",
                    explain::transaction_failure(&status)
                );
                let (_, actual) = explain::conflict(&status).ok_or("ABORTED without a conflict")?;
                alice_version = actual;
                attempt += 1;
            }
            Err(status) => return Err(status.into()),
        }
    };
    let bob_now = find(&accounts, "bob")?;
    println!(
        "  ok on attempt {attempt}: bob {} -> {}, alice now {}",
        bob.balance,
        bob_now.balance,
        find(&accounts, "alice")?.balance
    );
    // The aborted attempt left no trace: bob paid once.
    check_eq(
        bob.balance - 5,
        bob_now.balance,
        "bob's balance after one payment",
    )?;

    for (what, ops, expected) in [
        (
            "an operation without an account",
            vec![op("alice", 5, None), op("", 0, None)],
            Code::InvalidArgument,
        ),
        (
            "an unknown account",
            vec![op("mallory", 5, None)],
            Code::NotFound,
        ),
        (
            "bob pays more than he has",
            vec![op("bob", -1_000_000, None)],
            Code::FailedPrecondition,
        ),
    ] {
        println!("ProcessTransaction: {what}");
        let result = client
            .process_transaction(TransactionRequest { operations: ops })
            .await;
        expect_code(expected, result, explain::transaction_failure)?;
    }
    Ok(())
}

/// Runs a transaction that must succeed, and returns the accounts it
/// touched.
async fn transact(client: &UserServiceClient, ops: Vec<Operation>) -> Result<Vec<Account>, Error> {
    let response = client
        .process_transaction(TransactionRequest { operations: ops })
        .await?;
    let accounts = response.into_inner().accounts;
    for account in &accounts {
        println!(
            "  ok: {} = {} (v{})",
            account.name, account.balance, account.version
        );
    }
    Ok(accounts)
}

fn op(account: &str, amount: i64, expected_version: Option<u64>) -> Operation {
    Operation {
        account: account.to_owned(),
        amount,
        expected_version,
    }
}

fn find<'a>(accounts: &'a [Account], name: &str) -> Result<&'a Account, Error> {
    accounts
        .iter()
        .find(|account| account.name == name)
        .ok_or_else(|| format!("the response lacks account {name}").into())
}

/// `message` with `authorization: Bearer <token>`.
fn authorized<T>(message: T, token: &str) -> Result<Request<T>, Error> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", &format!("Bearer {token}"))?;
    Ok(request)
}

/// Prints what the user sees of a call's result, and fails the walk when
/// the call did not end with `expected`: the status itself is the error.
fn expect_code<T>(
    expected: Code,
    result: Result<T, Status>,
    explain: fn(&Status) -> String,
) -> Result<Option<T>, Error> {
    match result {
        Ok(response) if expected == Code::Ok => Ok(Some(response)),
        Ok(_) => Err(format!("expected {expected}, but the call succeeded").into()),
        Err(status) if status.code() == expected => {
            println!("  {}", explain(&status));
            Ok(None)
        }
        Err(status) => Err(status.into()),
    }
}

fn check_eq(expected: i64, got: i64, what: &str) -> Result<(), Error> {
    if expected == got {
        Ok(())
    } else {
        Err(format!("{what}: expected {expected}, got {got}").into())
    }
}
