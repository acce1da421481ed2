//! The sgguard Lambda: wiring only. Configuration from the environment, SDK clients built
//! once (no network call at init), then one [`handler::handle_invocation`] per invocation
//! (an EventBridge event, or a batch from the retry queue), within the Runtime API's deadline.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use sgguard_lambda::{Config, handler};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = Config::from_env(|name| std::env::var(name).ok())?;
    let sdk = sgguard_aws::load_config(None, None)
        .await
        .into_builder()
        .timeout_config(sgguard_lambda::sdk_timeouts())
        .build();
    let responder = config.responder(&sdk);
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let deadline = remaining(event.context.deadline).map(|left| Instant::now() + left);
        handler::handle_invocation(&responder, event.payload, deadline)
    }))
    .await
}

/// The time left until the Runtime API's deadline (Unix milliseconds).
fn remaining(deadline_ms: u64) -> Option<Duration> {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()?
        .as_millis();
    let left = u128::from(deadline_ms).saturating_sub(now_ms);
    Some(Duration::from_millis(u64::try_from(left).ok()?))
}
