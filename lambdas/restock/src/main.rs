//! `restock`: the factory's completion callback (`POST /factory/callbacks/{id}`, its route in
//! `inventory::api::ROUTES`) → authenticated, idempotent restock. Builds its dependencies once
//! at init, then serves the API's router.

use inventory::api::{Api, App, Function};
use inventory::capture::LogLineSink;
use inventory::config::{Env, aws_config, callback_secret_from_env, database_from_env};
use inventory::factory::CallbackSigner;
use lambda_http::Error;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    inventory::telemetry::init("restock");
    inventory::metrics::init("restock");
    let env = Env;
    let sdk = aws_config().await;
    let store = database_from_env(&env, Some(&sdk), 2).await?;
    let secret = callback_secret_from_env(&env, Some(&sdk)).await?;
    let api = Api {
        service: "restock",
        serves: &[Function::Restock],
        store,
        publisher: None,
        admin: None,
        callbacks: Some(CallbackSigner::new(&secret)),
        capture: Arc::new(LogLineSink::default()),
    };
    inventory::api::run(App::new(api)).await
}
