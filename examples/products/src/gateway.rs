//! The REST gateway: JSON over HTTP/1.1 in front of the gRPC product
//! service, as grpc-java's Spring "product gateway".
//!
//! | request | answer |
//! | --- | --- |
//! | `GET /products/{id}` | `200` and the product as JSON |
//! | `POST /products` with `{"name", "description", "priceCents"}` | `201` and the product created |
//!
//! Every failure, the service's or the gateway's own, is a [`Status`]
//! answered in the JSON error format of Google's API design guide, with
//! the HTTP status `google/rpc/code.proto` gives its code
//! (`status.to_json()`, `status.code().to_http()`): `NOT_FOUND` is 404,
//! `INVALID_ARGUMENT` 400, `UNAVAILABLE` 503, whether the service said so
//! or could not be reached at all.
//!
//! Nothing internal leaks: a status made by the gateway's own gRPC client
//! (origin `Transport`, `Deadline`, ...) may name internal addresses, so it
//! is logged and answered with a generic message; `DebugInfo` details are
//! dropped.

use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use bytes::Bytes;
use grpcx::{BadRequest, Channel, Code, Detail, Origin, RetryInfo, Status};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::pb::{CreateProductRequest, GetProductRequest, Product, ProductServiceClient};

/// The largest request body read.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// How long the gateway waits for the service.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// A response of the gateway.
type HttpResponse = Response<Full<Bytes>>;

/// Serves the gateway on `listener` until `signal` completes, calling the
/// product service through `channel`; then stops accepting, lets the
/// requests in flight finish for up to [`DRAIN_TIMEOUT`], and closes the
/// connections still open.
///
/// # Errors
///
/// Accepting a connection failed.
pub async fn serve_with_shutdown(
    listener: TcpListener,
    channel: Channel,
    signal: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let client = ProductServiceClient::new(channel);
    let mut signal = pin!(signal);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut connections = JoinSet::new();
    loop {
        // Reap finished connections so the set stays small.
        while connections.try_join_next().is_some() {}
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => accepted?,
            () = &mut signal => break,
        };
        let client = client.clone();
        let watcher = graceful.watcher();
        connections.spawn(async move {
            let service = service_fn(move |request| handle(client.clone(), request));
            let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            if let Err(err) = watcher.watch(connection).await {
                tracing::debug!(%peer, error = %err, "HTTP connection ended with an error");
            }
        });
    }
    // Idle keep-alive connections close at once; the others after their
    // request, or at the deadline.
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("drain timeout passed; closing the HTTP connections still open");
    }
    Ok(())
}

/// How long a shutdown waits for the requests in flight.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Answers one request; every error becomes a JSON error response.
async fn handle(
    client: ProductServiceClient,
    request: Request<Incoming>,
) -> Result<HttpResponse, Infallible> {
    Ok(route(&client, request)
        .await
        .unwrap_or_else(|status| error_response(&status)))
}

async fn route(
    client: &ProductServiceClient,
    request: Request<Incoming>,
) -> Result<HttpResponse, Status> {
    let path = request.uri().path().to_owned();
    let id = path
        .strip_prefix("/products/")
        .filter(|id| !id.is_empty() && !id.contains('/'));
    match (request.method(), path.as_str(), id) {
        (&Method::GET, _, Some(id)) => {
            let request = grpcx::Request::new(GetProductRequest {
                product_id: id.to_owned(),
            })
            .with_timeout(CALL_TIMEOUT);
            // `?`: the service's status, or the client's own, is the answer.
            let product = client.get_product(request).await?.into_inner();
            Ok(json_response(StatusCode::OK, &product_json(&product)))
        }
        (&Method::POST, "/products", _) => {
            let body = read_json(request.into_body()).await?;
            let request = grpcx::Request::new(create_request(&body)?).with_timeout(CALL_TIMEOUT);
            let product = client.create_product(request).await?.into_inner();
            Ok(json_response(StatusCode::CREATED, &product_json(&product)))
        }
        (method, "/products", _) | (method, _, Some(_)) => Err(Status::unimplemented(format!(
            "{method} is not supported on {path}"
        ))),
        _ => Err(Status::not_found(format!("no resource at {path}"))),
    }
}

/// The product as the REST API shows it.
fn product_json(product: &Product) -> Value {
    json!({
        "id": product.id,
        "name": product.name,
        "description": product.description,
        "priceCents": product.price_cents,
    })
}

/// Reads a JSON request body of at most [`MAX_BODY_BYTES`].
async fn read_json(body: Incoming) -> Result<Value, Status> {
    let bytes = Limited::new(body, MAX_BODY_BYTES)
        .collect()
        .await
        .map_err(|err| {
            Status::invalid_argument(format!(
                "the body could not be read, or is over {MAX_BODY_BYTES} bytes"
            ))
            .with_source(err)
        })?
        .to_bytes();
    serde_json::from_slice(&bytes)
        .map_err(|err| Status::invalid_argument(format!("the body is not valid JSON: {err}")))
}

