//! The local stack serves the contract (`/openapi.yaml`) and its reference page (`/docs`).

use crate::spec::{operations, spec, spec_path};
use pipeline_tests::{Db, TestApp};

/// The local stack serves the contract itself (`/openapi.yaml`, byte for byte the file) and a
/// readable reference generated from it (`/docs`) that lists every operation; the page is
/// self-contained (no scripts, no external assets).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_stack_serves_the_contract_and_its_reference_page() {
    let s = TestApp::spawn(Db::Sqlite).await;
    let c = &s.client;
    let file = std::fs::read_to_string(spec_path()).unwrap();

    let r = c
        .http
        .get(format!("{}/openapi.yaml", c.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/yaml")
    );
    assert!(
        r.text().await.unwrap() == file,
        "/openapi.yaml differs from docs/openapi.yaml"
    );

    let r = c.http.get(format!("{}/docs", c.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = r.text().await.unwrap();
    let spec = spec();
    for o in operations(&spec) {
        assert!(
            html.contains(&format!("<code>{}</code>", o.path)),
            "/docs does not list {}",
            o.path
        );
        let id = o.op["operationId"].as_str().unwrap();
        assert!(
            html.contains(&format!("id=\"op-{id}\"")),
            "/docs has no section for {} {} ({id})",
            o.method,
            o.path
        );
    }
    for name in spec["components"]["schemas"].as_object().unwrap().keys() {
        assert!(html.contains(&format!("id=\"schema-{name}\"")), "{name}");
    }
    for external in ["<script", "src=", "<link", "@import", "url("] {
        assert!(!html.contains(external), "/docs contains {external}");
    }

    let r = c
        .http
        .post(format!("{}/docs", c.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    s.stop().await;
}
