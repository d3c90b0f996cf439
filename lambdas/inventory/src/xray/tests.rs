//! The exporter against a UDP socket standing in for the X-Ray daemon, the spans made by the
//! real adapters (a factory on a local TCP port, Kinesis through the SDK's mock client).
use super::*;
use crate::domain::{FactoryOrderId, Sku, StockOutEvent};
use crate::factory::{CallbackSigner, FactoryClient, FactoryError, FactorySettings};
use std::collections::HashMap;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;

const ROOT: &str = "1-5759e988-bd862e3fe1be46a994272793";
const PARENT: &str = "53995c3f42cd8ad8";
const ORDER_ID: &str = "0193a2b4-0000-7000-8000-000000000001";

fn header(sampled: &str) -> String {
    format!("Root={ROOT};Parent={PARENT};Sampled={sampled};Lineage=a87bd80c:0")
}

fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| map.get(name).cloned()
}

#[test]
fn off_unless_the_daemon_address_is_set_or_it_is_switched_on() {
    let config = |vars: &[(&str, &str)]| XrayConfig::from_lookup("svc", lookup(vars));
    assert_eq!(config(&[]), Ok(None), "off by default (local runs)");
    assert_eq!(config(&[(SWITCH, "off")]), Ok(None));
    let lambda = config(&[
        (DAEMON_ADDRESS, "169.254.79.129:2000"),
        ("AWS_LAMBDA_FUNCTION_NAME", "sales-api"),
        ("AWS_REGION", "eu-west-1"),
    ])
    .unwrap()
    .expect("on: Lambda with tracing Active");
    assert_eq!(lambda.daemon, "169.254.79.129:2000".parse().unwrap());
    assert!(!lambda.new_traces, "on Lambda the header decides");
    assert_eq!(lambda.region.as_deref(), Some("eu-west-1"));
    assert_eq!(
        config(&[(DAEMON_ADDRESS, "169.254.79.129:2000"), (SWITCH, "off")]),
        Ok(None),
        "switched off on Lambda"
    );
    let local = config(&[(SWITCH, "on")])
        .unwrap()
        .expect("asked for locally");
    assert_eq!(local.daemon, DEFAULT_DAEMON.parse().unwrap());
    assert!(local.new_traces);
    let sdk_form = config(&[(DAEMON_ADDRESS, "tcp:127.0.0.1:2000 udp:127.0.0.2:2001")]);
    assert_eq!(
        sdk_form.unwrap().unwrap().daemon,
        "127.0.0.2:2001".parse().unwrap()
    );
    assert!(matches!(
        config(&[(SWITCH, "yes please")]),
        Err(XrayConfigError::Switch(_))
    ));
    assert!(matches!(
        config(&[(DAEMON_ADDRESS, "no port")]),
        Err(XrayConfigError::Address(_))
    ));
}

#[test]
fn trace_headers() {
    let h = TraceHeader::parse(&header("1")).unwrap();
    assert_eq!(h.root, ROOT);
    assert_eq!(h.parent.as_deref(), Some(PARENT));
    assert_eq!(h.sampled, Some(true));
    assert_eq!(
        TraceHeader::parse(&header("0")).unwrap().sampled,
        Some(false)
    );
    assert_eq!(
        TraceHeader::parse(&format!("Root={ROOT}")).unwrap(),
        TraceHeader {
            root: ROOT.into(),
            parent: None,
            sampled: None
        }
    );
    assert_eq!(
        TraceHeader::parse("Parent=53995c3f42cd8ad8;Sampled=1"),
        None
    );
    assert_eq!(TraceHeader::parse("Root=1-zz-notatraceid"), None);
    assert!(is_trace_id(&new_trace_id(epoch_seconds())));
}

/// A UDP socket standing in for the daemon, and a subscriber (for this thread) exporting to it.
fn daemon(new_traces: bool) -> (UdpSocket, tracing::subscriber::DefaultGuard) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let config = XrayConfig {
        daemon: socket.local_addr().unwrap(),
        service: "factory-orderer",
        new_traces,
        region: Some("eu-west-1".into()),
    };
    let subscriber = tracing_subscriber::registry().with(layer(config).expect("socket"));
    (socket, tracing::subscriber::set_default(subscriber))
}

