//! The contract's machine-readable form, `docs/openapi.yaml`, against the handlers:
//!
//! - its public paths and methods are exactly `inventory::api::ROUTES` (same template syntax);
//! - every operation declares the error statuses the handler can produce for it (400/413/415 on
//!   every route with a body, 500/503 on every route that reads the database, 401/403 where a
//!   credential is checked, ...), each with the `X-Correlation-Id` header;
//! - for a sample of real responses of a started stack (one per error path of every route), the
//!   status is declared for that operation, the `error` code is one the spec lists for that status,
//!   the body has the declared shape, and `X-Correlation-Id` is set.

use inventory::api::{ApiError, ROUTES, match_route};
use inventory::domain::ValidationError;
use inventory::factory::CallbackSigner;
use pipeline_tests::{Db, TestApp};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "patch", "head", "options", "trace",
];

fn spec() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.yaml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("docs/openapi.yaml: {e}"))
}

/// Follows `$ref`s (local ones only: the spec has no others) until a non-reference.
fn resolve<'a>(spec: &'a Value, mut v: &'a Value) -> &'a Value {
    for _ in 0..16 {
        let Some(r) = v.get("$ref").and_then(Value::as_str) else {
            return v;
        };
        let pointer = r
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("non-local $ref {r}"));
        v = spec
            .pointer(pointer)
            .unwrap_or_else(|| panic!("dangling $ref {r}"));
    }
    panic!("$ref cycle at {v}")
}

struct Operation<'a> {
    path: String,
    method: String,
    op: &'a Value,
    local_only: bool,
}

fn operations(spec: &Value) -> Vec<Operation<'_>> {
    let mut out = Vec::new();
    let paths = spec["paths"].as_object().expect("paths");
    for (path, item) in paths {
        for (method, op) in item.as_object().expect("path item") {
            if !METHODS.contains(&method.as_str()) {
                continue;
            }
            let local_only = op["tags"]
                .as_array()
                .is_some_and(|t| t.iter().any(|t| t == "local-only"));
            out.push(Operation {
                path: path.clone(),
                method: method.to_ascii_uppercase(),
                op,
                local_only,
            });
        }
    }
    out
}

fn find_op<'a>(ops: &'a [Operation<'a>], method: &str, path: &str) -> &'a Operation<'a> {
    ops.iter()
        .find(|o| o.method == method && o.path == path)
        .unwrap_or_else(|| panic!("the spec has no operation {method} {path}"))
}

/// The resolved response object of an operation for a status, if declared.
fn response<'a>(spec: &'a Value, op: &'a Value, status: u16) -> Option<&'a Value> {
    op["responses"]
        .get(status.to_string())
        .map(|r| resolve(spec, r))
}

fn json_schema<'a>(spec: &'a Value, response: &'a Value) -> Option<&'a Value> {
    response
        .pointer("/content/application~1json/schema")
        .map(|s| resolve(spec, s))
}

/// The `error` codes a response schema allows: the intersection of every `enum` found on the
/// `error` property (directly, or in the `allOf` parts). None: the schema does not enumerate.
fn error_codes(spec: &Value, schema: &Value) -> Option<BTreeSet<String>> {
    let mut sets: Vec<BTreeSet<String>> = Vec::new();
    let mut parts = vec![schema];
    if let Some(all) = schema["allOf"].as_array() {
        parts.extend(all.iter().map(|p| resolve(spec, p)));
    }
    for p in parts {
        if let Some(e) = p.pointer("/properties/error").map(|e| resolve(spec, e))
            && let Some(list) = e["enum"].as_array()
        {
            sets.push(
                list.iter()
                    .map(|v| v.as_str().expect("error codes are strings").to_owned())
                    .collect(),
            );
        }
    }
    sets.into_iter()
        .reduce(|a, b| a.intersection(&b).cloned().collect())
}

