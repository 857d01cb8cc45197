//! The product service over gRPC: the repository's domain errors reach the
//! client typed, mapped in one place by the server's error advice.

// Helpers outside #[test] functions fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use grpcx::{BadRequest, Code, ErrorInfo, Origin, RetryInfo};
use grpcx_example_products::pb::{CreateProductRequest, GetProductRequest, ProductServiceClient};
use grpcx_example_products::{OUTAGE_RETRY_DELAY, UNAVAILABLE_PRODUCT_ID};

fn get(id: &str) -> GetProductRequest {
    GetProductRequest {
        product_id: id.to_owned(),
    }
}

#[tokio::test]
async fn a_product_is_found_or_not_found_with_an_error_info() {
    let server = support::grpc_server().await;
    let client = ProductServiceClient::new(support::channel(server.addr));

    let product = client.get_product(get("p-1")).await.unwrap().into_inner();
    assert_eq!(product.name, "Espresso machine");
    assert_eq!(product.price_cents, 24_900);

    let status = client.get_product(get("p-9")).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(status.origin(), Origin::Peer);
    assert_eq!(status.message(), "product p-9 not found");
    // The seed's client loops over the details and unpacks the ErrorInfo;
    // here it is one typed call.
    let info = status.get_detail::<ErrorInfo>().unwrap();
    assert_eq!(info.reason, "PRODUCT_NOT_FOUND");
    assert_eq!(info.domain, "products.example.com");
    assert_eq!(info.metadata.len(), 1);
    assert_eq!(info.metadata["productId"], "p-9");

    let status = client.get_product(get("")).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    server.stop().await;
}

#[tokio::test]
async fn a_created_product_can_be_read_back() {
    let server = support::grpc_server().await;
    let client = ProductServiceClient::new(support::channel(server.addr));
    let created = client
        .create_product(CreateProductRequest {
            name: "Mug".to_owned(),
            description: "350 ml".to_owned(),
            price_cents: 450,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.id, "p-3");
    let read = client
        .get_product(get(&created.id))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read, created);
    server.stop().await;
}

#[tokio::test]
async fn every_invalid_field_is_listed() {
    let server = support::grpc_server().await;
    let client = ProductServiceClient::new(support::channel(server.addr));
    let status = client
        .create_product(CreateProductRequest {
            name: " ".to_owned(),
            description: "x".repeat(1001),
            price_cents: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        status.message(),
        "invalid product: 3 invalid field(s), listed in the details"
    );
    let bad = status.get_detail::<BadRequest>().unwrap();
    let violations: Vec<_> = bad
        .field_violations
        .iter()
        .map(|v| (v.field.as_str(), v.description.as_str()))
        .collect();
    assert_eq!(
        violations,
        [
            ("name", "is required"),
            ("description", "must be at most 1000 characters"),
            ("price_cents", "must be positive, not 0"),
        ]
    );
    server.stop().await;
}

#[tokio::test]
async fn an_outage_is_unavailable_with_retry_info_and_no_internals() {
    let server = support::grpc_server().await;
    let client = ProductServiceClient::new(support::channel(server.addr));
    let status = client
        .get_product(get(UNAVAILABLE_PRODUCT_ID))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    // The server said so: not a connection failure of this client.
    assert_eq!(status.origin(), Origin::Peer);
    assert_eq!(
        status.message(),
        "the product catalog is temporarily unavailable"
    );
    assert_eq!(
        status.get_detail::<RetryInfo>().unwrap().delay(),
        Some(OUTAGE_RETRY_DELAY)
    );
    let everything = format!("{status:#} {status:?}");
    assert!(!everything.contains("inventory-db"), "{everything}");
    server.stop().await;
}
