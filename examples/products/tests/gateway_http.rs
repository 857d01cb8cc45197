//! The REST gateway in front of a real gRPC server, through a real HTTP/1.1
//! client: JSON products, and Google's JSON errors with the HTTP status of
//! each code.

// Helpers outside #[test] functions fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use hyper::header::RETRY_AFTER;
use hyper::{Method, StatusCode};
use serde_json::json;
use support::{gateway, grpc_server, http};

#[tokio::test]
async fn get_answers_200_with_the_product() {
    let grpc = grpc_server().await;
    let gateway = gateway(grpc.addr).await;
    let response = http(gateway.addr, Method::GET, "/products/p-1", None).await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(
        response.body,
        json!({
            "id": "p-1",
            "name": "Espresso machine",
            "description": "15 bar, steam wand",
            "priceCents": 24900
        })
    );
    gateway.stop().await;
    grpc.stop().await;
}

#[tokio::test]
async fn an_unknown_product_is_404_with_the_error_info() {
    let grpc = grpc_server().await;
    let gateway = gateway(grpc.addr).await;
    let response = http(gateway.addr, Method::GET, "/products/p-9", None).await;
    assert_eq!(response.status, StatusCode::NOT_FOUND);
    let error = &response.body["error"];
    assert_eq!(error["code"], 404);
    assert_eq!(error["status"], "NOT_FOUND");
    assert_eq!(error["message"], "product p-9 not found");
    let detail = &error["details"][0];
    assert_eq!(detail["@type"], "type.googleapis.com/google.rpc.ErrorInfo");
    assert_eq!(detail["reason"], "PRODUCT_NOT_FOUND");
    assert_eq!(detail["domain"], "products.example.com");
    assert_eq!(detail["metadata"]["productId"], "p-9");
    // And nothing else: the exact body.
    assert_eq!(
        response.body,
        json!({
            "error": {
                "code": 404,
                "message": "product p-9 not found",
                "status": "NOT_FOUND",
                "details": [{
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "PRODUCT_NOT_FOUND",
                    "domain": "products.example.com",
                    "metadata": { "productId": "p-9" }
                }]
            }
        })
    );
    gateway.stop().await;
    grpc.stop().await;
}

#[tokio::test]
async fn post_creates_201_or_answers_400_with_bad_request() {
    let grpc = grpc_server().await;
    let gateway = gateway(grpc.addr).await;

    let body = r#"{"name": "Mug", "description": "350 ml", "priceCents": 450}"#;
    let response = http(gateway.addr, Method::POST, "/products", Some(body)).await;
    assert_eq!(response.status, StatusCode::CREATED);
    assert_eq!(response.body["id"], "p-3");
    assert_eq!(response.body["priceCents"], 450);

    // The service's validation, with its field paths in JSON names.
    let body = r#"{"name": "", "priceCents": -5}"#;
    let response = http(gateway.addr, Method::POST, "/products", Some(body)).await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        response.body,
        json!({
            "error": {
                "code": 400,
                "message": "invalid product: 2 invalid field(s), listed in the details",
                "status": "INVALID_ARGUMENT",
                "details": [{
                    "@type": "type.googleapis.com/google.rpc.BadRequest",
                    "fieldViolations": [
                        { "field": "name", "description": "is required" },
                        { "field": "priceCents", "description": "must be positive, not -5" }
                    ]
                }]
            }
        })
    );

    // The gateway's own checks answer in the same format.
    let response = http(gateway.addr, Method::POST, "/products", Some("{oops")).await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert_eq!(response.body["error"]["status"], "INVALID_ARGUMENT");
    let body = r#"{"name": "Mug", "priceCents": "a lot"}"#;
    let response = http(gateway.addr, Method::POST, "/products", Some(body)).await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        response.body["error"]["details"][0]["fieldViolations"][0],
        json!({ "field": "priceCents", "description": "must be an integer" })
    );
    gateway.stop().await;
    grpc.stop().await;
}

#[tokio::test]
async fn a_backend_outage_is_503_with_retry_after_and_no_internals() {
    let grpc = grpc_server().await;
    let gateway = gateway(grpc.addr).await;
    let response = http(gateway.addr, Method::GET, "/products/p-down", None).await;
    assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers[RETRY_AFTER], "5");
    assert_eq!(
        response.body,
        json!({
            "error": {
                "code": 503,
                "message": "the product catalog is temporarily unavailable",
                "status": "UNAVAILABLE",
                "details": [{
                    "@type": "type.googleapis.com/google.rpc.RetryInfo",
                    "retryDelay": "5s"
                }]
            }
        })
    );
    assert!(!response.text.contains("inventory-db"), "{}", response.text);
    gateway.stop().await;
    grpc.stop().await;
}

#[tokio::test]
async fn a_stopped_grpc_server_is_503_without_internals() {
    let grpc = grpc_server().await;
    let grpc_addr = grpc.addr;
    let gateway = gateway(grpc_addr).await;
    // Works while the service is up...
    let response = http(gateway.addr, Method::GET, "/products/p-1", None).await;
    assert_eq!(response.status, StatusCode::OK);

    // ...and answers 503 once it is gone: the gateway's own client made
    // that status (origin Transport), so its text stays in the log.
    grpc.stop().await;
    let response = http(gateway.addr, Method::GET, "/products/p-1", None).await;
    assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        response.body,
        json!({
            "error": {
                "code": 503,
                "message": "the product service is unavailable",
                "status": "UNAVAILABLE"
            }
        })
    );
    assert!(!response.text.contains("127.0.0.1"), "{}", response.text);
    gateway.stop().await;
}

#[tokio::test]
async fn a_grpc_server_that_never_ran_is_503_too() {
    // A port where nothing listens.
    let nowhere = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let gateway = gateway(nowhere).await;
    let response = http(
        gateway.addr,
        Method::POST,
        "/products",
        Some(r#"{"name": "Mug", "priceCents": 1}"#),
    )
    .await;
    assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        response.body["error"]["message"],
        "the product service is unavailable"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_the_same_format() {
    let grpc = grpc_server().await;
    let gateway = gateway(grpc.addr).await;
    let response = http(gateway.addr, Method::GET, "/orders/1", None).await;
    assert_eq!(response.status, StatusCode::NOT_FOUND);
    assert_eq!(response.body["error"]["status"], "NOT_FOUND");
    let response = http(gateway.addr, Method::DELETE, "/products/p-1", None).await;
    assert_eq!(response.status, StatusCode::NOT_IMPLEMENTED);
    assert_eq!(response.body["error"]["status"], "UNIMPLEMENTED");
    gateway.stop().await;
    grpc.stop().await;
}
