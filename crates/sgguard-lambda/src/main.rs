//! The sgguard Lambda: wiring only. Configuration from the environment, SDK clients built
//! once (no network call at init), then one [`handler::handle`] per EventBridge event.

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
        handler::handle(&responder, event.payload)
    }))
    .await
}
