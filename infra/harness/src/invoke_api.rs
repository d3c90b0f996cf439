//! Lambda's `Invoke` API for the harness's functions, so that a client that calls Lambda itself
//! (`donut-ops migrations …` with `AWS_ENDPOINT_URL_LAMBDA` pointing here, the pre-traffic hook
//! with the same variable: [`crate::hook`]) reaches the deployed bootstraps:
//! `POST /2015-03-31/functions/{name}/invocations`, synchronous (`RequestResponse`, the default),
//! `{name}` a function's name, logical id or ARN. A qualified ARN or `name:qualifier` reaches the
//! version registered under it ([`serve_with`]: a new version a test published), else the one
//! running function (an alias, `$LATEST` and the template's version are that function here). As
//! Lambda answers: 200 with the function's payload and `X-Amz-Executed-Version`; a function error
//! is 200 with `X-Amz-Function-Error: Unhandled` and `{"errorType","errorMessage"}`; an unknown
//! function 404 `ResourceNotFoundException`. With `X-Amz-Log-Type: Tail` the answer carries the
//! last 4 KB of the lines the function printed during the invocation, base64, in
//! `X-Amz-Log-Result` (lines printed meanwhile by another invocation of the same function would
//! be among them). Requests are not authenticated (SigV4 is the client's concern; the listener
//! is on 127.0.0.1).

use crate::logs::LogHub;
use crate::runtime::{Answer, Function};
use crate::{Error, Harness};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the endpoint reaches.
struct Functions {
    all: Vec<Arc<Function>>,
    /// Qualified ARN (`…:function:name:2`) → that version's own function.
    versions: HashMap<String, Arc<Function>>,
    logs: Arc<LogHub>,
}

/// The most Lambda returns of a log tail.
const TAIL_BYTES: usize = 4096;

/// Serves the Invoke API for `h`'s functions on 127.0.0.1 (a free port); its base URL and task.
pub async fn serve(h: &Harness) -> Result<(String, tokio::task::JoinHandle<()>), Error> {
    serve_with(h, HashMap::new()).await
}

/// [`serve`], and `versions` by their qualified ARNs (a published version runs as a function of
/// its own: [`crate::hook::publish_version`]).
pub async fn serve_with(
    h: &Harness,
    versions: HashMap<String, Arc<Function>>,
) -> Result<(String, tokio::task::JoinHandle<()>), Error> {
    let functions = Functions {
        all: h.functions.values().cloned().collect(),
        versions,
        logs: h.logs.clone(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let app = Router::new()
        .route("/2015-03-31/functions/{name}/invocations", post(invoke))
        .with_state(Arc::new(functions));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((base, task))
}

impl Functions {
    /// The function `name` reaches, and the version it reports having run.
    fn find(&self, name: &str) -> Option<(Arc<Function>, String)> {
        if let Some((arn, f)) = self.versions.iter().find(|(arn, f)| {
            name == arn.as_str()
                || arn
                    .strip_prefix(&format!("{}:", f.arn()))
                    .is_some_and(|q| name == format!("{}:{q}", f.spec.name))
        }) {
            let qualifier = arn.rsplit(':').next().unwrap_or("$LATEST").to_owned();
            return Some((f.clone(), qualifier));
        }
        // `name`, `name:qualifier`, or a (possibly qualified) ARN.
        let f = self.all.iter().find(|f| {
            let arn = f.arn();
            name == arn
                || name.starts_with(&format!("{arn}:"))
                || [f.spec.name.as_str(), f.spec.logical_id.as_str()]
                    .iter()
                    .any(|n| name == *n || name.starts_with(&format!("{n}:")))
        })?;
        Some((f.clone(), "$LATEST".to_owned()))
    }
}

async fn invoke(
    State(functions): State<Arc<Functions>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some((function, version)) = functions.find(&name) else {
        return (
            StatusCode::NOT_FOUND,
            [("x-amzn-errortype", "ResourceNotFoundException")],
            json!({"Type": "User", "message": format!("Function not found: {name}")}).to_string(),
        )
            .into_response();
    };
    let payload: Value = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => {
                return (
                    StatusCode::BAD_REQUEST,
                    [("x-amzn-errortype", "InvalidRequestContentException")],
                    json!({"Type": "User", "message": format!("Could not parse request body into json: {e}")})
                        .to_string(),
                )
                    .into_response();
            }
        }
    };
    let tail = headers
        .get("x-amz-log-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.eq_ignore_ascii_case("tail"));
    let before = functions.logs.lines_of(&function.spec.name).len();
    let answer = function.invoke(&payload).await;
    let mut extra: Vec<(&'static str, String)> = vec![("x-amz-executed-version", version)];
    if tail {
        let lines = settled_lines(&functions.logs, &function.spec.name, before).await;
        extra.push(("x-amz-log-result", log_result(&lines)));
    }
    let mut response = match answer {
        Answer::Ok(bytes) => (StatusCode::OK, bytes).into_response(),
        Answer::Err(error) => (
            StatusCode::OK,
            [("x-amz-function-error", "Unhandled")],
            error.to_string(),
        )
            .into_response(),
    };
    for (k, v) in extra {
        if let Ok(v) = v.parse() {
            response.headers_mut().insert(k, v);
        }
    }
    response
}

/// The function's lines after the first `skip`, once they stopped coming (its stdout is read
/// apart from its answer: a line printed just before the answer may arrive just after it).
async fn settled_lines(logs: &LogHub, function: &str, skip: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut seen = logs.lines_of(function).len();
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = logs.lines_of(function).len();
        if now == seen || Instant::now() >= deadline {
            break;
        }
        seen = now;
    }
    logs.lines_of(function).into_iter().skip(skip).collect()
}

/// `X-Amz-Log-Result`: the last 4 KB of the lines, base64.
fn log_result(lines: &[String]) -> String {
    let text = lines.join("\n") + "\n";
    let mut start = text.len().saturating_sub(TAIL_BYTES);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    base64::engine::general_purpose::STANDARD.encode(&text.as_bytes()[start..])
}

#[cfg(test)]
mod tests {
    use super::log_result;
    use base64::Engine;

    #[test]
    fn the_log_tail_is_the_last_4_kb() {
        let lines: Vec<String> = (0..200)
            .map(|i| format!("line {i:04} {}", "x".repeat(40)))
            .collect();
        let tail = base64::engine::general_purpose::STANDARD
            .decode(log_result(&lines))
            .unwrap();
        assert_eq!(tail.len(), 4096);
        assert!(
            String::from_utf8(tail)
                .unwrap()
                .ends_with(&format!("{}\n", lines[199]))
        );
        let short = base64::engine::general_purpose::STANDARD
            .decode(log_result(&["a".into(), "b".into()]))
            .unwrap();
        assert_eq!(short, b"a\nb\n");
    }
}
