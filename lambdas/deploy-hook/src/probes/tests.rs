use super::*;
use inventory::factory::CallbackSigner;

fn run() -> Run {
    let signer = CallbackSigner::new("k");
    Run::new("d-TEST", |order| signer.token(order))
}

fn http(status: u16, body: Value) -> Invoked {
    Invoked {
        payload: json!({"statusCode": status, "headers": {}, "body": body.to_string(), "isBase64Encoded": false})
            .to_string()
            .into_bytes(),
        ..Invoked::default()
    }
}

fn body_of(step: &Step) -> Value {
    serde_json::from_str(step.payload["body"].as_str().unwrap()).unwrap()
}

#[test]
fn each_run_has_its_own_probe_ids_which_no_real_product_or_order_has() {
    let (a, b) = (run(), run());
    assert_ne!(a.probe_sku, b.probe_sku);
    assert_ne!(a.probe_order, b.probe_order);
    assert!(a.probe_sku.starts_with("deploy-probe-") && a.probe_sku.len() == 45);
    assert!(
        inventory::domain::Sku::parse(&a.probe_sku).is_ok(),
        "a valid SKU, so the sale reaches the database"
    );
    // Orders get UUID v7; the probe's is v4.
    assert_eq!(
        uuid::Uuid::parse_str(&a.probe_order)
            .unwrap()
            .get_version_num(),
        4
    );
}

#[test]
fn sales_api_reads_then_checks_the_probe_sku_is_absent_before_the_sale() {
    let r = run();
    let steps = plan(Target::SalesApi, &r);
    let names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names[0], "GET /inventory");
    assert_eq!(names[1], format!("GET /inventory/{}", r.probe_sku));
    assert!(names[2].starts_with("POST /sales"));
    let sale = &steps[2].payload;
    assert_eq!(sale["requestContext"]["http"]["method"], "POST");
    assert_eq!(sale["rawPath"], "/sales");
    assert_eq!(sale["routeKey"], "POST /sales");
    assert_eq!(
        body_of(&steps[2]),
        json!({"sku": r.probe_sku, "quantity": 1})
    );
    assert_eq!(sale["headers"]["x-correlation-id"], "deploy-probe-d-TEST");
    for s in &steps[1..] {
        assert_eq!(
            s.expect,
            Expect::Http {
                status: 404,
                error: Some("unknown_sku"),
                key: None
            }
        );
    }
}

#[test]
fn restock_gets_a_callback_signed_for_the_probe_order() {
    let r = run();
    let steps = plan(Target::Restock, &r);
    assert_eq!(steps.len(), 1);
    let e = &steps[0].payload;
    assert_eq!(
        e["rawPath"],
        format!("/factory/callbacks/{}", r.probe_order)
    );
    let token = e["queryStringParameters"]["token"].as_str().unwrap();
    assert!(CallbackSigner::new("k").verify(&r.probe_order, token));
    let completion: inventory::factory::Completion =
        serde_json::from_value(body_of(&steps[0])).unwrap();
    assert_eq!(completion.product_id, r.probe_sku);
}

