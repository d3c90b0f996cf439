//! `failures redrive` signs its Lambda Invoke requests itself (SigV4): checked against a moto
//! that verifies signatures.

use crate::common::{ops, venv_python};
use serde_json::Value;
use std::process::Command;
use std::time::Duration;

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
    let stdout = venv_python(script, &[&moto.endpoint]);
    let setup: Value = serde_json::from_slice(&stdout).unwrap();
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
