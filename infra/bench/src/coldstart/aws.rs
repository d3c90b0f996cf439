//! The AWS endpoint of a cold start (`AWS_ENDPOINT_URL`, and the URLs a first event names): every
//! request is an AWS call the function made (S3 `PutObject` of the exporter, the CloudFormation
//! response URL of migrate…), recorded and answered with an empty success.

use axum::Router;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use std::sync::{Arc, Mutex};

type Calls = Arc<Mutex<Vec<String>>>;

/// Serves on 127.0.0.1 until dropped.
pub(super) struct AwsStandIn {
    /// `http://127.0.0.1:<port>`.
    pub(super) url: String,
    calls: Calls,
    server: tokio::task::JoinHandle<()>,
}

impl AwsStandIn {
    pub(super) async fn start() -> std::io::Result<AwsStandIn> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let calls = Calls::default();
        let app = Router::new().fallback(call).with_state(calls.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(AwsStandIn { url, calls, server })
    }

    /// `METHOD /path` of every call so far.
    pub(super) fn calls(&self) -> Vec<String> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

impl Drop for AwsStandIn {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn call(
    axum::extract::State(calls): axum::extract::State<Calls>,
    method: Method,
    uri: Uri,
) -> Response {
    if let Ok(mut c) = calls.lock() {
        c.push(format!("{method} {}", uri.path()));
    }
    let mut res = (StatusCode::OK, "").into_response();
    res.headers_mut().insert(
        "etag",
        axum::http::HeaderValue::from_static("\"d41d8cd98f00b204e9800998ecf8427e\""),
    );
    res
}
