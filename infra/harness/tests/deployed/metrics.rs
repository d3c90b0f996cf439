//! The metrics the template's alarms and dashboards read, and whether the functions emit them.

use crate::kit::root;
use lambda_harness::Harness;
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;

/// Metric names of namespace `ns` that the template's alarms and dashboards read, found by
/// walking the resolved resources: alarms' `{Namespace, MetricName}` objects (plain or in
/// `Metrics[].MetricStat.Metric`), and each dashboard body's metrics (`["NS", "Name", …]`
/// arrays and `SEARCH('{NS,…} MetricName="Name"', …)` expressions).
fn template_metrics(ns: &str) -> BTreeSet<String> {
    use lambda_harness::template::{Template, Values};
    let t = Template::load(&root().join("template.yaml"), &Default::default()).expect("template");
    let v = Values::default();
    let mut names = BTreeSet::new();
    fn walk(j: &Value, ns: &str, names: &mut BTreeSet<String>) {
        match j {
            Value::Object(m) => {
                if m.get("Namespace").and_then(Value::as_str) == Some(ns)
                    && let Some(n) = m.get("MetricName").and_then(Value::as_str)
                {
                    names.insert(n.to_owned());
                }
                if let Some(e) = m.get("expression").and_then(Value::as_str) {
                    for part in e.split("SEARCH(").skip(1) {
                        if part
                            .trim_start_matches(['\'', '"'])
                            .starts_with(&format!("{{{ns},"))
                            && let Some(rest) = part.split("MetricName=\"").nth(1)
                            && let Some(name) = rest.split('"').next()
                        {
                            names.insert(name.to_owned());
                        }
                    }
                }
                m.values().for_each(|x| walk(x, ns, names));
            }
            Value::Array(a) => {
                if a.first().and_then(Value::as_str) == Some(ns)
                    && let Some(n) = a.get(1).and_then(Value::as_str)
                {
                    names.insert(n.to_owned());
                }
                a.iter().for_each(|x| walk(x, ns, names));
            }
            _ => {}
        }
    }
    for id in t.of_type("AWS::CloudWatch::Alarm").expect("alarms") {
        walk(
            &t.prop(&id, &[], &v).expect("alarm").unwrap_or_default(),
            ns,
            &mut names,
        );
    }
    for id in t.of_type("AWS::CloudWatch::Dashboard").expect("dashboards") {
        let body = t
            .prop(&id, &["DashboardBody"], &v)
            .expect("body")
            .unwrap_or_default();
        let body: Value =
            serde_json::from_str(body.as_str().unwrap_or("{}")).expect("dashboard JSON");
        walk(&body, ns, &mut names);
    }
    names
}

#[test]
fn the_template_metric_reader_finds_the_dashboard_and_alarm_metrics() {
    let names = template_metrics("DonutPipeline");
    // The two business alarms and the sales graph must be among them (the reader works).
    for n in ["OrdersFailed", "CaptureFailures", "SalesCompleted"] {
        assert!(names.contains(n), "{n} not found in {names:?}");
    }
}

/// 10. Every metric the dashboard and alarms read was emitted (EMF) during the run.
pub async fn every_metric_the_template_reads_was_emitted(h: &Harness) {
    tokio::time::sleep(Duration::from_millis(500)).await;
    let emitted: BTreeSet<String> = h
        .logs
        .metric_names()
        .into_iter()
        .filter(|(ns, _)| ns == "DonutPipeline")
        .map(|(_, n)| n)
        .collect();
    let wanted = template_metrics("DonutPipeline");
    eprintln!("metrics the template reads: {wanted:?}; emitted: {emitted:?}");
    let missing: Vec<_> = wanted.difference(&emitted).collect();
    assert!(
        missing.is_empty(),
        "metrics the template reads but no function emitted: {missing:?} (emitted {emitted:?})"
    );
}
