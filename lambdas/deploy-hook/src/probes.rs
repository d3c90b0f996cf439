//! What the hook sends each new version, and what its answer must be. Pure (no I/O: the
//! invocations are [`crate::hook`]'s), so every rule is unit-tested on answers.
//!
//! Every probe is a real request through the function's own code and its database, and none
//! can change a product, a sale or an order:
//! - **sales-api**: `GET /inventory` (a real read), `GET /inventory/{probe}` and `POST /sales`
//!   of one `{probe}`, a SKU no product can have (`deploy-probe-` and 32 random hex digits,
//!   new each run; the GET must answer `404 unknown_sku` before the sale is sent). The sale runs
//!   the whole write path (the sale transaction inserts its row, finds no product, rolls back)
//!   and answers `404 unknown_sku`: nothing is stored, no stock moves.
//! - **restock**: the factory's callback for an order id no order has (a random UUID v4; orders
//!   get UUID v7), signed with the callback key as the orderer signs: the token is verified, the
//!   body parsed, the order read from the database: `404 unknown_factory_order`.
//! - **factory-orderer**: an SQS batch of one stock-out event (the current schema) for that
//!   order id: the orderer reads the order, finds none, reports exactly that record as failed
//!   and never calls the factory; its log tail must name `unknown factory order <id>` (a record
//!   that failed for any other reason, e.g. the database, is indistinguishable in the answer).

use serde_json::{Value, json};

/// A function whose new version the hook probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    SalesApi,
    Restock,
    FactoryOrderer,
}

impl Target {
    /// Its binary (`lambdas/<name>/`, the template's `BuildProperties.Binary`).
    pub fn name(self) -> &'static str {
        match self {
            Target::SalesApi => "sales-api",
            Target::Restock => "restock",
            Target::FactoryOrderer => "factory-orderer",
        }
    }
}

/// What is unique to one run of the hook: ids no real product, order or message has.
#[derive(Debug, Clone)]
pub struct Run {
    /// CodeDeploy's deployment id (`dry-run` when invoked by hand); tags the probes' requests.
    pub deployment_id: String,
    /// A SKU no product has: `deploy-probe-<32 hex>`.
    pub probe_sku: String,
    /// An order id no order has: a random UUID v4.
    pub probe_order: String,
    /// The SQS message id of the orderer's probe record.
    pub probe_message: String,
    /// The callback token of `probe_order` (restock checks it before anything else).
    pub callback_token: String,
}

impl Run {
    /// Fresh probe ids; `token` signs a callback for an order id (the callback key's HMAC).
    pub fn new(deployment_id: &str, token: impl Fn(&str) -> String) -> Run {
        let probe_order = uuid::Uuid::new_v4().to_string();
        Run {
            deployment_id: deployment_id.to_owned(),
            probe_sku: format!("deploy-probe-{}", uuid::Uuid::new_v4().simple()),
            callback_token: token(&probe_order),
            probe_order,
            probe_message: uuid::Uuid::new_v4().to_string(),
        }
    }

    /// The correlation id on every probe request (logs and capture records show it).
    pub fn correlation_id(&self) -> String {
        format!("deploy-probe-{}", self.deployment_id)
    }
}

/// One request to a new version and the answer it must give.
#[derive(Debug, Clone)]
pub struct Step {
    pub name: String,
    pub payload: Value,
    pub expect: Expect,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// An HTTP answer (API Gateway payload 2.0): this status; for an error, this `error` code
    /// (docs/api.md); for a success, a body with this key.
    Http {
        status: u16,
        error: Option<&'static str>,
        key: Option<&'static str>,
    },
    /// An SQS batch answer reporting exactly this message as failed, with a log tail saying
    /// this.
    FailedRecord {
        message_id: String,
        log_says: String,
    },
}

/// A version's answer to one step.
#[derive(Debug, Clone, Default)]
pub struct Invoked {
    /// Lambda's `FunctionError` (`Unhandled`: the function failed, timed out or crashed).
    pub function_error: Option<String>,
    pub payload: Vec<u8>,
    /// The end of the invocation's log (`LogType=Tail`), when Lambda returned one.
    pub log_tail: Option<String>,
}

