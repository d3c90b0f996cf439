//! The functions `sam build` ships, run on the harness exactly as `template.yaml` configures
//! them on AWS (secrets in Secrets Manager, TLS-only database with its CA bundle, SNS → SQS,
//! schedules, log subscription, custom resource), end to end.
//!
//! Needs the bootstraps: `./scripts/lambda-build.sh` (the README's test command builds them
//! first). Missing bootstraps fail the test with that instruction: never a silent skip.
//!
//! One test binary, one module a concern, in the order the end-to-end case runs them:
//! - `custom_resources`: the migrations custom resource (Create, a rollback after a newer
//!   release, Update, Delete);
//! - `sales`: admin upsert, sales to stock-out, forged callback, the factory's restock;
//! - `rotation`: the database secret rotated under the functions;
//! - `schedules`: the exporter's and the outbox relay's schedules;
//! - `dlq`: a poison message through retries to the DLQ;
//! - `metrics`: the metrics the template's alarms and dashboards read;
//! - `kit`: what they share (the counting API client, secrets, capture records, `eventually`;
//!   for the fault cases `Ctx`: database ledger, lock waits, queue depths);
//! - `record`: the fault cases' rows for docs/reliability.md (`record::Record`, `record::record`).
//!
//! Lambda's own faults run on a harness of their own (`lambda_faults_…` below), one module a
//! family: `timeouts` (an invocation ended at its `Timeout`, its process killed), `crashes` (a
//! process killed mid-invocation), both through the two moments of `killed` (a sale
//! mid-transaction, an orderer batch after the factory accepted), and `throttling` (reserved
//! concurrency: API requests, SQS batches, schedules, log deliveries).
//!
//! Others are a test each with a stack of its own (`fault_stack`: one fault stack at a time):
//! - `redelivery`: a stock-out message redelivered while the first consumer still works;
//! - `kinesis_throttling`: per-record PutRecords throttling in `api-capture`, through
//!   `kinesis_proxy` (a fault injector in front of moto);
//! - `ambiguous_bootstrap`: MariaDB SIGKILLed mid flash sale under the deployed `sales-api`;
//! - `log_levels`: capture records and metrics at every allowed `LogLevel`;
//! - `deploy_hook`: the pre-traffic hook of a gradual deployment, against new versions of the
//!   traffic functions (a good build passes, a build without its database fails).

mod ambiguous_bootstrap;
mod crashes;
mod custom_resources;
mod deploy_hook;
mod dlq;
mod fault_stack;
mod killed;
mod kinesis_proxy;
mod kinesis_throttling;
mod kit;
mod log_levels;
mod metrics;
#[allow(dead_code)] // the fault modules use it
mod record;
mod redelivery;
mod rotation;
mod sales;
mod schedules;
mod throttling;
mod timeouts;

use kit::{Api, Ctx, assert_one_capture_record_per_request, bin_dir, root, secret};
use lambda_harness::{Harness, Options, moto::Moto};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deployed_functions_sell_restock_capture_export_and_dead_letter() {
    let started = Instant::now();
    let bins = bin_dir();
    assert!(
        bins.join("sales-api/bootstrap").is_file(),
        "no bootstraps in {}: build them as `sam build` does with ./scripts/lambda-build.sh \
         (or set HARNESS_BIN_DIR)",
        bins.display()
    );
    let moto = Moto::start(&root().join(".venv"), None).expect("moto");
    let dir = tempfile_dir();
    let mut opts = Options::new(
        root().join("template.yaml"),
        bins,
        dir.clone(),
        moto.endpoint.clone(),
    );
    // Time compression only: seconds where AWS waits minutes. Everything else is the template's.
    opts.visibility_timeout = Some(2);
    opts.async_retry_delays = vec![Duration::from_millis(200), Duration::from_millis(400)];
    opts.params
        .insert("FactorySimDelayMs".into(), "1000".into());
    let h = Harness::start(opts).await.expect("harness starts");
    eprintln!("harness up in {:?}", started.elapsed());

    custom_resources::create_runs_the_migrations_over_tls(&h).await;

    let api = Api {
        base: h.api_url.clone(),
        http: reqwest::Client::new(),
        sent: Default::default(),
    };
    let admin = secret(&h, "AdminTokenSecret").await;
    let callback_key = secret(&h, "CallbackSecret").await;
    assert!(!admin.is_empty() && !callback_key.is_empty());

    sales::admin_upsert_and_a_wrong_token(&api, &admin).await;
    let order_id = sales::sell_to_stock_out(&api).await;
    sales::a_forged_callback_is_refused(&api, &order_id).await;
    sales::the_factory_restocks(&h, &api, &order_id).await;
    // The factory's own callback went through API Gateway too.
    let total = api.sent() + 1;
    assert_eq!(
        h.api_requests(),
        total,
        "requests through the local API Gateway"
    );

    // 6. One capture record in Kinesis per API request (log subscription → api-capture).
    assert_one_capture_record_per_request(&h, total).await;

    rotation::the_database_secret_rotates_and_no_sale_fails(&h, &api, &admin).await;
    let total = api.sent() + 1;
    assert_one_capture_record_per_request(&h, total).await;
    assert_eq!(h.api_requests(), total);

    schedules::the_exporter_writes_csv_gz_under_exports(&h).await;
    schedules::the_outbox_relay_runs_clean(&h).await;

    dlq::a_poison_message_lands_in_the_dlq(&h).await;
    metrics::every_metric_the_template_reads_was_emitted(&h).await;
    custom_resources::a_rollback_after_a_newer_release_keeps_selling(&h, &api, &admin).await;
    custom_resources::update_and_delete_are_answered(&h).await;

    // The first invocation's lines are marked as the cold start, later ones are not.
    let sales_lines = h.logs.lines_of(&h.functions["SalesApiFunction"].spec.name);
    for want in ["\"cold_start\":true", "\"cold_start\":false"] {
        assert!(
            sales_lines.iter().any(|l| l.contains(want)),
            "no sales-api line with {want}"
        );
    }

    // Nothing panicked in any function.
    for l in h.logs.lines() {
        assert!(
            !l.text.contains("panicked at"),
            "{}: {}",
            l.function,
            l.text
        );
    }
    eprintln!("end-to-end on the harness: {:?}", started.elapsed());
    h.stop();
    let _ = std::fs::remove_dir_all(dir);
}