#[test]
fn the_orderer_gets_a_stock_out_of_the_current_schema_for_the_probe_order() {
    let r = run();
    let steps = plan(Target::FactoryOrderer, &r);
    let record = &steps[0].payload["Records"][0];
    assert_eq!(record["messageId"], r.probe_message.as_str());
    let event: inventory::domain::StockOutEvent =
        serde_json::from_str(record["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        event.schema_version,
        inventory::domain::StockOutEvent::SCHEMA_VERSION
    );
    assert_eq!(event.factory_order_id.as_str(), r.probe_order);
    assert_eq!(event.sku.as_str(), r.probe_sku);
}

#[test]
fn an_http_answer_passes_only_with_the_expected_status_and_error_code() {
    let want = Expect::Http {
        status: 404,
        error: Some("unknown_sku"),
        key: None,
    };
    assert_eq!(
        judge(
            &want,
            &http(404, json!({"error": "unknown_sku", "message": "no"}))
        ),
        Ok("404 unknown_sku".into())
    );
    // The database is gone: 503, whatever else the body says.
    let why = judge(&want, &http(503, json!({"error": "unavailable"}))).unwrap_err();
    assert!(
        why.contains("answered 503 unavailable, expected 404 unknown_sku"),
        "{why}"
    );
    // 404 for another reason (the route is not served by this build).
    assert!(judge(&want, &http(404, json!({"error": "not_found"}))).is_err());
    // A real product answering 201 would be a sale: never a pass.
    assert!(judge(&want, &http(201, json!({"id": "x"}))).is_err());
    let list = Expect::Http {
        status: 200,
        error: None,
        key: Some("products"),
    };
    assert!(judge(&list, &http(200, json!({"products": []}))).is_ok());
    assert!(
        judge(&list, &http(200, json!({"items": []})))
            .unwrap_err()
            .contains("without \"products\"")
    );
}

#[test]
fn a_function_error_or_a_garbled_answer_fails() {
    let want = Expect::Http {
        status: 200,
        error: None,
        key: None,
    };
    let crashed = Invoked {
        function_error: Some("Unhandled".into()),
        payload: br#"{"errorType":"Runtime.ExitError","errorMessage":"exit status 101"}"#.to_vec(),
        log_tail: None,
    };
    assert!(
        judge(&want, &crashed)
            .unwrap_err()
            .contains("function error (Unhandled): {\"errorType\":\"Runtime.ExitError\"")
    );
    let garbled = Invoked {
        payload: b"<html>".to_vec(),
        ..Invoked::default()
    };
    assert!(judge(&want, &garbled).unwrap_err().contains("not JSON"));
    let not_http = Invoked {
        payload: b"{}".to_vec(),
        ..Invoked::default()
    };
    assert!(
        judge(&want, &not_http)
            .unwrap_err()
            .contains("not an HTTP answer")
    );
}

#[test]
fn a_base64_http_body_is_decoded() {
    use base64::Engine;
    let body = base64::engine::general_purpose::STANDARD.encode(br#"{"error":"unknown_sku"}"#);
    let got = Invoked {
        payload: json!({"statusCode": 404, "body": body, "isBase64Encoded": true})
            .to_string()
            .into_bytes(),
        ..Invoked::default()
    };
    assert!(
        judge(
            &Expect::Http {
                status: 404,
                error: Some("unknown_sku"),
                key: None
            },
            &got
        )
        .is_ok()
    );
}

#[test]
fn the_orderer_passes_only_when_exactly_its_record_failed_because_the_order_is_unknown() {
    let want = Expect::FailedRecord {
        message_id: "m1".into(),
        log_says: "unknown factory order o1".into(),
    };
    let answer = |ids: &[&str], tail: Option<&str>| {
        Invoked {
        payload: json!({"batchItemFailures": ids.iter().map(|i| json!({"itemIdentifier": i})).collect::<Vec<_>>()})
            .to_string()
            .into_bytes(),
        log_tail: tail.map(str::to_owned),
        function_error: None,
    }
    };
    let tail = r#"{"level":"ERROR","message":"message handled: not processed, SQS will retry","error":"unknown factory order o1"}"#;
    assert!(judge(&want, &answer(&["m1"], Some(tail))).is_ok());
    // The same answer when the database is unreachable: only the log tells them apart.
    let db = r#"{"level":"ERROR","error":"database unavailable: connection refused","factory_order_id":"o1"}"#;
    assert!(
        judge(&want, &answer(&["m1"], Some(db)))
            .unwrap_err()
            .contains("not because its order is unknown")
    );
    assert!(
        judge(&want, &answer(&["m1"], None))
            .unwrap_err()
            .contains("no log tail")
    );
    // Processed (acknowledged) or other records reported: wrong either way.
    assert!(judge(&want, &answer(&[], Some(tail))).is_err());
    assert!(judge(&want, &answer(&["m1", "m2"], Some(tail))).is_err());
}
