//! `deploy-hook`: CodeDeploy's pre-traffic hook. Reads the new versions and the callback key
//! once at init, then probes and reports on each lifecycle event (`deploy_hook::Hook`).

use deploy_hook::aws::{CodeDeployReporter, LambdaInvoker};
use deploy_hook::{Hook, LifecycleEvent, Outcome, Run, Status, Target};
use inventory::config::{Env, aws_config, callback_secret_from_env};
use inventory::factory::CallbackSigner;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[tokio::main]
async fn main() -> Result<(), Error> {
    inventory::telemetry::init("deploy-hook");
    let env = Env;
    let sdk = aws_config().await;
    let versions = vec![
        (Target::SalesApi, env.required("SALES_API_VERSION_ARN")?),
        (Target::Restock, env.required("RESTOCK_VERSION_ARN")?),
        (
            Target::FactoryOrderer,
            env.required("FACTORY_ORDERER_VERSION_ARN")?,
        ),
    ];
    let signer = CallbackSigner::new(&callback_secret_from_env(&env, Some(&sdk)).await?);
    let hook = Hook {
        versions,
        invoker: LambdaInvoker::new(&sdk),
        reporter: CodeDeployReporter::new(&sdk),
    };
    let (hook, signer) = (&hook, &signer);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<LifecycleEvent>| async move {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let budget = deploy_hook::budget(event.context.deadline, now, Duration::from_secs(5));
        let id = event.payload.deployment_id.as_deref().unwrap_or("dry-run");
        let run = Run::new(id, |order| signer.token(order));
        let outcome: Outcome = hook.handle(&event.payload, &run, budget).await?;
        match outcome.status {
            Status::Succeeded => tracing::info!(deployment_id = id, reported = outcome.reported, latency_ms = outcome.ms, "pre-traffic hook: Succeeded"),
            Status::Failed => tracing::error!(deployment_id = id, reported = outcome.reported, latency_ms = outcome.ms, failed = ?outcome.steps.iter().filter(|s| !s.ok).map(|s| format!("{} {}: {}", s.function, s.step, s.detail)).collect::<Vec<_>>(), "ALARM pre-traffic hook: Failed (the deployment stops, the alias stays on the previous version)"),
        }
        Ok::<_, Error>(outcome)
    }))
    .await
}
