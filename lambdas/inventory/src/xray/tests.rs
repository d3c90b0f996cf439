//! The exporter against a UDP socket standing in for the X-Ray daemon (`testkit`). The adapters'
//! spans are tested where the adapters live: the factory client's in `factory_orderer::client`,
//! Kinesis's in `lambdas/api-capture/src/kinesis/tests.rs`.
use super::testkit::{PARENT, ROOT, daemon, header, received};
use super::*;
use std::collections::HashMap;

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
