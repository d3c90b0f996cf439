//! The on-failure queue of the asynchronously invoked functions: Lambda's invocation records,
//! explained, and redriven by invoking each function again with its original payload.

use super::arn::FunctionArn;
use super::queues::{peek, queue_depth};
use super::signer::Invoker;
use super::sqs_error;
use crate::failure::Failure;
use serde_json::{Value, json};
/// What a Lambda invocation record (the body Lambda sends to an on-failure destination)
/// says: which function, why it was given up, how often it ran, the error.
pub fn explain_failure(body: &str) -> Value {
    let Ok(record) = serde_json::from_str::<Value>(body) else {
        return json!({"reason": "not JSON: not a Lambda invocation record",
                      "body": body.chars().take(2000).collect::<String>()});
    };
    let ctx = &record["requestContext"];
    let Some(arn) = ctx["functionArn"].as_str() else {
        return json!({"reason": "no requestContext.functionArn: not a Lambda invocation record",
                      "body": body.chars().take(2000).collect::<String>()});
    };
    let error = &record["responsePayload"];
    json!({
        "function": FunctionArn::parse(arn).map(|f| f.name).ok(),
        "function_arn": arn,
        "condition": ctx["condition"],
        "attempts": ctx["approximateInvokeCount"],
        "request_id": ctx["requestId"],
        "failed_at": record["timestamp"],
        "error_type": error["errorType"].as_str().or(record["responseContext"]["functionError"].as_str()),
        "error": error["errorMessage"],
        "reason": format!("{} ({})", ctx["condition"].as_str().unwrap_or("failed"),
                          error["errorMessage"].as_str().unwrap_or("no error message")),
    })
}
pub async fn list(sqs: &aws_sdk_sqs::Client, url: &str, max: usize) -> Result<Value, Failure> {
    let depth = queue_depth(sqs, url).await?;
    let records: Vec<Value> = peek(sqs, url, max)
        .await?
        .iter()
        .map(|m| {
            let mut view = explain_failure(m.body().unwrap_or_default());
            view["message_id"] = json!(m.message_id());
            view
        })
        .collect();
    Ok(json!({"queue": url, "depth": depth, "failures": records}))
}
/// Re-invokes every failed invocation (asynchronously, with its original payload, on the
/// function's current code) and deletes each record Lambda accepted. A record that cannot be
/// redriven stays in the queue (visible again at once) and is reported.
pub async fn redrive(
    sqs: &aws_sdk_sqs::Client,
    sdk: &aws_config::SdkConfig,
    url: &str,
    max: usize,
) -> Result<Value, Failure> {
    let lambda = Invoker::new(sdk).await?;
    let mut seen = std::collections::HashSet::new();
    let (mut redriven, mut errors, mut fruitless) = (Vec::new(), Vec::new(), 0);
    while redriven.len() + errors.len() < max && fruitless < 2 {
        let out = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(60)
            .wait_time_seconds(1)
            .send()
            .await
            .map_err(|e| sqs_error("sqs:ReceiveMessage on the failures queue", e))?;
        let mut new = 0;
        for m in out.messages() {
            let id = m.message_id().unwrap_or_default().to_owned();
            if !seen.insert(id.clone()) || redriven.len() + errors.len() >= max {
                // Seen already (left in the queue) or over --max: visible again at once.
                release(sqs, url, m).await;
                continue;
            }
            new += 1;
            let body = m.body().unwrap_or_default();
            let result = match serde_json::from_str::<Value>(body) {
                Ok(record) => match record["requestContext"]["functionArn"].as_str() {
                    Some(arn) => lambda
                        .invoke_event(arn, &record["requestPayload"])
                        .await
                        .map(|()| arn.to_owned()),
                    None => {
                        Err("not a Lambda invocation record (no requestContext.functionArn)".into())
                    }
                },
                Err(e) => Err(format!("not a Lambda invocation record: {e}")),
            };
            match result {
                Ok(arn) => {
                    sqs.delete_message()
                        .queue_url(url)
                        .receipt_handle(m.receipt_handle().unwrap_or_default())
                        .send()
                        .await
                        .map_err(|e| sqs_error("sqs:DeleteMessage", e))?;
                    redriven.push(json!({"message_id": id, "function_arn": arn}));
                }
                Err(why) => {
                    // Left in the queue, visible again at once for the next look.
                    release(sqs, url, m).await;
                    errors.push(json!({"message_id": id, "error": why}));
                }
            }
        }
        fruitless = if new == 0 { fruitless + 1 } else { 0 };
    }
    let result = json!({
        "queue": url,
        "redriven": redriven.len(),
        "invocations": redriven,
        "failed": errors.len(),
        "errors": errors,
    });
    if let Some(first) = result["errors"].get(0) {
        return Err(Failure::Failed(format!(
            "re-invoked {} record(s); {} could not be (left in the queue), e.g. {}: {}",
            result["redriven"],
            result["failed"],
            first["message_id"].as_str().unwrap_or("-"),
            first["error"].as_str().unwrap_or("-")
        )));
    }
    Ok(result)
}
/// Makes a received message visible again at once (best effort: at worst it reappears when
/// its 60 s visibility timeout ends).
pub(crate) async fn release(sqs: &aws_sdk_sqs::Client, url: &str, m: &aws_sdk_sqs::types::Message) {
    let _ = sqs
        .change_message_visibility()
        .queue_url(url)
        .receipt_handle(m.receipt_handle().unwrap_or_default())
        .visibility_timeout(0)
        .send()
        .await;
}
#[cfg(test)]
mod tests {
    use super::explain_failure;

    #[test]
    fn explains_an_invocation_record() {
        let v = explain_failure(
            r#"{"version":"1.0","timestamp":"2026-11-21T00:15:31.000Z",
            "requestContext":{"requestId":"r-1","functionArn":"arn:aws:lambda:us-east-1:123456789012:function:exp:$LATEST",
                              "condition":"RetriesExhausted","approximateInvokeCount":3},
            "requestPayload":{"source":"aws.events"},
            "responseContext":{"statusCode":200,"executedVersion":"$LATEST","functionError":"Unhandled"},
            "responsePayload":{"errorType":"ExportError","errorMessage":"database unavailable"}}"#,
        );
        assert_eq!(v["function"], "exp");
        assert_eq!(v["attempts"], 3);
        assert_eq!(v["error_type"], "ExportError");
        assert_eq!(v["reason"], "RetriesExhausted (database unavailable)");
        assert!(
            explain_failure("nope")["reason"]
                .as_str()
                .unwrap()
                .contains("not a Lambda invocation record")
        );
    }
}
