//! AWS X-Ray export of the spans named in [`crate::spans`] (the tracing convention): a
//! `tracing` layer that turns each finished `request`/`message`/`relay`/`callback` span and each
//! `db`/`sns`/`kinesis`/`factory` call span into an X-Ray subsegment and sends it to the X-Ray
//! daemon over UDP (`{"format": "json", "version": 1}` + newline + the document), the way the
//! X-Ray SDKs do. Nothing else: no sampling rules (Lambda decides, the header says), no
//! in-progress segments, no batching.
//!
//! Where a subsegment hangs: under the nearest enclosing exported span, else under the Lambda
//! function's segment, whose trace id and id come from the invocation's trace header (the
//! `xrayTraceId` field of lambda_runtime's `Lambda runtime invoke` span, i.e. `_X_AMZN_TRACE_ID`).
//! An invocation that is not sampled (`Sampled=0`) sends nothing. Outside Lambda (explicitly
//! switched on, no trace header) the outermost exported span starts a new trace as a segment named
//! after the service; on Lambda a span outside any invocation (init) is not sent.
//!
//! When: on when `AWS_XRAY_DAEMON_ADDRESS` is set (Lambda sets it when the function's tracing is
//! `Active`), unless `XRAY_TRACING=off`; off elsewhere unless `XRAY_TRACING=on` (then the daemon
//! is `AWS_XRAY_DAEMON_ADDRESS`, default `127.0.0.1:2000`). A send that fails is dropped and
//! counted ([`XrayLayer::dropped`]); it never fails or slows an invocation (non-blocking socket).

use crate::json_fields::{Floats, JsonVisitor};
use serde_json::{Map, Value, json};
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};
use tracing::span::{Attributes, Id, Record};
use tracing::{Metadata, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{FilterFn, Filtered, filter_fn};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// Set by Lambda when the function's tracing is `Active`: the daemon's UDP address.
pub const DAEMON_ADDRESS: &str = "AWS_XRAY_DAEMON_ADDRESS";
/// `on` | `off` | unset (= on iff [`DAEMON_ADDRESS`] is set).
pub const SWITCH: &str = "XRAY_TRACING";
/// The daemon's default address (`xray -o` locally).
pub const DEFAULT_DAEMON: &str = "127.0.0.1:2000";
/// The span lambda_runtime opens per invocation; its `xrayTraceId` field is the trace header.
pub const INVOKE_SPAN: &str = "Lambda runtime invoke";
/// Handler spans (one per request, SQS message, relayed event, callback) exported as subsegments.
pub const HANDLER_SPANS: &[&str] = &["request", "message", "relay", "callback"];
/// Call spans (see the convention in [`crate::spans`]) exported as subsegments.
pub const CALL_SPANS: &[&str] = &["db", "sns", "kinesis", "factory"];

const DAEMON_HEADER: &[u8] = b"{\"format\": \"json\", \"version\": 1}\n";
/// X-Ray annotation values are capped; longer strings are cut.
const MAX_ANNOTATION_CHARS: usize = 250;

/// Where and whether to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XrayConfig {
    pub daemon: SocketAddr,
    pub service: &'static str,
    /// Start a trace (a segment named after the service) for an exported span that has no
    /// trace header above it: true off Lambda (a local daemon), false on Lambda.
    pub new_traces: bool,
    /// `aws.region` of AWS call subsegments (`AWS_REGION`).
    pub region: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum XrayConfigError {
    #[error("{SWITCH} must be on or off, not {0:?}")]
    Switch(String),
    #[error("{DAEMON_ADDRESS} {0:?} is not a host:port (or `udp:host:port`)")]
    Address(String),
}

impl XrayConfig {
    /// From the process environment: `Ok(None)` when tracing is off.
    pub fn from_env(service: &'static str) -> Result<Option<Self>, XrayConfigError> {
        Self::from_lookup(service, |name| std::env::var(name).ok())
    }

    /// From `get` (an environment lookup): see the module docs for the rules.
    pub fn from_lookup(
        service: &'static str,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, XrayConfigError> {
        let address = get(DAEMON_ADDRESS).filter(|a| !a.trim().is_empty());
        let switch = get(SWITCH).unwrap_or_default().trim().to_ascii_lowercase();
        let on = match switch.as_str() {
            "" | "auto" => address.is_some(),
            "on" | "true" | "1" => true,
            "off" | "false" | "0" => false,
            _ => return Err(XrayConfigError::Switch(switch)),
        };
        if !on {
            return Ok(None);
        }
        let address = address.unwrap_or_else(|| DEFAULT_DAEMON.to_owned());
        Ok(Some(XrayConfig {
            daemon: daemon_address(&address)?,
            service,
            new_traces: get("AWS_LAMBDA_FUNCTION_NAME").is_none(),
            region: get("AWS_REGION").filter(|r| !r.is_empty()),
        }))
    }
}

/// `host:port`, or the SDKs' `tcp:host:port udp:host:port` form (the UDP one is used).
fn daemon_address(text: &str) -> Result<SocketAddr, XrayConfigError> {
    let text = text.trim();
    let udp = text
        .split_whitespace()
        .find_map(|part| part.strip_prefix("udp:"))
        .unwrap_or(text);
    udp.to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| XrayConfigError::Address(text.to_owned()))
}

