//! The tour's middleware rows: retry, hedging, the circuit breaker, an
//! authentication interceptor and the error advice, each a tower layer
//! around a plain channel or server.

use std::time::Duration;

use grpcx::middleware::breaker::{BreakerConfig, CircuitBreakerLayer};
use grpcx::{Code, Origin};
use tower::ServiceBuilder;

use crate::cases::{Failed, bearer, channel, local, peer, row};
use crate::pb::{ChaosClient, FlakyRequest, SleepRequest};
use crate::servers::{DEMO_TOKEN, Servers};
use crate::{Error, Row};

/// The middleware rows, in order.
pub(crate) async fn rows(servers: &Servers) -> Result<Vec<Row>, Error> {
    let mut rows = Vec::new();

    // A breaker that opens after two failures: the third call fails fast,
    // here, without reaching the server.
    let breaker = CircuitBreakerLayer::new(
        BreakerConfig::builder()
            .without_failure_ratio()
            .failure_count(2)
            .open_for(Duration::from_secs(30))
            .build()?,
    )
    .name("chaos");
    let guarded = ChaosClient::new(
        ServiceBuilder::new()
            .layer(breaker)
            .service(channel(servers.chaos)?),
    );
    rows.push(
        row(
            "chaos.Flaky x3, breaker opens at 2",
            local(Code::Unavailable, Origin::Application),
            async {
                let down = || FlakyRequest {
                    key: "breaker".to_owned(),
                    failures: 1_000,
                    ..FlakyRequest::default()
                };
                let mut codes = Vec::new();
                for _ in 0..2 {
                    if let Err(status) = guarded.flaky(down()).await {
                        codes.push(status.code().as_str());
                    }
                }
                let status = match guarded.flaky(down()).await {
                    Ok(_) => return Ok("answered".to_owned()),
                    Err(status) => status,
                };
                Err(Failed {
                    status,
                    note: Some(format!("after {}", codes.join(", "))),
                })
            },
        )
        .await,
    );

    // An interceptor on the server refuses a call without a token; the
    // handler never runs.
    let guarded = ChaosClient::new(channel(servers.chaos_guarded)?);
    rows.push(
        row(
            "chaos.Sleep, no token (interceptor)",
            peer(Code::Unauthenticated),
            async {
                guarded.sleep(SleepRequest { millis: 1 }).await?;
                Ok("answered".to_owned())
            },
        )
        .await,
    );
    rows.push(
        row(
            "chaos.Sleep, token (interceptor)",
            crate::cases::OK,
            async {
                let request = bearer(SleepRequest { millis: 1 }, DEMO_TOKEN)?;
                let slept = guarded.sleep(request).await?.into_inner().slept_millis;
                Ok(format!("let through, slept {slept} ms"))
            },
        )
        .await,
    );

    Ok(rows)
}
