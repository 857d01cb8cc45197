//! The calls of the tour: one per kind of outcome.

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use grpcx::blocking::{BlockingChannel, CallError};
use grpcx::{Channel, Code, Endpoint, Origin, Request, Status};
use grpcx_example_products::pb::{CreateProductRequest, GetProductRequest, ProductServiceClient};
use grpcx_example_users::pb::{
    CreateUserRequest, GetUsersRequest, Operation, StreamActivityRequest, TransactionRequest,
    UserServiceClient,
};
use grpcx_example_users::{ADMIN_TOKEN, CLIENT_ID_METADATA, FAILING_USERNAME, GUEST_TOKEN};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;

use crate::pb::{ChaosBlockingClient, ChaosClient, PanicRequest, SleepRequest, TicksRequest};
use crate::servers::Servers;
use crate::{Error, Row, table};

/// What the servers keep to themselves (a database host, the panic's
/// text, the gateway's view of the network): none of it may appear in a
/// status a server sent.
const SECRETS: &[&str] = &["db-primary", "inventory-db", "hunter2", "127.0.0.1"];

/// How a call ended: a summary of the response, or a status and a note
/// on what came before it.
pub(crate) type Outcome = Result<String, Failed>;

/// A call that ended with a status.
#[derive(Debug)]
pub(crate) struct Failed {
    pub(crate) status: Status,
    pub(crate) note: Option<String>,
}

impl From<Status> for Failed {
    fn from(status: Status) -> Self {
        Failed { status, note: None }
    }
}

impl From<grpcx::Error> for Failed {
    fn from(err: grpcx::Error) -> Self {
        Failed::from(Status::from(err))
    }
}

/// The code and origin a row expects.
pub(crate) type Expected = (Code, Option<Origin>);

pub(crate) const OK: Expected = (Code::Ok, None);

/// A status the server sent.
pub(crate) fn peer(code: Code) -> Expected {
    (code, Some(Origin::Peer))
}

/// A status this process made.
pub(crate) fn local(code: Code, origin: Origin) -> Expected {
    (code, Some(origin))
}