/// The steps for `target`, in order: a step runs only when the ones before it passed.
pub fn plan(target: Target, run: &Run) -> Vec<Step> {
    match target {
        Target::SalesApi => {
            let product = format!("/inventory/{}", run.probe_sku);
            let sale = json!({"sku": run.probe_sku, "quantity": 1});
            vec![
                Step {
                    name: "GET /inventory".into(),
                    payload: http_event(run, "GET", "/inventory", "/inventory", "", None),
                    expect: Expect::Http {
                        status: 200,
                        error: None,
                        key: Some("products"),
                    },
                },
                Step {
                    name: format!("GET {product}"),
                    payload: http_event(run, "GET", &product, "/inventory/{sku}", "", None),
                    expect: Expect::Http {
                        status: 404,
                        error: Some("unknown_sku"),
                        key: None,
                    },
                },
                Step {
                    name: format!("POST /sales {sale}"),
                    payload: http_event(run, "POST", "/sales", "/sales", "", Some(&sale)),
                    expect: Expect::Http {
                        status: 404,
                        error: Some("unknown_sku"),
                        key: None,
                    },
                },
            ]
        }
        Target::Restock => {
            let path = format!("/factory/callbacks/{}", run.probe_order);
            let completion = json!({
                "MessageGroupId": run.probe_order,
                "MessageAttributeProductId": run.probe_sku,
                "MessageAttributeProductCnt": 1,
                "MessageAttributeFactoryId": "deploy-probe",
                "MessageAttributeRequester": "deploy-hook",
            });
            let query = format!("token={}", run.callback_token);
            vec![Step {
                name: format!("POST {path} (signed)"),
                payload: http_event(
                    run,
                    "POST",
                    &path,
                    "/factory/callbacks/{id}",
                    &query,
                    Some(&completion),
                ),
                expect: Expect::Http {
                    status: 404,
                    error: Some("unknown_factory_order"),
                    key: None,
                },
            }]
        }
        Target::FactoryOrderer => vec![Step {
            name: format!("stock-out of order {}", run.probe_order),
            payload: sqs_batch(run),
            expect: Expect::FailedRecord {
                message_id: run.probe_message.clone(),
                log_says: format!("unknown factory order {}", run.probe_order),
            },
        }],
    }
}

/// An API Gateway HTTP API (payload 2.0) request, as the API integration sends it.
fn http_event(
    run: &Run,
    method: &str,
    path: &str,
    route: &str,
    query: &str,
    body: Option<&Value>,
) -> Value {
    let route_key = format!("{method} {route}");
    let mut headers = json!({
        "accept": "application/json",
        "user-agent": "donut-deploy-hook",
        "x-correlation-id": run.correlation_id(),
    });
    if body.is_some() {
        headers["content-type"] = json!("application/json");
    }
    let mut query_params = serde_json::Map::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        query_params.insert(k.to_owned(), json!(v));
    }
    let request_id = uuid::Uuid::new_v4().simple().to_string();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "deploy-hook",
            "apiId": "deploy-hook",
            "domainName": "deploy-hook.invalid",
            "domainPrefix": "deploy-hook",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "donut-deploy-hook",
            },
            "requestId": request_id,
            "routeKey": route_key,
            "stage": "$default",
            "timeEpoch": now,
        },
        "isBase64Encoded": false,
    });
    if !query_params.is_empty() {
        event["queryStringParameters"] = Value::Object(query_params);
    }
    if let Some(b) = body {
        event["body"] = json!(b.to_string());
    }
    event
}

