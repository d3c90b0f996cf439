//! Hostile HTTP input against the running local stack, sent byte for byte over raw TCP (a
//! normal client would refuse or normalise much of it): every request of the corpus must be
//! answered with a 4xx and the JSON error body `{"error", "message"}` — never a 5xx, a hang or
//! a dropped connection — and must change nothing.

use pipeline_tests::faults::{RawReply, Record, check_invariants, raw_http};
use pipeline_tests::{Db, TestApp};
use serde_json::json;

const SUITE: &str = "hostile";
const ADMIN: &str = "test-admin-token";

#[derive(Debug, Clone, Copy)]
enum Want {
    /// This status and error code.
    Code(u16, &'static str),
    /// Any 4xx with the JSON error body.
    Any4xx,
    /// Rejected by the HTTP parser (hyper) before any handler: a 4xx, body not ours. On AWS,
    /// API Gateway answers these itself.
    ParserReject,
}

struct Case {
    group: &'static str,
    name: String,
    raw: Vec<u8>,
    want: Want,
}

fn request(method: &str, target: &[u8], headers: &[(&str, &[u8])], body: &[u8]) -> Vec<u8> {
    let mut r = Vec::new();
    r.extend_from_slice(method.as_bytes());
    r.push(b' ');
    r.extend_from_slice(target);
    r.extend_from_slice(b" HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n");
    let chunked = headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("transfer-encoding"));
    if !chunked {
        r.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    }
    for (k, v) in headers {
        r.extend_from_slice(k.as_bytes());
        r.extend_from_slice(b": ");
        r.extend_from_slice(v);
        r.extend_from_slice(b"\r\n");
    }
    r.extend_from_slice(b"\r\n");
    r.extend_from_slice(body);
    r
}

const JSON: (&str, &[u8]) = ("content-type", b"application/json");

/// Percent-encodes everything but unreserved characters, so the string is one path segment.
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

const EVIL_SKUS: &[&str] = &[
    "' OR '1'='1",
    "glazed'; DROP TABLE products; --",
    "glazed\" OR 1=1 --",
    "1; SELECT SLEEP(5)",
    "glazed' UNION SELECT * FROM sales --",
    "%",
    "_",
    "glazed%",
    "../../etc/passwd",
    "..\\..\\windows\\win.ini",
    "/etc/passwd",
    "..",
    ".hidden",
    "glazed\0",
    "glazed\r\nx-injected: 1",
    "<script>alert(1)</script>",
    "${jndi:ldap://127.0.0.1/a}",
    "glazéd",
    "🍩",
    " glazed",
    "glazed ",
    "",
    "-glazed",
];

