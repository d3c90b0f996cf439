//! The API reference of the local stack: `GET /openapi.yaml` serves the contract,
//! `docs/openapi.yaml` (embedded at build time, so it is always the file), and `GET /docs` a
//! readable HTML page generated from it here, server-side: every operation with its parameters,
//! request body, responses and error codes, then the schemas. No JavaScript, no external assets.
//!
//! Local stack only: the deployed HTTP API's routes come from `template.yaml`.

mod markup;
mod page;

pub use markup::esc;
use page::Page;
use serde_norway::Value;
use std::sync::OnceLock;

/// `docs/openapi.yaml`, byte for byte.
pub const OPENAPI_YAML: &str = include_str!("../../../../docs/openapi.yaml");

/// The `/docs` page of [`OPENAPI_YAML`], rendered once.
pub fn docs_html() -> &'static str {
    static PAGE: OnceLock<String> = OnceLock::new();
    PAGE.get_or_init(|| {
        render(OPENAPI_YAML).unwrap_or_else(|e| {
            format!(
                "<!doctype html><meta charset=utf-8><title>API reference</title><p>docs/openapi.yaml does not parse: {}</p>",
                esc(&e)
            )
        })
    })
}

/// Renders an OpenAPI 3 document (YAML or JSON text) as one self-contained HTML page.
pub fn render(yaml: &str) -> Result<String, String> {
    // serde_norway's mappings keep the document's order (serde_json's sort their keys).
    let spec: Value = serde_norway::from_str(yaml).map_err(|e| e.to_string())?;
    if !spec.get("paths").is_some_and(Value::is_mapping) {
        return Err("no `paths` object".into());
    }
    Ok(Page { spec: &spec }.render())
}

#[cfg(test)]
mod tests {
    use super::markup::{inline, markdown};
    use super::page::key;
    use super::*;

    #[test]
    fn renders_every_path_and_operation_of_the_contract() {
        let html = render(OPENAPI_YAML).expect("docs/openapi.yaml renders");
        let spec: Value = serde_norway::from_str(OPENAPI_YAML).unwrap();
        for (path, item) in spec["paths"].as_mapping().unwrap() {
            let path = key(path);
            assert!(
                html.contains(&format!("<code>{}</code>", esc(path))),
                "{path}"
            );
            for (method, op) in item.as_mapping().unwrap() {
                if let Some(id) = op.get("operationId").and_then(Value::as_str) {
                    assert!(
                        html.contains(&format!("id=\"op-{id}\"")),
                        "{method:?} {path}"
                    );
                }
            }
        }
        for name in spec["components"]["schemas"].as_mapping().unwrap().keys() {
            let name = key(name);
            assert!(html.contains(&format!("id=\"schema-{name}\"")), "{name}");
        }
        // In the document's order: /health first, /sales second.
        let (health, sales) = (
            html.find("id=\"op-getHealth\"").unwrap(),
            html.find("id=\"op-createSale\"").unwrap(),
        );
        assert!(health < sales);
        // Error codes of a response that refines the Error schema.
        assert!(html.contains("<code>idempotency_key_reused</code>"));
        // Self-contained: no scripts, no external assets.
        assert!(!html.contains("<script"));
        assert!(!html.contains("src="));
        assert!(!html.contains("<link"));
    }

    #[test]
    fn escapes_and_inline_markdown() {
        assert_eq!(
            inline("a `<b>` [api.md](api.md) & c"),
            "a <code>&lt;b&gt;</code> api.md &amp; c"
        );
        assert_eq!(inline("unclosed ` and [x"), "unclosed ` and [x");
        let md = markdown("Intro:\n- one\n  two\n- three\n\nNext");
        assert_eq!(
            md,
            "<p>Intro:</p><ul><li>one two</li><li>three</li></ul><p>Next</p>"
        );
        assert!(render("paths: 3").is_err());
        assert!(render("not: [valid").is_err());
    }
}