/// Required properties and whether others are allowed, merged over `allOf`.
fn shape(spec: &Value, schema: &Value) -> (BTreeSet<String>, Option<BTreeSet<String>>) {
    let mut required = BTreeSet::new();
    let mut closed: Option<BTreeSet<String>> = None;
    let mut parts = vec![schema];
    if let Some(all) = schema["allOf"].as_array() {
        parts.extend(all.iter().map(|p| resolve(spec, p)));
    }
    for p in parts {
        for r in p["required"].as_array().into_iter().flatten() {
            required.insert(r.as_str().unwrap_or_default().to_owned());
        }
        if p["additionalProperties"] == json!(false) {
            let props: BTreeSet<String> = p["properties"]
                .as_object()
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default();
            closed = Some(match closed {
                Some(c) => c.intersection(&props).cloned().collect(),
                None => props,
            });
        }
    }
    (required, closed)
}

fn declared_statuses(op: &Value) -> BTreeSet<u16> {
    op["responses"]
        .as_object()
        .expect("responses")
        .keys()
        .map(|k| k.parse().unwrap_or_else(|_| panic!("status {k}")))
        .collect()
}

#[test]
fn public_paths_and_methods_are_exactly_the_router_table() {
    let spec = spec();
    let ops = operations(&spec);
    let in_spec: BTreeSet<(String, String)> = ops
        .iter()
        .filter(|o| !o.local_only)
        .map(|o| (o.path.clone(), o.method.clone()))
        .collect();
    let in_router: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.path.to_owned(), r.method.to_owned()))
        .collect();
    assert_eq!(
        in_spec,
        in_router,
        "docs/openapi.yaml (public operations) vs inventory::api::ROUTES\n only in the spec: {:?}\n only in ROUTES: {:?}",
        in_spec.difference(&in_router).collect::<Vec<_>>(),
        in_router.difference(&in_spec).collect::<Vec<_>>()
    );
    // Local-only operations must not shadow (or be shadowed by) a public route.
    for o in ops.iter().filter(|o| o.local_only) {
        assert_eq!(
            match_route(&o.path),
            None,
            "local-only {} {} collides with a public route",
            o.method,
            o.path
        );
        assert!(
            o.path.starts_with("/ops/") || o.path.starts_with("/factory-sim/"),
            "local-only {} is not under a local-only prefix",
            o.path
        );
    }
    // Path parameters are declared for every template parameter.
    for o in ops.iter().filter(|o| o.path.contains('{')) {
        let name = o.path.split('{').nth(1).and_then(|s| s.split('}').next());
        let params: Vec<&Value> = o.op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| resolve(&spec, p))
            .collect();
        assert!(
            params
                .iter()
                .any(|p| p["in"] == "path" && p["name"].as_str() == name && p["required"] == true),
            "{} {}: path parameter {name:?} not declared",
            o.method,
            o.path
        );
    }
}

/// Every `ApiError` with the status and code it maps to: the codes the spec must know.
fn all_errors() -> Vec<ApiError> {
    vec![
        ApiError::InvalidJson(String::new()),
        ApiError::InvalidRequest(String::new()),
        ApiError::Invalid(ValidationError::Sku),
        ApiError::Invalid(ValidationError::Quantity),
        ApiError::Invalid(ValidationError::Id),
        ApiError::Invalid(ValidationError::Field(String::new())),
        ApiError::UnknownSku(String::new()),
        ApiError::UnknownOrder(String::new()),
        ApiError::PayloadTooLarge(0, 0),
        ApiError::UnsupportedMediaType,
        ApiError::KeyReused,
        ApiError::Unauthorized(""),
        ApiError::Forbidden(String::new()),
        ApiError::NotFound(String::new()),
        ApiError::MethodNotAllowed(String::new(), Vec::new()),
        ApiError::Unavailable,
        ApiError::Internal,
    ]
}

