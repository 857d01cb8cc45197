//! [`ChaosService`]: the demo-only service that misbehaves on purpose.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use futures_util::stream;
use grpcx::{BoxStream, Code, Pushback, Response, RetryInfo, ServerRequest, Status};

use crate::pb::{
    Chaos, FlakyRequest, FlakyResponse, PanicRequest, PanicResponse, RaceRequest, RaceResponse,
    SleepRequest, SleepResponse, Tick, TicksRequest,
};

/// What the panicking handler says; it must never reach a client.
pub const PANIC_MESSAGE: &str = "the Panic handler panicked on purpose (secret: hunter2)";

/// The longest sleep.
const MAX_SLEEP: Duration = Duration::from_secs(10);

/// The `Chaos` service.
#[derive(Debug, Default)]
pub struct ChaosService {
    /// How many `Flaky` and `Race` calls each key has had.
    calls: Mutex<HashMap<String, u32>>,
}

impl ChaosService {
    /// Counts a call with `key`; returns which call it is, from 1.
    fn count(&self, key: &str) -> u32 {
        // A poisoned count is still a count: nothing panics while holding it.
        let mut calls = self
            .calls
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let n = calls.entry(key.to_owned()).or_insert(0);
        *n = n.saturating_add(1);
        *n
    }
}

impl Chaos for ChaosService {
    #[allow(clippy::panic)] // Panicking is this handler's job.
    async fn panic(
        &self,
        _request: ServerRequest<PanicRequest>,
    ) -> Result<Response<PanicResponse>, Status> {
        panic!("{PANIC_MESSAGE}")
    }

    async fn sleep(
        &self,
        request: ServerRequest<SleepRequest>,
    ) -> Result<Response<SleepResponse>, Status> {
        let millis = request.get_ref().millis;
        // Past the client's deadline the server drops this future, so the
        // sleep ends there.
        tokio::time::sleep(Duration::from_millis(millis.into()).min(MAX_SLEEP)).await;
        Ok(Response::new(SleepResponse {
            slept_millis: millis,
        }))
    }

    type TicksStream = BoxStream<Tick>;

    async fn ticks(
        &self,
        request: ServerRequest<TicksRequest>,
    ) -> Result<Response<Self::TicksStream>, Status> {
        let interval =
            Duration::from_millis(request.get_ref().interval_millis.clamp(1, 1000).into());
        let context = request.context().clone();
        let ticks = stream::unfold(0, move |n| {
            let context = context.clone();
            async move {
                tokio::time::sleep(interval).await;
                // Stop once the client has cancelled.
                context.is_active().then(|| (Ok(Tick { n: n + 1 }), n + 1))
            }
        });
        Ok(Response::new(Box::pin(ticks)))
    }

    async fn flaky(
        &self,
        request: ServerRequest<FlakyRequest>,
    ) -> Result<Response<FlakyResponse>, Status> {
        let previous_attempts = request.context().previous_attempts();
        let flaky = request.into_inner();
        let call = self.count(&flaky.key);
        if call <= flaky.failures {
            let code = match Code::from_i32(flaky.code) {
                Code::Ok => Code::Unavailable,
                code => code,
            };
            let mut status = Status::new(code, format!("failure {call} of {}", flaky.failures));
            match flaky.pushback_millis {
                0 => {}
                millis if millis < 0 => status = status.with_pushback(Pushback::Stop),
                millis => {
                    status = status.with_pushback(Pushback::Delay(Duration::from_millis(
                        millis.unsigned_abs().into(),
                    )))
                }
            }
            if flaky.retry_info_millis > 0 {
                let delay = Duration::from_millis(flaky.retry_info_millis.into());
                status = status.with_detail(RetryInfo::after(delay));
            }
            return Err(status);
        }
        Ok(Response::new(FlakyResponse {
            call,
            previous_attempts,
        }))
    }

    async fn race(
        &self,
        request: ServerRequest<RaceRequest>,
    ) -> Result<Response<RaceResponse>, Status> {
        let race = request.into_inner();
        let call = self.count(&race.key);
        if call == 1 {
            let delay = Duration::from_millis(race.first_millis.into()).min(MAX_SLEEP);
            tokio::time::sleep(delay).await;
        }
        Ok(Response::new(RaceResponse { call }))
    }
}
