//! Every operation declares the error statuses (and `error` codes) its handler can produce,
//! each with `X-Correlation-Id`, and no status its handler never answers.

use crate::spec::{
    declared_statuses, error_codes, find_op, json_schema, operations, response, spec,
};
use inventory::api::{ApiError, ROUTES};
use inventory::domain::ValidationError;
use serde_json::Value;
use std::collections::BTreeSet;

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
        ApiError::UnknownSale(String::new()),
        ApiError::PayloadTooLarge(0, 0),
        ApiError::UnsupportedMediaType,
        ApiError::KeyReused,
        ApiError::Unauthorized(""),
        ApiError::Forbidden(String::new()),
        ApiError::NotFound(String::new()),
        ApiError::MethodNotAllowed(String::new(), Vec::new()),
        ApiError::Unavailable,
        ApiError::OutcomeUnknown {
            what: "sale",
            field: "sale_id",
            id: String::new(),
        },
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
            "GET",
            "/sales/{id}",
            &[
                (400, &["invalid_id"]),
                (404, &["unknown_sale", "not_found"]),
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
                (503, &["unavailable", "outcome_unknown"]),
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
                (503, &["unavailable", "outcome_unknown"]),
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
                (503, &["unavailable", "outcome_unknown"]),
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