/// The documents received so far, in order, each checked for the daemon's header line.
fn received(socket: &UdpSocket) -> Vec<Value> {
    let mut docs = Vec::new();
    let mut buf = [0u8; 65_536];
    while let Ok(n) = socket.recv(&mut buf) {
        let datagram = &buf[..n];
        let body = datagram
            .strip_prefix(DAEMON_HEADER)
            .unwrap_or_else(|| panic!("no daemon header: {}", String::from_utf8_lossy(datagram)));
        docs.push(serde_json::from_slice(body).unwrap());
    }
    docs
}

/// A one-request HTTP server on 127.0.0.1 answering `status` with `body`.
async fn factory_answering(status: &'static str, body: &'static str) -> FactoryClient {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut conn, _) = listener.accept().await.unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        // Read the whole request (headers, then Content-Length bytes) before answering.
        loop {
            let n = conn.read(&mut buf).await.unwrap();
            request.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&request).to_ascii_lowercase();
            if let Some(end) = text.find("\r\n\r\n") {
                let length = text
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                if request.len() >= end + 4 + length {
                    break;
                }
            }
            if n == 0 {
                break;
            }
        }
        let answer = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        conn.write_all(answer.as_bytes()).await.unwrap();
    });
    FactoryClient::new(
        FactorySettings {
            base_url: format!("http://{addr}"),
            factory_id: "f-1".into(),
            requester: "shop".into(),
            callback_base: "http://127.0.0.1:1".into(),
            timeout: Duration::from_secs(5),
        },
        CallbackSigner::new("k"),
    )
    .unwrap()
}

fn event() -> StockOutEvent {
    let sku = Sku::parse("glazed").unwrap();
    let order_id = FactoryOrderId::parse(ORDER_ID).unwrap();
    StockOutEvent::new("e-1".into(), &order_id, &sku, 12, "c-1", 0)
}

fn is_id(v: &Value) -> bool {
    v.as_str().is_some_and(|s| is_hex(s, 16))
}

