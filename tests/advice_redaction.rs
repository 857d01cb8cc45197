//! The error advice's redaction over the wire: an unmapped internal error
//! and a panic (of a unary handler, or of a response stream midway) reach
//! the client as `INTERNAL` with a generic message and a `RequestInfo`
//! correlation id, and nothing of their text; the server's log has the id
//! with the whole error chain. `DebugInfo` is stripped unless kept.

// Test code: failing loudly, with the reason, is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "advice_shop.rs"]
mod shop;

use grpcx::middleware::advice::ErrorAdviceLayer;
use grpcx::{Channel, Server};
use grpcx::{Code, DebugInfo, Origin, RequestInfo, Status};
use grpcx_tests::{channel, serve};
use shop::{SECRET, Shop, get, get_blocking, list, log, seen_by_client, shop_advice};

/// A server with the shop's advice (keeping `DebugInfo` when asked), and a
/// channel to it; the log is recording.
async fn shop(keep_debug_info: bool) -> (grpcx_tests::ServerHandle, Channel) {
    log();
    let advice = shop_advice().keep_debug_info(keep_debug_info);
    let handle = serve(
        Server::builder()
            .layer(ErrorAdviceLayer::new(advice))
            .add_service(Shop),
    )
    .await;
    let channel = channel(handle.addr);
    (handle, channel)
}

/// Checks that `status` is the redacted one; returns its request id.
fn redacted(status: &Status) -> String {
    assert_eq!(status.code(), Code::Internal, "{status:?}");
    assert_eq!(status.origin(), Origin::Peer);
    let id = status.get_detail::<RequestInfo>().unwrap().request_id;
    assert!(!id.is_empty());
    assert_eq!(
        status.message(),
        format!("internal server error; request id: {id}")
    );
    assert_eq!(status.details_any().len(), 1, "only the RequestInfo");
    let seen = seen_by_client(status);
    assert!(!seen.contains("hunter2"), "{seen}");
    assert!(!seen.contains("10.0.0.7"), "{seen}");
    id
}

/// The one error-level line logged with `id`.
fn logged(id: &str) -> String {
    let lines = log().lines_with(id);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    let line = lines.into_iter().next().unwrap();
    assert!(line.starts_with("ERROR"), "{line}");
    line
}

#[tokio::test]
async fn an_unmapped_error_is_internal_with_an_id_the_log_has_with_the_whole_chain() {
    let (_server, channel) = shop(false).await;
    let status = get(&channel, "secret").await.unwrap_err();
    let id = redacted(&status);
    let line = logged(&id);
    assert!(line.contains("method=/test.Shop/Get"), "{line}");
    assert!(
        line.contains(&format!(
            "INTERNAL: select failed: {SECRET}: caused by: connect to {SECRET} refused"
        )),
        "{line}"
    );

    // Each failure its own id.
    let again = redacted(&get(&channel, "secret").await.unwrap_err());
    assert_ne!(again, id);
}

#[tokio::test]
async fn a_panicking_handler_is_redacted_and_its_panic_logged_with_the_id() {
    let (_server, channel) = shop(false).await;
    let status = get(&channel, "panic").await.unwrap_err();
    let id = redacted(&status);
    let line = logged(&id);
    assert!(
        line.contains(&format!(
            "the handler panicked: handler panicked holding {SECRET}"
        )),
        "{line}"
    );
    // The server is fine.
    assert_eq!(get(&channel, "ok").await.unwrap(), "ok");
}

#[tokio::test]
async fn a_blocking_handler_is_advised_too_and_its_panic_redacted() {
    let (_server, channel) = shop(false).await;
    let status = get_blocking(&channel, "missing:sku-9").await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    let status = get_blocking(&channel, "secret").await.unwrap_err();
    let id = redacted(&status);
    assert!(logged(&id).contains("refused"));

    // The transport caught this panic (and logged its text where it did);
    // the advice gives it an id.
    let status = get_blocking(&channel, "panic").await.unwrap_err();
    let id = redacted(&status);
    assert!(logged(&id).contains("the handler panicked"));
}

#[tokio::test]
async fn a_stream_failing_or_panicking_midway_is_redacted_after_its_messages() {
    let (_server, channel) = shop(false).await;
    let (messages, end) = list(&channel, "2/secret").await;
    assert_eq!(messages.len(), 2);
    let id = redacted(&end.unwrap_err());
    assert!(logged(&id).contains("refused"));

    let (messages, end) = list(&channel, "1/panic").await;
    assert_eq!(messages.len(), 1);
    let id = redacted(&end.unwrap_err());
    assert!(
        logged(&id).contains(&format!(
            "the handler panicked: handler panicked holding {SECRET}"
        )),
        "{:?}",
        log().lines_with(&id)
    );
}

#[tokio::test]
async fn debug_info_is_stripped_by_default_and_kept_when_configured() {
    let (_server, channel) = shop(false).await;
    let status = get(&channel, "debug").await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(status.message(), "the cart is frozen");
    assert!(status.get_detail::<DebugInfo>().is_none(), "{status:?}");
    // An unmapped error's DebugInfo goes into its log event.
    let status = get(&channel, "secret-debug").await.unwrap_err();
    let id = redacted(&status);
    assert!(logged(&id).contains("wal.rs:99"));

    let (_server, channel) = shop(true).await;
    let status = get(&channel, "debug").await.unwrap_err();
    let debug = status.get_detail::<DebugInfo>().unwrap();
    assert_eq!(debug.detail, "frozen by job 7");
    assert_eq!(debug.stack_entries, ["jobs.rs:7"]);
}