/// Every call of the tour, in order.
pub(crate) async fn all(servers: &Servers) -> Result<Vec<Row>, Error> {
    let users = UserServiceClient::new(channel(servers.users)?);
    let products = ProductServiceClient::new(channel(servers.products)?);
    let chaos = ChaosClient::new(channel(servers.chaos)?);
    let mut rows = Vec::new();

    // The user service: validation, conflicts, quotas, auth, streams and
    // transactions, each failure mapped once by its `DomainError` impl.
    rows.push(
        row("users.CreateUser ada", OK, async {
            let request = metadata(
                new_user("ada", "ada@example.com"),
                CLIENT_ID_METADATA,
                "web-1",
            )?;
            let user = users
                .create_user(request)
                .await?
                .into_inner()
                .user
                .unwrap_or_default();
            Ok(format!("created {} ({})", user.id, user.username))
        })
        .await,
    );
    rows.push(
        row(
            "users.CreateUser '' bad-email",
            peer(Code::InvalidArgument),
            async {
                users.create_user(new_user("", "ada-at-example")).await?;
                Ok("created".to_owned())
            },
        )
        .await,
    );
    rows.push(
        row("users.CreateUser alice", peer(Code::AlreadyExists), async {
            users
                .create_user(new_user("alice", "a@example.com"))
                .await?;
            Ok("created".to_owned())
        })
        .await,
    );
    rows.push(
        row(
            "users.CreateUser, quota used",
            peer(Code::ResourceExhausted),
            async {
                let request = metadata(
                    new_user("grace", "grace@example.com"),
                    CLIENT_ID_METADATA,
                    "web-1",
                )?;
                users.create_user(request).await?;
                Ok("created".to_owned())
            },
        )
        .await,
    );
    rows.push(
        row(
            "users.CreateUser, database down",
            peer(Code::Internal),
            async {
                users
                    .create_user(new_user(FAILING_USERNAME, "x@example.com"))
                    .await?;
                Ok("created".to_owned())
            },
        )
        .await,
    );
    rows.push(
        row(
            "users.GetUsers, no token",
            peer(Code::Unauthenticated),
            async {
                users.get_users(GetUsersRequest::default()).await?;
                Ok("listed".to_owned())
            },
        )
        .await,
    );
    rows.push(
        row(
            "users.GetUsers, guest token",
            peer(Code::PermissionDenied),
            async {
                users
                    .get_users(bearer(GetUsersRequest::default(), GUEST_TOKEN)?)
                    .await?;
                Ok("listed".to_owned())
            },
        )
        .await,
    );
    rows.push(
        row("users.GetUsers, admin token", OK, async {
            let page = users
                .get_users(bearer(GetUsersRequest::default(), ADMIN_TOKEN)?)
                .await?;
            let names: Vec<_> = page
                .get_ref()
                .users
                .iter()
                .map(|u| u.username.as_str())
                .collect();
            Ok(format!(
                "{} users: {}",
                page.get_ref().total,
                names.join(", ")
            ))
        })
        .await,
    );
    rows.push(
        row("users.GetUsers, offset 99", peer(Code::OutOfRange), async {
            let request = GetUsersRequest {
                limit: 10,
                offset: 99,
            };
            users.get_users(bearer(request, ADMIN_TOKEN)?).await?;
            Ok("listed".to_owned())
        })
        .await,
    );
    rows.push(
        row("users.StreamActivity", peer(Code::DataLoss), async {
            let request = StreamActivityRequest { after_sequence: 0 };
            let mut events = users.stream_activity(request).await?.into_inner();
            let mut received = 0;
            loop {
                match events.message().await {
                    Ok(Some(_)) => received += 1,
                    Ok(None) => return Ok(format!("{received} events")),
                    Err(status) => {
                        let note = Some(format!("after {received} good events"));
                        return Err(Failed { status, note });
                    }
                }
            }
        })
        .await,
    );
    let transactions: [(&str, Vec<Operation>, Expected); 5] = [
        (
            "users.ProcessTransaction, stale version",
            vec![op("bob", -5, None), op("alice", 5, Some(0))],
            peer(Code::Aborted),
        ),
        (
            "users.ProcessTransaction, amount 0",
            vec![op("alice", 0, None)],
            peer(Code::InvalidArgument),
        ),
        (
            "users.ProcessTransaction, overdraft",
            vec![op("alice", 20, None), op("bob", -500, None)],
            peer(Code::FailedPrecondition),
        ),
        (
            "users.ProcessTransaction, no such account",
            vec![op("mallory", 5, None)],
            peer(Code::NotFound),
        ),
        (
            // After the failures above, all rolled back: 100 and 50 before.
            "users.ProcessTransaction alice pays bob 10",
            vec![op("alice", -10, Some(1)), op("bob", 10, Some(1))],
            OK,
        ),
    ];
    for (call, operations, expected) in transactions {
        rows.push(
            row(call, expected, async {
                let request = TransactionRequest { operations };
                let accounts = users
                    .process_transaction(request)
                    .await?
                    .into_inner()
                    .accounts;
                let summary: Vec<_> = accounts
                    .iter()
                    .map(|a| format!("{} {} (v{})", a.name, a.balance, a.version))
                    .collect();
                Ok(summary.join(", "))
            })
            .await,
        );
    }

    // The product service: its error advice (the Spring seed's
    // @GrpcAdvice) maps a domain error with a metadata map to NOT_FOUND
    // with an ErrorInfo, an outage to UNAVAILABLE with a RetryInfo.
    for (call, id, expected) in [
        ("products.GetProduct p-1", "p-1", OK),
        (
            "products.GetProduct p-9 (advice)",
            "p-9",
            peer(Code::NotFound),
        ),
        (
            "products.GetProduct p-down",
            "p-down",
            peer(Code::Unavailable),
        ),
    ] {
        rows.push(
            row(call, expected, async {
                let request = GetProductRequest {
                    product_id: id.to_owned(),
                };
                let product = products.get_product(request).await?.into_inner();
                Ok(format!("{}, {} cents", product.name, product.price_cents))
            })
            .await,
        );
    }
    rows.push(
        row(
            "products.CreateProduct, price -5",
            peer(Code::InvalidArgument),
            async {
                let request = CreateProductRequest {
                    name: "Mug".to_owned(),
                    description: String::new(),
                    price_cents: -5,
                };
                products.create_product(request).await?;
                Ok("created".to_owned())
            },
        )
        .await,
    );

    // The REST gateway: the same statuses as Google's JSON errors, with
    // their HTTP status.
    rows.push(
        row(
            "HTTP GET /products/p-9",
            peer(Code::NotFound),
            http_get(servers.gateway, "/products/p-9"),
        )
        .await,
    );
    rows.push(
        row(
            "HTTP GET /products/p-1, service down",
            peer(Code::Unavailable),
            http_get(servers.gateway_to_nowhere, "/products/p-1"),
        )
        .await,
    );

    // What grpcx itself produces: a contained panic, deadlines,
    // cancellation, a connection that cannot be made, an unknown service.
    rows.push(
        row("chaos.Panic", peer(Code::Internal), async {
            chaos.panic(PanicRequest {}).await?;
            Ok("answered".to_owned())
        })
        .await,
    );
    // Over a link with some latency (see `servers::slow_link`), as a
    // remote server would be: the client's own deadline expires first.
    let far_chaos = ChaosClient::new(channel(servers.chaos_far)?);
    rows.push(
        row(
            "chaos.Sleep 2 s, deadline 150 ms",
            local(Code::DeadlineExceeded, Origin::Deadline),
            async {
                let request = Request::new(SleepRequest { millis: 2_000 })
                    .with_timeout(Duration::from_millis(150));
                far_chaos.sleep(request).await?;
                Ok("answered in time".to_owned())
            },
        )
        .await,
    );
    rows.push(
        row(
            "chaos.Ticks, Streaming::cancel",
            local(Code::Cancelled, Origin::Cancelled),
            async {
                let request = TicksRequest {
                    interval_millis: 10,
                };
                let mut ticks = chaos.ticks(request).await?.into_inner();
                let first = ticks.message().await?.map_or(0, |tick| tick.n);
                // Enough: cancel the call. The server's stream stops too.
                ticks.cancel();
                ticks.message().await.map_err(|status| Failed {
                    status,
                    note: Some(format!("after tick {first}")),
                })?;
                Ok("not cancelled".to_owned())
            },
        )
        .await,
    );
    let addr = servers.chaos;
    rows.push(
        row(
            "chaos.Sleep (blocking), CallHandle::cancel",
            local(Code::Cancelled, Origin::Cancelled),
            on_a_plain_thread(move || blocking_cancel(addr)),
        )
        .await,
    );
    let nowhere = UserServiceClient::new(channel(servers.nowhere)?);
    rows.push(
        row(
            "users.GetUsers, nothing listening",
            local(Code::Unavailable, Origin::Transport),
            async {
                nowhere.get_users(GetUsersRequest::default()).await?;
                Ok("listed".to_owned())
            },
        )
        .await,
    );
    let wrong_server = ChaosClient::new(users.into_inner());
    rows.push(
        row(
            "chaos.Panic, on the users server",
            peer(Code::Unimplemented),
            async {
                wrong_server.panic(PanicRequest {}).await?;
                Ok("answered".to_owned())
            },
        )
        .await,
    );
    rows.extend(health_rows(servers).await?);
    rows.extend(crate::layers::rows(servers).await?);
    Ok(rows)
}

