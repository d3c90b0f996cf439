//! `sales-api`: API Gateway (HTTP API) → sell, read inventory and factory orders, admin (its
//! routes in `inventory::api::ROUTES`). Builds its dependencies once at init, then serves the
//! API's router.

use inventory::api::{AdminToken, Api, App, Function};
use inventory::capture::LogLineSink;
use inventory::config::{Env, admin_token_from_env, aws_config, database_from_env};
use inventory::messaging::SnsPublisher;
use lambda_http::Error;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    inventory::telemetry::init("sales-api");
    inventory::metrics::init("sales-api");
    let env = Env;
    let sdk = aws_config().await;
    let store = database_from_env(&env, Some(&sdk), 2).await?;
    let topic_arn = env.required("STOCKOUT_TOPIC_ARN")?;
    let admin = admin_token_from_env(&env, Some(&sdk)).await?;
    let api = Api {
        service: "sales-api",
        serves: &[Function::SalesApi],
        store,
        publisher: Some(Arc::new(SnsPublisher::from_sdk(&sdk, topic_arn))),
        admin: Some(AdminToken::new(&admin)),
        callbacks: None,
        capture: Arc::new(LogLineSink::default()),
    };
    inventory::api::run(App::new(api)).await
}
