//! The route table decides what each function answers (`inventory::api::ROUTES`), the router
//! built from it keeps the API's routing rules, and the observation layer writes one capture
//! record per request with the matched template.

use inventory::api::{AdminToken, Api, App, Function, ROUTES, handle};
use inventory::capture::{CaptureKind, CaptureRecord, CaptureSink};
use inventory::factory::CallbackSigner;
use lambda_http::Body;
use lambda_http::http::{self, Method};
use pipeline_tests::Db;
use serde_json::Value;
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Recorded(Mutex<Vec<CaptureRecord>>);

impl CaptureSink for Recorded {
    fn submit(&self, record: CaptureRecord) {
        self.0.lock().unwrap().push(record);
    }
}

async fn app(serves: &'static [Function], dir: &std::path::Path) -> (App, Arc<Recorded>) {
    let capture = Arc::new(Recorded::default());
    let store = pipeline_tests::store(Db::Sqlite, dir).await;
    let app = App::new(Api {
        service: "routes-test",
        serves,
        store,
        publisher: None,
        admin: serves
            .contains(&Function::SalesApi)
            .then(|| AdminToken::new("t")),
        callbacks: serves
            .contains(&Function::Restock)
            .then(|| CallbackSigner::new("k")),
        capture: capture.clone(),
    });
    (app, capture)
}

async fn call(app: &App, method: Method, uri: &str) -> (u16, http::HeaderMap, Value) {
    let req = http::Request::builder()
        .method(method)
        .uri(uri)
        .header("x-correlation-id", "corr-1")
        .body(Body::Empty)
        .unwrap();
    let res = handle(app, req).await;
    let body = match res.body() {
        Body::Text(s) => serde_json::from_str(s).unwrap(),
        // A response to HEAD has no body.
        Body::Empty => Value::Null,
        other => panic!("not a text body: {other:?}"),
    };
    (res.status().as_u16(), res.headers().clone(), body)
}

#[tokio::test]
async fn each_function_answers_its_own_routes_and_404s_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let (restock, _) = app(&[Function::Restock], dir.path()).await;
    // A route of another function: 404, after the method check as for any known path.
    let (status, _, body) = call(&restock, Method::POST, "/sales").await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
    assert_eq!(body["message"], "no route for /sales");
    let (status, headers, _) = call(&restock, Method::GET, "/sales").await;
    assert_eq!(status, 405);
    assert_eq!(headers["allow"], "POST");
    assert_eq!(call(&restock, Method::GET, "/health").await.0, 200);
    let (status, headers, _) = call(&restock, Method::POST, "/factory/callbacks/x").await;
    assert_eq!(status, 401);
    assert_eq!(headers["www-authenticate"], "Bearer");

    let (sales, _) = app(&[Function::SalesApi], dir.path()).await;
    let (status, _, body) = call(&sales, Method::POST, "/factory/callbacks/x/").await;
    assert_eq!(status, 404);
    assert_eq!(body["message"], "no route for /factory/callbacks/x/");
    assert_eq!(call(&sales, Method::GET, "/inventory/").await.0, 200);
    assert_eq!(call(&sales, Method::HEAD, "/inventory").await.0, 405);

    // Which function answers what is exactly the table.
    for r in ROUTES {
        for f in Function::ALL {
            let (app, _) = app(std::slice::from_ref(f), dir.path()).await;
            let method = Method::from_bytes(r.method.as_bytes()).unwrap();
            let path = r.path.replace("{sku}", "glazed").replace("{id}", "x");
            let (status, _, body) = call(&app, method, &path).await;
            let served = body["message"] != format!("no route for {path}");
            assert_eq!(
                served,
                r.served_by.contains(f),
                "{f:?} {} {}",
                r.method,
                r.path
            );
            assert_ne!(status, 405, "{} {}", r.method, r.path);
        }
    }
}

#[tokio::test]
async fn every_request_is_captured_with_its_template_and_correlation_id() {
    let dir = tempfile::tempdir().unwrap();
    let (app, captured) = app(Function::ALL, dir.path()).await;
    let (status, headers, _) = call(&app, Method::GET, "/inventory/no-such-donut/").await;
    assert_eq!(status, 404);
    assert_eq!(headers["x-correlation-id"], "corr-1");
    assert_eq!(headers["content-type"], "application/json");
    assert!(headers.get("content-length").is_none());
    let (status, headers, _) = call(&app, Method::GET, "/nope?correlation_id=c2").await;
    assert_eq!(status, 404);
    assert_eq!(headers["x-correlation-id"], "corr-1", "the header wins");
    let records = captured.0.lock().unwrap().clone();
    assert_eq!(records.len(), 2);
    let r = &records[0];
    assert_eq!(r.kind, CaptureKind::ApiRequest);
    assert_eq!(r.route, "/inventory/{sku}");
    assert_eq!(r.path_params["sku"], "no-such-donut");
    assert_eq!(r.sku.as_deref(), Some("no-such-donut"));
    assert_eq!(r.error.as_deref(), Some("unknown_sku"));
    assert_eq!((r.status, r.correlation_id.as_str()), (404, "corr-1"));
    assert_eq!(r.service, "routes-test");
    let r = &records[1];
    assert_eq!(
        (r.route.as_str(), r.error.as_deref()),
        ("unmatched", Some("not_found"))
    );
    assert!(r.path_params.is_empty());
    let line = serde_json::to_value(r).unwrap();
    assert_eq!(line["kind"], "api_request");
}
