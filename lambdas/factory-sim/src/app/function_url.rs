//! Function URL requests (payload format 2.0): the routes, and `POST /api/manufactures`
//! answered by the shared stand-in with this app as its
//! [`Completions`](crate::sim::Completions).

use super::{App, CompletionQueue};
use crate::routes::{self, Endpoint};
use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use base64::Engine;
use http::{HeaderMap, HeaderValue};
use serde_json::{Value, json};
use tracing::Instrument;

fn response(status: u16, body: Value, extra: &[(&'static str, &str)]) -> ApiGatewayV2httpResponse {
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    for (name, value) in extra {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(*name, v);
        }
    }
    let mut res = ApiGatewayV2httpResponse::default();
    res.status_code = i64::from(status);
    res.headers = headers;
    res.body = Some(Body::Text(body.to_string()));
    res.is_base64_encoded = false;
    res
}

fn error(status: u16, code: &str, message: &str) -> ApiGatewayV2httpResponse {
    response(status, json!({"error": code, "message": message}), &[])
}

/// The body of a Function URL request, base64-decoded when the URL says it is encoded.
pub fn body_bytes(req: &ApiGatewayV2httpRequest) -> Result<Vec<u8>, String> {
    let body = req.body.as_deref().unwrap_or_default();
    if req.is_base64_encoded {
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|e| format!("body is not valid base64: {e}"))
    } else {
        Ok(body.as_bytes().to_vec())
    }
}

impl<Q: CompletionQueue> App<Q> {
    /// A Function URL request.
    pub async fn http_request(&self, req: ApiGatewayV2httpRequest) -> ApiGatewayV2httpResponse {
        let method = req.request_context.http.method.clone();
        let path = req
            .raw_path
            .clone()
            .or_else(|| req.request_context.http.path.clone())
            .unwrap_or_else(|| "/".into());
        let correlation_id = req
            .headers
            .get("x-correlation-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_owned();
        let span =
            tracing::info_span!("request", %method, path = %path, correlation_id = %correlation_id);
        async move {
            match routes::endpoint(&method, &path).await {
                Endpoint::Manufacture => {
                    let res = self.manufacture(&req).await;
                    tracing::info!(status = res.status_code, "factory-sim answered");
                    res
                }
                Endpoint::MethodNotAllowed(allow) => response(
                    405,
                    json!({"error": "method_not_allowed", "message": format!("use {allow}")}),
                    &[("allow", allow)],
                ),
                Endpoint::NotFound => error(404, "not_found", "unknown factory-sim route"),
            }
        }
        .instrument(span)
        .await
    }

    /// `POST /api/manufactures`: answered by the shared stand-in
    /// ([`FactorySim::manufacture`](crate::sim::FactorySim::manufacture)), with this app as
    /// its [`Completions`](crate::sim::Completions) (allowed callbacks, the SQS delay queue).
    async fn manufacture(&self, req: &ApiGatewayV2httpRequest) -> ApiGatewayV2httpResponse {
        let body = body_bytes(req);
        let reply = self
            .sim
            .manufacture(body.as_deref().map_err(String::as_str), self)
            .await;
        response(reply.status, reply.body, &[])
    }
}

#[cfg(test)]
mod tests {
    use crate::app::testkit::{CALLBACK, app, manufacture_body, status_and_body, url_event};
    use crate::sim::Knobs;
    use std::sync::atomic::Ordering;

    #[tokio::test]
    async fn accepts_once_and_queues_the_completion() {
        let app = app(
            Knobs {
                delay_ms: 5000,
                ..Knobs::default()
            },
            Some("https://api.example.com"),
        );
        for base64 in [false, true] {
            let ev = url_event(
                "POST",
                "/api/manufactures",
                &manufacture_body("o1", CALLBACK),
                base64,
            );
            let (status, body) = status_and_body(&app.handle(ev).await.unwrap());
            assert_eq!(status, 202);
            assert_eq!(body["status"], "accepted");
            assert!(body["reference"].as_str().unwrap().starts_with("sim-"));
        }
        let sent = app.queue.sent.lock().unwrap().clone();
        assert_eq!(sent.len(), 1, "the repeat schedules nothing");
        assert_eq!(sent[0].1, 5);
        assert_eq!(sent[0].0.callback_url, CALLBACK);
        assert_eq!(sent[0].0.completion.product_cnt, 100);
        assert_eq!(sent[0].0.completion.message_group_id.as_deref(), Some("o1"));
    }

    #[tokio::test]
    async fn a_queue_failure_is_retryable_and_the_retry_schedules() {
        let app = app(Knobs::default(), None);
        app.queue.fail.store(true, Ordering::Relaxed);
        let ev = url_event(
            "POST",
            "/api/manufactures",
            &manufacture_body("o2", CALLBACK),
            false,
        );
        let (status, _) = status_and_body(&app.handle(ev.clone()).await.unwrap());
        assert_eq!(status, 503);
        app.queue.fail.store(false, Ordering::Relaxed);
        let (status, _) = status_and_body(&app.handle(ev).await.unwrap());
        assert_eq!(status, 202);
        assert_eq!(app.queue.sent.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn refuses_bad_requests_foreign_callbacks_and_other_routes() {
        let app = app(Knobs::default(), Some("https://api.example.com"));
        let cases = [
            (
                url_event("POST", "/api/manufactures", "{not json", false),
                400,
            ),
            (
                url_event(
                    "POST",
                    "/api/manufactures",
                    &manufacture_body("o3", "https://evil.example/steal"),
                    false,
                ),
                400,
            ),
            (url_event("POST", "/api/manufactures", "%%%", true), 400),
            (url_event("GET", "/api/manufactures", "", false), 405),
            (url_event("POST", "/nope", "{}", false), 404),
        ];
        for (ev, want) in cases {
            let (status, body) = status_and_body(&app.handle(ev).await.unwrap());
            assert_eq!(status, want, "{body}");
            assert!(body["error"].is_string());
        }
        assert!(app.queue.sent.lock().unwrap().is_empty());
        assert_eq!(app.sim.accepted_orders(), 0);
    }

    #[tokio::test]
    async fn knobs_fail_requests() {
        let app = app(
            Knobs {
                down: true,
                ..Knobs::default()
            },
            None,
        );
        let ev = url_event(
            "POST",
            "/api/manufactures",
            &manufacture_body("o4", CALLBACK),
            false,
        );
        let (status, body) = status_and_body(&app.handle(ev).await.unwrap());
        assert_eq!(status, 503);
        assert_eq!(body["error"], "factory_error");
        let app = self::app(
            Knobs {
                failure_rate: 1.0,
                ..Knobs::default()
            },
            None,
        );
        let ev = url_event(
            "POST",
            "/api/manufactures",
            &manufacture_body("o4", CALLBACK),
            false,
        );
        assert_eq!(status_and_body(&app.handle(ev).await.unwrap()).0, 500);
    }
}
