//! The error advice over the wire: a server-wide advice maps domain errors
//! to rich statuses for unary calls and for every kind of stream, also
//! midway; the chain of errors is walked outermost first; deliberate
//! statuses pass untouched; a per-service advice inside a server-wide one
//! maps each status once.

// Test code: failing loudly, with the reason, is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "advice_shop.rs"]
mod shop;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use grpcx::Server;
use grpcx::middleware::advice::{Advice, ErrorAdviceLayer, Failure};
use grpcx::{Code, Origin, PreconditionFailure, ResourceInfo, RetryInfo, Status};
use grpcx_tests::{channel, serve};
use shop::{CartError, ProductNotFound, Shop, chat, get, list, shop_advice, upload};

#[tokio::test]
async fn a_unary_domain_error_reaches_the_client_as_the_rich_status_its_handler_made() {
    let handle = serve(
        Server::builder()
            .layer(ErrorAdviceLayer::new(shop_advice()))
            .add_service(Shop),
    )
    .await;
    let channel = channel(handle.addr);

    let status = get(&channel, "missing:sku-42").await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    assert_eq!(status.message(), "product sku-42 does not exist");
    assert_eq!(status.origin(), Origin::Peer);
    let resource = status.get_detail::<ResourceInfo>().unwrap();
    assert_eq!(resource.resource_type, "product");
    assert_eq!(resource.resource_name, "sku-42");

    // The driver's error, inside an io::Error.
    let status = get(&channel, "db").await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(
        status.get_detail::<RetryInfo>().unwrap().delay(),
        Some(std::time::Duration::from_secs(2))
    );

    assert_eq!(get(&channel, "ok").await.unwrap(), "ok");
}

#[tokio::test]
async fn the_outermost_error_with_a_handler_wins_and_a_cause_answers_when_it_alone_has_one() {
    // Both the cart's error and the missing product inside it have handlers.
    let both = shop_advice()
        .on(|_: &CartError, _: &Failure<'_>| Status::aborted("the cart changed, load it again"));
    let handle = serve(
        Server::builder()
            .layer(ErrorAdviceLayer::new(both))
            .add_service(Shop),
    )
    .await;
    let status = get(&channel(handle.addr), "cart:sku-1").await.unwrap_err();
    assert_eq!(status.code(), Code::Aborted, "{status:?}");
    assert_eq!(status.message(), "the cart changed, load it again");

    // Only the cause has one.
    let handle = serve(
        Server::builder()
            .layer(ErrorAdviceLayer::new(shop_advice()))
            .add_service(Shop),
    )
    .await;
    let status = get(&channel(handle.addr), "cart:sku-1").await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    assert_eq!(
        status.get_detail::<ResourceInfo>().unwrap().resource_name,
        "sku-1"
    );
}

#[tokio::test]
async fn a_server_stream_failing_midway_ends_with_the_mapped_status_after_its_messages() {
    let handle = serve(
        Server::builder()
            .layer(ErrorAdviceLayer::new(shop_advice()))
            .add_service(Shop),
    )
    .await;
    let channel = channel(handle.addr);
    let (messages, end) = list(&channel, "3/stock:sku-7").await;
    assert_eq!(messages, ["0", "1", "2"]);
    let status = end.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    let violation = &status
        .get_detail::<PreconditionFailure>()
        .unwrap()
        .violations[0];
    assert_eq!(
        (violation.r#type.as_str(), violation.subject.as_str()),
        ("STOCK", "sku-7")
    );

    // Failing before the first message too (Trailers-Only).
    let (messages, end) = list(&channel, "0/missing:sku-8").await;
    assert!(messages.is_empty());
    assert_eq!(end.unwrap_err().code(), Code::NotFound);

    let (messages, end) = list(&channel, "2/ok").await;
    assert_eq!(messages.len(), 2);
    end.unwrap();
}

#[tokio::test]
async fn client_streaming_and_bidi_errors_are_mapped() {
    let handle = serve(
        Server::builder()
            .layer(ErrorAdviceLayer::new(shop_advice()))
            .add_service(Shop),
    )
    .await;
    let channel = channel(handle.addr);

    let status = upload(&channel, &["ok", "ok", "stock:sku-3"])
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(status.get_detail::<PreconditionFailure>().is_some());
    assert_eq!(upload(&channel, &["ok", "ok"]).await.unwrap(), "2");

    let (replies, end) = chat(&channel, &["ok", "ok", "missing:sku-4", "ok"]).await;
    assert_eq!(replies, ["ok", "ok"]);
    let status = end.unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    assert_eq!(
        status.get_detail::<ResourceInfo>().unwrap().resource_name,
        "sku-4"
    );
}

#[tokio::test]
async fn a_deliberate_status_passes_untouched() {
    let handle = serve(
        Server::builder()
            .layer(ErrorAdviceLayer::new(shop_advice()))
            .add_service(Shop),
    )
    .await;
    let status = get(&channel(handle.addr), "deliberate").await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(status.message(), "no such cart");
    assert!(status.details_any().is_empty(), "{status:?}");
}

#[tokio::test]
async fn a_per_service_advice_inside_a_server_wide_one_maps_each_status_once() {
    let inner_calls = Arc::new(AtomicUsize::new(0));
    let counted = inner_calls.clone();
    let per_service = shop_advice().on(move |err: &CartError, _: &Failure<'_>| {
        counted.fetch_add(1, Ordering::SeqCst);
        Status::aborted(format!("cart of {} changed", err.0.0))
    });
    let outer_calls = Arc::new(AtomicUsize::new(0));
    let counted = outer_calls.clone();
    let server_wide = Advice::new()
        .on(move |_: &CartError, _: &Failure<'_>| {
            counted.fetch_add(1, Ordering::SeqCst);
            Status::internal("mapped twice")
        })
        .on(|_: &ProductNotFound, _: &Failure<'_>| Status::internal("mapped twice"));
    let handle = serve(
        Server::builder()
            .layer(ErrorAdviceLayer::new(server_wide))
            .add_layered_service(ErrorAdviceLayer::new(per_service), Shop),
    )
    .await;
    let channel = channel(handle.addr);

    let status = get(&channel, "cart:sku-5").await.unwrap_err();
    assert_eq!(status.code(), Code::Aborted, "{status:?}");
    assert_eq!(status.message(), "cart of sku-5 changed");
    let (messages, end) = list(&channel, "1/cart:sku-6").await;
    assert_eq!(messages.len(), 1);
    assert_eq!(end.unwrap_err().message(), "cart of sku-6 changed");
    let status = get(&channel, "missing:sku-7").await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");

    assert_eq!(inner_calls.load(Ordering::SeqCst), 2);
    assert_eq!(outer_calls.load(Ordering::SeqCst), 0);
}