/// Error statuses of an operation, each with the codes it must list.
type Errors = &'static [(u16, &'static [&'static str])];

#[test]
fn every_operation_declares_the_errors_its_handler_can_produce() {
    let spec = spec();
    let ops = operations(&spec);
    let codes: BTreeSet<String> = spec
        .pointer("/components/schemas/Error/properties/error/enum")
        .and_then(Value::as_array)
        .expect("components.schemas.Error.properties.error.enum")
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_owned())
        .collect();
    for e in all_errors() {
        assert!(
            codes.contains(e.code()),
            "error code {} ({}) is not in the spec's Error enum",
            e.code(),
            e.status()
        );
    }
    // (`out_of_stock` has its own schema; it is in the enum too.)

    // What the handler of each route can answer besides success, from api.rs:
    // - every route: 500 internal (a store error that is not "unavailable");
    // - every route but /health and /events reads the database: 503 unavailable;
    // - a body: 400 invalid_json/invalid_request, 413, 415;
    // - a path parameter: 400 (its validation) and 404 not_found (a `..` the client resolves);
    // - credentials: 401 and 403.
    let expect: &[(&str, &str, Errors)] = &[
        ("GET", "/health", &[(500, &["internal"])]),
        (
            "GET",
            "/inventory",
            &[(500, &["internal"]), (503, &["unavailable"])],
        ),
        (
            "GET",
            "/inventory/{sku}",
            &[
                (400, &["invalid_sku"]),
                (404, &["unknown_sku", "not_found"]),
                (500, &["internal"]),
                (503, &["unavailable"]),
            ],
        ),
        (
            "GET",
            "/factory-orders/{id}",
            &[
                (400, &["invalid_id"]),
                (404, &["unknown_factory_order", "not_found"]),
                (500, &["internal"]),
                (503, &["unavailable"]),
            ],
        ),
        (
            "POST",
            "/sales",
            &[
                (
                    400,
                    &[
                        "invalid_json",
                        "invalid_request",
                        "invalid_sku",
                        "invalid_quantity",
                    ],
                ),
                (404, &["unknown_sku"]),
                (409, &["out_of_stock"]),
                (413, &["payload_too_large"]),
                (415, &["unsupported_media_type"]),
                (422, &["idempotency_key_reused"]),
                (500, &["internal"]),
                (503, &["unavailable"]),
            ],
        ),
        (
            "PUT",
            "/admin/inventory/{sku}",
            &[
                (400, &["invalid_json", "invalid_request", "invalid_sku"]),
                (401, &["unauthorized"]),
                (403, &["forbidden"]),
                (404, &["not_found"]),
                (413, &["payload_too_large"]),
                (415, &["unsupported_media_type"]),
                (500, &["internal"]),
                (503, &["unavailable"]),
            ],
        ),
        (
            "POST",
            "/factory/callbacks/{id}",
            &[
                (400, &["invalid_json", "invalid_request", "invalid_id"]),
                (401, &["unauthorized"]),
                (403, &["forbidden"]),
                (404, &["unknown_factory_order", "not_found"]),
                (413, &["payload_too_large"]),
                (415, &["unsupported_media_type"]),
                (500, &["internal"]),
                (503, &["unavailable"]),
            ],
        ),
        (
            "POST",
            "/events",
            &[
                (400, &["invalid_json", "invalid_request", "invalid_sku"]),
                (413, &["payload_too_large"]),
                (415, &["unsupported_media_type"]),
                (500, &["internal"]),
            ],
        ),
    ];
    assert_eq!(
        expect
            .iter()
            .map(|(m, p, _)| (*p, *m))
            .collect::<BTreeSet<_>>(),
        ROUTES
            .iter()
            .map(|r| (r.path, r.method))
            .collect::<BTreeSet<_>>(),
        "this test's table must cover every route"
    );
    let mut problems = Vec::new();
    for (method, path, errors) in expect {
        let o = find_op(&ops, method, path);
        for (status, want) in *errors {
            let Some(resp) = response(&spec, o.op, *status) else {
                problems.push(format!("{method} {path}: {status} not declared"));
                continue;
            };
            if let Some(listed) = json_schema(&spec, resp).and_then(|s| error_codes(&spec, s)) {
                for code in *want {
                    if !listed.contains(*code) {
                        problems.push(format!(
                            "{method} {path}: {status} does not list `{code}` (lists {listed:?})"
                        ));
                    }
                }
            }
        }
        // A body route declares 400/413/415 and a JSON body; a route reading the database 500/503.
        let statuses = declared_statuses(o.op);
        if o.op.get("requestBody").is_some() {
            for s in [400, 413, 415] {
                if !statuses.contains(&s) {
                    problems.push(format!(
                        "{method} {path} takes a body but does not declare {s}"
                    ));
                }
            }
            assert!(
                o.op.pointer("/requestBody/content/application~1json/schema")
                    .is_some(),
                "{method} {path}: the body is not declared as application/json"
            );
        }
        if *path != "/health" && *path != "/events" {
            for s in [500, 503] {
                if !statuses.contains(&s) {
                    problems.push(format!(
                        "{method} {path} reads the database but does not declare {s}"
                    ));
                }
            }
        }
        // Every response carries X-Correlation-Id, and every response is declared JSON.
        for s in statuses {
            let r = response(&spec, o.op, s).expect("declared");
            if r.pointer("/headers/X-Correlation-Id").is_none() {
                problems.push(format!(
                    "{method} {path}: {s} does not declare X-Correlation-Id"
                ));
            }
            if json_schema(&spec, r).is_none() {
                problems.push(format!(
                    "{method} {path}: {s} has no application/json schema"
                ));
            }
            // No status declared that the handler cannot produce (kept honest both ways).
            let known = s < 300 || errors.iter().any(|(st, _)| *st == s);
            if !known {
                problems.push(format!(
                    "{method} {path}: declares {s}, which its handler never answers"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// One request of the sample, with the operation it is aimed at and the status it must get.
struct Probe {
    label: &'static str,
    method: &'static str,
    /// The operation (path template) the request is for.
    template: &'static str,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Option<String>,
    expect: u16,
}

fn probe(
    label: &'static str,
    method: &'static str,
    template: &'static str,
    path: impl Into<String>,
    expect: u16,
) -> Probe {
    Probe {
        label,
        method,
        template,
        path: path.into(),
        headers: Vec::new(),
        body: None,
        expect,
    }
}

impl Probe {
    fn json(mut self, body: Value) -> Self {
        self.body = Some(body.to_string());
        self.header("content-type", "application/json")
    }
    fn raw(mut self, content_type: &str, body: impl Into<String>) -> Self {
        self.body = Some(body.into());
        self.header("content-type", content_type)
    }
    fn header(mut self, k: &'static str, v: impl Into<String>) -> Self {
        self.headers.push((k, v.into()));
        self
    }
}

/// Sends raw HTTP/1.1 over TCP: each request reaches the server byte for byte as written (HTTP
/// clients, `reqwest` too, resolve dot segments and would refuse some of the probes).
async fn send_raw(addr: std::net::SocketAddr, p: &Probe) -> (u16, BTreeMap<String, String>, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let body = p.body.clone().unwrap_or_default();
    let mut req = format!(
        "{} {} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n",
        p.method,
        p.path,
        body.len()
    );
    for (k, v) in &p.headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(&body);
    s.write_all(req.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.expect("read");
    let text = String::from_utf8_lossy(&buf);
    let (head, rest) = text.split_once("\r\n\r\n").expect("an HTTP response");
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers: BTreeMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let body = if headers
        .get("transfer-encoding")
        .is_some_and(|t| t.contains("chunked"))
    {
        dechunk(rest)
    } else {
        rest.to_owned()
    };
    let json = serde_json::from_str(&body)
        .unwrap_or_else(|_| panic!("{}: status {status}: body is not JSON: {body:?}", p.label));
    (status, headers, json)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n..];
        s = s.strip_prefix("\r\n").unwrap_or(s);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_responses_are_declared_by_the_spec() {
    let spec = spec();
    let ops = operations(&spec);
    // The factory stand-in is down, so the order opened below stays open for the callbacks.
    let stack = TestApp::spawn_with(Db::Sqlite, |o| o.factory_down = true).await;
    let client = &stack.client;
    let admin = format!("Bearer {}", stack.stack.admin_token);
    let signer = CallbackSigner::new("test-callback-secret");
    let sku = "oa-glazed";
    let r = client
        .put_product(
            sku,
            json!({"name": "OpenAPI glazed", "stock": 2, "reorder_point": 0, "reorder_quantity": 3}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = client.put_product("oa-idem", json!({"stock": 10})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let sold = client.sell(sku, 2).await;
    assert_eq!(sold.status, 201, "{}", sold.body);
    let order = sold.body["factory_order"]["id"]
        .as_str()
        .expect("selling out opens a factory order")
        .to_owned();
    let unknown_order = uuid::Uuid::new_v4().to_string();
    let cb = |id: &str| format!("/factory/callbacks/{id}?token={}", signer.token(id));
    let completion = |product: &str, count: Value| {
        json!({"MessageGroupId": order, "MessageAttributeProductId": product,
               "MessageAttributeProductCnt": count, "MessageAttributeFactoryId": "donut-factory-1",
               "MessageAttributeRequester": "donut-shop"})
    };
    let big = "x".repeat(17 * 1024);
    const CB: &str = "/factory/callbacks/{id}";
    const ADMIN: &str = "/admin/inventory/{sku}";
    let put = |label, path: String, expect| probe(label, "PUT", ADMIN, path, expect);

    let probes = vec![
        probe("health", "GET", "/health", "/health", 200),
        probe("inventory", "GET", "/inventory", "/inventory", 200),
        probe("product", "GET", "/inventory/{sku}", format!("/inventory/{sku}"), 200),
        probe("unknown sku", "GET", "/inventory/{sku}", "/inventory/oa-nope", 404),
        probe("invalid sku", "GET", "/inventory/{sku}", "/inventory/-bad", 400),
        probe("sku %2F", "GET", "/inventory/{sku}", "/inventory/a%2Fb", 400),
        probe("order", "GET", "/factory-orders/{id}", format!("/factory-orders/{order}"), 200),
        probe("unknown order", "GET", "/factory-orders/{id}", format!("/factory-orders/{unknown_order}"), 404),
        probe("invalid id", "GET", "/factory-orders/{id}", "/factory-orders/not-an-id", 400),
        probe("sale", "POST", "/sales", "/sales", 201).json(json!({"sku": "oa-idem", "quantity": 1})),
        probe("sale charset", "POST", "/sales", "/sales", 201)
            .raw("application/json; charset=utf-8", json!({"sku": "oa-idem", "quantity": 1}).to_string()),
        probe("idempotent", "POST", "/sales", "/sales", 201)
            .json(json!({"sku": "oa-idem", "quantity": 2}))
            .header("idempotency-key", "oa-key-1"),
        probe("idempotent replay", "POST", "/sales", "/sales", 201)
            .json(json!({"sku": "oa-idem", "quantity": 2}))
            .header("idempotency-key", "oa-key-1"),
        probe("key reused", "POST", "/sales", "/sales", 422)
            .json(json!({"sku": "oa-idem", "quantity": 3}))
            .header("idempotency-key", "oa-key-1"),
        probe("bad key", "POST", "/sales", "/sales", 400)
            .json(json!({"sku": "oa-idem", "quantity": 1}))
            .header("idempotency-key", "has space"),
        probe("out of stock", "POST", "/sales", "/sales", 409).json(json!({"sku": sku, "quantity": 5})),
        probe("sale unknown sku", "POST", "/sales", "/sales", 404).json(json!({"sku": "oa-nope", "quantity": 1})),
        probe("sale invalid sku", "POST", "/sales", "/sales", 400).json(json!({"sku": "-bad", "quantity": 1})),
        probe("sale quantity 0", "POST", "/sales", "/sales", 400).json(json!({"sku": sku, "quantity": 0})),
        probe("sale quantity 1.5", "POST", "/sales", "/sales", 400).json(json!({"sku": sku, "quantity": 1.5})),
        probe("sale quantity string", "POST", "/sales", "/sales", 400).json(json!({"sku": sku, "quantity": "1"})),
        probe("sale missing field", "POST", "/sales", "/sales", 400).json(json!({"sku": sku})),
        probe("sale unknown field", "POST", "/sales", "/sales", 400).json(json!({"sku": sku, "quantity": 1, "x": 1})),
        probe("sale array", "POST", "/sales", "/sales", 400).json(json!([1])),
        // serde reads a struct from an array of its fields: this must not be a sale.
        probe("sale as array of fields", "POST", "/sales", "/sales", 400).json(json!(["oa-idem", 1])),
        // A key that is not visible ASCII must be refused, not ignored (a retry would sell twice).
        probe("non-ASCII key", "POST", "/sales", "/sales", 400)
            .json(json!({"sku": "oa-idem", "quantity": 1}))
            .header("idempotency-key", "clé"),
        probe("sale bad json", "POST", "/sales", "/sales", 400).raw("application/json", "{\"sku\":"),
        probe("sale empty", "POST", "/sales", "/sales", 400).raw("application/json", ""),
        probe("sale text/plain", "POST", "/sales", "/sales", 415).raw("text/plain", "{}"),
        probe("sale no content type", "POST", "/sales", "/sales", 415),
        probe("sale too large", "POST", "/sales", "/sales", 413)
            .json(json!({"sku": sku, "quantity": 1, "pad": big})),
        put("admin replace", format!("/admin/inventory/{sku}"), 200)
            .json(json!({"stock": 0, "reorder_point": 0, "reorder_quantity": 3}))
            .header("authorization", admin.clone()),
        put("admin no token", format!("/admin/inventory/{sku}"), 401).json(json!({"stock": 1})),
        put("admin wrong token", format!("/admin/inventory/{sku}"), 403)
            .json(json!({"stock": 1}))
            .header("authorization", "Bearer nope"),
        put("admin invalid sku", "/admin/inventory/-bad".into(), 400)
            .json(json!({"stock": 1}))
            .header("authorization", admin.clone()),
        put("admin dot-dot as sent", "/admin/inventory/..".into(), 400)
            .json(json!({"stock": 1}))
            .header("authorization", admin.clone()),
        // What an HTTP client makes of `/admin/inventory/..` (RFC 3986 dot-segment removal).
        put("admin dot-dot resolved", "/admin/".into(), 404)
            .json(json!({"stock": 1}))
            .header("authorization", admin.clone()),
        put("admin negative stock", format!("/admin/inventory/{sku}"), 400)
            .json(json!({"stock": -1}))
            .header("authorization", admin.clone()),
        put("admin blank name", format!("/admin/inventory/{sku}"), 400)
            .json(json!({"stock": 1, "name": "  "}))
            .header("authorization", admin.clone()),
        put("admin missing stock", format!("/admin/inventory/{sku}"), 400)
            .json(json!({"name": "x"}))
            .header("authorization", admin.clone()),
        put("admin unknown field", format!("/admin/inventory/{sku}"), 400)
            .json(json!({"stock": 1, "colour": "pink"}))
            .header("authorization", admin.clone()),
        put("admin huge reorder_point", format!("/admin/inventory/{sku}"), 400)
            .json(json!({"stock": 1, "reorder_point": 1_000_000_001i64}))
            .header("authorization", admin.clone()),
        put("admin bad json", format!("/admin/inventory/{sku}"), 400)
            .raw("application/json", "{")
            .header("authorization", admin.clone()),
        put("admin text/plain", format!("/admin/inventory/{sku}"), 415)
            .raw("text/plain", "{\"stock\":1}")
            .header("authorization", admin.clone()),
        put("admin too large", format!("/admin/inventory/{sku}"), 413)
            .json(json!({"stock": 1, "name": big}))
            .header("authorization", admin.clone()),
        probe("callback no token", "POST", CB, format!("/factory/callbacks/{order}"), 401)
            .json(completion(sku, json!(3))),
        probe("callback wrong token", "POST", CB, format!("/factory/callbacks/{order}?token=AAAA"), 403)
            .json(completion(sku, json!(3))),
        probe("callback another order's token", "POST", CB,
              format!("/factory/callbacks/{order}?token={}", signer.token(&unknown_order)), 403)
            .json(completion(sku, json!(3))),
        probe("callback other product", "POST", CB, cb(&order), 403).json(completion("oa-idem", json!(3))),
        probe("callback other count", "POST", CB, cb(&order), 403).json(completion(sku, json!(4))),
        probe("callback count not a number", "POST", CB, cb(&order), 400).json(completion(sku, json!("x"))),
        probe("callback missing count", "POST", CB, cb(&order), 400)
            .json(json!({"MessageAttributeProductId": sku})),
        probe("callback bad json", "POST", CB, cb(&order), 400).raw("application/json", "{"),
        probe("callback text/plain", "POST", CB, cb(&order), 415).raw("text/plain", "{}"),
        probe("callback too large", "POST", CB, cb(&order), 413)
            .json(json!({"MessageAttributeProductId": sku, "MessageAttributeProductCnt": 3, "pad": big})),
        probe("callback invalid id", "POST", CB, cb("not-an-id"), 400).json(completion(sku, json!(3))),
        probe("callback unknown order", "POST", CB, cb(&unknown_order), 404).json(completion(sku, json!(3))),
        // The legacy body: a numeric string count, no optional fields, an unknown field.
        probe("callback", "POST", CB, cb(&order), 200)
            .json(json!({"MessageAttributeProductId": sku, "MessageAttributeProductCnt": "3", "Extra": true})),
        probe("callback duplicate", "POST", CB, cb(&order), 200).json(completion(sku, json!(3))),
        probe("event", "POST", "/events", "/events", 202)
            .json(json!({"type": "page_view", "sku": sku, "properties": {"page": "/menu", "email": "x@y"}})),
        probe("event bad type", "POST", "/events", "/events", 400).json(json!({"type": "Page View"})),
        probe("event bad sku", "POST", "/events", "/events", 400).json(json!({"type": "page_view", "sku": "-x"})),
        probe("event unknown field", "POST", "/events", "/events", 400).json(json!({"type": "a", "x": 1})),
        probe("event bad json", "POST", "/events", "/events", 400).raw("application/json", "nope"),
        probe("event text/plain", "POST", "/events", "/events", 415).raw("text/plain", "{}"),
        probe("event over 4 KiB", "POST", "/events", "/events", 413)
            .json(json!({"type": "a", "properties": {"pad": "x".repeat(5000)}})),
    ];

    let mut problems = Vec::new();
    let mut covered: BTreeMap<(String, String), BTreeSet<u16>> = BTreeMap::new();
    for p in &probes {
        let (status, headers, body) = send_raw(stack.stack.addr, p).await;
        let what = format!("{} ({} {})", p.label, p.method, p.path);
        if status != p.expect {
            problems.push(format!(
                "{what}: status {status}, expected {} — {body}",
                p.expect
            ));
        }
        match headers.get("x-correlation-id") {
            Some(c) if !c.is_empty() && c.len() <= 128 => {}
            other => problems.push(format!("{what}: X-Correlation-Id is {other:?}")),
        }
        let o = find_op(&ops, p.method, p.template);
        covered
            .entry((p.method.to_owned(), p.template.to_owned()))
            .or_default()
            .insert(status);
        let Some(resp) = response(&spec, o.op, status) else {
            problems.push(format!(
                "{what}: {status} is not declared for {} {}",
                o.method, o.path
            ));
            continue;
        };
        let Some(schema) = json_schema(&spec, resp) else {
            problems.push(format!("{what}: {status} has no JSON schema"));
            continue;
        };
        if status >= 400 {
            let code = body["error"].as_str().unwrap_or_default();
            if let Some(codes) = error_codes(&spec, schema)
                && !codes.contains(code)
            {
                problems.push(format!(
                    "{what}: error `{code}` is not among {codes:?} declared for {status}"
                ));
            }
        }
        let (required, closed) = shape(&spec, schema);
        let obj = body.as_object().cloned().unwrap_or_default();
        for r in &required {
            if !obj.contains_key(r) {
                problems.push(format!("{what}: required `{r}` missing from {body}"));
            }
        }
        if let Some(allowed) = closed {
            for k in obj.keys() {
                if !allowed.contains(k) {
                    problems.push(format!("{what}: `{k}` is not a declared property ({body})"));
                }
            }
        }
        for (name, h) in resp["headers"].as_object().into_iter().flatten() {
            let h = resolve(&spec, h);
            if h["required"] == true && !headers.contains_key(&name.to_ascii_lowercase()) {
                problems.push(format!("{what}: required header {name} missing"));
            }
        }
    }

    // Outside any operation: an unknown path and a known path with another method.
    let codes: BTreeSet<&str> = spec
        .pointer("/components/schemas/Error/properties/error/enum")
        .and_then(Value::as_array)
        .expect("Error enum")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let nf = send_raw(
        stack.stack.addr,
        &probe("unknown path", "GET", "", "/no-such-route", 404),
    )
    .await;
    assert_eq!(nf.0, 404, "{}", nf.2);
    assert_eq!(nf.2["error"], "not_found");
    assert!(codes.contains("not_found") && nf.1.contains_key("x-correlation-id"));
    let na = send_raw(
        stack.stack.addr,
        &probe("wrong method", "DELETE", "", "/sales", 405),
    )
    .await;
    assert_eq!(na.0, 405, "{}", na.2);
    assert_eq!(na.2["error"], "method_not_allowed");
    assert_eq!(na.1.get("allow").map(String::as_str), Some("POST"));
    assert!(codes.contains("method_not_allowed") && na.1.contains_key("x-correlation-id"));

    // The sample reached every route.
    for r in ROUTES {
        assert!(
            covered.contains_key(&(r.method.to_string(), r.path.to_string())),
            "no probe for {} {}",
            r.method,
            r.path
        );
    }
    stack.stop().await;
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The local stack serves the contract itself (`/openapi.yaml`, byte for byte the file) and a
/// readable reference generated from it (`/docs`) that lists every operation; the page is
/// self-contained (no scripts, no external assets).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_stack_serves_the_contract_and_its_reference_page() {
    let s = TestApp::spawn(Db::Sqlite).await;
    let c = &s.client;
    let file =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.yaml"))
            .unwrap();

    let r = c
        .http
        .get(format!("{}/openapi.yaml", c.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/yaml")
    );
    assert!(
        r.text().await.unwrap() == file,
        "/openapi.yaml differs from docs/openapi.yaml"
    );

    let r = c.http.get(format!("{}/docs", c.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = r.text().await.unwrap();
    let spec = spec();
    for o in operations(&spec) {
        assert!(
            html.contains(&format!("<code>{}</code>", o.path)),
            "/docs does not list {}",
            o.path
        );
        let id = o.op["operationId"].as_str().unwrap();
        assert!(
            html.contains(&format!("id=\"op-{id}\"")),
            "/docs has no section for {} {} ({id})",
            o.method,
            o.path
        );
    }
    for name in spec["components"]["schemas"].as_object().unwrap().keys() {
        assert!(html.contains(&format!("id=\"schema-{name}\"")), "{name}");
    }
    for external in ["<script", "src=", "<link", "@import", "url("] {
        assert!(!html.contains(external), "/docs contains {external}");
    }

    let r = c
        .http
        .post(format!("{}/docs", c.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    s.stop().await;
}