/// The health service every example server runs: a Check of a service
/// it serves, and of one it does not know.
async fn health_rows(servers: &Servers) -> Result<Vec<Row>, Error> {
    use grpcx::health::pb::{HealthCheckRequest, HealthClient};
    let health = HealthClient::new(channel(servers.users)?);
    let check = |service: &'static str| {
        let health = health.clone();
        async move {
            let request = HealthCheckRequest {
                service: service.to_owned(),
            };
            let reply = health.check(request).await?.into_inner();
            Ok(format!("{:?}", reply.status()))
        }
    };
    Ok(vec![
        row(
            "health.Check example.users.v1.UserService",
            OK,
            check("example.users.v1.UserService"),
        )
        .await,
        row(
            "health.Check no.such.Service",
            peer(Code::NotFound),
            check("no.such.Service"),
        )
        .await,
        row(
            "reflection.ListServices",
            OK,
            list_services(channel(servers.users)?),
        )
        .await,
    ])
}

/// What the users server's reflection lists (grpcurl's `list`), through
/// the generated reflection client.
async fn list_services(channel: grpcx::Channel) -> Outcome {
    use grpcx::reflection::pb::v1::server_reflection_request::MessageRequest;
    use grpcx::reflection::pb::v1::server_reflection_response::MessageResponse;
    use grpcx::reflection::pb::v1::{ServerReflectionClient, ServerReflectionRequest};
    let (requests, mut responses) = ServerReflectionClient::new(channel).server_reflection_info();
    let request = ServerReflectionRequest {
        message_request: Some(MessageRequest::ListServices(String::new())),
        ..Default::default()
    };
    if requests.send(request).await.is_err() {
        return Err(Status::internal("the reflection call ended before the request").into());
    }
    drop(requests);
    match responses.message().await?.and_then(|r| r.message_response) {
        Some(MessageResponse::ListServicesResponse(list)) => {
            let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
            Ok(names.join(", "))
        }
        other => Err(Status::internal(format!("unexpected reflection answer {other:?}")).into()),
    }
}

