//! Property-based tests (proptest) of the two parsers facing the outside world:
//! - `inventory::api::handle` on generated `lambda_http` requests (an `Api` over a fresh SQLite
//!   store, as the local stack builds it): never a 5xx, always JSON, errors always
//!   `{"error", "message"}`, and the documented rules for SKUs, quantities and admin stock hold;
//! - `inventory::stockout::decode` on generated SQS bodies: never panics, anything that is not a
//!   valid stock-out is `Poison`, and valid events (raw or in an SNS envelope) round-trip.

//!
//! One binary, a module per parser: [`requests`] (the HTTP API) and [`events`] (SQS decoding);
//! what both use (the suite's record, the generated JSON, the API wired on SQLite) is here.

mod events;
mod requests;

use inventory::api::{AdminToken, Api, App, Function};
use inventory::capture::NoCapture;
use inventory::factory::CallbackSigner;
use pipeline_tests::faults::Record;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};
use std::sync::Arc;

pub(crate) const SUITE: &str = "props";
pub(crate) const ADMIN: &str = "props-admin-token";

pub(crate) struct Env {
    pub(crate) rt: tokio::runtime::Runtime,
    pub(crate) api: App,
    _dir: tempfile::TempDir,
}

/// An `Api` wired as the local stack wires it, on a fresh migrated SQLite store with `glazed`
/// (plenty of stock) and `empty` (none).
pub(crate) fn env() -> Env {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = rt.block_on(async {
        let store = pipeline_tests::store(pipeline_tests::Db::Sqlite, dir.path()).await;
        for (sku, stock) in [("glazed", 1_000_000_000), ("empty", 0)] {
            let spec = inventory::domain::ProductSpec::new(
                inventory::domain::Sku::parse(sku).unwrap(),
                None,
                stock,
                None,
                Some(10),
            )
            .unwrap();
            store.put_product(&spec).await.unwrap();
        }
        store
    });
    let api = App::new(Api {
        service: "props",
        serves: Function::ALL,
        store,
        publisher: None,
        admin: Some(AdminToken::new(ADMIN)),
        callbacks: Some(CallbackSigner::new("props-callback-secret")),
        capture: Arc::new(NoCapture),
    });
    Env { rt, api, _dir: dir }
}

fn config(cases: u32) -> Config {
    Config {
        cases,
        // No regression files outside this suite's files; a failure prints its minimal input.
        failure_persistence: None,
        ..Config::default()
    }
}

pub(crate) fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,20}".prop_map(Value::String),
        prop_oneof![
            Just("glazed"),
            Just("empty"),
            Just("' OR 1=1 --"),
            Just("../x")
        ]
        .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("sku".to_owned()),
                    Just("quantity".to_owned()),
                    Just("stock".to_owned()),
                    Just("type".to_owned()),
                    Just("MessageAttributeProductId".to_owned()),
                    Just("MessageAttributeProductCnt".to_owned()),
                    "[a-z_]{1,8}"
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

pub(crate) fn run(
    name: &str,
    fault: &str,
    cases: u32,
    f: impl Fn(&mut TestRunner) -> (u64, String),
) {
    let mut rec = Record::new(SUITE, name, fault).on("sqlite");
    let mut runner = TestRunner::new(config(cases));
    let (n, summary) = f(&mut runner);
    rec.saw(format!("{n} generated cases: {summary}"));
    rec.held(["no panic, no 5xx, every answer JSON".to_owned()]);
}
