//! `--aws failures list`/`redrive` (the asynchronous invocations' on-failure queue) against
//! moto, with the `AsyncFailuresNotEmpty` alarm.

use crate::common::{create_queue, ops, venv_python};
use serde_json::{Value, json};

/// Creates an IAM role and a Lambda function in moto with boto3 (from the project's .venv, where
/// moto lives) and returns the function's ARN. moto accepts `InvocationType=Event` without docker.
fn moto_function(endpoint: &str, name: &str) -> String {
    let script = r##"
import boto3, io, sys, zipfile
kw = dict(endpoint_url=sys.argv[1], region_name="us-east-1",
          aws_access_key_id="testing", aws_secret_access_key="testing")
role = boto3.client("iam", **kw).create_role(RoleName=sys.argv[2], AssumeRolePolicyDocument="{}")["Role"]["Arn"]
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w") as z:
    z.writestr("bootstrap", "#!/bin/sh\n")
fn = boto3.client("lambda", **kw).create_function(
    FunctionName=sys.argv[2], Runtime="provided.al2023", Role=role, Handler="bootstrap",
    Code={"ZipFile": buf.getvalue()})
print(fn["FunctionArn"])
"##;
    let stdout = venv_python(script, &[endpoint, name]);
    String::from_utf8(stdout).unwrap().trim().to_owned()
}

/// What Lambda sends to an on-failure destination after the last retry.
fn invocation_record(function_arn: &str, payload: Value, error: &str) -> String {
    json!({
        "version": "1.0",
        "timestamp": "2026-11-21T00:15:31.000Z",
        "requestContext": {"requestId": uuid::Uuid::new_v4().to_string(), "functionArn": function_arn,
                           "condition": "RetriesExhausted", "approximateInvokeCount": 3},
        "requestPayload": payload,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorType": "Error", "errorMessage": error},
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_failures_queue_list_redrive_alarm_on_moto() {
    let sdk = pipeline_tests::moto_sdk().await;
    let endpoint = pipeline_tests::moto_endpoint();
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let url = create_queue(&sqs, format!("ops-failures-{tag}")).await;
    let function = moto_function(endpoint, &format!("exporter-{}", &tag[..12]));
    let scheduled = json!({"source": "aws.events", "detail-type": "Scheduled Event",
                           "time": "2026-11-21T00:15:00Z", "detail": {}});
    sqs.send_message()
        .queue_url(&url)
        .message_body(invocation_record(
            &format!("{function}:$LATEST"),
            scheduled,
            "database unavailable",
        ))
        .send()
        .await
        .unwrap();
    let env = [
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("ASYNC_FAILURES_QUEUE_URL", url.as_str()),
    ];

    let out = ops(&["--aws", "failures", "list", "-o", "json"], &env).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v = out.json();
    assert_eq!(v["failures"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(
        v["failures"][0]["function"],
        function.rsplit(':').next().unwrap()
    );
    assert_eq!(v["failures"][0]["attempts"], 3);
    assert_eq!(
        v["failures"][0]["reason"],
        "RetriesExhausted (database unavailable)"
    );
    let out = ops(&["--aws", "failures", "list"], &env).await;
    assert!(
        out.stdout.contains("1 failed invocation(s)"),
        "{}",
        out.stdout
    );
    let out = ops(&["--aws", "alarms", "--check", "-o", "json"], &env).await;
    assert_eq!(out.code, 3, "{}{}", out.stdout, out.stderr);
    assert_eq!(out.json()["alarms"][0]["name"], "AsyncFailuresNotEmpty");

    // Redrive: Lambda accepts the asynchronous invocation (202), the record is deleted.
    let out = ops(&["--aws", "failures", "redrive", "-o", "json"], &env).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v = out.json();
    assert_eq!(v["redriven"], 1, "{v}");
    assert_eq!(
        v["invocations"][0]["function_arn"],
        format!("{function}:$LATEST")
    );
    let out = ops(&["--aws", "failures", "list", "-o", "json"], &env).await;
    assert_eq!(out.json()["failures"].as_array().unwrap().len(), 0);
    let out = ops(&["--aws", "alarms", "--check"], &env).await;
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);

    // A record whose function is gone cannot be redriven: exit 1, and it stays in the queue.
    let gone = function.replace(":function:exporter-", ":function:deleted-");
    sqs.send_message()
        .queue_url(&url)
        .message_body(invocation_record(&gone, json!({}), "boom"))
        .send()
        .await
        .unwrap();
    let out = ops(&["--aws", "failures", "redrive"], &env).await;
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("could not be") && out.stderr.contains("404"),
        "{}",
        out.stderr
    );
    let out = ops(&["--aws", "failures", "list", "-o", "json"], &env).await;
    assert_eq!(out.json()["failures"].as_array().unwrap().len(), 1);

    // Without the queue URL: a usage error naming the stack output; locally: only with --aws.
    let bare: Vec<(&str, &str)> = env[..5].to_vec();
    let out = ops(&["--aws", "failures", "list"], &bare).await;
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("AsyncFailuresQueueUrl"),
        "{}",
        out.stderr
    );
    let out = ops(&["--url", "http://127.0.0.1:9", "failures", "list"], &[]).await;
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("--aws"), "{}", out.stderr);
}
