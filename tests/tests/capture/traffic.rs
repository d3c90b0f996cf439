//! The traffic the capture is checked on: one round of mixed requests over every route, and
//! the personal data some of them carry (which must never reach the lake).

use pipeline_tests::Client;
use serde_json::json;

/// Strings that must never reach the lake.
const PHONE: &str = "+1-555-867-5309";
const ADDRESS: &str = "221B Baker Street";
const CLIENT_IP: &str = "203.0.113.77";
const EMAIL: &str = "jane.doe@example.com";
const CALLBACK_TOKEN: &str = "SECRETTOKEN0123456789";
const NAME: &str = "Jane Doe";

pub fn pii() -> Vec<&'static str> {
    vec![
        PHONE,
        "555-867-5309",
        "8675309",
        ADDRESS,
        "Baker",
        CLIENT_IP,
        EMAIL,
        "jane.doe",
        CALLBACK_TOKEN,
        NAME,
    ]
}

pub struct Sent {
    pub correlation_id: String,
    pub status: u16,
    pub route: &'static str,
    pub sku: Option<&'static str>,
    pub quantity: Option<i64>,
    pub client_event: bool,
}

/// One round of mixed requests: every route, success and failure. Each carries a unique
/// correlation id, a client IP in X-Forwarded-For, and some carry personal data.
pub async fn mixed_round(c: &Client, round: usize, out: &mut Vec<Sent>) {
    let base = c.base.clone();
    let http = &c.http;
    let mut n = 0;
    let mut next_id = || {
        n += 1;
        format!("cap-{round}-{n}")
    };
    let big_sale = format!(
        "{{\"sku\":\"glazed\",\"quantity\":1,\"pad\":\"{}\"}}",
        "x".repeat(17 * 1024)
    );
    let big_event = format!(
        "{{\"type\":\"page_view\",\"properties\":{{\"page\":\"{}\"}}}}",
        "y".repeat(5 * 1024)
    );
    let order_id = uuid::Uuid::new_v4();
    #[allow(clippy::type_complexity)]
    let cases: Vec<(
        reqwest::RequestBuilder,
        u16,
        &'static str,
        Option<&'static str>,
        Option<i64>,
        bool,
    )> = vec![
        (
            http.put(format!("{base}/admin/inventory/glazed"))
                .bearer_auth(&c.admin)
                .header("content-type", "application/json")
                .body(json!({"stock": 3, "name": "Original Glazed"}).to_string()),
            if round == 0 { 201 } else { 200 },
            "/admin/inventory/{sku}",
            Some("glazed"),
            None,
            false,
        ),
        (
            http.post(format!("{base}/sales"))
                .header("content-type", "application/json")
                .body(json!({"sku": "glazed", "quantity": 1}).to_string()),
            201,
            "/sales",
            Some("glazed"),
            Some(1),
            false,
        ),
        (
            http.post(format!("{base}/sales"))
                .header("content-type", "application/json")
                .body(json!({"sku": "glazed", "quantity": 5}).to_string()),
            409,
            "/sales",
            Some("glazed"),
            Some(5),
            false,
        ),
        (
            http.post(format!("{base}/sales"))
                .header("content-type", "application/json")
                .body(json!({"sku": "no-such-donut", "quantity": 1}).to_string()),
            404,
            "/sales",
            Some("no-such-donut"),
            Some(1),
            false,
        ),
        (
            http.post(format!("{base}/sales"))
                .header("content-type", "application/json")
                .body("{\"sku\": "),
            400,
            "/sales",
            None,
            None,
            false,
        ),
        (
            // Personal data in the body (rejected: unknown fields) and a request id that is
            // a name and an address.
            http.post(format!("{base}/sales"))
                .header("content-type", "application/json")
                .header("x-request-id", format!("{NAME}, {ADDRESS} #{round}"))
                .body(
                    json!({"sku": "glazed", "quantity": 1, "phone": PHONE,
                           "address": ADDRESS, "email": EMAIL})
                    .to_string(),
                ),
            400,
            "/sales",
            None,
            None,
            false,
        ),
        (
            http.post(format!("{base}/sales"))
                .header("content-type", "application/json")
                .body(big_sale),
            413,
            "/sales",
            None,
            None,
            false,
        ),
        (
            http.post(format!("{base}/sales"))
                .header("content-type", "text/plain")
                .body(format!("sku=glazed&phone={PHONE}")),
            415,
            "/sales",
            None,
            None,
            false,
        ),
        (
            http.put(format!("{base}/admin/inventory/glazed"))
                .header("content-type", "application/json")
                .body(json!({"stock": 1}).to_string()),
            401,
            "/admin/inventory/{sku}",
            None,
            None,
            false,
        ),
        (
            http.put(format!("{base}/admin/inventory/glazed"))
                .bearer_auth("not-the-token")
                .header("content-type", "application/json")
                .body(json!({"stock": 1}).to_string()),
            403,
            "/admin/inventory/{sku}",
            None,
            None,
            false,
        ),
        (
            http.get(format!("{base}/sales")),
            405,
            "/sales",
            None,
            None,
            false,
        ),
        (
            http.get(format!("{base}/no/such/path/{EMAIL}")),
            404,
            "unmatched",
            None,
            None,
            false,
        ),
        (
            http.get(format!("{base}/inventory")),
            200,
            "/inventory",
            None,
            None,
            false,
        ),
        (
            http.get(format!("{base}/inventory/glazed")),
            200,
            "/inventory/{sku}",
            Some("glazed"),
            None,
            false,
        ),
        (
            // An address typed where a SKU goes.
            http.get(format!("{base}/inventory/{}", ADDRESS.replace(' ', "%20"))),
            400,
            "/inventory/{sku}",
            None,
            None,
            false,
        ),
        (
            http.get(format!("{base}/factory-orders/{}", uuid::Uuid::new_v4())),
            404,
            "/factory-orders/{id}",
            None,
            None,
            false,
        ),
        (
            http.get(format!("{base}/factory-orders/{PHONE}")),
            400,
            "/factory-orders/{id}",
            None,
            None,
            false,
        ),
        (
            // A forged callback: its token (in the query string) must not be captured.
            http.post(format!(
                "{base}/factory/callbacks/{order_id}?token={CALLBACK_TOKEN}"
            ))
            .header("content-type", "application/json")
            .body("{}"),
            403,
            "/factory/callbacks/{id}",
            None,
            None,
            false,
        ),
        (
            http.post(format!("{base}/factory/callbacks/{order_id}"))
                .header("content-type", "application/json")
                .body("{}"),
            401,
            "/factory/callbacks/{id}",
            None,
            None,
            false,
        ),
        (
            http.post(format!("{base}/events"))
                .header("content-type", "application/json")
                .body(
                    json!({"type": "page_view", "sku": "glazed",
                           "properties": {"page": "/menu", "position": 3,
                                          "email": EMAIL, "phone": PHONE,
                                          "home_address": ADDRESS, "ip": CLIENT_IP}})
                    .to_string(),
                ),
            202,
            "/events",
            Some("glazed"),
            None,
            true,
        ),
        (
            http.post(format!("{base}/events"))
                .header("content-type", "application/json")
                .body(json!({"type": "Not A Type!"}).to_string()),
            400,
            "/events",
            None,
            None,
            false,
        ),
        (
            http.post(format!("{base}/events"))
                .header("content-type", "application/json")
                .body(big_event),
            413,
            "/events",
            None,
            None,
            false,
        ),
        (
            http.delete(format!("{base}/events")),
            405,
            "/events",
            None,
            None,
            false,
        ),
        (
            http.get(format!("{base}/health")),
            200,
            "/health",
            None,
            None,
            false,
        ),
    ];
    for (req, status, route, sku, quantity, client_event) in cases {
        let correlation_id = next_id();
        let res = req
            .header("x-correlation-id", &correlation_id)
            .header("x-forwarded-for", CLIENT_IP)
            .header("user-agent", "capture-test/1.0")
            .send()
            .await
            .expect("request sent");
        assert_eq!(
            res.status().as_u16(),
            status,
            "{route} ({correlation_id}): {}",
            res.text().await.unwrap_or_default()
        );
        out.push(Sent {
            correlation_id,
            status,
            route,
            sku,
            quantity,
            client_event,
        });
    }
}