/// An SQS batch of one stock-out event for the probe order, as the event source mapping
/// delivers it (raw SNS delivery).
fn sqs_batch(run: &Run) -> Value {
    let event = json!({
        "schema_version": inventory::domain::StockOutEvent::SCHEMA_VERSION,
        "event_id": uuid::Uuid::new_v4().to_string(),
        "factory_order_id": run.probe_order,
        "sku": run.probe_sku,
        "quantity": 1,
        "correlation_id": run.correlation_id(),
        "occurred_at": 0,
    });
    let attr = |v: &str| json!({"stringValue": v, "stringListValues": [], "binaryListValues": [], "dataType": "String"});
    json!({"Records": [{
        "messageId": run.probe_message,
        "receiptHandle": "deploy-probe",
        "body": event.to_string(),
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "0"},
        "messageAttributes": {
            "correlation_id": attr(&run.correlation_id()),
            "factory_order_id": attr(&run.probe_order),
        },
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:deploy-hook:000000000000:deploy-probe",
        "awsRegion": "deploy-hook",
    }]})
}

/// Whether `got` is the answer `expect` wants: `Ok(what it said)` or `Err(why not)`.
pub fn judge(expect: &Expect, got: &Invoked) -> Result<String, String> {
    if let Some(kind) = &got.function_error {
        return Err(format!(
            "function error ({kind}): {}",
            excerpt(&String::from_utf8_lossy(&got.payload))
        ));
    }
    let answer: Value = serde_json::from_slice(&got.payload).map_err(|e| {
        format!(
            "the answer is not JSON ({e}): {}",
            excerpt(&String::from_utf8_lossy(&got.payload))
        )
    })?;
    match expect {
        Expect::Http { status, error, key } => {
            let (got_status, body) = http_answer(&answer)?;
            let code = body.get("error").and_then(Value::as_str);
            let said = format!(
                "{got_status}{}",
                code.map(|c| format!(" {c}")).unwrap_or_default()
            );
            if got_status != *status || code != *error {
                return Err(format!(
                    "answered {said}, expected {status}{}: {}",
                    error.map(|c| format!(" {c}")).unwrap_or_default(),
                    excerpt(&body.to_string())
                ));
            }
            if let Some(k) = key
                && body.get(*k).is_none()
            {
                return Err(format!(
                    "answered {said} without {k:?}: {}",
                    excerpt(&body.to_string())
                ));
            }
            Ok(said)
        }
        Expect::FailedRecord {
            message_id,
            log_says,
        } => {
            let failed: Vec<&str> = answer
                .get("batchItemFailures")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|f| f.get("itemIdentifier").and_then(Value::as_str))
                        .collect()
                })
                .unwrap_or_default();
            if failed != [message_id.as_str()] {
                return Err(format!(
                    "reported {failed:?} as failed, expected exactly the probe record {message_id}: {}",
                    excerpt(&answer.to_string())
                ));
            }
            match &got.log_tail {
                Some(tail) if tail.contains(log_says.as_str()) => {
                    Ok(format!("probe record failed: {log_says}"))
                }
                Some(tail) => Err(format!(
                    "the probe record failed, but not because its order is unknown (the log \
                     tail does not say {log_says:?}): {}",
                    excerpt_end(tail)
                )),
                None => Err(
                    "no log tail came back (LogType=Tail): cannot tell why the record failed"
                        .into(),
                ),
            }
        }
    }
}

/// `(statusCode, body as JSON)` of an API Gateway payload 2.0 response.
fn http_answer(answer: &Value) -> Result<(u16, Value), String> {
    let status = answer
        .get("statusCode")
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok())
        .ok_or_else(|| format!("not an HTTP answer: {}", excerpt(&answer.to_string())))?;
    let text = answer
        .get("body")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let text = if answer.get("isBase64Encoded").and_then(Value::as_bool) == Some(true) {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|e| format!("body is not base64: {e}"))?;
        String::from_utf8_lossy(&bytes).into_owned()
    } else {
        text.to_owned()
    };
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Ok((status, body))
}

const EXCERPT: usize = 300;

fn excerpt(s: &str) -> String {
    if s.chars().count() <= EXCERPT {
        return s.to_owned();
    }
    format!("{}…", s.chars().take(EXCERPT).collect::<String>())
}

fn excerpt_end(s: &str) -> String {
    let n = s.chars().count();
    if n <= EXCERPT {
        return s.to_owned();
    }
    format!("…{}", s.chars().skip(n - EXCERPT).collect::<String>())
}

#[cfg(test)]
mod tests;
