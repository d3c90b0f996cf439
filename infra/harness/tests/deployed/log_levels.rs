//! Lambda's log-level filter at every `LogLevel` the template allows (production runs WARN or
//! ERROR): the harness drops each function's lines below its `ApplicationLogLevel` as Lambda
//! does, and still a sale's capture record reaches Kinesis (log subscription → api-capture →
//! Kinesis) and every metric the template's dashboard and alarms read is emitted (EMF).

use crate::kit::{Api, assert_one_capture_record_per_request, bin_dir, root, secret};
use crate::{metrics, sales, schedules};
use lambda_harness::logs::Level;
use lambda_harness::{Harness, Options, moto::Moto};
use serde_json::Value;
use std::time::{Duration, Instant};

/// `Parameters.LogLevel.AllowedValues` of template.yaml.
fn allowed_log_levels() -> Vec<String> {
    let text = std::fs::read_to_string(root().join("template.yaml")).expect("template.yaml");
    let doc: serde_norway::Value = serde_norway::from_str(&text).expect("template YAML");
    doc.get("Parameters")
        .and_then(|p| p.get("LogLevel"))
        .and_then(|p| p.get("AllowedValues"))
        .and_then(serde_norway::Value::as_sequence)
        .expect("LogLevel has AllowedValues")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn capture_records_and_metrics_survive_every_log_level_the_template_allows() {
    let bins = bin_dir();
    assert!(
        bins.join("sales-api/bootstrap").is_file(),
        "no bootstraps in {}: ./scripts/lambda-build.sh",
        bins.display()
    );
    let levels = allowed_log_levels();
    for must in ["INFO", "WARN", "ERROR"] {
        assert!(levels.iter().any(|l| l == must), "{must} in {levels:?}");
    }
    let moto = Moto::start(&root().join(".venv"), None).expect("moto");
    for level in &levels {
        let started = Instant::now();
        at_level(&moto, level).await;
        eprintln!("LogLevel={level}: {:?}", started.elapsed());
    }
}

/// One harness with `LogLevel=level`: a sale to stock-out, the factory's restock, a relay pass.
async fn at_level(moto: &Moto, level: &str) {
    let configured = Level::parse(level).expect("an allowed value is a Lambda log level");
    let dir = std::env::temp_dir().join(format!(
        "harness-loglevel-{}-{}",
        std::process::id(),
        level.to_lowercase()
    ));
    let mut opts = Options::new(
        root().join("template.yaml"),
        bin_dir(),
        dir.clone(),
        moto.endpoint.clone(),
    );
    opts.visibility_timeout = Some(2);
    opts.async_retry_delays = vec![Duration::from_millis(200), Duration::from_millis(400)];
    opts.params.insert("LogLevel".into(), level.into());
    opts.params.insert("FactorySimDelayMs".into(), "300".into());
    let h = Harness::start(opts).await.expect("harness starts");
    let sales_api = h.functions["SalesApiFunction"].spec.name.clone();
    h.create_custom_resources()
        .await
        .expect("migrations Create succeeds");

    let api = Api {
        base: h.api_url.clone(),
        http: reqwest::Client::new(),
        sent: Default::default(),
    };
    let admin = secret(&h, "AdminTokenSecret").await;
    sales::admin_upsert_and_a_wrong_token(&api, &admin).await;
    let order_id = sales::sell_to_stock_out(&api).await;
    sales::the_factory_restocks(&h, &api, &order_id).await;
    schedules::the_outbox_relay_runs_clean(&h).await;

    // Every request's capture record, the factory's callback included, reached Kinesis …
    assert_one_capture_record_per_request(&h, api.sent() + 1).await;
    // … and every metric the dashboard and alarms read was emitted.
    metrics::every_metric_the_template_reads_was_emitted(&h).await;

    // The capture lines carry the level that keeps them.
    let stamped = inventory::telemetry::data_level_for(Some(level));
    let sales_lines = h.logs.lines_of(&sales_api);
    let captures: Vec<Value> = sales_lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("capture").is_some())
        .collect();
    assert!(!captures.is_empty(), "LogLevel={level}: no capture line");
    for c in &captures {
        assert_eq!(c["level"], stamped, "LogLevel={level}: {c}");
    }
    // Nothing below the level reached CloudWatch Logs.
    for f in h.functions.values() {
        for line in h.logs.lines_of(&f.spec.name) {
            if serde_json::from_str::<Value>(&line).is_ok_and(|v| v.get("harness").is_some()) {
                continue; // the harness's own (system) lines
            }
            assert!(
                Level::of_line(&line) >= configured,
                "LogLevel={level}: {} kept {line}",
                f.spec.name
            );
        }
    }
    // The functions honour the level themselves (no INFO line is printed at WARN), so the
    // filter is shown on a line as the capture records were before they carried a level: no
    // `level` → INFO → dropped above INFO.
    let unlevelled = r#"{"capture_like":true,"message":"no level"}"#;
    let before = h.logs.dropped(&sales_api);
    h.logs.line(&sales_api, "probe", unlevelled).await;
    let dropped = h.logs.dropped(&sales_api) > before;
    assert_eq!(
        dropped,
        configured > Level::Info,
        "LogLevel={level}: a line without a level is INFO"
    );
    h.stop();
    let _ = std::fs::remove_dir_all(dir);
}
