//! The HTTP API's parser: generated `lambda_http` requests through `inventory::api::handle`.

use super::{ADMIN, arb_json, env, run};
use inventory::api::handle;
use lambda_http::Body;
use lambda_http::http::{self, HeaderValue, Method};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU64, Ordering};

/// A request before it is built.
#[derive(Debug, Clone)]
struct Spec {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Option<Vec<u8>>,
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn build(spec: &Spec) -> Option<lambda_http::Request> {
    let mut b = http::Request::builder()
        .method(Method::from_bytes(spec.method.as_bytes()).ok()?)
        .uri(format!("{}{}", spec.path, spec.query));
    for (k, v) in &spec.headers {
        // Bytes no HTTP parser lets through (CR, LF, NUL, other controls) are replaced: the
        // handler can only ever see valid header values.
        let v: Vec<u8> = v
            .iter()
            .map(|&c| {
                if (c < 0x20 && c != b'\t') || c == 0x7f {
                    b'?'
                } else {
                    c
                }
            })
            .collect();
        b = b.header(k.as_str(), HeaderValue::from_bytes(&v).ok()?);
    }
    let body = match &spec.body {
        None => Body::Empty,
        Some(bytes) => match String::from_utf8(bytes.clone()) {
            Ok(s) => Body::Text(s),
            Err(e) => Body::Binary(e.into_bytes()),
        },
    };
    b.body(body).ok()
}

fn arb_body() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![
        Just(None),
        prop::collection::vec(any::<u8>(), 0..300).prop_map(Some),
        ".{0,200}".prop_map(|s: String| Some(s.into_bytes())),
        arb_json().prop_map(|v| Some(v.to_string().into_bytes())),
        (
            arb_json(),
            arb_json(),
            prop::option::of(arb_json()),
            any::<bool>()
        )
            .prop_map(|(sku, q, extra, dup)| {
                let mut s = format!("{{\"sku\":{sku},\"quantity\":{q}");
                if let Some(e) = extra {
                    s.push_str(&format!(",\"extra\":{e}"));
                }
                if dup {
                    s.push_str(",\"sku\":\"glazed\"");
                }
                s.push('}');
                Some(s.into_bytes())
            }),
        (0usize..40_000).prop_map(|n| Some(vec![b'{'; n])),
    ]
}

fn arb_spec() -> impl Strategy<Value = Spec> {
    let other_method = prop_oneof![
        Just("GET".to_owned()),
        Just("POST".to_owned()),
        Just("PUT".to_owned()),
        Just("DELETE".to_owned()),
        Just("PATCH".to_owned()),
        Just("HEAD".to_owned()),
        Just("OPTIONS".to_owned()),
        "[A-Z]{1,10}",
    ];
    let param = prop_oneof![
        Just("glazed".to_owned()),
        Just("empty".to_owned()),
        Just("00000000-0000-4000-8000-000000000000".to_owned()),
        ".{0,70}",
    ];
    // Mostly the route's own method, so requests get past routing into the handlers.
    let route = prop_oneof![
        Just(("/sales", "POST")),
        Just(("/inventory", "GET")),
        Just(("/inventory/{}", "GET")),
        Just(("/factory-orders/{}", "GET")),
        Just(("/admin/inventory/{}", "PUT")),
        Just(("/factory/callbacks/{}", "POST")),
        Just(("/events", "POST")),
        Just(("/health", "GET")),
        Just(("/{}", "GET")),
        Just(("/{}/{}", "POST")),
        Just(("/inventory/{}/", "GET")),
    ];
    let method_path = (route, param, other_method, 0u8..5).prop_map(|((t, m), p, other, dice)| {
        let method = if dice == 0 { other } else { m.to_owned() };
        (method, t.replace("{}", &enc(&p)))
    });
    let query = prop_oneof![
        Just(String::new()),
        ".{0,40}".prop_map(|s| format!("?token={}", enc(&s))),
        ".{0,40}".prop_map(|s| format!("?correlation_id={}&token=x", enc(&s))),
    ];
    let content_type = prop_oneof![
        4 => Just(Some(b"application/json".to_vec())),
        1 => Just(Some(b"application/json; charset=utf-8".to_vec())),
        1 => Just(Some(b"application/problem+json".to_vec())),
        1 => Just(Some(b"text/plain".to_vec())),
        1 => Just(None),
        1 => prop::collection::vec(any::<u8>(), 0..30).prop_map(Some),
    ];
    let auth = prop_oneof![
        Just(None),
        Just(Some(format!("Bearer {ADMIN}").into_bytes())),
        Just(Some(b"Bearer wrong".to_vec())),
        prop::collection::vec(any::<u8>(), 0..40).prop_map(Some),
    ];
    let extra = prop::collection::vec(
        (
            prop_oneof![
                Just("idempotency-key".to_owned()),
                Just("x-correlation-id".to_owned()),
                Just("x-request-id".to_owned()),
                Just("user-agent".to_owned()),
                "x-[a-z]{1,10}",
            ],
            prop::collection::vec(any::<u8>(), 0..200),
        ),
        0..4,
    );
    (method_path, query, content_type, auth, extra, arb_body()).prop_map(
        |((method, path), query, ct, auth, extra, body)| {
            let mut headers = extra;
            if let Some(ct) = ct {
                headers.push(("content-type".into(), ct));
            }
            if let Some(a) = auth {
                headers.push(("authorization".into(), a));
            }
            Spec {
                method,
                path,
                query,
                headers,
                body,
            }
        },
    )
}