/// Makes one call and records how it ended.
pub(crate) async fn row(
    call: &str,
    expected: Expected,
    outcome: impl Future<Output = Outcome>,
) -> Row {
    let started = Instant::now();
    let outcome = outcome.await;
    let elapsed = started.elapsed();
    let (expected_code, expected_origin) = expected;
    let mut row = Row {
        call: call.to_owned(),
        code: Code::Ok,
        message: String::new(),
        details: String::new(),
        origin: None,
        elapsed,
        expected_code,
        expected_origin,
        leaked: None,
    };
    match outcome {
        Ok(summary) => row.message = summary,
        Err(Failed { status, note }) => {
            row.code = status.code();
            row.message = status.message().to_owned();
            row.details = table::compact_details(&status);
            if let Some(note) = note {
                row.details = [row.details, note]
                    .into_iter()
                    .filter(|part| !part.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ");
            }
            row.origin = Some(status.origin());
            // A server's status may say anything but its internals.
            if status.origin() == Origin::Peer {
                let sent = format!("{} {:?}", status.message(), status.details());
                row.leaked = SECRETS.iter().copied().find(|secret| sent.contains(secret));
            }
        }
    }
    row
}

pub(crate) fn channel(addr: SocketAddr) -> Result<Channel, grpcx::Error> {
    Ok(Endpoint::new(format!("http://{addr}"))?
        .connect_timeout(Duration::from_secs(1))
        .timeout(Duration::from_secs(5))
        .connect_lazy())
}

fn new_user(username: &str, email: &str) -> CreateUserRequest {
    CreateUserRequest {
        username: username.to_owned(),
        email: email.to_owned(),
    }
}

fn op(account: &str, amount: i64, expected_version: Option<u64>) -> Operation {
    Operation {
        account: account.to_owned(),
        amount,
        expected_version,
    }
}

/// `message` with the metadata `key: value`.
fn metadata<T>(message: T, key: &str, value: &str) -> Result<Request<T>, Status> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert(key, value)
        .map_err(|err| Status::invalid_argument(err.to_string()))?;
    Ok(request)
}

/// `message` with `authorization: Bearer <token>`.
pub(crate) fn bearer<T>(message: T, token: &str) -> Result<Request<T>, Status> {
    metadata(message, "authorization", &format!("Bearer {token}"))
}

/// `GET path` on the gateway at `addr`: a JSON error body becomes the
/// status it describes (`Status::from_json`), its message prefixed with
/// the HTTP status.
async fn http_get(addr: SocketAddr, path: &str) -> Outcome {
    let (status, body) = http_get_raw(addr, path)
        .await
        .map_err(|err| Status::unavailable(format!("HTTP request failed: {err}")))?;
    if status.is_success() {
        return Ok(format!("HTTP {}", status.as_u16()));
    }
    let error = Status::from_json(&body)
        .map_err(|err| Status::internal(format!("HTTP {status}: not a JSON error: {err}")))?;
    let message = format!("HTTP {}: {}", status.as_u16(), error.message());
    Err(error.with_message(message).into())
}

async fn http_get_raw(addr: SocketAddr, path: &str) -> Result<(hyper::StatusCode, String), Error> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let request = hyper::Request::get(path)
        .header(hyper::header::HOST, addr.to_string())
        .body(Empty::<Bytes>::new())?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// Runs `f` on a thread of its own: the blocking API refuses to block
/// inside the async runtime.
async fn on_a_plain_thread(f: impl FnOnce() -> Outcome + Send + 'static) -> Outcome {
    let (send, receive) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("demo-blocking-client".to_owned())
        .spawn(move || {
            let _ = send.send(f());
        })
        .map_err(|err| Status::internal(format!("cannot start a thread: {err}")))?;
    receive
        .await
        .map_err(|_| Status::internal("the blocking client's thread died"))?
}

/// The blocking client in the futures style: start a slow call, wait a
/// little, give up and cancel it.
fn blocking_cancel(addr: SocketAddr) -> Outcome {
    let client = ChaosBlockingClient::new(BlockingChannel::new(channel(addr)?)?);
    let mut call = client.sleep_future(SleepRequest { millis: 5_000 });
    match call.wait_timeout(Duration::from_millis(50)) {
        // Still running: the wait gave up, the call did not.
        Err(CallError::Timeout) => {}
        Ok(_) => return Ok("answered before the cancel".to_owned()),
        Err(err) => return Err(Status::from(err).into()),
    }
    call.cancel();
    match call.wait() {
        Ok(_) => Ok("answered despite the cancel".to_owned()),
        Err(err) => Err(Failed {
            status: Status::from(err),
            note: Some("after a 50 ms wait_timeout".to_owned()),
        }),
    }
}