/// The gRPC request for a `POST /products` body. Only the JSON's shape is
/// checked here; the service checks the values.
fn create_request(body: &Value) -> Result<CreateProductRequest, Status> {
    let Some(fields) = body.as_object() else {
        return Err(Status::invalid_argument("the body must be a JSON object"));
    };
    let mut wrong_types = Vec::new();
    let mut string = |name: &'static str| match fields.get(name) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(value)) => value.clone(),
        Some(_) => {
            wrong_types.push((name, "must be a string"));
            String::new()
        }
    };
    let name = string("name");
    let description = string("description");
    let price_cents = match fields.get("priceCents") {
        None | Some(Value::Null) => 0,
        Some(value) => integer(value).unwrap_or_else(|| {
            wrong_types.push(("priceCents", "must be an integer"));
            0
        }),
    };
    if !wrong_types.is_empty() {
        let bad = wrong_types
            .into_iter()
            .fold(BadRequest::default(), |bad, (field, description)| {
                bad.violation(field, description)
            });
        return Err(
            Status::invalid_argument("the body has fields of the wrong type").with_detail(bad),
        );
    }
    Ok(CreateProductRequest {
        name,
        description,
        price_cents,
    })
}

/// An int64 in JSON: a number, or a string as proto3's JSON form writes it.
fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(number) => number.as_i64(),
        Value::String(text) => text.parse().ok(),
        _ => None,
    }
}

/// The JSON error response for `status`.
fn error_response(status: &Status) -> HttpResponse {
    let public = public_status(status);
    let mut response = json_response(public.code().to_http(), &public.to_json_value());
    // Say when to retry in HTTP's own terms too.
    if let Some(delay) = public.get_detail::<RetryInfo>().and_then(|r| r.delay()) {
        let seconds = delay.as_secs() + u64::from(delay.subsec_nanos() > 0);
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// What of `status` the outside world may see.
fn public_status(status: &Status) -> Status {
    let message = match status.origin() {
        // The service's messages are written for clients, and so are the
        // gateway's own.
        Origin::Peer | Origin::Application => status.message().to_owned(),
        // Made by the gateway's gRPC client: its text may name internal
        // hosts and ports.
        _ => {
            tracing::warn!("the product service call failed: {status:#}");
            match status.code() {
                Code::Unavailable => "the product service is unavailable",
                Code::DeadlineExceeded => "the product service did not answer in time",
                _ => "the product service failed",
            }
            .to_owned()
        }
    };
    let details = status
        .details()
        .into_iter()
        .filter_map(|detail| match detail {
            // Debugging aids are for the service's developers.
            Detail::DebugInfo(_) => None,
            Detail::BadRequest(bad) => Some(Detail::BadRequest(json_field_names(bad))),
            other => Some(other),
        });
    Status::new(status.code(), message).with_details(details)
}

/// The field paths of a `BadRequest` in the JSON names REST clients use
/// (`price_cents` -> `priceCents`), as proto3's JSON mapping names fields.
fn json_field_names(mut bad: BadRequest) -> BadRequest {
    for violation in &mut bad.field_violations {
        violation.field = lower_camel_case(&violation.field);
    }
    bad
}

fn lower_camel_case(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut upper = false;
    for c in path.chars() {
        match c {
            '_' => upper = true,
            c if upper => {
                out.extend(c.to_uppercase());
                upper = false;
            }
            c => out.push(c),
        }
    }
    out
}

fn json_response(status: StatusCode, body: &Value) -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_paths_become_json_names() {
        assert_eq!(lower_camel_case("price_cents"), "priceCents");
        assert_eq!(
            lower_camel_case("items[0].unit_price"),
            "items[0].unitPrice"
        );
        assert_eq!(lower_camel_case("name"), "name");
    }

    #[tokio::test]
    async fn local_statuses_are_answered_without_their_text() {
        // A status the gateway's own client made: nothing listens on the
        // port, so the connection is refused.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let channel = grpcx::Endpoint::new(format!("http://{addr}"))
            .unwrap()
            .connect_lazy();
        let status = ProductServiceClient::new(channel)
            .get_product(GetProductRequest::default())
            .await
            .unwrap_err();
        assert_eq!(status.origin(), Origin::Transport, "{status:#}");
        let public = public_status(&status);
        assert_eq!(public.code(), Code::Unavailable);
        assert_eq!(public.message(), "the product service is unavailable");
    }

    #[test]
    fn shapes_of_the_create_body() {
        let ok = create_request(&json!({"name": "Mug", "priceCents": "450"})).unwrap();
        assert_eq!((ok.name.as_str(), ok.price_cents), ("Mug", 450));
        let status = create_request(&json!({"name": 7, "priceCents": 1.5})).unwrap_err();
        let bad = status.get_detail::<BadRequest>().unwrap();
        let fields: Vec<_> = bad
            .field_violations
            .iter()
            .map(|v| v.field.as_str())
            .collect();
        assert_eq!(fields, ["name", "priceCents"]);
        assert!(create_request(&json!([1])).is_err());
    }
}