/// Checks one response against the universal rules; returns (status, error code).
fn check_response(
    res: &lambda_http::Response<Body>,
    head: bool,
) -> Result<(u16, String), TestCaseError> {
    let status = res.status().as_u16();
    prop_assert!(status < 500, "5xx: {status} {:?}", res.body());
    prop_assert!(res.headers().contains_key("x-correlation-id"));
    let text = match res.body() {
        Body::Text(t) => t.clone(),
        Body::Binary(b) => String::from_utf8_lossy(b).into_owned(),
        _ => String::new(),
    };
    if head {
        // HTTP: the answer to HEAD carries no content (the router drops it), only the status
        // and headers of the GET it mirrors.
        prop_assert!(text.is_empty(), "HEAD answered with content: {text:?}");
        return Ok((status, "(HEAD)".to_owned()));
    }
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| TestCaseError::fail(format!("body is not JSON ({e}): {text:?}")))?;
    let mut code = String::new();
    if status >= 400 {
        prop_assert!(v["error"].is_string() && v["message"].is_string(), "{v}");
        code = v["error"].as_str().unwrap_or_default().to_owned();
    }
    Ok((status, code))
}

#[test]
fn any_request_gets_a_json_answer_and_never_a_5xx() {
    run(
        "any_request_gets_a_json_answer_and_never_a_5xx",
        "Generated requests: any method, route-like paths with arbitrary percent-encoded params, arbitrary headers (content type, auth, idempotency key, correlation id), arbitrary/JSON/near-JSON/huge bodies",
        600,
        |runner| {
            let e = env();
            let n = AtomicU64::new(0);
            let statuses = std::sync::Mutex::new(std::collections::BTreeMap::<String, u64>::new());
            let result = runner.run(&arb_spec(), |spec| {
                let Some(req) = build(&spec) else {
                    return Err(TestCaseError::fail(format!("unbuildable request {spec:?}")));
                };
                n.fetch_add(1, Ordering::Relaxed);
                let res = e.rt.block_on(handle(&e.api, req));
                let (status, code) = check_response(&res, spec.method == "HEAD")?;
                *statuses
                    .lock()
                    .unwrap()
                    .entry(format!("{status} {code}").trim().to_owned())
                    .or_default() += 1;
                Ok(())
            });
            if let Err(err) = result {
                panic!("{err}");
            }
            let s = statuses.lock().unwrap();
            (
                n.load(Ordering::Relaxed),
                s.iter()
                    .map(|(k, v)| format!("{v} x {k}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            )
        },
    );
}

/// The documented SKU rule, written independently of `Sku::parse`.
fn documented_sku(s: &str) -> bool {
    let b = s.as_bytes();
    (1..=64).contains(&b.len())
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
}

fn sale(sku: &Value, quantity: &Value, key: Option<&str>) -> lambda_http::Request {
    let mut b = http::Request::builder()
        .method("POST")
        .uri("/sales")
        .header("content-type", "application/json");
    if let Some(k) = key {
        b = b.header("idempotency-key", k);
    }
    b.body(Body::Text(
        json!({"sku": sku, "quantity": quantity}).to_string(),
    ))
    .unwrap()
}

#[test]
fn sale_parsing_follows_the_documented_rules() {
    run(
        "sale_parsing_follows_the_documented_rules",
        "Generated sales: arbitrary SKU strings and integer quantities",
        600,
        |runner| {
            let e = env();
            let n = AtomicU64::new(0);
            let sku = prop_oneof![
                Just("glazed".to_owned()),
                Just("empty".to_owned()),
                "[A-Za-z0-9][A-Za-z0-9._-]{0,70}",
                ".{0,70}",
            ];
            let qty = prop_oneof![1i64..=100, -5i64..=200, any::<i64>()];
            let result = runner.run(&(sku, qty), |(sku, q)| {
                n.fetch_add(1, Ordering::Relaxed);
                let before = e.rt.block_on(e.api.api().store.ledger()).unwrap();
                let res =
                    e.rt.block_on(handle(&e.api, sale(&json!(sku), &json!(q), None)));
                let (status, code) = check_response(&res, false)?;
                let want = if !documented_sku(&sku) {
                    (400, "invalid_sku")
                } else if !(1..=100).contains(&q) {
                    (400, "invalid_quantity")
                } else if sku == "glazed" {
                    (201, "")
                } else if sku == "empty" {
                    (409, "out_of_stock")
                } else {
                    (404, "unknown_sku")
                };
                prop_assert_eq!((status, code.as_str()), want, "sku {:?} q {}", sku, q);
                let after = e.rt.block_on(e.api.api().store.ledger()).unwrap();
                let sold =
                    |l: &Vec<inventory::store::Ledger>| l.iter().map(|x| x.sold).sum::<i64>();
                let delta = if status == 201 { q } else { 0 };
                prop_assert_eq!(sold(&after) - sold(&before), delta, "only a 201 sells");
                Ok(())
            });
            if let Err(err) = result {
                panic!("{err}");
            }
            (
                n.load(Ordering::Relaxed),
                "status and code exactly as docs/api.md says for every SKU/quantity; only 201s change the ledger".into(),
            )
        },
    );
}

#[test]
fn admin_stock_bounds_follow_the_documented_rules() {
    run(
        "admin_stock_bounds_follow_the_documented_rules",
        "Generated admin PUTs: arbitrary stock / reorder_point / reorder_quantity integers",
        300,
        |runner| {
            let e = env();
            let n = AtomicU64::new(0);
            let int = prop_oneof![
                -2i64..=2,
                999_999_998i64..=1_000_000_002,
                999_998i64..=1_000_002,
                any::<i64>()
            ];
            let result = runner.run(
                &(
                    int.clone(),
                    prop::option::of(int.clone()),
                    prop::option::of(int),
                ),
                |(stock, rp, rq)| {
                    n.fetch_add(1, Ordering::Relaxed);
                    let mut body = json!({"stock": stock});
                    if let Some(v) = rp {
                        body["reorder_point"] = json!(v);
                    }
                    if let Some(v) = rq {
                        body["reorder_quantity"] = json!(v);
                    }
                    let req = http::Request::builder()
                        .method("PUT")
                        .uri("/admin/inventory/prop-sku")
                        .header("content-type", "application/json")
                        .header("authorization", format!("Bearer {ADMIN}"))
                        .body(Body::Text(body.to_string()))
                        .unwrap();
                    let res = e.rt.block_on(handle(&e.api, req));
                    let (status, code) = check_response(&res, false)?;
                    let ok = (0..=1_000_000_000).contains(&stock)
                        && rp.is_none_or(|v| (0..=1_000_000_000).contains(&v))
                        && rq.is_none_or(|v| (1..=1_000_000).contains(&v));
                    if ok {
                        prop_assert!(status == 200 || status == 201, "{status} {code} {body}");
                    } else {
                        prop_assert_eq!(
                            (status, code.as_str()),
                            (400, "invalid_request"),
                            "{}",
                            body
                        );
                    }
                    Ok(())
                },
            );
            if let Err(err) = result {
                panic!("{err}");
            }
            (
                n.load(Ordering::Relaxed),
                "2xx exactly when stock/reorder values are within the documented bounds, else 400 invalid_request".into(),
            )
        },
    );
}
