//! Reading `docs/openapi.yaml`: its operations, `$ref`s, declared responses and their schemas.

use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "patch", "head", "options", "trace",
];

/// Where the contract lives.
pub fn spec_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.yaml")
}

pub fn spec() -> Value {
    let path = spec_path();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("docs/openapi.yaml: {e}"))
}

/// Follows `$ref`s (local ones only: the spec has no others) until a non-reference.
pub fn resolve<'a>(spec: &'a Value, mut v: &'a Value) -> &'a Value {
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

pub struct Operation<'a> {
    pub path: String,
    pub method: String,
    pub op: &'a Value,
    pub local_only: bool,
}

pub fn operations(spec: &Value) -> Vec<Operation<'_>> {
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

pub fn find_op<'a>(ops: &'a [Operation<'a>], method: &str, path: &str) -> &'a Operation<'a> {
    ops.iter()
        .find(|o| o.method == method && o.path == path)
        .unwrap_or_else(|| panic!("the spec has no operation {method} {path}"))
}

/// The resolved response object of an operation for a status, if declared.
pub fn response<'a>(spec: &'a Value, op: &'a Value, status: u16) -> Option<&'a Value> {
    op["responses"]
        .get(status.to_string())
        .map(|r| resolve(spec, r))
}

pub fn json_schema<'a>(spec: &'a Value, response: &'a Value) -> Option<&'a Value> {
    response
        .pointer("/content/application~1json/schema")
        .map(|s| resolve(spec, s))
}

/// The `error` codes a response schema allows: the intersection of every `enum` found on the
/// `error` property (directly, or in the `allOf` parts). None: the schema does not enumerate.
pub fn error_codes(spec: &Value, schema: &Value) -> Option<BTreeSet<String>> {
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
pub fn shape(spec: &Value, schema: &Value) -> (BTreeSet<String>, Option<BTreeSet<String>>) {
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

pub fn declared_statuses(op: &Value) -> BTreeSet<u16> {
    op["responses"]
        .as_object()
        .expect("responses")
        .keys()
        .map(|k| k.parse().unwrap_or_else(|_| panic!("status {k}")))
        .collect()
}