/// Lambda's own faults, each case with its invariant and its row in docs/reliability.md.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lambda_faults_timeouts_crashes_and_throttles() {
    // One fault stack at a time (the fault_stack cases wait for this one, and it for them).
    let _turn = fault_stack::turn().await;
    let started = Instant::now();
    let bins = bin_dir();
    assert!(
        bins.join("sales-api/bootstrap").is_file(),
        "no bootstraps in {}: build them as `sam build` does with ./scripts/lambda-build.sh \
         (or set HARNESS_BIN_DIR)",
        bins.display()
    );
    let moto = Moto::start(&root().join(".venv"), None).expect("moto");
    let dir = std::env::temp_dir().join(format!("harness-faults-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut opts = Options::new(
        root().join("template.yaml"),
        bins,
        dir.clone(),
        moto.endpoint.clone(),
    );
    // Time compression: a visibility timeout above the lowered orderer Timeout (2 s), async
    // retries in fractions of a second.
    opts.visibility_timeout = Some(4);
    opts.async_retry_delays = vec![Duration::from_millis(200), Duration::from_millis(400)];
    opts.async_throttle_backoff = (Duration::from_millis(100), Duration::from_millis(800));
    opts.async_max_event_age = Duration::from_secs(60);
    // The factory's completion comes 8 s after it accepts: after the redelivery of a killed
    // orderer batch (visibility timeout 4 s), so the redelivery meets the factory again.
    opts.params
        .insert("FactorySimDelayMs".into(), "8000".into());
    // Reserved concurrency 2 for sales-api, through the template's own parameter.
    opts.params
        .insert("SalesApiMaxConcurrency".into(), "2".into());
    // Two pollers for the orderer (the mapping's MaximumConcurrency is 2).
    opts.instances.insert("FactoryOrdererFunction".into(), 2);
    let h = Harness::start(opts).await.expect("harness starts");
    h.create_custom_resources().await.expect("migrations");
    let api = Api {
        base: h.api_url.clone(),
        http: reqwest::Client::new(),
        sent: Default::default(),
    };
    let admin = secret(&h, "AdminTokenSecret").await;
    let ctx = Ctx {
        h: &h,
        api: &api,
        admin: &admin,
    };
    eprintln!("faults harness up in {:?}", started.elapsed());

    timeouts::a_sale_killed_by_its_timeout_leaves_nothing_half_done(&ctx).await;
    crashes::a_sale_whose_process_dies_leaves_nothing_half_done(&ctx).await;
    timeouts::an_orderer_batch_killed_by_its_timeout_makes_one_factory_order(&ctx).await;
    crashes::an_orderer_killed_after_the_factory_accepted_makes_one_factory_order(&ctx).await;
    throttling::api_requests_beyond_reserved_concurrency_lose_no_sale(&ctx).await;
    throttling::sqs_batches_beyond_reserved_concurrency_stay_on_the_queue(&ctx).await;
    throttling::a_throttled_schedule_is_retried_and_runs_once(&ctx).await;
    throttling::throttled_log_deliveries_lose_no_capture_record(&ctx).await;

    eprintln!("Lambda faults on the harness: {:?}", started.elapsed());
    h.stop();
    let _ = std::fs::remove_dir_all(dir);
}

fn tempfile_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("harness-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}
