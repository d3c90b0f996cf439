//! The client against a factory on 127.0.0.1: which failures are worth retrying, and the
//! `factory` span each call makes, as the X-Ray exporter (`inventory::xray`) sends it to a UDP
//! socket standing in for the daemon: under the SQS message's span, a fault for a 5xx, an error
//! for a 4xx, with the answer's status and no body or callback URL.

use super::*;
use inventory::domain::{FactoryOrderId, Sku};
use inventory::xray::testkit::{PARENT, ROOT, daemon, header, received};
use serde_json::Value;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::Instrument;

const ORDER_ID: &str = "0193a2b4-0000-7000-8000-000000000001";

fn epoch_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

#[test]
fn only_4xx_is_permanent() {
    assert!(FactoryError::Throttled.is_transient());
    assert!(
        FactoryError::Server {
            status: 503,
            body: String::new()
        }
        .is_transient()
    );
    assert!(FactoryError::Timeout(Duration::from_secs(1)).is_transient());
    assert!(
        !FactoryError::Rejected {
            status: 400,
            body: String::new()
        }
        .is_transient()
    );
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
    StockOutEvent::new("e-1".into(), &order_id, &sku, 12, &"c-1".into(), 0)
}

fn is_id(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.len() == 16 && s.bytes().all(|b| b.is_ascii_hexdigit()))
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
