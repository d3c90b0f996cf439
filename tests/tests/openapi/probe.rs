//! One request of the sample ([`Probe`]), sent byte for byte over raw TCP ([`send_raw`]).

use pipeline_tests::faults::raw_http;
use serde_json::Value;
use std::collections::BTreeMap;

/// One request of the sample, with the operation it is aimed at and the status it must get.
pub struct Probe {
    pub label: &'static str,
    pub method: &'static str,
    /// The operation (path template) the request is for.
    pub template: &'static str,
    pub path: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<String>,
    pub expect: u16,
}

pub fn probe(
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
    pub fn json(mut self, body: Value) -> Self {
        self.body = Some(body.to_string());
        self.header("content-type", "application/json")
    }
    pub fn raw(mut self, content_type: &str, body: impl Into<String>) -> Self {
        self.body = Some(body.into());
        self.header("content-type", content_type)
    }
    pub fn header(mut self, k: &'static str, v: impl Into<String>) -> Self {
        self.headers.push((k, v.into()));
        self
    }
}

/// Sends raw HTTP/1.1 over TCP: each request reaches the server byte for byte as written (HTTP
/// clients, `reqwest` too, resolve dot segments and would refuse some of the probes).
pub async fn send_raw(
    addr: std::net::SocketAddr,
    p: &Probe,
) -> (u16, BTreeMap<String, String>, Value) {
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
    let reply = raw_http(addr, req.as_bytes())
        .await
        .unwrap_or_else(|| panic!("{}: no HTTP response", p.label));
    let headers: BTreeMap<String, String> = reply
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect();
    let json = reply.json().unwrap_or_else(|| {
        panic!(
            "{}: status {}: body is not JSON: {:?}",
            p.label,
            reply.status,
            String::from_utf8_lossy(&reply.body)
        )
    });
    (reply.status, headers, json)
}
