//! `factory-orderer`: SQS batches of stock-out events → legacy Factory API, reporting only the
//! failed records (`ReportBatchItemFailures`). Builds its dependencies once at init.

use aws_lambda_events::sqs::SqsEvent;
use factory_orderer::client::{FactoryClient, FactorySettings};
use factory_orderer::orderer::{Orderer, handle_batch};
use inventory::config::{Env, aws_config, callback_secret_from_env, database_from_env};
use inventory::factory::CallbackSigner;
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    inventory::telemetry::init("factory-orderer");
    inventory::metrics::init("factory-orderer");
    let env = Env;
    let sdk = aws_config().await;
    let store = database_from_env(&env, Some(&sdk), 2).await?;
    let secret = callback_secret_from_env(&env, Some(&sdk)).await?;
    let factory = FactoryClient::new(
        FactorySettings {
            base_url: env.required("FACTORY_URL")?,
            factory_id: env
                .optional("FACTORY_ID")
                .unwrap_or_else(|| "donut-factory-1".into()),
            requester: env
                .optional("REQUESTER")
                .unwrap_or_else(|| "donut-shop".into()),
            callback_base: env.required("CALLBACK_BASE_URL")?,
            timeout: env.millis_or("FACTORY_TIMEOUT_MS", 5000)?,
        },
        CallbackSigner::new(&secret),
    )?;
    let orderer = Orderer {
        store,
        factory,
        max_receive_count: env.parse_or("MAX_RECEIVE_COUNT", 5)?,
    };
    let orderer = &orderer;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Error>(inventory::metrics::flushed(handle_batch(orderer, event.payload)).await)
    }))
    .await
}
