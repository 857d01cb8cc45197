//! The tour's middleware rows: retry, hedging, the circuit breaker, an
//! authentication interceptor and the error advice, each a tower layer
//! around a plain channel or server.

use std::time::Duration;

use grpcx::middleware::breaker::{BreakerConfig, CircuitBreakerLayer};
use grpcx::middleware::retry::{RetryLayer, ServiceConfig};
use grpcx::{Code, Origin, Pushback};
use tower::ServiceBuilder;

use crate::cases::{Failed, OK, bearer, channel, local, peer, row};
use crate::pb::{ChaosClient, FlakyRequest, RaceRequest, SleepRequest};
use crate::servers::{DEMO_TOKEN, Servers};
use crate::{Error, Row};

/// The chaos client's service config, as grpc-go or grpc-java would read
/// it: `Flaky` retries `UNAVAILABLE` up to 4 attempts, `Race` is hedged
/// with a second copy after 50 ms.
const SERVICE_CONFIG: &str = r#"{
  "methodConfig": [
    {
      "name": [{ "service": "grpcx.demo.v1.Chaos", "method": "Flaky" }],
      "retryPolicy": {
        "maxAttempts": 4,
        "initialBackoff": "0.01s",
        "maxBackoff": "0.1s",
        "backoffMultiplier": 2,
        "retryableStatusCodes": ["UNAVAILABLE"]
      }
    },
    {
      "name": [{ "service": "grpcx.demo.v1.Chaos", "method": "Race" }],
      "hedgingPolicy": {
        "maxAttempts": 2,
        "hedgingDelay": "0.05s",
        "nonFatalStatusCodes": ["UNAVAILABLE"]
      }
    }
  ],
  "retryThrottling": { "maxTokens": 10, "tokenRatio": 0.1 }
}"#;

/// The middleware rows, in order.
pub(crate) async fn rows(servers: &Servers) -> Result<Vec<Row>, Error> {
    let mut rows = Vec::new();

    // Retry and hedging, configured by a gRPC service config.
    let retrying = ChaosClient::new(
        ServiceBuilder::new()
            .layer(RetryLayer::new(ServiceConfig::from_json(SERVICE_CONFIG)?))
            .service(channel(servers.chaos)?),
    );
    rows.push(
        row("chaos.Flaky, 2 x UNAVAILABLE, retried", OK, async {
            let request = FlakyRequest {
                key: "retried".to_owned(),
                failures: 2,
                ..FlakyRequest::default()
            };
            let answer = retrying.flaky(request).await?.into_inner();
            Ok(format!(
                "answered on attempt {} (grpc-previous-rpc-attempts: {})",
                answer.call, answer.previous_attempts
            ))
        })
        .await,
    );
    rows.push(
        row(
            "chaos.Flaky, pushback: stop retrying",
            peer(Code::Unavailable),
            async {
                let request = FlakyRequest {
                    key: "pushback".to_owned(),
                    failures: 3,
                    pushback_millis: -1,
                    ..FlakyRequest::default()
                };
                match retrying.flaky(request).await {
                    Ok(_) => Ok("answered".to_owned()),
                    Err(status) => {
                        let attempts = status.attempts().unwrap_or(1);
                        let pushback = match status.pushback() {
                            Some(Pushback::Stop) => "pushback: stop",
                            Some(_) => "pushback: delay",
                            None => "no pushback",
                        };
                        Err(Failed {
                            status,
                            note: Some(format!("{pushback}, {attempts} attempt(s)")),
                        })
                    }
                }
            },
        )
        .await,
    );
    rows.push(
        row("chaos.Race, hedged after 50 ms", OK, async {
            let request = RaceRequest {
                key: "hedged".to_owned(),
                first_millis: 5_000,
            };
            let answer = retrying.race(request).await?.into_inner();
            Ok(format!(
                "won by attempt {}; the first was cancelled",
                answer.call
            ))
        })
        .await,
    );

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
        row("chaos.Sleep, token (interceptor)", OK, async {
            let request = bearer(SleepRequest { millis: 1 }, DEMO_TOKEN)?;
            let slept = guarded.sleep(request).await?.into_inner().slept_millis;
            Ok(format!("let through, slept {slept} ms"))
        })
        .await,
    );

    Ok(rows)
}
