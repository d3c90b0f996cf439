//! Faults: admin authentication.

use super::SUITE;
use pipeline_tests::faults::{Expect, Record};
use pipeline_tests::{Db, TestApp};
use std::time::Instant;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn admin_calls_without_a_valid_token_change_nothing() {
    let mut rec = Record::new(
        SUITE,
        "admin_calls_without_a_valid_token_change_nothing",
        "Admin PUTs with no / malformed / wrong / truncated / oversized / non-UTF-8 / duplicated tokens, token in the query, invalid bodies, 200 wrong guesses",
    )
    .on("sqlite");
    let app = TestApp::spawn(Db::Sqlite).await;
    let token = app.stack.admin_token.clone();
    let url = format!("{}/admin/inventory/cruller", app.base);
    let put = |auth: Vec<reqwest::header::HeaderValue>, b: &str| {
        let mut rb = app
            .http
            .put(&url)
            .header("content-type", "application/json")
            .body(b.to_owned());
        for a in auth {
            rb = rb.header("authorization", a);
        }
        rb
    };
    let hv = |s: &str| reqwest::header::HeaderValue::from_str(s).unwrap();
    let ok_body = r#"{"stock": 5}"#;
    let cases: Vec<(&str, reqwest::RequestBuilder, u16, &str)> = vec![
        ("no header", put(vec![], ok_body), 401, "unauthorized"),
        (
            "Bearer with no token",
            put(vec![hv("Bearer ")], ok_body),
            401,
            "unauthorized",
        ),
        (
            "BEARER scheme in capitals",
            put(vec![hv(&format!("BEARER {token}"))], ok_body),
            401,
            "unauthorized",
        ),
        (
            "Basic scheme",
            put(vec![hv(&format!("Basic {token}"))], ok_body),
            401,
            "unauthorized",
        ),
        (
            "token without scheme",
            put(vec![hv(&token)], ok_body),
            401,
            "unauthorized",
        ),
        (
            "non-UTF-8 header",
            put(
                vec![reqwest::header::HeaderValue::from_bytes(b"Bearer \xff\xfe").unwrap()],
                ok_body,
            ),
            401,
            "unauthorized",
        ),
        (
            "token in the query string",
            app.http
                .put(format!("{url}?token={token}"))
                .header("content-type", "application/json")
                .body(ok_body),
            401,
            "unauthorized",
        ),
        (
            "truncated token",
            put(
                vec![hv(&format!("Bearer {}", &token[..token.len() - 1]))],
                ok_body,
            ),
            403,
            "forbidden",
        ),
        (
            "case-changed token",
            put(
                vec![hv(&format!("Bearer {}", token.to_uppercase()))],
                ok_body,
            ),
            403,
            "forbidden",
        ),
        (
            "8 KiB token",
            put(vec![hv(&format!("Bearer {}", "a".repeat(8192)))], ok_body),
            403,
            "forbidden",
        ),
        (
            "wrong then right header",
            put(
                vec![hv("Bearer wrong"), hv(&format!("Bearer {token}"))],
                ok_body,
            ),
            403,
            "forbidden",
        ),
        (
            "no token + invalid body",
            put(vec![], "{not json"),
            401,
            "unauthorized",
        ),
        (
            "wrong token + invalid body",
            put(vec![hv("Bearer wrong")], "{not json"),
            403,
            "forbidden",
        ),
        (
            "no token + huge body",
            put(vec![], &"x".repeat(100_000)),
            401,
            "unauthorized",
        ),
    ];
    let n = cases.len();
    for (name, req, status, code) in cases {
        let r = app.send(req).await;
        assert_eq!(
            (r.status, r.body["error"].as_str()),
            (status, Some(code)),
            "{name}: {}",
            r.body
        );
        if status == 401 {
            assert_eq!(
                r.headers
                    .get("www-authenticate")
                    .and_then(|v| v.to_str().ok()),
                Some("Bearer"),
                "{name}"
            );
        }
    }
    let started = Instant::now();
    for i in 0..200 {
        let r = app
            .send(put(vec![hv(&format!("Bearer guess-{i}"))], ok_body))
            .await;
        assert_eq!(r.status, 403);
    }
    let guesses = started.elapsed();
    assert!(
        app.get("/inventory").await.body["products"]
            .as_array()
            .unwrap()
            .is_empty(),
        "nothing was created"
    );
    rec.saw(format!(
        "{n} malformed/wrong credentials: 401 unauthorized + WWW-Authenticate: Bearer when \
         absent or not a Bearer token, 403 forbidden when wrong; auth checked before the body; \
         200 wrong guesses all 403 in {} ms (no lockout in the handler: API Gateway throttling \
         is the rate limit)",
        guesses.as_millis()
    ));
    rec.held(app.check(&Expect::default()).await);
    rec.held(["no product created or changed".to_owned()]);
    app.stop().await;
}
