//! Hostile HTTP input against the running local stack, sent byte for byte over raw TCP (a
//! normal client would refuse or normalise much of it): every request of the corpus must be
//! answered with a 4xx and the JSON error body `{"error", "message"}` — never a 5xx, a hang or
//! a dropped connection — and must change nothing.
//!
//! The cases run here; the corpus is split by concern (one test binary, linked once):
//! - `corpus`: what a case is, the order the groups are sent in, the judge of an answer;
//! - `bodies`: malformed JSON, wrong shapes, quantities, sizes, invalid UTF-8, client events;
//! - `paths`: SQL injection and traversal SKUs and ids, odd paths, wrong methods;
//! - `headers`: content types, huge and odd headers;
//! - `request`: the raw request bytes.

mod bodies;
mod corpus;
mod headers;
mod paths;
mod request;

use corpus::{corpus, judge};
use pipeline_tests::faults::{Record, check_invariants, raw_http};
use pipeline_tests::{Db, TestApp};
use request::{JSON, request};
use serde_json::json;

const SUITE: &str = "hostile";
const ADMIN: &str = "test-admin-token";

async fn hostile_corpus(db: Db) {
    let mut rec = Record::new(
        SUITE,
        "hostile_http_corpus",
        "Hostile HTTP corpus over raw TCP: malformed JSON, wrong types, missing/unknown/duplicate fields, zero/negative/huge quantities, 1-3 MiB bodies, invalid UTF-8, SQL injection and traversal SKUs in body and path, odd percent-encoding, wrong methods, wrong content types, huge headers",
    )
    .db(db);
    let s = TestApp::spawn(db).await;
    let c = &s.client;
    let r = c
        .put_product("glazed", json!({"stock": 50, "reorder_point": 5}))
        .await;
    assert_eq!(r.status, 201);
    let cases = corpus();
    let mut failures = Vec::new();
    let mut tally = std::collections::BTreeMap::<String, usize>::new();
    let mut groups = std::collections::BTreeMap::<&str, usize>::new();
    for case in &cases {
        let reply = raw_http(s.stack.addr, &case.raw).await;
        *groups.entry(case.group).or_default() += 1;
        match judge(case, &reply) {
            Ok(seen) => *tally.entry(seen).or_default() += 1,
            Err(why) => failures.push(format!("[{}] {}: {why}", case.group, case.name)),
        }
    }
    // The correlation id is adopted only when well formed.
    let r = raw_http(
        s.stack.addr,
        &request(
            "POST",
            b"/sales",
            &[JSON, ("x-correlation-id", &vec![b'x'; 8192])],
            b"{}",
        ),
    )
    .await
    .unwrap();
    let echoed = r.header("x-correlation-id").unwrap_or_default().len();
    assert!((1..=128).contains(&echoed), "echoed id of {echoed} chars");
    // HEAD gets no body; only the status is checked.
    let head = raw_http(s.stack.addr, &request("HEAD", b"/sales", &[], b""))
        .await
        .expect("answer to HEAD");
    assert_eq!(head.status, 405);
    rec.saw(format!(
        "{} requests in {} groups ({}); answers: {}",
        cases.len(),
        groups.len(),
        groups
            .iter()
            .map(|(g, n)| format!("{g} {n}"))
            .collect::<Vec<_>>()
            .join(", "),
        tally
            .iter()
            .map(|(k, n)| format!("{n} x {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    assert!(
        failures.is_empty(),
        "{} of {} hostile requests were not answered 4xx + JSON error body:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    assert_eq!(c.get("/health").await.status, 200, "still serving");
    let inv = c.get("/inventory").await.body;
    assert_eq!(inv["products"].as_array().unwrap().len(), 1, "{inv}");
    assert_eq!(inv["products"][0]["stock"], 50);
    assert_eq!((s.shared().capture_failures)(), 0);
    rec.saw("no 5xx, no dropped connection, an 8 KiB correlation id was replaced; still serving, nothing written");
    rec.held(
        check_invariants(
            s.store(),
            None,
            &pipeline_tests::faults::Expect {
                initial: &[("glazed", 50)],
                accepted: Some(&[]),
                orders: &[("glazed", 0)],
                ..Default::default()
            },
        )
        .await,
    );
    s.stop().await;
}

mod hostile_http_corpus {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::hostile_corpus(pipeline_tests::Db::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn mysql() {
        super::hostile_corpus(pipeline_tests::Db::MySql).await
    }
}

/// docs/api.md: "Not JSON, or empty: 400 invalid_json". A body that is not UTF-8 is not JSON.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_body_is_invalid_json() {
    let mut rec = Record::new(
        SUITE,
        "invalid_utf8_body_is_invalid_json",
        "JSON bodies whose strings hold invalid UTF-8 (0xff, overlong, surrogate, truncated)",
    )
    .on("sqlite");
    let s = TestApp::spawn(Db::Sqlite).await;
    let mut seen = Vec::new();
    for b in [
        &b"{\"sku\":\"gl\xffazed\",\"quantity\":1}"[..],
        &b"{\"sku\":\"\xc0\xaf\",\"quantity\":1}"[..],
        &b"{\"sku\":\"\xed\xa0\x80\",\"quantity\":1}"[..],
        &b"{\"sku\":\"\xe2\x82\",\"quantity\":1}"[..],
    ] {
        let r = raw_http(s.stack.addr, &request("POST", b"/sales", &[JSON], b))
            .await
            .expect("answer");
        let body = r.json().expect("JSON error body");
        seen.push(format!(
            "{} {}",
            r.status,
            body["error"].as_str().unwrap_or("?")
        ));
    }
    rec.saw(format!("answers: {}", seen.join(", ")));
    assert!(
        seen.iter().all(|s| s == "400 invalid_json"),
        "documented 400 invalid_json: {seen:?}"
    );
    s.stop().await;
}
