//! API Gateway HTTP API (payload format 2.0), played locally: an HTTP request is matched
//! against the routes the template declares (exact paths before `{param}` paths, `$default`
//! last), turned into the event API Gateway sends, and the function's answer into the HTTP
//! response. A Lambda Function URL uses the same payload format, with route key `$default`.

use crate::runtime::{Answer, Function, TIMED_OUT};
use crate::template::{ACCOUNT, Route};
use axum::body::{Body, Bytes};
use axum::http::{HeaderName, HeaderValue, Method, Request, StatusCode};
use axum::response::Response;
use base64::Engine;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

/// A route with its function.
pub struct Bound {
    pub route: Route,
    pub function: Arc<Function>,
}

/// Routes in the order API Gateway prefers them.
pub struct Router {
    pub api_id: String,
    pub routes: Vec<Bound>,
    /// Requests that reached a function (API Gateway's `Count` less its own 404s).
    pub requests: std::sync::atomic::AtomicU64,
}

fn segments(p: &str) -> Vec<&str> {
    p.trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect()
}

/// Path parameters when `template` (`/a/{id}`, `/b/{proxy+}`) matches `path`.
pub fn match_path(template: &str, path: &str) -> Option<HashMap<String, String>> {
    let (t, p) = (segments(template), segments(path));
    let mut params = HashMap::new();
    for (i, seg) in t.iter().enumerate() {
        if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix("+}")) {
            if i >= p.len() {
                return None;
            }
            params.insert(name.to_owned(), p[i..].join("/"));
            return Some(params);
        }
        let actual = p.get(i)?;
        if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            params.insert(name.to_owned(), percent_decode(actual));
        } else if seg != actual {
            return None;
        }
    }
    (t.len() == p.len()).then_some(params)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn specificity(r: &Route) -> (u8, usize, usize) {
    match &r.path {
        None => (0, 0, 0),
        Some(p) => {
            let greedy = p.contains("+}");
            let literal = segments(p).iter().filter(|s| !s.starts_with('{')).count();
            (
                if greedy { 1 } else { 2 },
                literal,
                usize::from(r.method.is_some()),
            )
        }
    }
}

impl Router {
    pub fn new(api_id: String, mut routes: Vec<Bound>) -> Self {
        routes.sort_by_key(|b| std::cmp::Reverse(specificity(&b.route)));
        Router {
            api_id,
            routes,
            requests: Default::default(),
        }
    }

    /// The route serving `method path`, with its path parameters.
    pub fn find(&self, method: &Method, path: &str) -> Option<(&Bound, HashMap<String, String>)> {
        self.routes.iter().find_map(|b| {
            if let Some(m) = &b.route.method
                && m != method.as_str()
            {
                return None;
            }
            match &b.route.path {
                None => Some((b, HashMap::new())),
                Some(t) => match_path(t, path).map(|p| (b, p)),
            }
        })
    }
}

fn is_text(content_type: Option<&str>) -> bool {
    match content_type {
        None => true,
        Some(ct) => {
            let ct = ct.to_ascii_lowercase();
            ct.starts_with("text/")
                || ct.contains("json")
                || ct.contains("xml")
                || ct.contains("x-www-form-urlencoded")
                || ct.contains("javascript")
        }
    }
}

/// The payload format 2.0 event for a request.
pub fn event(
    api_id: &str,
    route_key: &str,
    params: &HashMap<String, String>,
    req: &axum::http::request::Parts,
    body: &Bytes,
    source: Option<SocketAddr>,
) -> Value {
    let (method, uri, headers) = (&req.method, &req.uri, &req.headers);
    let mut hdrs = Map::new();
    let mut cookies = Vec::new();
    for (k, v) in headers {
        let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
        if k == "cookie" {
            cookies.extend(v.split(';').map(|c| json!(c.trim())));
            continue;
        }
        let key = k.as_str().to_ascii_lowercase();
        match hdrs.get_mut(&key) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&v);
            }
            _ => {
                hdrs.insert(key, json!(v));
            }
        }
    }
    let raw_query = uri.query().unwrap_or("").to_owned();
    let mut query = Map::new();
    for pair in raw_query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (
            percent_decode(&k.replace('+', " ")),
            percent_decode(&v.replace('+', " ")),
        );
        match query.get_mut(&k) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&v);
            }
            _ => {
                query.insert(k, json!(v));
            }
        }
    }
    let ct = headers.get("content-type").and_then(|v| v.to_str().ok());
    let (body, b64) = if body.is_empty() {
        (Value::Null, false)
    } else if is_text(ct) && std::str::from_utf8(body).is_ok() {
        (json!(String::from_utf8_lossy(body)), false)
    } else {
        (
            json!(base64::engine::general_purpose::STANDARD.encode(body)),
            true,
        )
    };
    let now = chrono::Utc::now();
    let domain = format!("{api_id}.execute-api.us-east-1.amazonaws.com");
    let mut ev = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": uri.path(),
        "rawQueryString": raw_query,
        "headers": hdrs,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": api_id,
            "domainName": domain,
            "domainPrefix": api_id,
            "http": {
                "method": method.as_str(),
                "path": uri.path(),
                "protocol": "HTTP/1.1",
                "sourceIp": source.map(|s| s.ip().to_string()).unwrap_or_else(|| "127.0.0.1".into()),
                "userAgent": headers.get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or(""),
            },
            "requestId": uuid::Uuid::new_v4().simple().to_string()[..20].to_owned(),
            "routeKey": route_key,
            "stage": "$default",
            "time": now.format("%d/%b/%Y:%H:%M:%S +0000").to_string(),
            "timeEpoch": now.timestamp_millis(),
        },
        "isBase64Encoded": b64,
    });
    if !cookies.is_empty() {
        ev["cookies"] = json!(cookies);
    }
    if !query.is_empty() {
        ev["queryStringParameters"] = Value::Object(query);
    }
    if !params.is_empty() {
        ev["pathParameters"] = json!(params);
    }
    if !body.is_null() {
        ev["body"] = body;
    }
    ev
}