/// The parts of an X-Ray trace header (`Root=1-…;Parent=…;Sampled=1;Lineage=…`) this layer uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceHeader {
    pub root: String,
    pub parent: Option<String>,
    /// `None` when the header leaves the decision open (`Sampled=?` or absent): sent.
    pub sampled: Option<bool>,
}

impl TraceHeader {
    pub fn parse(header: &str) -> Option<Self> {
        let mut root = None;
        let mut parent = None;
        let mut sampled = None;
        for part in header.split(';') {
            let Some((key, value)) = part.split_once('=') else {
                continue;
            };
            match key.trim() {
                "Root" if is_trace_id(value.trim()) => root = Some(value.trim().to_owned()),
                "Parent" if is_hex(value.trim(), 16) => parent = Some(value.trim().to_owned()),
                "Sampled" => {
                    sampled = match value.trim() {
                        "1" => Some(true),
                        "0" => Some(false),
                        _ => None,
                    }
                }
                _ => {}
            }
        }
        Some(TraceHeader {
            root: root?,
            parent,
            sampled,
        })
    }
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `1-<8 hex: epoch seconds>-<24 hex>`.
fn is_trace_id(s: &str) -> bool {
    let mut parts = s.split('-');
    parts.next() == Some("1")
        && parts.next().is_some_and(|t| is_hex(t, 8))
        && parts.next().is_some_and(|r| is_hex(r, 24))
        && parts.next().is_none()
}

fn new_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

fn new_trace_id(now: f64) -> String {
    let random: [u8; 12] = rand::random();
    format!("1-{:08x}-{}", now as u64, hex::encode(random))
}

fn epoch_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

/// The layer, with the filter that lets through only the spans it exports (and the invocation
/// span that carries the trace header), whatever the log level: install it next to the log
/// layer, e.g. `registry().with(logs).with(xray::layer(config))`. `None` when the socket cannot
/// be opened.
pub fn layer<S>(config: XrayConfig) -> Option<Filtered<XrayLayer, FilterFn, S>>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    XrayLayer::new(config)
        .ok()
        .map(|l| l.with_filter(exported()))
}

fn exported() -> FilterFn {
    filter_fn(|meta: &Metadata<'_>| {
        meta.is_span()
            && (meta.name() == INVOKE_SPAN
                || HANDLER_SPANS.contains(&meta.name())
                || CALL_SPANS.contains(&meta.name()))
    })
}

