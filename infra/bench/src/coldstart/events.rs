//! What each function is given: its first event (as its AWS trigger sends it) and the
//! environment Lambda would set, plus the project's configuration.

use base64::Engine;
use serde_json::{Value, json};
use std::io::Write;

fn apigw_v2(method: &str, path: &str, route: &str, body: Option<&str>) -> Value {
    let mut headers = json!({
        "accept": "*/*",
        "host": "abc123.execute-api.us-east-1.amazonaws.com",
        "user-agent": "curl/8.5.0",
        "x-forwarded-for": "203.0.113.7",
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https"
    });
    if body.is_some() {
        headers["content-type"] = json!("application/json");
    }
    let mut ev = json!({
        "version": "2.0",
        "routeKey": route,
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "203.0.113.7", "userAgent": "curl/8.5.0"},
            "requestId": "Kx1AbcdEFgYEJtQ=",
            "routeKey": route,
            "stage": "$default",
            "time": "21/Nov/2026:22:07:24 +0000",
            "timeEpoch": 1_795_305_244_123i64
        },
        "isBase64Encoded": false
    });
    if let Some(b) = body {
        ev["body"] = json!(b);
    }
    ev
}

fn scheduled(rule: &str) -> Value {
    json!({
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "region": "us-east-1",
        "resources": [format!("arn:aws:events:us-east-1:123456789012:rule/{rule}")],
        "detail": {}
    })
}

/// The first event of each function, and a one-line description for the report.
pub fn first_event(name: &str, aws: &str) -> (&'static str, Value) {
    let order = "0193a5b0-7c1e-7d2a-9f3b-4c5d6e7f8091";
    match name {
        "sales-api" => (
            "API GW v2 `GET /health`",
            apigw_v2("GET", "/health", "GET /health", None),
        ),
        "restock" => (
            "API GW v2 factory callback without token (401)",
            apigw_v2(
                "POST",
                &format!("/factory/callbacks/{order}"),
                "POST /factory/callbacks/{id}",
                Some(
                    &json!({"MessageGroupId": order, "MessageAttributeProductId": "glazed",
                            "MessageAttributeProductCnt": 100})
                    .to_string(),
                ),
            ),
        ),
        "factory-orderer" => (
            "SQS batch of one poison message",
            json!({"Records": [{
                "messageId": "059f36b4-87a3-44ab-83d2-661975830a7d",
                "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a",
                "body": "not json",
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795305244123",
                               "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                               "ApproximateFirstReceiveTimestamp": "1795305244130"},
                "messageAttributes": {},
                "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:factory-orders",
                "awsRegion": "us-east-1"
            }]}),
        ),
        "outbox-relay" => (
            "EventBridge scheduled event (relay pass on the database)",
            scheduled("outbox-relay"),
        ),
        "api-capture" => {
            let data = json!({
                "messageType": "DATA_MESSAGE",
                "owner": "123456789012",
                "logGroup": "/aws/lambda/sales-api",
                "logStream": "2026/11/21/[$LATEST]0123456789abcdef",
                "subscriptionFilters": ["capture"],
                "logEvents": [{"id": "37967890452197440398523475929413421329584812580929060864",
                               "timestamp": 1_795_305_244_123i64,
                               "message": "START RequestId: 6b1c1e0a Version: $LATEST"}]
            });
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            gz.write_all(data.to_string().as_bytes()).expect("gzip");
            let b64 = base64::engine::general_purpose::STANDARD.encode(gz.finish().expect("gzip"));
            (
                "CloudWatch Logs delivery without capture lines",
                json!({"awslogs": {"data": b64}}),
            )
        }
        "exporter" => (
            "EventBridge scheduled event (exports yesterday; S3 PUTs answered by the stand-in)",
            scheduled("daily-export"),
        ),
        "migrate" => (
            "CloudFormation `Create` (migrations already applied; response PUT to the stand-in)",
            json!({
                "RequestType": "Create",
                "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:migrate",
                "ResponseURL": format!("{aws}/cfn-response?X-Amz-Signature=bench"),
                "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/donuts/5b2c",
                "RequestId": "0bd0d4a3-0b6c-4c34-8f53-0a1d6b0c9a11",
                "LogicalResourceId": "Migrations",
                "ResourceType": "Custom::Migrations",
                "ResourceProperties": {"ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:migrate"}
            }),
        ),
        _ => (
            "Function URL `GET /health` (404 from the stand-in's router)",
            apigw_v2("GET", "/health", "$default", None),
        ),
    }
}

/// The environment of every function besides the variables Lambda defines (the harness's
/// runtime sets those: `AWS_LAMBDA_RUNTIME_API`, `AWS_REGION`, …): dummy credentials, every AWS
/// endpoint on the stand-in `aws`, and the union of the functions' configuration
/// (docs/configuration.md).
pub(super) fn environment(aws: &str, database_url: &str) -> Vec<(String, String)> {
    [
        ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE".into()),
        (
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
        ),
        ("AWS_SESSION_TOKEN", "bench-session-token".into()),
        ("AWS_ENDPOINT_URL", aws.to_owned()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ("_HANDLER", "bootstrap".into()),
        ("DATABASE_URL", database_url.to_owned()),
        (
            "STOCKOUT_TOPIC_ARN",
            "arn:aws:sns:us-east-1:123456789012:stock-outs".into(),
        ),
        ("ADMIN_TOKEN", "bench-admin-token".into()),
        ("CALLBACK_SECRET", "bench-callback-secret".into()),
        ("FACTORY_URL", format!("{aws}/factory")),
        ("CALLBACK_BASE_URL", format!("{aws}/callbacks")),
        ("CAPTURE_STREAM_NAME", "api-capture".into()),
        ("EXPORT_BUCKET", "bench-exports".into()),
        (
            "SIM_QUEUE_URL",
            format!("{aws}/123456789012/factory-sim-completions"),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}
