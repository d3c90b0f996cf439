//! The payloads in `events/` (for `cargo lambda invoke --data-file`, `sam local invoke -e`) stay
//! true: each is fed to the real bootstrap on the harness, configured as the template configures
//! it, and answers as documented; every HTTP route of the template has one.

use lambda_harness::{Harness, Options, moto::Moto, runtime::Answer};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn bin_dir() -> PathBuf {
    lambda_harness::bootstraps_dir(&root())
}

fn event(path: &str) -> Value {
    let p = root().join("events").join(path);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn every_event_file() -> Vec<String> {
    let mut out = Vec::new();
    let dir = root().join("events");
    for f in std::fs::read_dir(&dir).expect("events/").flatten() {
        // events/<function>/*.json; events/env.json is SAM's variables file, not an event.
        if !f.path().is_dir() {
            continue;
        }
        for e in std::fs::read_dir(f.path()).expect("function dir").flatten() {
            let p = e.path();
            if p.extension().and_then(|x| x.to_str()) == Some("json") {
                out.push(
                    p.strip_prefix(&dir)
                        .unwrap_or(Path::new(""))
                        .display()
                        .to_string(),
                );
            }
        }
    }
    out.sort();
    out
}

async fn invoke(h: &Harness, function: &str, ev: &Value) -> Value {
    match h.functions[function].invoke(ev).await {
        Answer::Ok(b) => serde_json::from_slice(&b).unwrap_or(Value::Null),
        Answer::Err(e) => panic!("{function} failed on the event: {e}"),
    }
}

/// The HTTP status of an API Gateway / Function URL answer.
fn status(answer: &Value) -> u64 {
    answer["statusCode"].as_u64().unwrap_or(0)
}

#[test]
fn every_route_of_the_template_has_an_event_file() {
    use lambda_harness::template::{Template, Values};
    let t = Template::load(&root().join("template.yaml"), &Default::default()).expect("template");
    let files: BTreeSet<String> = every_event_file()
        .iter()
        .map(|f| event(f))
        .filter_map(|e| e["routeKey"].as_str().map(str::to_owned))
        .collect();
    for r in t.routes(&Values::default()).expect("routes") {
        assert!(
            files.contains(&r.key()),
            "no events/ file for route {} ({})",
            r.key(),
            r.function
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn event_files_are_answered_by_the_deployed_functions() {
    let bins = bin_dir();
    assert!(
        bins.join("sales-api/bootstrap").is_file(),
        "no bootstraps in {}: ./scripts/lambda-build.sh",
        bins.display()
    );
    let moto = Moto::start(&root().join(".venv"), None).expect("moto");
    let dir = std::env::temp_dir().join(format!("harness-events-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let opts = Options::new(
        root().join("template.yaml"),
        bins,
        dir.clone(),
        moto.endpoint.clone(),
    );
    let h = Harness::start(opts).await.expect("harness");
    let mut tested = BTreeSet::new();
    let mut ev = |p: &str| {
        tested.insert(p.to_owned());
        event(p)
    };

    // migrate: the custom resource lifecycle, answered at the (local) response URL.
    for rt in ["create", "update", "delete"] {
        let mut e = ev(&format!("migrate/{rt}.json"));
        let rid = e["RequestId"].as_str().expect("RequestId").to_owned();
        e["ResponseURL"] = json!(format!("{}/cfn-response/{rid}", h.cfn.base));
        invoke(&h, "MigrateFunction", &e).await;
        let answer = h
            .cfn
            .wait(&rid, Duration::from_secs(60))
            .await
            .expect("an answer");
        assert_eq!(answer["Status"], "SUCCESS", "migrate {rt}: {answer}");
    }

    // sales-api: every route (the admin token is the deployment's own).
    let sm = aws_sdk_secretsmanager::Client::new(&h.sdk);
    let token = sm
        .get_secret_value()
        .secret_id(&h.values.refs["AdminTokenSecret"])
        .send()
        .await
        .expect("admin secret")
        .secret_string()
        .unwrap_or_default()
        .to_owned();
    let mut put = ev("sales-api/put-admin-inventory.json");
    put["headers"]["authorization"] = json!(format!("Bearer {token}"));
    for (file, want) in [
        ("sales-api/put-admin-inventory.json", 201),
        ("sales-api/post-sales.json", 201),
        ("sales-api/get-inventory.json", 200),
        ("sales-api/get-product.json", 200),
        ("sales-api/get-factory-order.json", 404),
        ("sales-api/get-sale.json", 404),
        ("sales-api/post-events.json", 202),
        ("sales-api/get-health.json", 200),
        ("sales-api/unmatched.json", 404),
    ] {
        let e = if file.ends_with("put-admin-inventory.json") {
            put.clone()
        } else {
            ev(file)
        };
        let a = invoke(&h, "SalesApiFunction", &e).await;
        assert_eq!(status(&a), want, "{file}: {a}");
    }
    // As written (the local stack's dev token), the admin event is refused, not an error.
    let a = invoke(
        &h,
        "SalesApiFunction",
        &ev("sales-api/put-admin-inventory.json"),
    )
    .await;
    assert_eq!(status(&a), 403, "{a}");

    // restock: a callback whose token is not valid for the order.
    let a = invoke(&h, "RestockFunction", &ev("restock/callback.json")).await;
    assert_eq!(status(&a), 403, "{a}");

    // factory-orderer: the poison record is reported, the batch is answered.
    let a = invoke(
        &h,
        "FactoryOrdererFunction",
        &ev("factory-orderer/stock-out-batch.json"),
    )
    .await;
    let failed: Vec<&str> = a["batchItemFailures"]
        .as_array()
        .expect("batchItemFailures")
        .iter()
        .filter_map(|f| f["itemIdentifier"].as_str())
        .collect();
    assert!(
        failed.contains(&"7b8f0f4c-1d7e-4f6a-9d52-3c0b8e1a2f90"),
        "the poison record is a batch item failure: {a}"
    );

    // Schedules, capture, exports.
    invoke(
        &h,
        "OutboxRelayFunction",
        &ev("outbox-relay/scheduled.json"),
    )
    .await;
    invoke(&h, "ExporterFunction", &ev("exporter/scheduled.json")).await;
    invoke(&h, "ExporterFunction", &ev("exporter/on-demand.json")).await;
    invoke(
        &h,
        "ApiCaptureFunction",
        &ev("api-capture/capture-batch.json"),
    )
    .await;

    // factory-sim: its Function URL request and its completions queue.
    // Its callbacks may only go to the stack's API (CALLBACK_BASE_URL): point them there.
    let callback = |e: &mut Value, key: &str| {
        let mut body: Value =
            serde_json::from_str(e[key].as_str().unwrap_or("{}")).expect("JSON body");
        let url = body["CallbackUrl"]
            .as_str()
            .or(body["callback_url"].as_str())
            .unwrap_or_default()
            .replace("http://127.0.0.1:3000", &h.api_url);
        if body.get("CallbackUrl").is_some() {
            body["CallbackUrl"] = json!(url);
        } else {
            body["callback_url"] = json!(url);
        }
        e[key] = json!(body.to_string());
    };
    let mut manufacture = ev("factory-sim/manufacture.json");
    callback(&mut manufacture, "body");
    let a = invoke(&h, "FactorySimFunction", &manufacture).await;
    assert!(
        status(&a) == 202 || status(&a) == 200,
        "factory-sim accepted the order: {a}"
    );
    let mut completions = ev("factory-sim/completions.json");
    callback(&mut completions["Records"][0], "body");
    let a = invoke(&h, "FactorySimFunction", &completions).await;
    assert!(a.get("batchItemFailures").is_some(), "{a}");

    let all: BTreeSet<String> = every_event_file().into_iter().collect();
    let untested: Vec<_> = all.difference(&tested).collect();
    assert!(
        untested.is_empty(),
        "event files no test feeds: {untested:?}"
    );
    h.stop();
    let _ = std::fs::remove_dir_all(dir);
}
