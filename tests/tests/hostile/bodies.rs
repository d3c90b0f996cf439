//! Hostile bodies: malformed JSON, JSON of the wrong shape, bad quantities, oversized and
//! non-UTF-8 bodies, bad client events.

use crate::ADMIN;
use crate::corpus::{Corpus, Want};
use crate::request::{JSON, request, sale};
use serde_json::json;

/// Malformed JSON, JSON that is not an object, wrong types, missing, unknown and duplicate
/// fields.
pub fn json(corpus: &mut Corpus) {
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
        corpus.add(
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
    corpus.add(
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
    corpus.add(
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
        corpus.add(
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
        corpus.add(
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
        corpus.add(
            "duplicate keys",
            format!("POST /sales {b}"),
            sale(b.as_bytes()),
            Want::Code(400, "invalid_request"),
        );
    }
}

/// Quantities that are not 1..=100 integers.
pub fn quantities(corpus: &mut Corpus) {
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
        corpus.add(
            "quantity",
            format!("POST /sales quantity {q}"),
            sale(format!("{{\"sku\":\"glazed\",\"quantity\":{q}}}").as_bytes()),
            Want::Code(400, "invalid_quantity"),
        );
    }
}

/// Big bodies.
pub fn sizes(corpus: &mut Corpus) {
    let mib = vec![b'a'; 1 << 20];
    let mib_json = format!("{{\"sku\":\"{}\",\"quantity\":1}}", "a".repeat(1 << 20));
    corpus.add(
        "size",
        "POST /sales 1 MiB JSON".into(),
        sale(mib_json.as_bytes()),
        Want::Code(413, "payload_too_large"),
    );
    corpus.add(
        "size",
        "POST /sales 1 MiB of 'a'".into(),
        sale(&mib),
        Want::Code(413, "payload_too_large"),
    );
    corpus.add(
        "size",
        "POST /sales 16 KiB + 1 byte".into(),
        sale(&vec![b' '; 16 * 1024 + 1]),
        Want::Code(413, "payload_too_large"),
    );
    corpus.add(
        "size",
        "POST /sales 3 MiB (over the gateway limit)".into(),
        sale(&vec![b'a'; 3 << 20]),
        Want::Code(413, "payload_too_large"),
    );
    corpus.add(
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
    corpus.add(
        "size",
        "POST /events 1 MiB".into(),
        request("POST", b"/events", &[JSON], &mib),
        Want::Code(413, "payload_too_large"),
    );
    corpus.add(
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
    corpus.add(
        "size",
        "GET /inventory with a 1 MiB body".into(),
        request("GET", b"/inventory/%20", &[JSON], &mib),
        Want::Any4xx,
    );
}

/// Invalid UTF-8 bodies: not JSON.
pub fn invalid_utf8(corpus: &mut Corpus) {
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
        corpus.add(
            "invalid UTF-8",
            format!("POST /sales {name}"),
            sale(b),
            Want::Code(400, "invalid_json"),
        );
    }
}

/// Client events.
pub fn client_events(corpus: &mut Corpus) {
    for b in [
        json!({"type": "Page View"}),
        json!({"type": ""}),
        json!({"type": "x".repeat(65)}),
        json!({"type": "pageé"}),
        json!({"type": 1}),
        json!({"type": "x", "properties": []}),
        json!({"type": "x", "extra": 1}),
    ] {
        corpus.add(
            "client events",
            format!("POST /events {b}"),
            request("POST", b"/events", &[JSON], b.to_string().as_bytes()),
            Want::Code(400, "invalid_request"),
        );
    }
    corpus.add(
        "client events",
        "POST /events 4 KiB + 1".into(),
        request("POST", b"/events", &[JSON], &vec![b' '; 4097]),
        Want::Code(413, "payload_too_large"),
    );
}
