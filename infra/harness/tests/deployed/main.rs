//! The functions `sam build` ships, run on the harness exactly as `template.yaml` configures
//! them on AWS (secrets in Secrets Manager, TLS-only database with its CA bundle, SNS → SQS,
//! schedules, log subscription, custom resource), end to end.
//!
//! Needs the bootstraps: `./scripts/lambda-build.sh` (the README's test command builds them
//! first). Missing bootstraps fail the test with that instruction: never a silent skip.
//!
//! One test binary, one module a concern, in the order the end-to-end case runs them:
//! - `custom_resources`: the migrations custom resource (Create, Update, Delete);
//! - `sales`: admin upsert, sales to stock-out, forged callback, the factory's restock;
//! - `rotation`: the database secret rotated under the functions;
//! - `schedules`: the exporter's and the outbox relay's schedules;
//! - `dlq`: a poison message through retries to the DLQ;
//! - `metrics`: the metrics the template's alarms and dashboards read;
//! - `log_levels` (its own test): capture records and metrics at every allowed `LogLevel`;
//! - `kit`: what they share (the counting API client, secrets, capture records, `eventually`).

mod custom_resources;
mod dlq;
mod kit;
mod log_levels;
mod metrics;
mod rotation;
mod sales;
mod schedules;

use kit::{Api, assert_one_capture_record_per_request, bin_dir, root, secret};
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

fn tempfile_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("harness-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}
