//! `donut-ops` end to end: the binary against the local stack (its `/ops` routes), and with
//! `--aws` against moto (SQS DLQ, SNS topic) and a database file.

use pipeline_tests::{Client, Db, eventually, stack};
use serde_json::{Value, json};
use std::process::Command;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

mod common;
use common::ops;

async fn order_status(c: &Client, id: &str) -> String {
    c.get(&format!("/factory-orders/{id}")).await.body["status"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn local_incident_dlq_alarm_redrive_history() {
    let dir = tempfile::tempdir().unwrap();
    let s = stack(Db::Sqlite, dir.path(), |o| {
        o.factory_down = true;
        o.max_receive_count = 2;
    })
    .await;
    let c = Client::new(&s);
    let url = s.base_url.clone();
    let local = |extra: &[&str]| {
        let mut a = vec!["--url", url.as_str()];
        a.extend_from_slice(extra);
        a.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let run = |args: Vec<String>| async move {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        ops(&refs, &[]).await
    };
    c.put_product("glazed", json!({"stock": 3, "reorder_quantity": 30}))
        .await;
    let r = c
        .send(
            c.http
                .post(format!("{}/sales", c.base))
                .header("content-type", "application/json")
                .header("x-correlation-id", "cli-incident")
                .body(json!({"sku": "glazed", "quantity": 3}).to_string()),
        )
        .await;
    let id = r.body["factory_order"]["id"].as_str().unwrap().to_owned();
    eventually(WAIT, || async { (s.shared.dlq.depth() == 1).then_some(()) })
        .await
        .expect("the message reaches the DLQ");

    let out = run(local(&["alarms", "--check"])).await;
    assert_eq!(out.code, 3, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("FactoryOrdersDLQNotEmpty") && l.contains("ALARM")),
        "{}",
        out.stdout
    );
    assert!(out.stderr.contains("in ALARM"), "{}", out.stderr);

    let out = run(local(&["dlq", "list", "-o", "json"])).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v = out.json();
    assert_eq!(v["depth"], 1);
    assert_eq!(v["messages"][0]["correlation_id"], "cli-incident");
    assert_eq!(v["messages"][0]["factory_order_id"], id.as_str());

    let out = run(local(&["orders", "list", "--status", "failed"])).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains(&id), "{}", out.stdout);
    assert!(
        out.stdout.contains("factory failed with 503"),
        "{}",
        out.stdout
    );

    s.shared.sim.set(inventory::sim::KnobsPatch {
        down: Some(false),
        ..Default::default()
    });
    let out = run(local(&["dlq", "redrive"])).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("moved 1 message"), "{}", out.stdout);
    eventually(WAIT, || async {
        (order_status(&c, &id).await == "fulfilled").then_some(())
    })
    .await
    .expect("fulfilled after the redrive");
    let cleared = eventually(WAIT, || async {
        let out = run(local(&["alarms", "--check"])).await;
        (out.code == 0).then_some(out)
    })
    .await
    .expect("alarms clear");
    assert!(
        cleared
            .stdout
            .lines()
            .skip(1)
            .all(|l| !l.contains("  ALARM  ")),
        "{}",
        cleared.stdout
    );

    let out = run(local(&["sku", "history", "glazed", "-o", "json"])).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let h = out.json();
    assert_eq!(h["ledger"]["sold"], 3);
    assert_eq!(h["ledger"]["restocked"], 30);
    assert_eq!(
        h["factory_orders"]["recent"][0]["correlation_id"],
        "cli-incident"
    );
    let out = run(local(&["sku", "history", "glazed"])).await;
    assert!(
        out.stdout.contains("fulfilled  factory completed"),
        "{}",
        out.stdout
    );

    // Failures: clear message, non-zero status.
    let out = run(local(&["orders", "retry", &id])).await;
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("already fulfilled"), "{}", out.stderr);
    let out = run(local(&["orders", "retry", "../x"])).await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    let out = run(local(&["orders", "list", "--status", "lost"])).await;
    assert_eq!(out.code, 2, "clap rejects it: {}", out.stderr);
    let out = ops(&["--url", "http://127.0.0.1:9", "alarms"], &[]).await;
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("cannot reach the local stack"),
        "{}",
        out.stderr
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn aws_mode_on_moto() {
    use inventory::domain::{Quantity, SaleRequest, Sku};
    use inventory::store::SaleOutcome;
    let sdk = pipeline_tests::moto_sdk().await;
    let endpoint = pipeline_tests::moto_endpoint();
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let sns = aws_sdk_sns::Client::new(&sdk);
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let dlq_url = sqs
        .create_queue()
        .queue_name(format!("ops-dlq-{tag}"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let sub_url = sqs
        .create_queue()
        .queue_name(format!("ops-sub-{tag}"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let sub_arn = sqs
        .get_queue_attributes()
        .queue_url(&sub_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    let topic = sns
        .create_topic()
        .name(format!("ops-topic-{tag}"))
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(&sub_arn)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .unwrap();

    // A database with a failed order, and its stock-out in the DLQ.
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}?mode=rwc", dir.path().join("ops.db").display());
    let store = inventory::store::connect(&db_url, &Default::default()).unwrap();
    store.migrate().await.unwrap();
    let sku = Sku::parse("maple").unwrap();
    let spec = inventory::domain::ProductSpec::new(sku.clone(), None, 1, None, Some(10)).unwrap();
    store.put_product(&spec).await.unwrap();
    let SaleOutcome::Sold {
        event: Some(event), ..
    } = store
        .sell(&SaleRequest {
            sku,
            quantity: Quantity::new(1).unwrap(),
            idempotency_key: None,
            correlation_id: "cli-aws".into(),
        })
        .await
        .unwrap()
    else {
        panic!("a stock-out")
    };
    let id = event.factory_order_id.clone();
    store
        .record_failure(&id, "factory failed with 503: down", true)
        .await
        .unwrap();
    let mut send = sqs
        .send_message()
        .queue_url(&dlq_url)
        .message_body(serde_json::to_string(&event).unwrap());
    for (k, v) in inventory::messaging::attributes(&event) {
        send = send.message_attributes(
            k,
            aws_sdk_sqs::types::MessageAttributeValue::builder()
                .data_type("String")
                .string_value(v)
                .build()
                .unwrap(),
        );
    }
    send.send().await.unwrap();

    let aws_env = [
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ];
    let with_db: Vec<(&str, &str)> = aws_env
        .iter()
        .copied()
        .chain([("DATABASE_URL", db_url.as_str())])
        .collect();

    // Without the database: decoded, not explained.
    let out = ops(
        &["--aws", "--dlq-url", &dlq_url, "dlq", "list", "-o", "json"],
        &aws_env,
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v = out.json();
    assert_eq!(v["messages"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["messages"][0]["factory_order_id"], id.as_str());
    assert_eq!(v["messages"][0]["attributes"]["correlation_id"], "cli-aws");
    assert!(
        v["messages"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("DATABASE_URL")
    );
    // With it: the order's state and last error. The message is still there (not consumed).
    let out = ops(&["--aws", "--dlq-url", &dlq_url, "dlq", "list"], &with_db).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("is failed after 1 attempt(s)"),
        "{}",
        out.stdout
    );
    let out = ops(
        &[
            "--aws",
            "--dlq-url",
            &dlq_url,
            "alarms",
            "--check",
            "-o",
            "json",
        ],
        &with_db,
    )
    .await;
    assert_eq!(out.code, 3, "{}{}", out.stdout, out.stderr);
    let alarms = out.json()["alarms"].as_array().cloned().unwrap();
    assert_eq!(alarms.len(), 2, "{alarms:?}");
    assert!(alarms.iter().all(|a| a["state"] == "ALARM"), "{alarms:?}");

    let out = ops(&["--aws", "orders", "list", "--status", "failed"], &with_db).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains(id.as_str()), "{}", out.stdout);

    // Retry: reopened and published to the topic (same order id, same correlation id).
    let out = ops(
        &[
            "--aws",
            "--topic-arn",
            &topic,
            "orders",
            "retry",
            id.as_str(),
            "-o",
            "json",
        ],
        &with_db,
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.json()["factory_order"]["status"], "pending");
    let got = sqs
        .receive_message()
        .queue_url(&sub_url)
        .wait_time_seconds(5)
        .send()
        .await
        .unwrap();
    let body = got.messages()[0].body().unwrap();
    let ev = inventory::orderer::decode(body).unwrap();
    assert_eq!(ev.factory_order_id, id);
    assert_eq!(ev.correlation_id, "cli-aws");
    assert_ne!(ev.event_id, event.event_id, "a new event");

    // Redrive: StartMessageMoveTask (moto may not implement it: then a clear error).
    let out = ops(
        &[
            "--aws",
            "--dlq-url",
            &dlq_url,
            "dlq",
            "redrive",
            "-o",
            "json",
        ],
        &aws_env,
    )
    .await;
    if out.code == 0 {
        assert!(out.json()["task_handle"].is_string(), "{}", out.stdout);
    } else {
        assert_eq!(out.code, 1);
        assert!(
            out.stderr.contains("sqs:StartMessageMoveTask"),
            "{}",
            out.stderr
        );
    }
    // Missing configuration: a usage error naming what is missing.
    let out = ops(&["--aws", "dlq", "list"], &aws_env).await;
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("FactoryOrdersDlqUrl"), "{}", out.stderr);
    let out = ops(&["--aws", "orders", "list"], &aws_env).await;
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("DATABASE_URL"), "{}", out.stderr);
}

/// Creates an IAM role and a Lambda function in moto with boto3 (from the project's .venv, where
/// moto lives) and returns the function's ARN. moto accepts `InvocationType=Event` without docker.
fn moto_function(endpoint: &str, name: &str) -> String {
    let python = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
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
    let out = Command::new(&python)
        .args(["-c", script, endpoint, name])
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (run ./scripts/setup-venv.sh)", python.display()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
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
    let url = sqs
        .create_queue()
        .queue_name(format!("ops-failures-{tag}"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
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

/// A moto server of this test's own with IAM authentication on (`/moto-api/reset-auth` 0), which
/// recomputes every request's SigV4 signature and refuses a wrong one: the shared server accepts
/// any. Stopped when dropped.
struct VerifyingMoto {
    child: std::process::Child,
    endpoint: String,
}

impl VerifyingMoto {
    fn start() -> Self {
        let bin =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/moto_server");
        let port = pipeline_tests::free_port();
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e} (run ./scripts/setup-venv.sh)", bin.display()));
        let moto = VerifyingMoto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let started = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "moto_server did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }
}

impl Drop for VerifyingMoto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Lambda Invoke requests `failures redrive` signs pass moto's SigV4 verification: with an IAM
/// user's key, with temporary credentials (session token) and with a `Qualifier` query; a key
/// allowed SQS only is refused with AccessDenied (so moto did check the call, and the signature).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redrive_requests_pass_moto_signature_verification() {
    let moto = VerifyingMoto::start();
    let python = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    // Everything is set up while moto still takes any request, then authentication goes on.
    let script = r##"
import boto3, io, json, sys, urllib.request, zipfile
endpoint = sys.argv[1]
kw = dict(endpoint_url=endpoint, region_name="us-east-1",
          aws_access_key_id="testing", aws_secret_access_key="testing")
iam = boto3.client("iam", **kw)
everything = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
sqs_only = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}]})
def user(name, policy):
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=policy)
    k = iam.create_access_key(UserName=name)["AccessKey"]
    return {"id": k["AccessKeyId"], "secret": k["SecretAccessKey"]}
operator, sqs_user = user("operator", everything), user("sqs-only", sqs_only)
trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]})
role = iam.create_role(RoleName="ops", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
iam.put_role_policy(RoleName="ops", PolicyName="p", PolicyDocument=everything)
c = boto3.client("sts", **kw).assume_role(RoleArn=role, RoleSessionName="ops")["Credentials"]
temporary = {"id": c["AccessKeyId"], "secret": c["SecretAccessKey"], "token": c["SessionToken"]}
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w") as z:
    z.writestr("bootstrap", "#!/bin/sh\n")
lam = boto3.client("lambda", **kw)
fn = lam.create_function(FunctionName="exporter", Runtime="provided.al2023", Role=role,
                         Handler="bootstrap", Code={"ZipFile": buf.getvalue()}, Publish=True)
lam.create_alias(FunctionName="exporter", Name="live", FunctionVersion=fn["Version"])
sqs = boto3.client("sqs", **kw)
queue = sqs.create_queue(QueueName="failures")["QueueUrl"]
for arn in [fn["FunctionArn"] + ":$LATEST", fn["FunctionArn"] + ":live", fn["FunctionArn"]]:
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps({
        "version": "1.0", "requestContext": {"functionArn": arn, "condition": "RetriesExhausted",
                                             "approximateInvokeCount": 3},
        "requestPayload": {"source": "aws.events", "detail": {"n": [1, "two"]}}}))