/// A failed factory call inside an SQS message's span inside an invocation: two subsegments of
/// the invocation's trace, the call's under the message's, the message's under the function's
/// segment (the header's `Parent`), the call marked as a fault with its status and kind.
#[tokio::test]
async fn a_failed_factory_call_is_a_fault_subsegment_under_its_message() {
    let (socket, _guard) = daemon(false);
    let factory = factory_answering("503 Service Unavailable", r#"{"error":"busy"}"#).await;
    let before = epoch_seconds();
    let invoke =
        tracing::info_span!("Lambda runtime invoke", requestId = "r-1", xrayTraceId = %header("1"));
    let result = async {
        // Created inside the invocation, as the orderer's span is.
        let message = tracing::info_span!("message", correlation_id = "c-1", receive_count = 1u64);
        factory.order(&event()).instrument(message).await
    }
    .instrument(invoke)
    .await;
    let after = epoch_seconds();
    assert!(matches!(
        result,
        Err(FactoryError::Server { status: 503, .. })
    ));

    let docs = received(&socket);
    assert_eq!(docs.len(), 2, "{docs:#?}");
    let (call, message) = (&docs[0], &docs[1]);
    for d in &docs {
        assert_eq!(d["trace_id"], ROOT);
        assert_eq!(d["type"], "subsegment");
        assert!(is_id(&d["id"]), "{d}");
        let (start, end) = (
            d["start_time"].as_f64().unwrap(),
            d["end_time"].as_f64().unwrap(),
        );
        assert!(before <= start && start <= end && end <= after, "{d}");
    }
    assert_eq!(message["name"], "message");
    assert_eq!(message["parent_id"], PARENT, "under the function's segment");
    assert_eq!(message["annotations"]["correlation_id"], "c-1");
    assert_eq!(message["annotations"]["receive_count"], 1);
    assert!(message.get("fault").is_none() && message.get("namespace").is_none());

    assert_eq!(call["name"], "factory");
    assert_eq!(call["parent_id"], message["id"], "under the message");
    assert_eq!(call["namespace"], "remote");
    assert_eq!(call["http"]["request"]["method"], "POST");
    assert_eq!(call["http"]["response"]["status"], 503);
    assert_eq!(call["fault"], true);
    assert!(call.get("error").is_none(), "a 5xx is the callee's fault");
    assert_eq!(call["cause"]["exceptions"][0]["message"], "server_error");
    assert_eq!(call["annotations"]["factory_order_id"], ORDER_ID);
    assert!(
        !call.to_string().contains("busy") && !call.to_string().contains("token"),
        "no body, no callback URL: {call}"
    );
}

#[tokio::test]
async fn a_successful_call_has_no_error_flags_and_a_4xx_is_an_error() {
    let (socket, _guard) = daemon(false);
    let invoke =
        tracing::info_span!("Lambda runtime invoke", requestId = "r-1", xrayTraceId = %header("1"));
    let ok = factory_answering("202 Accepted", r#"{"reference":"F-1"}"#).await;
    let rejected = factory_answering("400 Bad Request", "{}").await;
    async {
        ok.order(&event()).await.unwrap();
        assert!(rejected.order(&event()).await.is_err());
    }
    .instrument(invoke)
    .await;
    let docs = received(&socket);
    assert_eq!(docs.len(), 2, "{docs:#?}");
    assert_eq!(docs[0]["http"]["response"]["status"], 202);
    assert_eq!(docs[0]["parent_id"], PARENT);
    for flag in ["error", "fault", "throttle", "cause"] {
        assert!(docs[0].get(flag).is_none(), "{flag}: {}", docs[0]);
    }
    assert_eq!(docs[1]["http"]["response"]["status"], 400);
    assert_eq!(docs[1]["error"], true);
    assert!(docs[1].get("fault").is_none());
    assert_eq!(docs[1]["cause"]["exceptions"][0]["message"], "rejected");
}

/// Not sampled, or (on Lambda) outside any invocation: nothing is sent.
#[tokio::test]
async fn unsampled_and_orphan_spans_send_nothing() {
    let (socket, _guard) = daemon(false);
    let invoke =
        tracing::info_span!("Lambda runtime invoke", requestId = "r-1", xrayTraceId = %header("0"));
    invoke.in_scope(|| crate::spans::factory_span("o-1").in_scope(|| {}));
    crate::spans::db_span("sell", "mysql").in_scope(|| {});
    let no_header = tracing::info_span!("Lambda runtime invoke", requestId = "r-2");
    no_header.in_scope(|| crate::spans::db_span("sell", "mysql").in_scope(|| {}));
    assert_eq!(received(&socket), Vec::<Value>::new());
}

/// Switched on locally: the outermost exported span starts a trace, as a segment.
#[test]
fn locally_a_root_span_is_a_segment_of_a_new_trace() {
    let (socket, _guard) = daemon(true);
    tracing::info_span!("relay", event_id = "e-1").in_scope(|| {
        let db = crate::spans::db_span("mark_published", "sqlite");
        crate::spans::record_error(&db, "unavailable");
    });
    let docs = received(&socket);
    assert_eq!(docs.len(), 2, "{docs:#?}");
    let (db, root) = (&docs[0], &docs[1]);
    assert_eq!(root["name"], "factory-orderer", "named after the service");
    assert!(root.get("parent_id").is_none() && root.get("type").is_none());
    assert!(is_trace_id(root["trace_id"].as_str().unwrap()));
    assert_eq!(root["annotations"]["event_id"], "e-1");
    assert_eq!(db["name"], "sqlite");
    assert_eq!(db["parent_id"], root["id"]);
    assert_eq!(db["trace_id"], root["trace_id"]);
    assert_eq!(db["sql"]["database_type"], "sqlite");
    assert_eq!(db["metadata"]["default"]["db.operation"], "mark_published");
    assert_eq!(db["fault"], true);
    assert_eq!(db["cause"]["exceptions"][0]["message"], "unavailable");
}

/// A Kinesis `PutRecords` that rejects an entry, then accepts it: two `aws` subsegments, the
/// first one a fault with the entry's error code.
#[tokio::test]
async fn kinesis_calls_are_aws_subsegments() {
    use aws_sdk_kinesis::operation::put_records::PutRecordsOutput;
    use aws_sdk_kinesis::types::PutRecordsResultEntry;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    let calls = std::sync::Arc::new(AtomicU64::new(0));
    let seen = calls.clone();
    let rule = mock!(aws_sdk_kinesis::Client::put_records).then_compute_output(move |input| {
        let first = seen.fetch_add(1, Ordering::SeqCst) == 0;
        let entry = |i: usize| {
            if first && i == 0 {
                PutRecordsResultEntry::builder()
                    .error_code("ProvisionedThroughputExceededException")
                    .build()
            } else {
                PutRecordsResultEntry::builder()
                    .shard_id("shardId-000000000000")
                    .sequence_number(i.to_string())
                    .build()
            }
        };
        PutRecordsOutput::builder()
            .failed_record_count(i32::from(first))
            .set_records(Some((0..input.records().len()).map(entry).collect()))
            .build()
            .unwrap()
    });
    let client = mock_client!(aws_sdk_kinesis, RuleMode::MatchAny, [&rule]);
    let capture = crate::capture::KinesisCapture::new(client, "capture")
        .with_retry(3, Duration::from_millis(1));
    let (socket, _guard) = daemon(false);
    let invoke =
        tracing::info_span!("Lambda runtime invoke", requestId = "r-1", xrayTraceId = %header("1"));
    let report = capture
        .put_all((0..3).map(crate::capture::fixture::record).collect())
        .instrument(invoke)
        .await
        .unwrap();
    assert_eq!(report.delivered, 3);
    let docs = received(&socket);
    assert_eq!(docs.len(), 2, "{docs:#?}");
    for d in &docs {
        assert_eq!(d["name"], "Kinesis");
        assert_eq!(d["namespace"], "aws");
        assert_eq!(d["aws"]["operation"], "PutRecords");
        assert_eq!(d["aws"]["region"], "eu-west-1");
        assert_eq!(d["aws"]["resource_names"], json!(["capture"]));
        assert_eq!(d["parent_id"], PARENT);
    }
    assert_eq!(docs[0]["annotations"]["records"], 3);
    assert_eq!(docs[0]["annotations"]["failed"], 1);
    assert_eq!(docs[0]["fault"], true);
    assert_eq!(
        docs[0]["cause"]["exceptions"][0]["message"],
        "ProvisionedThroughputExceededException"
    );
    assert_eq!(
        docs[1]["annotations"]["records"], 1,
        "only the rejected entry"
    );
    assert!(docs[1].get("fault").is_none());
}

/// An AWS call that fails with HTTP 400 (not retried by the SDK): an error with the status and
/// the SDK's error kind, then the batch's retry succeeds.
#[tokio::test]
async fn a_failed_aws_call_records_its_status() {
    use aws_sdk_kinesis::operation::put_records::PutRecordsOutput;
    use aws_sdk_kinesis::types::PutRecordsResultEntry;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    let fail = mock!(aws_sdk_kinesis::Client::put_records)
        .sequence()
        .http_status(400, None)
        .times(1)
        .build();
    let ok = mock!(aws_sdk_kinesis::Client::put_records).then_compute_output(|input| {
        let ok = |i: usize| {
            PutRecordsResultEntry::builder()
                .shard_id("shardId-000000000000")
                .sequence_number(i.to_string())
                .build()
        };
        PutRecordsOutput::builder()
            .failed_record_count(0)
            .set_records(Some((0..input.records().len()).map(ok).collect()))
            .build()
            .unwrap()
    });
    let client = mock_client!(aws_sdk_kinesis, RuleMode::MatchAny, [&fail, &ok]);
    let capture = crate::capture::KinesisCapture::new(client, "capture")
        .with_retry(3, Duration::from_millis(1));
    let (socket, _guard) = daemon(false);
    let invoke =
        tracing::info_span!("Lambda runtime invoke", requestId = "r-1", xrayTraceId = %header("1"));
    capture
        .put_all(vec![crate::capture::fixture::record(0)])
        .instrument(invoke)
        .await
        .unwrap();
    let docs = received(&socket);
    assert_eq!(docs.len(), 2, "{docs:#?}");
    assert_eq!(docs[0]["http"]["response"]["status"], 400);
    assert_eq!(docs[0]["error"], true);
    assert!(
        docs[0].get("fault").is_none(),
        "a 4xx is the caller's error"
    );
    assert!(
        docs[0]["cause"]["exceptions"][0]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    assert!(docs[1].get("error").is_none() && docs[1].get("cause").is_none());
}
