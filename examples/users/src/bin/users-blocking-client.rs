//! The walk of `users-client`, with the generated *blocking* client: plain
//! threads, no async code, the same statuses. It also starts a call in the
//! futures style (`get_users_future`), waits on it with a timeout, and
//! cancels another.
//!
//! ```text
//! cargo run -p grpcx-example-users --bin users-server            # one terminal
//! cargo run -p grpcx-example-users --bin users-blocking-client -- [--port 50051]
//! ```

use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use grpcx::blocking::{BlockingChannel, CallError};
use grpcx::{Code, Endpoint, Request, Status};
use grpcx_example_users::pb::{
    CreateUserRequest, GetUsersRequest, Operation, StreamActivityRequest, TransactionRequest,
    UserServiceBlockingClient,
};
use grpcx_example_users::{
    ADMIN_TOKEN, CLIENT_ID_METADATA, DEFAULT_PORT, FAILING_USERNAME, GUEST_TOKEN, explain,
    port_from_args,
};

type Error = Box<dyn std::error::Error + Send + Sync>;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("users-blocking-client: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Error> {
    let port = port_from_args(std::env::args().skip(1), DEFAULT_PORT)?;
    let channel = Endpoint::new(format!("http://127.0.0.1:{port}"))?
        .timeout(Duration::from_secs(5))
        .connect_lazy();
    // The blocking channel runs the I/O on a small runtime of its own.
    let client = UserServiceBlockingClient::new(BlockingChannel::new(channel)?);
    let run = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() % 1_000_000);

    println!("== CreateUser");
    let me = format!("bea{run}");
    sign_up(&client, &me, &me, "bea@example.com", Code::Ok)?;
    sign_up(&client, &me, "", "bea-at-example", Code::InvalidArgument)?;
    sign_up(&client, &me, "be", "bea@example.com", Code::InvalidArgument)?;
    sign_up(
        &client,
        &me,
        "alice",
        "alice2@example.com",
        Code::AlreadyExists,
    )?;
    sign_up(
        &client,
        &me,
        FAILING_USERNAME,
        "x@example.com",
        Code::Internal,
    )?;
    for n in 2..=3 {
        sign_up(
            &client,
            &me,
            &format!("{me}-{n}"),
            "bea@example.com",
            Code::Ok,
        )?;
    }
    let username = format!("{me}-4");
    sign_up(
        &client,
        &me,
        &username,
        "bea@example.com",
        Code::ResourceExhausted,
    )?;

    println!("\n== GetUsers");
    println!("GetUsers without a token");
    let result = client.get_users(GetUsersRequest::default());
    expect_code(Code::Unauthenticated, result, explain::get_users_failure)?;
    println!("GetUsers as a guest");
    let request = authorized(GetUsersRequest::default(), GUEST_TOKEN)?;
    let result = client.get_users(request);
    expect_code(Code::PermissionDenied, result, explain::get_users_failure)?;

    // The futures style: start the call, do something else, then wait
    // for it a little at a time.
    println!("GetUsers as an admin, in the futures style");
    let request = authorized(GetUsersRequest::default(), ADMIN_TOKEN)?;
    let mut call = client.get_users_future(request);
    let page = loop {
        match call.wait_timeout(Duration::from_millis(20)) {
            Ok(response) => break response.into_inner(),
            Err(CallError::Timeout) => println!("  still waiting..."),
            // `CallError` becomes a `Status`: the server's, or a local one
            // (`Cancelled` -> CANCELLED, `Timeout` -> DEADLINE_EXCEEDED).
            Err(err) => return Err(Status::from(err).into()),
        }
    };
    println!("  ok: {} users", page.total);

    println!("GetUsers in the futures style, cancelled");
    let request = authorized(GetUsersRequest::default(), ADMIN_TOKEN)?;
    let call = client.get_users_future(request);
    call.cancel();
    match call.wait() {
        // Cancelling a call that already finished does nothing.
        Ok(_) => println!("  it finished before the cancel"),
        Err(err) => {
            expect_code::<()>(Code::Cancelled, Err(Status::from(err)), |status| {
                format!("{} (origin: {})", explain::general(status), status.origin())
            })?;
        }
    }

    println!("\n== StreamActivity");
    let response = client.stream_activity(StreamActivityRequest { after_sequence: 0 })?;
    let mut received = 0;
    // A server stream is an iterator of results; an error is its last item.
    for event in response.into_inner() {
        match event {
            Ok(event) => {
                received += 1;
                println!("  #{} {} {}", event.sequence, event.username, event.action);
            }
            Err(status) if status.code() == Code::DataLoss => println!(
                "  the log is damaged ({}); the {received} events above are good",
                status.message()
            ),
            Err(status) => return Err(status.into()),
        }
    }

    println!("\n== ProcessTransaction");
    let ops = vec![op("bob", -5, None), op("alice", 5, Some(0))];
    println!("ProcessTransaction: bob pays alice 5, with a stale version of alice");
    let result = client.process_transaction(TransactionRequest { operations: ops });
    expect_code(Code::Aborted, result, explain::transaction_failure)?;
    for (what, ops, expected) in [
        (
            "an invalid operation",
            vec![op("", 0, None)],
            Code::InvalidArgument,
        ),
        (
            "an unknown account",
            vec![op("mallory", 5, None)],
            Code::NotFound,
        ),
        (
            "bob pays too much",
            vec![op("bob", -1_000_000, None)],
            Code::FailedPrecondition,
        ),
        (
            "alice pays bob 1",
            vec![op("alice", -1, None), op("bob", 1, None)],
            Code::Ok,
        ),
    ] {
        println!("ProcessTransaction: {what}");
        let result = client.process_transaction(TransactionRequest { operations: ops });
        if let Some(response) = expect_code(expected, result, explain::transaction_failure)? {
            for account in response.into_inner().accounts {
                println!(
                    "  ok: {} = {} (v{})",
                    account.name, account.balance, account.version
                );
            }
        }
    }
    Ok(())
}

fn sign_up(
    client: &UserServiceBlockingClient,
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
    let result = client.create_user(request);
    if let Some(response) = expect_code(expected, result, explain::create_user_failure)? {
        let user = response.into_inner().user.unwrap_or_default();
        println!("  ok: welcome, {} (id {})", user.username, user.id);
    }
    Ok(())
}

fn op(account: &str, amount: i64, expected_version: Option<u64>) -> Operation {
    Operation {
        account: account.to_owned(),
        amount,
        expected_version,
    }
}

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
