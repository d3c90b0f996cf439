//! `alarms` on AWS: the stack's CloudWatch alarms with CloudWatch's state (`--stack`), or the
//! alarms' conditions checked directly (queue depths, failed orders).

use super::queues::queue_depth;
use super::settings::Settings;
use super::signer::Signer;
use super::{cfn_error, has_database, store};
use crate::failure::Failure;
use serde_json::{Value, json};
/// The logical id in the name CloudFormation gives an alarm it names itself,
/// `<stack>-<LogicalId>-<SUFFIX>`; `None` for any other name (another stack's
/// `<stack>-staging-…` included).
pub fn logical_id_in_name(stack: &str, name: &str) -> Option<String> {
    let rest = name.strip_prefix(stack)?.strip_prefix('-')?;
    let (logical, suffix) = rest.split_once('-')?;
    let ok = !logical.is_empty()
        && logical.bytes().all(|b| b.is_ascii_alphanumeric())
        && !suffix.is_empty()
        && suffix
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    ok.then(|| logical.to_owned())
}
/// Every CloudWatch alarm of the stack with CloudWatch's own state: the stack's
/// `AWS::CloudWatch::Alarm` / `CompositeAlarm` resources (`ListStackResources`, whose
/// physical ids are the alarm names) and the alarms named `<stack>-<LogicalId>-<SUFFIX>` as
/// CloudFormation names them (found by name prefix), then `DescribeAlarms`. Firing alarms
/// first.
pub async fn stack_alarms(sdk: &aws_config::SdkConfig, stack: &str) -> Result<Value, Failure> {
    let cfn = aws_sdk_cloudformation::Client::new(sdk);
    // alarm name -> logical id
    let mut names = std::collections::BTreeMap::<String, String>::new();
    let mut token: Option<String> = None;
    loop {
        let out = cfn
            .list_stack_resources()
            .stack_name(stack)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| cfn_error(&format!("cloudformation:ListStackResources {stack}"), e))?;
        for r in out.stack_resource_summaries() {
            let alarm = matches!(
                r.resource_type(),
                Some("AWS::CloudWatch::Alarm" | "AWS::CloudWatch::CompositeAlarm")
            );
            if let (true, Some(name)) = (alarm, r.physical_resource_id())
                && !name.is_empty()
            {
                names.insert(
                    name.to_owned(),
                    r.logical_resource_id().unwrap_or(name).to_owned(),
                );
            }
        }
        token = out.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    let cw = Signer::new(sdk).await?;
    let mut found = cw
        .describe_alarms(&json!({"AlarmNamePrefix": format!("{stack}-")}))
        .await?;
    found.retain(|a| {
        let name = a["AlarmName"].as_str().unwrap_or_default();
        names.contains_key(name) || logical_id_in_name(stack, name).is_some()
    });
    let missing: Vec<String> = names
        .keys()
        .filter(|n| !found.iter().any(|a| a["AlarmName"] == n.as_str()))
        .cloned()
        .collect();
    for chunk in missing.chunks(100) {
        found.extend(cw.describe_alarms(&json!({"AlarmNames": chunk})).await?);
    }
    let mut alarms: Vec<Value> = found
        .iter()
        .map(|a| {
            let name = a["AlarmName"].as_str().unwrap_or_default();
            let logical = names
                .get(name)
                .cloned()
                .or_else(|| logical_id_in_name(stack, name))
                .unwrap_or_else(|| name.to_owned());
            json!({
                "name": logical,
                "alarm_name": name,
                "alarm_arn": a["AlarmArn"],
                "state": a["StateValue"],
                "reason": a["StateReason"],
                "since": epoch_rfc3339(&a["StateUpdatedTimestamp"]),
                "description": a["AlarmDescription"],
                "actions_enabled": a["ActionsEnabled"],
            })
        })
        .collect();
    for name in names.keys() {
        if !alarms.iter().any(|a| a["alarm_name"] == name.as_str()) {
            alarms.push(json!({
                "name": names[name], "alarm_name": name, "state": "MISSING",
                "reason": "a resource of the stack that CloudWatch does not know (deleted outside CloudFormation?)",
            }));
        }
    }
    let rank = |a: &Value| match a["state"].as_str() {
        Some("ALARM") => 0,
        Some("INSUFFICIENT_DATA") => 1,
        Some("OK") => 3,
        _ => 2,
    };
    alarms.sort_by(|a, b| (rank(a), a["name"].as_str()).cmp(&(rank(b), b["name"].as_str())));
    let firing = alarms.iter().filter(|a| a["state"] == "ALARM").count();
    Ok(json!({
        "stack": stack,
        "region": sdk.region().map(|r| r.to_string()),
        "count": alarms.len(),
        "in_alarm": firing,
        "alarms": alarms,
    }))
}
/// A JSON-protocol timestamp (epoch seconds, fractional) as RFC 3339; `null` when absent.
pub(crate) fn epoch_rfc3339(v: &Value) -> Value {
    match v.as_f64() {
        Some(secs) => json!(inventory::domain::rfc3339((secs * 1000.0).round() as i64)),
        None => v.clone(),
    }
}
/// What `donut-ops` can see itself of the alarms' conditions (DLQ depth, failed orders).
/// The CloudWatch alarms themselves: `aws cloudwatch describe-alarms --state-value ALARM`.
pub(crate) async fn conditions(
    o: &Settings,
    sdk: &aws_config::SdkConfig,
) -> Result<Value, Failure> {
    let mut alarms = Vec::new();
    if let Some(url) = &o.failures_url {
        let depth = queue_depth(&aws_sdk_sqs::Client::new(sdk), url).await?;
        alarms.push(json!({
            "name": "AsyncFailuresNotEmpty", "aws_alarm": "AsyncFailuresAlarm",
            "state": if depth > 0 { "ALARM" } else { "OK" },
            "reason": format!("{depth} failed asynchronous invocation(s) in the failures queue"),
        }));
    }
    if let Some(url) = &o.dlq_url {
        let depth = queue_depth(&aws_sdk_sqs::Client::new(sdk), url).await?;
        alarms.push(json!({
            "name": "FactoryOrdersDLQNotEmpty", "aws_alarm": "FactoryOrdersDlqAlarm",
            "state": if depth > 0 { "ALARM" } else { "OK" },
            "reason": format!("{depth} message(s) in the factory-orders DLQ"),
        }));
    }
    if has_database() {
        let store = store(sdk, o).await?;
        let failed = ops_core::failed_orders_needing_action(&*store)
            .await
            .map_err(|e| Failure::Failed(e.to_string()))?;
        alarms.push(json!({
            "name": "FactoryOrderFailed", "aws_alarm": "OrdersFailedAlarm",
            "state": if failed.is_empty() { "OK" } else { "ALARM" },
            "reason": format!("{} failed factory order(s) awaiting action{}", failed.len(),
                failed.first().map(|o| format!(", e.g. {} ({})", o.id, o.sku)).unwrap_or_default()),
        }));
    }
    if alarms.is_empty() {
        return Err(Failure::Usage(
            "--aws alarms needs --dlq-url (FACTORY_ORDERS_DLQ_URL), --failures-url \
             (ASYNC_FAILURES_QUEUE_URL) and/or DATABASE_URL; or --stack NAME for the stack's \
             CloudWatch alarms"
                .into(),
        ));
    }
    Ok(json!({
        "alarms": alarms,
        "note": "conditions checked directly; the stack's CloudWatch alarms: donut-ops --stack NAME alarms",
    }))
}

#[cfg(test)]
mod tests {
    use super::logical_id_in_name;

    #[test]
    fn alarm_names_cloudformation_gave() {
        let l = |n| logical_id_in_name("donut-pipeline", n);
        assert_eq!(
            l("donut-pipeline-FactoryOrdersDlqAlarm-1A2B3C4D5E6F").as_deref(),
            Some("FactoryOrdersDlqAlarm")
        );
        assert_eq!(
            l("donut-pipeline-staging-FactoryOrdersDlqAlarm-1A2B3C"),
            None
        );
        assert_eq!(l("donut-pipeline-FactoryOrdersDlqAlarm"), None);
        assert_eq!(l("other-FactoryOrdersDlqAlarm-1A2B3C"), None);
    }
}
