//! `donut-ops --stack NAME` against moto: the settings come from the stack's outputs
//! (DescribeStacks), `alarms` shows the stack's CloudWatch alarms with CloudWatch's own state and
//! reason, plain when piped.
//!
//! moto's CloudFormation creates the queues and the topic but not `AWS::CloudWatch::Alarm`
//! resources: the alarms are put with CloudWatch's API under the names CloudFormation gives them
//! (`<stack>-<LogicalId>-<SUFFIX>`), which is how donut-ops finds them besides the stack's
//! resources.

use serde_json::{Value, json};

mod common;
use common::{create_queue, ops, venv_python};

/// Puts metric alarms in moto with boto3 (from the project's .venv, where moto lives) and sets
/// their states: `[name, description, state, reason]` each.
fn put_alarms(endpoint: &str, alarms: &Value) {
    let script = r##"
import boto3, json, sys
cw = boto3.client("cloudwatch", endpoint_url=sys.argv[1], region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing")
for name, description, state, reason in json.loads(sys.argv[2]):
    cw.put_metric_alarm(AlarmName=name, AlarmDescription=description, Namespace="AWS/SQS",
                        MetricName="ApproximateNumberOfMessagesVisible", Statistic="Maximum",
                        Period=60, EvaluationPeriods=1, Threshold=0,
                        ComparisonOperator="GreaterThanThreshold")
    if state:
        cw.set_alarm_state(AlarmName=name, StateValue=state, StateReason=reason)
"##;
    venv_python(script, &[endpoint, &alarms.to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stack_outputs_and_cloudwatch_alarms_on_moto() {
    let sdk = pipeline_tests::moto_sdk().await;
    let endpoint = pipeline_tests::moto_endpoint();
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let stack = format!("donut-{}", &tag[..10]);
    // The outputs donut-ops reads, named as template.yaml names them.
    let template = json!({
        "Resources": {
            "FactoryOrdersQueue": {"Type": "AWS::SQS::Queue"},
            "FactoryOrdersDlq": {"Type": "AWS::SQS::Queue"},
            "AsyncFailuresQueue": {"Type": "AWS::SQS::Queue"},
            "StockOutTopic": {"Type": "AWS::SNS::Topic"},
        },
        "Outputs": {
            "FactoryOrdersDlqUrl": {"Value": {"Ref": "FactoryOrdersDlq"}},
            "FactoryOrdersQueueArn": {"Value": {"Fn::GetAtt": ["FactoryOrdersQueue", "Arn"]}},
            "StockOutTopicArn": {"Value": {"Ref": "StockOutTopic"}},
            "AsyncFailuresQueueUrl": {"Value": {"Ref": "AsyncFailuresQueue"}},
        },
    });
    let cfn = aws_sdk_cloudformation::Client::new(&sdk);
    cfn.create_stack()
        .stack_name(&stack)
        .template_body(template.to_string())
        .send()
        .await
        .unwrap();
    let outputs = cfn
        .describe_stacks()
        .stack_name(&stack)
        .send()
        .await
        .unwrap();
    let dlq_url = outputs.stacks()[0]
        .outputs()
        .iter()
        .find(|o| o.output_key() == Some("FactoryOrdersDlqUrl"))
        .and_then(|o| o.output_value())
        .unwrap()
        .to_owned();
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    sqs.send_message()
        .queue_url(&dlq_url)
        .message_body("not a stock-out")
        .send()
        .await
        .unwrap();

    let run_dlq = format!(
        "Run: donut-ops --stack {stack} dlq list. Runbook: docs/operations.md#factoryordersdlqalarm--the-dlq-is-not-empty"
    );
    put_alarms(
        endpoint,
        &json!([
            [
                format!("{stack}-FactoryOrdersDlqAlarm-1A2B3C4D5E6F"),
                run_dlq,
                "ALARM",
                "Threshold Crossed: 1 datapoint [1.0] was greater than the threshold (0.0)."
            ],
            [
                format!("{stack}-OrdersFailedAlarm-7G8H9I0J1K2L"),
                "orders",
                "OK",
                "Threshold Crossed: no datapoints were greater than the threshold (0.0)."
            ],
            [
                format!("{stack}-SalesApiErrorsAlarm-M3N4O5P6Q7R8"),
                "errors",
                "INSUFFICIENT_DATA",
                "Insufficient Data: 1 datapoint was unknown."
            ],
            // Another stack whose name starts with this one's: not ours.
            [
                format!("{stack}-staging-FactoryOrdersDlqAlarm-S9T0U1V2W3X4"),
                "theirs",
                "ALARM",
                "theirs"
            ],
        ]),
    );
    let env = [
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ];

    // alarms: CloudWatch's state and reason, firing first, plain text when piped.
    let out = ops(&["--stack", &stack, "alarms"], &env).await;
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    println!("$ donut-ops --stack {stack} alarms\n{}", out.stdout);
    assert!(!out.stdout.contains('\x1b'), "no colours when piped");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines[0],
        format!("stack {stack} (us-east-1): 3 alarm(s), 1 in ALARM")
    );
    assert!(
        lines[1].starts_with("ALARM") && lines[1].contains("STATE") && lines[1].ends_with("REASON"),
        "{}",
        out.stdout
    );
    assert!(
        lines[2].starts_with("FactoryOrdersDlqAlarm  ")
            && lines[2].contains("  ALARM  ")
            && lines[2].ends_with("was greater than the threshold (0.0)."),
        "{}",
        out.stdout
    );
    assert!(
        lines[3].starts_with("SalesApiErrorsAlarm") && lines[3].contains("INSUFFICIENT_DATA"),
        "{}",
        out.stdout
    );
    assert!(
        lines[4].starts_with("OrdersFailedAlarm") && lines[4].contains("  OK  "),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("staging"), "{}", out.stdout);
    // The firing alarm's description: what to run and where the runbook is.
    assert!(
        out.stdout.contains(&format!(
            "FactoryOrdersDlqAlarm: Run: donut-ops --stack {stack} dlq list."
        )),
        "{}",
        out.stdout
    );

    let out = ops(
        &["--stack", &stack, "alarms", "--check", "-o", "json"],
        &env,
    )
    .await;
    assert_eq!(out.code, 3, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("in ALARM: FactoryOrdersDlqAlarm"),
        "{}",
        out.stderr
    );
    let v = out.json();
    assert_eq!(v["stack"], stack.as_str());
    assert_eq!(v["alarms"][0]["name"], "FactoryOrdersDlqAlarm");
    assert_eq!(
        v["alarms"][0]["alarm_name"],
        format!("{stack}-FactoryOrdersDlqAlarm-1A2B3C4D5E6F")
    );
    assert_eq!(v["alarms"][0]["state"], "ALARM");
    assert!(
        v["alarms"][0]["since"].as_str().unwrap().ends_with('Z'),
        "{v}"
    );

    // The DLQ from the stack's outputs; a flag still overrides an output.
    let out = ops(&["--stack", &stack, "dlq", "list", "-o", "json"], &env).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v = out.json();
    assert_eq!(v["queue"], dlq_url.as_str());
    assert_eq!(v["depth"], 1);
    let empty = create_queue(&sqs, format!("ops-empty-{tag}")).await;
    let out = ops(
        &[
            "--stack",
            &stack,
            "--dlq-url",
            &empty,
            "dlq",
            "list",
            "-o",
            "json",
        ],
        &env,
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.json()["depth"], 0);
    let out = ops(&["--stack", &stack, "failures", "list", "-o", "json"], &env).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.json()["depth"], 0);

    // A stack that does not exist: a usage error naming it.
    let out = ops(&["--stack", "no-such-stack", "alarms"], &env).await;
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("no-such-stack"), "{}", out.stderr);
}
