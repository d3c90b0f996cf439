//! `restock`: the factory's completion callback (`POST /factory/callbacks/{id}`) →
//! authenticated, idempotent restock. Builds its dependencies once at init.

use inventory::api::{Api, handle};
use inventory::capture::LogLineSink;
use inventory::config::{Env, aws_config, callback_secret_from_env, database_from_env};
use inventory::factory::CallbackSigner;
use lambda_http::{Error, service_fn};
use std::convert::Infallible;
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
        store,
        publisher: None,
        admin: None,
        callbacks: Some(CallbackSigner::new(&secret)),
        capture: Arc::new(LogLineSink::default()),
        public_routes: false,
    };
    let api = &api;
    lambda_http::run(service_fn(move |req| async move {
        Ok::<_, Infallible>(inventory::metrics::flushed(handle(api, req)).await)
    }))
    .await
}