/// See the module docs.
pub struct XrayLayer {
    socket: UdpSocket,
    config: XrayConfig,
    dropped: Arc<AtomicU64>,
}

impl XrayLayer {
    pub fn new(config: XrayConfig) -> std::io::Result<Self> {
        let local: SocketAddr = if config.daemon.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = UdpSocket::bind(local)?;
        socket.set_nonblocking(true)?;
        Ok(XrayLayer {
            socket,
            config,
            dropped: Arc::default(),
        })
    }

    /// Documents that could not be sent since start (shared counter).
    pub fn dropped(&self) -> Arc<AtomicU64> {
        self.dropped.clone()
    }

    fn send(&self, document: &Value) {
        let mut datagram = DAEMON_HEADER.to_vec();
        let sent = serde_json::to_writer(&mut datagram, document)
            .map_err(std::io::Error::from)
            .and_then(|()| self.socket.send_to(&datagram, self.config.daemon));
        if let Err(e) = sent {
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::debug!(target: "inventory::xray", error = %e, dropped, "X-Ray document not sent");
        }
    }
}

/// Stored on the invocation span: its trace, if the header was present and valid.
struct Invocation(Option<TraceHeader>);

/// Stored on an exported span until it closes.
struct Pending {
    id: String,
    trace_id: String,
    /// `None`: this span is the trace's root segment (local runs only).
    parent_id: Option<String>,
    sampled: bool,
    start: f64,
    fields: Map<String, Value>,
}

impl<S> Layer<S> for XrayLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let mut fields = Map::new();
        attrs.record(&mut JsonVisitor::new(&mut fields, Floats::Exact));
        if span.name() == INVOKE_SPAN {
            let header = fields
                .get("xrayTraceId")
                .and_then(Value::as_str)
                .and_then(TraceHeader::parse);
            span.extensions_mut().insert(Invocation(header));
            return;
        }
        // (trace id, parent id, sampled) from the nearest exported span or invocation above.
        let mut context = None;
        for ancestor in span.scope().skip(1) {
            let ext = ancestor.extensions();
            if let Some(p) = ext.get::<Pending>() {
                context = Some((p.trace_id.clone(), Some(p.id.clone()), p.sampled));
                break;
            }
            if let Some(Invocation(header)) = ext.get::<Invocation>() {
                context = header
                    .as_ref()
                    .map(|h| (h.root.clone(), h.parent.clone(), h.sampled.unwrap_or(true)));
                break;
            }
        }
        let start = epoch_seconds();
        let (trace_id, parent_id, sampled) = match context {
            Some(c) => c,
            None if self.config.new_traces => (new_trace_id(start), None, true),
            None => return,
        };
        span.extensions_mut().insert(Pending {
            id: new_id(),
            trace_id,
            parent_id,
            sampled,
            start,
            fields,
        });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(pending) = span.extensions_mut().get_mut::<Pending>()
        {
            values.record(&mut JsonVisitor::new(&mut pending.fields, Floats::Exact));
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else {
            return;
        };
        let name = span.name();
        let Some(pending) = span.extensions_mut().remove::<Pending>() else {
            return;
        };
        if pending.sampled {
            let doc = document(&pending, name, epoch_seconds(), &self.config);
            drop(span);
            self.send(&doc);
        }
    }
}