urllib.request.urlopen(urllib.request.Request(endpoint + "/moto-api/reset-auth", data=b"0", method="POST",
                                              headers={"Content-Type": "text/plain"}))
print(json.dumps({"operator": operator, "sqs_only": sqs_user, "temporary": temporary, "queue": queue}))
"##;
    let out = Command::new(&python)
        .args(["-c", script, &moto.endpoint])
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (run ./scripts/setup-venv.sh)", python.display()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let setup: Value = serde_json::from_slice(&out.stdout).unwrap();
    let redrive = |who: &str, max: &str| {
        let c = &setup[who];
        let mut env = vec![
            ("AWS_ENDPOINT_URL", moto.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", s(&c["id"])),
            ("AWS_SECRET_ACCESS_KEY", s(&c["secret"])),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
            ("ASYNC_FAILURES_QUEUE_URL", s(&setup["queue"])),
        ];
        if let Some(token) = c["token"].as_str() {
            env.push(("AWS_SESSION_TOKEN", token.to_owned()));
        }
        let max = max.to_owned();
        async move {
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            ops(
                &["--aws", "failures", "redrive", "--max", &max, "-o", "json"],
                &env,
            )
            .await
        }
    };
    fn s(v: &Value) -> String {
        v.as_str().unwrap().to_owned()
    }

    // Allowed SQS but not Lambda: moto verified the signature, then refused the action.
    let out = redrive("sqs_only", "1").await;
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("403") && out.stderr.contains("AccessDenied"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("Signature"), "{}", out.stderr);
    // Temporary credentials: the session token is sent and signed.
    let out = redrive("temporary", "1").await;
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(out.json()["redriven"], 1, "{}", out.stdout);
    // An IAM user's key: the two records left, one of them with `?Qualifier=live`.
    let out = redrive("operator", "10").await;
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(out.json()["redriven"], 2, "{}", out.stdout);
}
