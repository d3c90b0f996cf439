//! Hostile headers: wrong content types, huge and odd headers.

use crate::ADMIN;
use crate::corpus::{Corpus, Want};
use crate::request::{JSON, request};

/// A valid sale body (the requests are refused for their headers).
const GOOD: &[u8] = br#"{"sku":"glazed","quantity":1}"#;

/// Content types.
pub fn content_types(corpus: &mut Corpus) {
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
        corpus.add(
            "content type",
            format!(
                "POST /sales content-type {:?}",
                ct.map(String::from_utf8_lossy)
            ),
            request("POST", b"/sales", &h, GOOD),
            Want::Code(415, "unsupported_media_type"),
        );
    }
    corpus.add(
        "content type",
        "POST /sales text/plain then application/json".into(),
        request(
            "POST",
            b"/sales",
            &[("content-type", b"text/plain"), JSON],
            GOOD,
        ),
        Want::Code(415, "unsupported_media_type"),
    );
    corpus.add(
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
}

/// Huge and odd headers (on requests that are otherwise invalid, so nothing is sold).
pub fn headers(corpus: &mut Corpus) {
    let bad = b"{\"sku\":\"glazed\",\"quantity\":0}";
    let big = |n: usize| vec![b'x'; n];
    let (k8, k60, k10) = (big(8 * 1024), big(60 * 1024), big(10 * 1024));
    corpus.add(
        "headers",
        "8 KiB X-Correlation-Id".into(),
        request("POST", b"/sales", &[JSON, ("x-correlation-id", &k8)], bad),
        Want::Code(400, "invalid_quantity"),
    );
    corpus.add(
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
    corpus.add(
        "headers",
        "50 headers of 1 KiB".into(),
        request("POST", b"/sales", &h, bad),
        Want::Code(400, "invalid_quantity"),
    );
    corpus.add(
        "headers",
        "10 KiB Idempotency-Key".into(),
        request("POST", b"/sales", &[JSON, ("idempotency-key", &k10)], GOOD),
        Want::Code(400, "invalid_request"),
    );
    for (name, v) in [
        ("non-ASCII Idempotency-Key", &b"cl\xe9"[..]),
        ("Idempotency-Key with a space", &b"a b"[..]),
        ("Idempotency-Key with a tab", &b"a\tb"[..]),
    ] {
        corpus.add(
            "headers",
            name.into(),
            request("POST", b"/sales", &[JSON, ("idempotency-key", v)], GOOD),
            Want::Code(400, "invalid_request"),
        );
    }
    corpus.add(
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
    corpus.add(
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
}