fn json_response(status: u16, body: Value) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap_or_default()
}

/// The HTTP response API Gateway makes of a function's answer.
pub fn response(answer: Answer) -> Response {
    // A throttled invocation (the Invoke API refused it: 429 TooManyRequestsException) is
    // an integration failure to API Gateway: "If the Lambda API rejects the invocation
    // request, API Gateway returns a 500 error code" with a generic body and no Retry-After
    // (https://docs.aws.amazon.com/lambda/latest/dg/services-apigateway-errors.html; the
    // HTTP API spells its body "Internal Server Error",
    // https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-troubleshooting-lambda.html).
    // A client cannot tell it from a function error: it backs off and retries with its
    // Idempotency-Key.
    if answer.is_throttle() {
        return json_response(500, json!({"message": "Internal Server Error"}));
    }
    let v = match answer {
        Answer::Err(e) => {
            let timeout = e.get("errorType").and_then(Value::as_str) == Some(TIMED_OUT);
            return if timeout {
                json_response(503, json!({"message": "Service Unavailable"}))
            } else {
                json_response(500, json!({"message": "Internal Server Error"}))
            };
        }
        Answer::Ok(b) => match serde_json::from_slice::<Value>(&b) {
            Ok(v) => v,
            Err(_) => return json_response(500, json!({"message": "Internal Server Error"})),
        },
    };
    // Payload 2.0: without `statusCode` the whole answer is a 200 JSON body.
    let Some(status) = v.get("statusCode").and_then(Value::as_u64) else {
        return json_response(200, v);
    };
    let mut res = Response::builder()
        .status(StatusCode::from_u16(status as u16).unwrap_or(StatusCode::BAD_GATEWAY));
    let mut add = |k: &str, val: &str| {
        if let (Ok(k), Ok(val)) = (HeaderName::try_from(k), HeaderValue::from_str(val)) {
            res = std::mem::take(&mut res).header(k, val);
        }
    };
    if let Some(h) = v.get("headers").and_then(Value::as_object) {
        for (k, val) in h {
            add(k, val.as_str().unwrap_or(&val.to_string()));
        }
    }
    if let Some(h) = v.get("multiValueHeaders").and_then(Value::as_object) {
        for (k, vals) in h {
            for val in vals.as_array().into_iter().flatten() {
                add(k, val.as_str().unwrap_or_default());
            }
        }
    }
    for c in v
        .get("cookies")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        add("set-cookie", c.as_str().unwrap_or_default());
    }
    let body = v.get("body").and_then(Value::as_str).unwrap_or_default();
    let bytes = if v.get("isBase64Encoded").and_then(Value::as_bool) == Some(true) {
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap_or_default()
    } else {
        body.as_bytes().to_vec()
    };
    res.body(Body::from(bytes)).unwrap_or_default()
}

/// Serves one request through the router: API Gateway's own 404 when no route matches.
pub async fn serve(
    router: Arc<Router>,
    req: Request<Body>,
    source: Option<SocketAddr>,
) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 10 * 1024 * 1024).await else {
        return json_response(413, json!({"message": "Request Entity Too Large"}));
    };
    let Some((bound, params)) = router.find(&parts.method, parts.uri.path()) else {
        return json_response(404, json!({"message": "Not Found"}));
    };
    router
        .requests
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let ev = event(
        &router.api_id,
        &bound.route.key(),
        &params,
        &parts,
        &body,
        source,
    );
    response(bound.function.invoke(&ev).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_as_api_gateway_does() {
        assert_eq!(match_path("/sales", "/sales"), Some(HashMap::new()));
        assert_eq!(match_path("/sales", "/sales/x"), None);
        let p = match_path("/inventory/{sku}", "/inventory/glazed%20ring").unwrap();
        assert_eq!(p["sku"], "glazed ring");
        let p = match_path("/x/{proxy+}", "/x/a/b").unwrap();
        assert_eq!(p["proxy"], "a/b");
        assert_eq!(match_path("/inventory/{sku}", "/inventory"), None);
    }

    #[test]
    fn lambda_faults_become_what_the_http_api_answers() {
        let status = |e: Value| response(Answer::Err(e)).status().as_u16();
        assert_eq!(
            status(
                json!({"errorType": crate::runtime::THROTTLED, "errorMessage": "Rate Exceeded."})
            ),
            500
        );
        assert_eq!(status(json!({"errorType": TIMED_OUT})), 503);
        assert_eq!(status(json!({"errorType": crate::runtime::EXITED})), 500);
        let throttled = response(Answer::Err(json!({"errorType": crate::runtime::THROTTLED})));
        assert!(throttled.headers().get("retry-after").is_none());
    }
}
