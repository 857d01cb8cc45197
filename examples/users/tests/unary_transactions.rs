//! `ProcessTransaction` end to end: commits, and failures that leave every
//! account as it was.

// Helpers outside #[test] functions fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use grpcx::{BadRequest, Code, ErrorInfo, PreconditionFailure, ResourceInfo, Status};
use grpcx_example_users::ERROR_DOMAIN;
use grpcx_example_users::pb::{Account, Operation, TransactionRequest, UserServiceClient};
use support::TestServer;

fn op(account: &str, amount: i64, expected_version: Option<u64>) -> Operation {
    Operation {
        account: account.to_owned(),
        amount,
        expected_version,
    }
}

async fn transact(client: &UserServiceClient, ops: Vec<Operation>) -> Result<Vec<Account>, Status> {
    let request = TransactionRequest { operations: ops };
    Ok(client
        .process_transaction(request)
        .await?
        .into_inner()
        .accounts)
}

/// Checks that `account` still has `balance` at `version`: a transaction
/// expecting that version succeeds, and the balance it reports is the one
/// expected.
async fn assert_unchanged(client: &UserServiceClient, account: &str, balance: i64, version: u64) {
    let accounts = transact(client, vec![op(account, 1, Some(version))])
        .await
        .unwrap_or_else(|status| panic!("{account} changed: {status}"));
    assert_eq!(accounts[0].balance, balance + 1, "{account}");
    assert_eq!(accounts[0].version, version + 1, "{account}");
}

#[tokio::test]
async fn a_transaction_commits_every_operation_and_bumps_versions() {
    let server = TestServer::start().await;
    let accounts = transact(
        &server.client(),
        vec![
            op("alice", -30, Some(1)),
            op("bob", 30, None),
            op("alice", 5, None),
        ],
    )
    .await
    .unwrap();
    let got: Vec<_> = accounts
        .iter()
        .map(|a| (a.name.as_str(), a.balance, a.version))
        .collect();
    assert_eq!(got, [("alice", 75, 2), ("bob", 80, 2)]);
    server.stop().await;
}

#[tokio::test]
async fn a_version_conflict_is_aborted_and_rolled_back() {
    let server = TestServer::start().await;
    let client = server.client();
    // Another client changes alice: her version goes from 1 to 2.
    transact(&client, vec![op("alice", 1, None)]).await.unwrap();

    // bob's step applies first, then alice's version check fails.
    let status = transact(&client, vec![op("bob", -5, None), op("alice", 5, Some(1))])
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Aborted);
    assert_eq!(
        status.message(),
        r#"account "alice" is at version 2, not 1: it changed concurrently"#
    );
    let info = status.get_detail::<ErrorInfo>().unwrap();
    assert_eq!(info.reason, "VERSION_CONFLICT");
    assert_eq!(info.domain, ERROR_DOMAIN);
    assert_eq!(info.metadata["account"], "alice");
    assert_eq!(info.metadata["expectedVersion"], "1");
    assert_eq!(info.metadata["actualVersion"], "2");

    // bob's step was undone: same balance, same version.
    assert_unchanged(&client, "bob", 50, 1).await;
    server.stop().await;
}

#[tokio::test]
async fn an_invalid_operation_is_invalid_argument_and_rolled_back() {
    let server = TestServer::start().await;
    let client = server.client();
    let status = transact(&client, vec![op("alice", -10, None), op("", 0, None)])
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let bad = status.get_detail::<BadRequest>().unwrap();
    let fields: Vec<_> = bad
        .field_violations
        .iter()
        .map(|v| (v.field.as_str(), v.description.as_str()))
        .collect();
    assert_eq!(
        fields,
        [
            ("operations[1].account", "is required"),
            ("operations[1].amount", "must not be zero")
        ]
    );
    assert_unchanged(&client, "alice", 100, 1).await;

    let status = transact(&client, vec![]).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        status.get_detail::<BadRequest>().unwrap().field_violations[0].field,
        "operations"
    );
    server.stop().await;
}

#[tokio::test]
async fn an_overdraft_is_failed_precondition_and_rolled_back() {
    let server = TestServer::start().await;
    let client = server.client();
    let status = transact(&client, vec![op("alice", 20, None), op("bob", -80, None)])
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    let failure = status.get_detail::<PreconditionFailure>().unwrap();
    assert_eq!(failure.violations[0].r#type, "INSUFFICIENT_FUNDS");
    assert_eq!(failure.violations[0].subject, "accounts/bob");
    assert_eq!(
        failure.violations[0].description,
        "balance 50 is less than 80"
    );
    assert_unchanged(&client, "alice", 100, 1).await;
    assert_unchanged(&client, "bob", 50, 1).await;
    server.stop().await;
}

#[tokio::test]
async fn an_unknown_account_is_not_found() {
    let server = TestServer::start().await;
    let client = server.client();
    let status = transact(&client, vec![op("bob", 1, None), op("mallory", 1, None)])
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let resource = status.get_detail::<ResourceInfo>().unwrap();
    assert_eq!(resource.resource_name, "accounts/mallory");
    assert_unchanged(&client, "bob", 50, 1).await;
    server.stop().await;
}