fn corpus() -> Vec<Case> {
    let mut cases = Vec::new();
    let mut add = |group: &'static str, name: String, raw: Vec<u8>, want: Want| {
        cases.push(Case {
            group,
            name,
            raw,
            want,
        })
    };
    let sale = |body: &[u8]| request("POST", b"/sales", &[JSON], body);

    // Malformed JSON.
    for b in [
        "",
        " ",
        "{",
        "}",
        "{\"sku\":",
        "{\"sku\":\"glazed\",\"quantity\":1}}",
        "{'sku':'glazed','quantity':1}",
        "{\"sku\":\"glazed\",\"quantity\":1,}",
        "{sku:\"glazed\",quantity:1}",
        "\u{feff}{\"sku\":\"glazed\",\"quantity\":1}",
        "{\"sku\":\"glazed\",\"quantity\":NaN}",
        "{\"sku\":\"glazed\",\"quantity\":Infinity}",
        "{\"sku\":\"glazed\",\"quantity\":0x10}",
        "{\"sku\":\"glazed\",\"quantity\":01}",
        "{\"sku\":\"glazed\",\"quantity\":1e400}",
        "{\"sku\":\"gl\\xazed\",\"quantity\":1}",
        "{\"sku\":\"\\ud800\",\"quantity\":1}",
        "nul",
        "sku=glazed&quantity=1",
        "{\"sku\":\"glazed\",\"quantity\":1} trailing",
    ] {
        add(
            "malformed JSON",
            format!("POST /sales {b:?}"),
            sale(b.as_bytes()),
            if b.contains("1e400") || b.contains("ud800") {
                Want::Any4xx
            } else {
                Want::Code(400, "invalid_json")
            },
        );
    }
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    add(
        "malformed JSON",
        "POST /sales 100 000 nested arrays".into(),
        sale(deep.as_bytes()),
        Want::Any4xx,
    );
    let deep_obj = format!(
        "{{\"sku\":\"glazed\",\"quantity\":{}1{}}}",
        "{\"a\":".repeat(2000),
        "}".repeat(2000)
    );
    add(
        "malformed JSON",
        "POST /sales 2000 nested objects".into(),
        sale(deep_obj.as_bytes()),
        Want::Any4xx,
    );
    // JSON, but not an object.
    for b in [
        "null",
        "true",
        "1",
        "\"glazed\"",
        "[]",
        "[\"glazed\", 1]",
        "[{\"sku\":\"glazed\",\"quantity\":1}]",
    ] {
        add(
            "not an object",
            format!("POST /sales {b}"),
            sale(b.as_bytes()),
            Want::Code(400, "invalid_request"),
        );
    }
    // Wrong types, missing and unknown fields, duplicate keys.
    for b in [
        json!({}),
        json!({"sku": "glazed"}),
        json!({"quantity": 1}),
        json!({"sku": 1, "quantity": 1}),
        json!({"sku": null, "quantity": 1}),
        json!({"sku": ["glazed"], "quantity": 1}),
        json!({"sku": {"$ne": ""}, "quantity": 1}),
        json!({"sku": true, "quantity": 1}),
        json!({"sku": "glazed", "quantity": 1, "price": 0}),
        json!({"sku": "glazed", "quantity": 1, "__proto__": {"admin": true}}),
        json!({"SKU": "glazed", "quantity": 1}),
    ] {
        add(
            "wrong shape",
            format!("POST /sales {b}"),
            sale(b.to_string().as_bytes()),
            Want::Code(400, "invalid_request"),
        );
    }
    for b in [
        "{\"sku\":\"glazed\",\"sku\":\"glazed\",\"quantity\":1}",
        "{\"sku\":\"glazed\",\"quantity\":1,\"quantity\":2}",
        "{\"sku\":\"glazed\",\"quantity\":1,\"quantity\":1}",
    ] {
        add(
            "duplicate keys",
            format!("POST /sales {b}"),
            sale(b.as_bytes()),
            Want::Code(400, "invalid_request"),
        );
    }
    // Quantities.
    for q in [
        "0",
        "-1",
        "-0",
        "101",
        "1000000",
        "9223372036854775807",
        "-9223372036854775808",
        "18446744073709551615",
        "99999999999999999999999",
        "1.5",
        "1.0",
        "1e2",
        "\"2\"",
        "null",
        "true",
        "[]",
        "{}",
    ] {
        add(
            "quantity",
            format!("POST /sales quantity {q}"),
            sale(format!("{{\"sku\":\"glazed\",\"quantity\":{q}}}").as_bytes()),
            Want::Code(400, "invalid_quantity"),
        );
    }
    // SQL injection and path traversal as SKUs: in the body and in the path.
    for s in EVIL_SKUS {
        add(
            "evil SKU (body)",
            format!("POST /sales sku {s:?}"),
            sale(json!({"sku": s, "quantity": 1}).to_string().as_bytes()),
            Want::Code(400, "invalid_sku"),
        );
        add(
            "evil SKU (body)",
            format!("POST /events sku {s:?}"),
            request(
                "POST",
                b"/events",
                &[JSON],
                json!({"type": "page_view", "sku": s})
                    .to_string()
                    .as_bytes(),
            ),
            Want::Code(400, "invalid_sku"),
        );
        if s.is_empty() {
            continue;
        }
        let e = enc(s);
        add(
            "evil SKU (path)",
            format!("GET /inventory/{e}"),
            request("GET", format!("/inventory/{e}").as_bytes(), &[], b""),
            Want::Code(400, "invalid_sku"),
        );
        add(
            "evil SKU (path)",
            format!("PUT /admin/inventory/{e} (valid token)"),
            request(
                "PUT",
                format!("/admin/inventory/{e}").as_bytes(),
                &[
                    JSON,
                    ("authorization", format!("Bearer {ADMIN}").as_bytes()),
                ],
                b"{\"stock\":1}",
            ),
            Want::Code(400, "invalid_sku"),
        );
        add(
            "evil id (path)",
            format!("GET /factory-orders/{e}"),
            request("GET", format!("/factory-orders/{e}").as_bytes(), &[], b""),
            Want::Code(400, "invalid_id"),
        );
        add(
            "evil id (path)",
            format!("POST /factory/callbacks/{e}?token=x"),
            request(
                "POST",
                format!("/factory/callbacks/{e}?token=x").as_bytes(),
                &[JSON],
                b"{}",
            ),
            Want::Code(403, "forbidden"),
        );
    }
    // Raw (unencoded) traversal and odd paths.
    for p in [
        "/inventory/../admin/inventory/glazed",
        "/inventory/../../../../etc/passwd",
        "/inventory/..%2f..%2fetc%2fpasswd",
        "/inventory/%2e%2e",
        "/inventory/.",
        "/inventory/glazed/../../sales",
        "/inventory//",
        "//inventory",
        "/inventory/glazed/extra",
        "/%69nventory/glazed",
        "/INVENTORY/glazed",
        "/inventory/%67lazed",
        "/inventory/glazed%00",
        "/inventory/glazed%0d%0ax-injected:%201",
        "/inventory/%",
        "/inventory/%zz",
        "/inventory/%ff%fe",
        "/inventory/%c0%af",
        "/inventory/glazed;jsessionid=1",
        "/factory-orders/00000000-0000-0000-0000-00000000000G",
        "/factory-orders/%30%30%30%30%30%30%30%30-0000-4000-8000-000000000000",
        "/nope",
        "/sales.json",
        "/admin",
        "/admin/inventory",
        "/ops/../admin/inventory/glazed",
    ] {
        add(
            "odd path",
            format!("GET {p}"),
            request("GET", p.as_bytes(), &[], b""),
            Want::Any4xx,
        );
    }
    add(
        "odd path",
        "GET /inventory/<4 KiB sku>".into(),
        request(
            "GET",
            format!("/inventory/{}", "a".repeat(4096)).as_bytes(),
            &[],
            b"",
        ),
        Want::Code(400, "invalid_sku"),
    );
    add(
        "odd path",
        "GET /inventory/gl<0xff>azed (raw invalid UTF-8)".into(),
        request("GET", b"/inventory/gl\xffazed", &[], b""),
        Want::ParserReject,
    );
    let many: Vec<(String, Vec<u8>)> = (0..150)
        .map(|i| (format!("x-h-{i}"), b"1".to_vec()))
        .collect();
    let many: Vec<(&str, &[u8])> = many
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_slice()))
        .collect();
    add(
        "odd path",
        "150 headers (over the parser's 100)".into(),
        request("GET", b"/inventory", &many, b""),
        Want::ParserReject,
    );
    add(
        "odd path",
        "garbage request line".into(),
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http\r\n\r\n".to_vec(),
        Want::ParserReject,
    );
    // Big bodies.
    let mib = vec![b'a'; 1 << 20];
    let mib_json = format!("{{\"sku\":\"{}\",\"quantity\":1}}", "a".repeat(1 << 20));
    add(
        "size",
        "POST /sales 1 MiB JSON".into(),
        sale(mib_json.as_bytes()),
        Want::Code(413, "payload_too_large"),
    );
    add(
        "size",
        "POST /sales 1 MiB of 'a'".into(),
        sale(&mib),
        Want::Code(413, "payload_too_large"),
    );
    add(
        "size",
        "POST /sales 16 KiB + 1 byte".into(),
        sale(&vec![b' '; 16 * 1024 + 1]),
        Want::Code(413, "payload_too_large"),
    );
    add(
        "size",
        "POST /sales 3 MiB (over the gateway limit)".into(),
        sale(&vec![b'a'; 3 << 20]),
        Want::Code(413, "payload_too_large"),
    );
    add(
        "size",
        "PUT /admin/inventory/glazed 1 MiB (valid token)".into(),
        request(
            "PUT",
            b"/admin/inventory/glazed",
            &[
                JSON,
                ("authorization", format!("Bearer {ADMIN}").as_bytes()),
            ],
            &mib,
        ),
        Want::Code(413, "payload_too_large"),
    );
    add(
        "size",
        "POST /events 1 MiB".into(),
        request("POST", b"/events", &[JSON], &mib),
        Want::Code(413, "payload_too_large"),
    );
    add(
        "size",
        "POST /sales chunked 40 KiB".into(),
        {
            let mut body = Vec::new();
            for _ in 0..10 {
                body.extend_from_slice(format!("1000\r\n{}\r\n", "b".repeat(4096)).as_bytes());
            }
            body.extend_from_slice(b"0\r\n\r\n");
            request(
                "POST",
                b"/sales",
                &[JSON, ("transfer-encoding", b"chunked")],
                &body,
            )
        },
        Want::Code(413, "payload_too_large"),
    );
    add(
        "size",
        "GET /inventory with a 1 MiB body".into(),
        request("GET", b"/inventory/%20", &[JSON], &mib),
        Want::Any4xx,
    );
    // Invalid UTF-8 bodies: not JSON.
    for (name, b) in [
        (
            "0xff in a string",
            &b"{\"sku\":\"gl\xffazed\",\"quantity\":1}"[..],
        ),
        (
            "overlong '/'",
            &b"{\"sku\":\"\xc0\xaf\",\"quantity\":1}"[..],
        ),
        (
            "surrogate bytes",
            &b"{\"sku\":\"\xed\xa0\x80\",\"quantity\":1}"[..],
        ),
        (
            "truncated sequence",
            &b"{\"sku\":\"\xe2\x82\",\"quantity\":1}"[..],
        ),
        (
            "UTF-16LE body",
            &b"{\x00\"\x00s\x00k\x00u\x00\"\x00}\x00"[..],
        ),
        ("binary", &[0u8, 1, 2, 3, 255, 254][..]),
    ] {
        add(
            "invalid UTF-8",
            format!("POST /sales {name}"),
            sale(b),
            Want::Code(400, "invalid_json"),
        );
    }
    // Wrong methods.
    for (m, p) in [
        ("GET", "/sales"),
        ("PUT", "/sales"),
        ("DELETE", "/sales"),
        ("PATCH", "/sales"),
        ("OPTIONS", "/sales"),
        ("BREW", "/sales"),
        ("POST", "/inventory"),
        ("DELETE", "/inventory/glazed"),
        ("POST", "/admin/inventory/glazed"),
        ("DELETE", "/admin/inventory/glazed"),
        (
            "GET",
            "/factory/callbacks/00000000-0000-4000-8000-000000000000",
        ),
        (
            "PUT",
            "/factory-orders/00000000-0000-4000-8000-000000000000",
        ),
        ("GET", "/events"),
        ("POST", "/health"),
        ("TRACE", "/health"),
    ] {
        add(
            "method",
            format!("{m} {p}"),
            request(m, p.as_bytes(), &[JSON], b"{}"),
            Want::Code(405, "method_not_allowed"),
        );
    }
    // Content types.
    let good = br#"{"sku":"glazed","quantity":1}"#;
    fn ct(v: &[u8]) -> Option<&[u8]> {
        Some(v)
    }
    for ct in [
        None,
        ct(b"text/plain"),
        ct(b"application/x-www-form-urlencoded"),
        ct(b"multipart/form-data; boundary=x"),
        ct(b"application/xml"),
        ct(b"application/jsonx"),
        ct(b"json"),
        ct(b"application"),
        ct(b""),
        ct(b";"),
        ct(b"text/json"),
        ct(b"application/\xffjson"),
    ] {
        let h: Vec<(&str, &[u8])> = ct.map(|c| ("content-type", c)).into_iter().collect();
        add(
            "content type",
            format!(
                "POST /sales content-type {:?}",
                ct.map(String::from_utf8_lossy)
            ),
            request("POST", b"/sales", &h, good),
            Want::Code(415, "unsupported_media_type"),
        );
    }
    add(
        "content type",
        "POST /sales text/plain then application/json".into(),
        request(
            "POST",
            b"/sales",
            &[("content-type", b"text/plain"), JSON],
            good,
        ),
        Want::Code(415, "unsupported_media_type"),
    );
    add(
        "content type",
        "PUT /admin/inventory/glazed text/plain (valid token)".into(),
        request(
            "PUT",
            b"/admin/inventory/glazed",
            &[
                ("content-type", b"text/plain"),
                ("authorization", format!("Bearer {ADMIN}").as_bytes()),
            ],
            b"{\"stock\":1}",
        ),
        Want::Code(415, "unsupported_media_type"),
    );
    // Huge and odd headers (on requests that are otherwise invalid, so nothing is sold).
    let bad = b"{\"sku\":\"glazed\",\"quantity\":0}";
    let big = |n: usize| vec![b'x'; n];
    let (k8, k60, k10) = (big(8 * 1024), big(60 * 1024), big(10 * 1024));
    add(
        "headers",
        "8 KiB X-Correlation-Id".into(),
        request("POST", b"/sales", &[JSON, ("x-correlation-id", &k8)], bad),
        Want::Code(400, "invalid_quantity"),
    );
    add(
        "headers",
        "60 KiB header".into(),
        request("POST", b"/sales", &[JSON, ("x-pad", &k60)], bad),
        Want::Code(400, "invalid_quantity"),
    );
    let pads: Vec<(String, Vec<u8>)> = (0..50).map(|i| (format!("x-pad-{i}"), big(1024))).collect();
    let mut h: Vec<(&str, &[u8])> = pads
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_slice()))
        .collect();
    h.push(JSON);
    add(
        "headers",
        "50 headers of 1 KiB".into(),
        request("POST", b"/sales", &h, bad),
        Want::Code(400, "invalid_quantity"),
    );
    add(
        "headers",
        "10 KiB Idempotency-Key".into(),
        request("POST", b"/sales", &[JSON, ("idempotency-key", &k10)], good),
        Want::Code(400, "invalid_request"),
    );
    for (name, v) in [
        ("non-ASCII Idempotency-Key", &b"cl\xe9"[..]),
        ("Idempotency-Key with a space", &b"a b"[..]),
        ("Idempotency-Key with a tab", &b"a\tb"[..]),
    ] {
        add(
            "headers",
            name.into(),
            request("POST", b"/sales", &[JSON, ("idempotency-key", v)], good),
            Want::Code(400, "invalid_request"),
        );
    }
    add(
        "headers",
        "non-ASCII X-Correlation-Id".into(),
        request(
            "POST",
            b"/sales",
            &[JSON, ("x-correlation-id", b"\xff\xfe<script>")],
            bad,
        ),
        Want::Code(400, "invalid_quantity"),
    );
    add(
        "headers",
        "64 KiB admin token".into(),
        request(
            "PUT",
            b"/admin/inventory/glazed",
            &[
                JSON,
                (
                    "authorization",
                    format!("Bearer {}", "t".repeat(64 * 1024)).as_bytes(),
                ),
            ],
            b"{\"stock\":1}",
        ),
        Want::Code(403, "forbidden"),
    );
    // Client events.
    for b in [
        json!({"type": "Page View"}),
        json!({"type": ""}),
        json!({"type": "x".repeat(65)}),
        json!({"type": "pageé"}),
        json!({"type": 1}),
        json!({"type": "x", "properties": []}),
        json!({"type": "x", "extra": 1}),
    ] {
        add(
            "client events",
            format!("POST /events {b}"),
            request("POST", b"/events", &[JSON], b.to_string().as_bytes()),
            Want::Code(400, "invalid_request"),
        );
    }
    add(
        "client events",
        "POST /events 4 KiB + 1".into(),
        request("POST", b"/events", &[JSON], &vec![b' '; 4097]),
        Want::Code(413, "payload_too_large"),
    );
    cases
}

fn judge(c: &Case, reply: &Option<RawReply>) -> Result<String, String> {
    let Some(r) = reply else {
        return Err("no answer (connection closed)".into());
    };
    if !(400..500).contains(&r.status) {
        return Err(format!(
            "status {} body {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        ));
    }
    if matches!(c.want, Want::ParserReject) {
        return Ok(format!("{} from the HTTP parser", r.status));
    }
    let Some(body) = r.json() else {
        return Err(format!(
            "status {} without a JSON body: {:?}",
            r.status,
            String::from_utf8_lossy(&r.body)
        ));
    };
    let (Some(code), Some(_)) = (body["error"].as_str(), body["message"].as_str()) else {
        return Err(format!(
            "status {} body lacks error/message: {body}",
            r.status
        ));
    };
    if let Want::Code(status, want) = c.want
        && (r.status, code) != (status, want)
    {
        return Err(format!(
            "expected {status} {want}, got {} {code}: {body}",
            r.status
        ));
    }
    Ok(format!("{} {code}", r.status))
}

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
