//! The `/docs` page: every operation of the contract with its parameters, request body,
//! responses and error codes, then the schemas.

use super::markup::{esc, inline, markdown};
use serde_norway::Value;
use std::fmt::Write;

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "patch", "head", "options", "trace",
];

fn ref_name(r: &str) -> &str {
    r.rsplit('/').next().unwrap_or(r)
}

fn anchor(kind: &str, name: &str) -> String {
    let slug: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("{kind}-{slug}")
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

/// A JSON pointer (`/components/schemas/Sku`) into the document.
fn pointer<'v>(root: &'v Value, p: &str) -> Option<&'v Value> {
    p.split('/').skip(1).try_fold(root, |v, seg| {
        v.get(seg.replace("~1", "/").replace("~0", "~").as_str())
    })
}

pub(super) fn key(k: &Value) -> &str {
    k.as_str().unwrap_or("?")
}

pub(super) struct Page<'a> {
    pub(super) spec: &'a Value,
}

impl<'a> Page<'a> {
    /// Follows local `$ref`s.
    fn resolve(&self, mut v: &'a Value) -> &'a Value {
        for _ in 0..16 {
            let Some(r) = v.get("$ref").and_then(Value::as_str) else {
                return v;
            };
            match r.strip_prefix('#').and_then(|p| pointer(self.spec, p)) {
                Some(target) => v = target,
                None => return v,
            }
        }
        v
    }

    /// A one-line description of a schema's type and constraints, schema references linked.
    fn type_of(&self, s: &Value) -> String {
        if let Some(r) = s.get("$ref").and_then(Value::as_str) {
            let name = ref_name(r);
            return format!("<a href=\"#{}\">{}</a>", anchor("schema", name), esc(name));
        }
        for (key, sep) in [("allOf", " &amp; "), ("oneOf", " | "), ("anyOf", " | ")] {
            if let Some(parts) = s.get(key).and_then(Value::as_sequence) {
                return parts
                    .iter()
                    .map(|p| {
                        if p.get("type").is_none() && p.get("$ref").is_none() {
                            // An inline refinement, e.g. `properties: {error: {enum: [...]}}`.
                            self.refinement(p)
                        } else {
                            self.type_of(p)
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(sep);
            }
        }
        let mut t = match s.get("type").and_then(Value::as_str) {
            Some("array") => format!(
                "array of {}",
                s.get("items")
                    .map(|i| self.type_of(i))
                    .unwrap_or_else(|| "any".into())
            ),
            Some(t) => esc(t),
            // A refinement such as `{enum: [internal]}`: the facts say it all.
            None if s.get("enum").is_some() => String::new(),
            None => "any".into(),
        };
        if let Some(f) = s.get("format").and_then(Value::as_str) {
            let _ = write!(t, " ({})", esc(f));
        }
        if s.get("nullable") == Some(&Value::Bool(true)) {
            t.push_str(" | null");
        }
        let mut facts = Vec::new();
        if let Some(e) = s.get("enum").and_then(Value::as_sequence) {
            facts.push(format!(
                "one of {}",
                e.iter()
                    .map(|v| format!("<code>{}</code>", esc(&scalar(v))))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        for (key, label) in [
            ("minimum", "≥"),
            ("maximum", "≤"),
            ("minLength", "length ≥"),
            ("maxLength", "length ≤"),
            ("minItems", "items ≥"),
            ("default", "default"),
        ] {
            if let Some(v) = s.get(key) {
                facts.push(format!("{label} {}", esc(&scalar(v))));
            }
        }
        if let Some(p) = s.get("pattern").and_then(Value::as_str) {
            facts.push(format!("pattern <code>{}</code>", esc(p)));
        }
        if !facts.is_empty() {
            if !t.is_empty() {
                t.push(' ');
            }
            let _ = write!(t, "<span class=facts>{}</span>", facts.join("; "));
        }
        t
    }

    fn refinement(&self, p: &Value) -> String {
        let Some(props) = p.get("properties").and_then(Value::as_mapping) else {
            return "object".into();
        };
        let fields: Vec<String> = props
            .iter()
            .map(|(k, v)| format!("<code>{}</code>: {}", esc(key(k)), self.type_of(v)))
            .collect();
        format!("{{{}}}", fields.join(", "))
    }

    /// The `error` codes a response body can carry (from `properties.error.enum`, the most
    /// specific one of an `allOf`).
    fn error_codes(&self, schema: &'a Value) -> Vec<String> {
        let schema = self.resolve(schema);
        if let Some(parts) = schema.get("allOf").and_then(Value::as_sequence) {
            let mut codes = Vec::new();
            for p in parts {
                let c = self.error_codes(p);
                if !c.is_empty() {
                    codes = c;
                }
            }
            return codes;
        }
        schema
            .get("properties")
            .and_then(|p| p.get("error"))
            .map(|e| self.resolve(e))
            .and_then(|e| e.get("enum"))
            .and_then(Value::as_sequence)
            .map(|e| e.iter().map(scalar).collect())
            .unwrap_or_default()
    }

    /// A table of an object schema's properties.
    fn properties_table(&self, s: &Value) -> String {
        let Some(props) = s.get("properties").and_then(Value::as_mapping) else {
            return String::new();
        };
        let required: Vec<&str> = s
            .get("required")
            .and_then(Value::as_sequence)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut t = String::from(
            "<table><thead><tr><th>field</th><th>type</th><th>required</th><th>description</th></tr></thead><tbody>",
        );
        for (name, p) in props.iter().map(|(k, v)| (key(k), v)) {
            let _ = write!(
                t,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(name),
                self.type_of(p),
                if required.contains(&name) { "yes" } else { "" },
                p.get("description")
                    .and_then(Value::as_str)
                    .map(inline)
                    .unwrap_or_default()
            );
        }
        t.push_str("</tbody></table>");
        if s.get("additionalProperties") == Some(&Value::Bool(false)) {
            t.push_str("<p class=note>No other fields.</p>");
        }
        t
    }

    fn example(&self, v: Option<&Value>) -> String {
        match v {
            Some(e) => format!(
                "<pre>{}</pre>",
                esc(&serde_json::to_string_pretty(e).unwrap_or_default())
            ),
            None => String::new(),
        }
    }

    fn operation(&self, out: &mut String, path: &str, method: &str, op: &'a Value) {
        let id = op
            .get("operationId")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| format!("{method}-{path}"));
        let local = op
            .get("tags")
            .and_then(Value::as_sequence)
            .is_some_and(|t| t.iter().any(|t| t.as_str() == Some("local-only")));
        let _ = write!(
            out,
            "<section class=op id=\"{}\"><h3><span class=\"m m-{}\">{}</span> <code>{}</code>{}</h3>",
            anchor("op", &id),
            esc(method),
            esc(&method.to_ascii_uppercase()),
            esc(path),
            if local {
                " <span class=local>local stack only</span>"
            } else {
                ""
            }
        );
        if let Some(s) = op.get("summary").and_then(Value::as_str) {
            let _ = write!(out, "<p class=summary>{}</p>", inline(s));
        }
        if let Some(d) = op.get("description").and_then(Value::as_str) {
            out.push_str(&markdown(d));
        }
        let _ = write!(out, "<p class=note>operationId <code>{}</code>", esc(&id));
        if let Some(sec) = op.get("security").and_then(Value::as_sequence) {
            let names: Vec<String> = sec
                .iter()
                .filter_map(Value::as_mapping)
                .flat_map(|o| o.keys())
                .map(|k| {
                    let scheme = pointer(
                        self.spec,
                        &format!("/components/securitySchemes/{}", key(k)),
                    );
                    let how = scheme
                        .and_then(|s| s.get("scheme"))
                        .and_then(Value::as_str)
                        .map(|s| format!(" ({s}: <code>Authorization: Bearer …</code>)"))
                        .unwrap_or_default();
                    format!("<code>{}</code>{how}", esc(key(k)))
                })
                .collect();
            if !names.is_empty() {
                let _ = write!(out, " · auth {}", names.join(", "));
            }
        }
        out.push_str("</p>");

        if let Some(params) = op.get("parameters").and_then(Value::as_sequence)
            && !params.is_empty()
        {
            out.push_str("<h4>Parameters</h4><table><thead><tr><th>name</th><th>in</th><th>type</th><th>required</th><th>description</th></tr></thead><tbody>");
            for p in params {
                let p = self.resolve(p);
                let _ = write!(
                    out,
                    "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(p.get("name").and_then(Value::as_str).unwrap_or("?")),
                    esc(p.get("in").and_then(Value::as_str).unwrap_or("?")),
                    p.get("schema").map(|s| self.type_of(s)).unwrap_or_default(),
                    if p.get("required") == Some(&Value::Bool(true)) {
                        "yes"
                    } else {
                        ""
                    },
                    p.get("description")
                        .and_then(Value::as_str)
                        .map(inline)
                        .unwrap_or_default()
                );
            }
            out.push_str("</tbody></table>");
        }

        if let Some(body) = op.get("requestBody").map(|b| self.resolve(b)) {
            out.push_str("<h4>Request body</h4>");
            if let Some(content) = body.get("content").and_then(Value::as_mapping) {
                for (ct, media) in content.iter().map(|(k, v)| (key(k), v)) {
                    let schema = media.get("schema");
                    let _ = write!(
                        out,
                        "<p><code>{}</code>{}: {}</p>",
                        esc(ct),
                        if body.get("required") == Some(&Value::Bool(true)) {
                            ", required"
                        } else {
                            ""
                        },
                        schema.map(|s| self.type_of(s)).unwrap_or_default()
                    );
                    if let Some(s) = schema {
                        if s.get("$ref").is_none() {
                            if let Some(d) = s.get("description").and_then(Value::as_str) {
                                out.push_str(&markdown(d));
                            }
                            out.push_str(&self.properties_table(s));
                        }
                        let example = media
                            .get("example")
                            .or_else(|| self.resolve(s).get("example"));
                        if example.is_some() {
                            out.push_str("<p class=note>Example:</p>");
                            out.push_str(&self.example(example));
                        }
                    }
                }
            }
        }

        if let Some(responses) = op.get("responses").and_then(Value::as_mapping) {
            out.push_str("<h4>Responses</h4><table class=responses><thead><tr><th>status</th><th>description</th><th>body</th><th>error codes</th><th>headers</th></tr></thead><tbody>");
            for (status, r) in responses.iter().map(|(k, v)| (key(k), v)) {
                let r = self.resolve(r);
                let schema = r
                    .get("content")
                    .and_then(Value::as_mapping)
                    .and_then(|c| c.values().next())
                    .and_then(|m| m.get("schema"));
                let codes = schema.map(|s| self.error_codes(s)).unwrap_or_default();
                let headers: Vec<String> = r
                    .get("headers")
                    .and_then(Value::as_mapping)
                    .map(|h| {
                        h.keys()
                            .map(|k| format!("<code>{}</code>", esc(key(k))))
                            .collect()
                    })
                    .unwrap_or_default();
                let class = match status.chars().next() {
                    Some('2') => "s2",
                    Some('4') => "s4",
                    Some('5') => "s5",
                    _ => "",
                };
                let _ = write!(
                    out,
                    "<tr><td class={class}><b>{}</b></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(status),
                    r.get("description")
                        .and_then(Value::as_str)
                        .map(inline)
                        .unwrap_or_default(),
                    schema.map(|s| self.type_of(s)).unwrap_or_default(),
                    codes
                        .iter()
                        .map(|c| format!("<code>{}</code>", esc(c)))
                        .collect::<Vec<_>>()
                        .join(" "),
                    headers.join(" ")
                );
            }
            out.push_str("</tbody></table>");
        }
        out.push_str("</section>");
    }

    pub(super) fn render(&self) -> String {
        let spec = self.spec;
        let title = pointer(spec, "/info/title")
            .and_then(Value::as_str)
            .unwrap_or("API");
        let version = pointer(spec, "/info/version")
            .map(scalar)
            .unwrap_or_default();
        let mut out = String::new();
        let _ = write!(
            out,
            "<!doctype html><html lang=en><head><meta charset=utf-8><meta name=viewport content=\"width=device-width, initial-scale=1\"><title>{} {} — API reference</title><style>{}</style></head><body><main>",
            esc(title),
            esc(&version),
            STYLE
        );
        let _ = write!(
            out,
            "<h1>{} <small>{} · OpenAPI {}</small></h1>",
            esc(title),
            esc(&version),
            esc(&spec.get("openapi").map(scalar).unwrap_or_default())
        );
        out.push_str("<p class=note>Generated by the local stack from <a href=\"/openapi.yaml\"><code>/openapi.yaml</code></a> (docs/openapi.yaml). Try the routes with curl: see the README.</p>");
        if let Some(d) = pointer(spec, "/info/description").and_then(Value::as_str) {
            out.push_str(&markdown(d));
        }
        if let Some(servers) = spec.get("servers").and_then(Value::as_sequence) {
            out.push_str("<h2>Servers</h2><ul>");
            for s in servers {
                let _ = write!(
                    out,
                    "<li><code>{}</code> — {}</li>",
                    esc(s.get("url").and_then(Value::as_str).unwrap_or("")),
                    inline(s.get("description").and_then(Value::as_str).unwrap_or(""))
                );
            }
            out.push_str("</ul>");
        }

        let mut ops: Vec<(&str, &str, &Value)> = Vec::new();
        if let Some(paths) = spec.get("paths").and_then(Value::as_mapping) {
            for (path, item) in paths.iter().map(|(k, v)| (key(k), v)) {
                if let Some(item) = item.as_mapping() {
                    for (method, op) in item.iter().map(|(k, v)| (key(k), v)) {
                        if METHODS.contains(&method) {
                            ops.push((path, method, op));
                        }
                    }
                }
            }
        }

        out.push_str("<h2>Operations</h2><table class=toc><tbody>");
        for (path, method, op) in &ops {
            let id = op
                .get("operationId")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| format!("{method}-{path}"));
            let _ = write!(
                out,
                "<tr><td><span class=\"m m-{}\">{}</span></td><td><a href=\"#{}\"><code>{}</code></a></td><td>{}</td></tr>",
                esc(method),
                esc(&method.to_ascii_uppercase()),
                anchor("op", &id),
                esc(path),
                op.get("summary")
                    .and_then(Value::as_str)
                    .map(inline)
                    .unwrap_or_default()
            );
        }
        out.push_str("</tbody></table>");

        out.push_str("<h2>Routes</h2>");
        for (path, method, op) in &ops {
            self.operation(&mut out, path, method, op);
        }

        if let Some(schemas) = pointer(spec, "/components/schemas").and_then(Value::as_mapping) {
            out.push_str("<h2>Schemas</h2>");
            for (name, s) in schemas.iter().map(|(k, v)| (key(k), v)) {
                let _ = write!(
                    out,
                    "<section class=schema id=\"{}\"><h3>{}</h3><p>{}</p>",
                    anchor("schema", name),
                    esc(name),
                    self.type_of(s)
                );
                if let Some(d) = s.get("description").and_then(Value::as_str) {
                    out.push_str(&markdown(d));
                }
                out.push_str(&self.properties_table(s));
                if s.get("example").is_some() {
                    out.push_str("<p class=note>Example:</p>");
                    out.push_str(&self.example(s.get("example")));
                }
                out.push_str("</section>");
            }
        }
        out.push_str("</main></body></html>\n");
        out
    }
}

const STYLE: &str = "body{margin:0;font:15px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1d232a;background:#f6f7f9}\
main{max-width:1100px;margin:0 auto;padding:24px 32px;background:#fff}\
h1{font-size:28px;margin:8px 0}h1 small{font-size:15px;color:#667;font-weight:normal}\
h2{margin-top:36px;border-bottom:2px solid #e3e6ea;padding-bottom:4px}\
h3{margin:0 0 6px;font-size:18px}h4{margin:14px 0 6px;font-size:15px;color:#445}\
code,pre{font:13px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#f1f3f5;border-radius:3px}\
code{padding:1px 4px}pre{padding:8px 10px;overflow:auto}\
a{color:#0b5cad;text-decoration:none}a:hover{text-decoration:underline}\
table{border-collapse:collapse;width:100%;margin:6px 0;font-size:14px}\
th,td{border:1px solid #e3e6ea;padding:4px 8px;text-align:left;vertical-align:top}th{background:#f6f7f9}\
section{border:1px solid #e3e6ea;border-radius:6px;padding:12px 16px;margin:14px 0}\
.m{display:inline-block;min-width:52px;text-align:center;border-radius:4px;color:#fff;font:bold 12px/20px ui-monospace,monospace;padding:0 6px}\
.m-get{background:#2f7d32}.m-post{background:#1565c0}.m-put{background:#b26a00}.m-delete{background:#c62828}.m-patch{background:#6a1b9a}\
.local{font-size:12px;font-weight:normal;background:#fff3cd;color:#7a5a00;border-radius:4px;padding:1px 6px}\
.summary{font-weight:600;margin:4px 0}.note{color:#667;font-size:13px;margin:4px 0}.facts{color:#667;font-size:13px}\
.s2{color:#2f7d32}.s4{color:#b26a00}.s5{color:#c62828}.toc td{border:none;padding:2px 8px}";
