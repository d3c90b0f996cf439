//! Hostile paths and methods: SQL injection and traversal as SKUs and ids, raw traversal and odd
//! paths, wrong methods.

use crate::ADMIN;
use crate::corpus::{Corpus, Want};
use crate::request::{JSON, enc, request, sale};
use serde_json::json;

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

/// SQL injection and path traversal as SKUs: in the body and in the path.
pub fn evil_skus(corpus: &mut Corpus) {
    for s in EVIL_SKUS {
        corpus.add(
            "evil SKU (body)",
            format!("POST /sales sku {s:?}"),
            sale(json!({"sku": s, "quantity": 1}).to_string().as_bytes()),
            Want::Code(400, "invalid_sku"),
        );
        corpus.add(
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
        corpus.add(
            "evil SKU (path)",
            format!("GET /inventory/{e}"),
            request("GET", format!("/inventory/{e}").as_bytes(), &[], b""),
            Want::Code(400, "invalid_sku"),
        );
        corpus.add(
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
        corpus.add(
            "evil id (path)",
            format!("GET /factory-orders/{e}"),
            request("GET", format!("/factory-orders/{e}").as_bytes(), &[], b""),
            Want::Code(400, "invalid_id"),
        );
        corpus.add(
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
}

/// Raw (unencoded) traversal and odd paths.
pub fn odd_paths(corpus: &mut Corpus) {
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
        corpus.add(
            "odd path",
            format!("GET {p}"),
            request("GET", p.as_bytes(), &[], b""),
            Want::Any4xx,
        );
    }
    corpus.add(
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
    corpus.add(
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
    corpus.add(
        "odd path",
        "150 headers (over the parser's 100)".into(),
        request("GET", b"/inventory", &many, b""),
        Want::ParserReject,
    );
    corpus.add(
        "odd path",
        "garbage request line".into(),
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http\r\n\r\n".to_vec(),
        Want::ParserReject,
    );
}

/// Wrong methods.
pub fn methods(corpus: &mut Corpus) {
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
        corpus.add(
            "method",
            format!("{m} {p}"),
            request(m, p.as_bytes(), &[JSON], b"{}"),
            Want::Code(405, "method_not_allowed"),
        );
    }
}