/// The segment document of one finished span (field mapping: [`crate::spans`]).
fn document(p: &Pending, span_name: &str, end: f64, config: &XrayConfig) -> Value {
    let field = |k: &str| p.fields.get(k);
    let text = |k: &str| field(k).and_then(Value::as_str);
    let name = match (span_name, p.parent_id.is_some()) {
        (_, false) => config.service.to_owned(),
        ("sns", _) => "SNS".to_owned(),
        ("kinesis", _) => "Kinesis".to_owned(),
        ("db", _) => text("db.system").unwrap_or("db").to_owned(),
        (other, _) => other.to_owned(),
    };
    let mut d = Map::new();
    d.insert("name".into(), name.into());
    d.insert("id".into(), p.id.as_str().into());
    d.insert("trace_id".into(), p.trace_id.as_str().into());
    d.insert("start_time".into(), json!(p.start));
    d.insert("end_time".into(), json!(end.max(p.start)));
    if let Some(parent) = &p.parent_id {
        d.insert("type".into(), "subsegment".into());
        d.insert("parent_id".into(), parent.as_str().into());
    }
    if let Some(op) = text("aws.operation") {
        d.insert("namespace".into(), "aws".into());
        let mut aws = Map::new();
        aws.insert("operation".into(), op.into());
        if let Some(r) = &config.region {
            aws.insert("region".into(), r.as_str().into());
        }
        if let Some(rid) = text("aws.request_id") {
            aws.insert("request_id".into(), rid.into());
        }
        if let Some(res) = text("aws.resource") {
            aws.insert("resource_names".into(), json!([res]));
        }
        d.insert("aws".into(), Value::Object(aws));
    } else if CALL_SPANS.contains(&span_name) {
        d.insert("namespace".into(), "remote".into());
    }
    if let Some(system) = text("db.system") {
        d.insert("sql".into(), json!({ "database_type": system }));
    }
    let status = field("http.status_code").and_then(Value::as_u64);
    let method = text("http.method");
    if status.is_some() || method.is_some() {
        let mut http = Map::new();
        if let Some(m) = method {
            http.insert("request".into(), json!({ "method": m }));
        }
        if let Some(s) = status {
            http.insert("response".into(), json!({ "status": s }));
        }
        d.insert("http".into(), Value::Object(http));
    }
    // 429 = throttle (an error), other 4xx = error (the caller's), 5xx = fault (the callee's); a
    // failure without a status (timeout, connection, database) is a fault.
    let error_kind = text("error.kind");
    match status {
        Some(429) => {
            d.insert("error".into(), true.into());
            d.insert("throttle".into(), true.into());
        }
        Some(400..=499) => {
            d.insert("error".into(), true.into());
        }
        Some(500..=599) => {
            d.insert("fault".into(), true.into());
        }
        _ if error_kind.is_some() => {
            d.insert("fault".into(), true.into());
        }
        _ => {}
    }
    if let Some(kind) = error_kind {
        d.insert(
            "cause".into(),
            json!({ "exceptions": [{ "id": new_id(), "message": kind, "remote": CALL_SPANS.contains(&span_name) }] }),
        );
    }
    // Plain fields are X-Ray annotations (indexed: `annotation.correlation_id = "…"`), dotted ones
    // not mapped above are metadata.
    let mut annotations = Map::new();
    let mut metadata = Map::new();
    for (k, v) in &p.fields {
        if k.contains('.') {
            if !MAPPED.contains(&k.as_str()) {
                metadata.insert(k.clone(), v.clone());
            }
        } else if k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            let v = match v {
                Value::String(s) if s.chars().count() > MAX_ANNOTATION_CHARS => {
                    Value::String(s.chars().take(MAX_ANNOTATION_CHARS).collect())
                }
                Value::String(_) | Value::Number(_) | Value::Bool(_) => v.clone(),
                other => Value::String(other.to_string()),
            };
            annotations.insert(k.clone(), v);
        }
    }
    if !annotations.is_empty() {
        d.insert("annotations".into(), Value::Object(annotations));
    }
    if !metadata.is_empty() {
        d.insert("metadata".into(), json!({ "default": metadata }));
    }
    Value::Object(d)
}

/// Dotted fields that have a place in the document (the rest goes to metadata).
const MAPPED: &[&str] = &[
    "aws.operation",
    "aws.request_id",
    "aws.resource",
    "db.system",
    "http.method",
    "http.status_code",
    "error.kind",
];

#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
#[cfg(test)]
mod tests;
