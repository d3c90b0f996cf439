//! The template's schedules, fired as EventBridge would: the exporter (and an on-demand day),
//! and the outbox relay.

use lambda_harness::Harness;
use serde_json::json;

/// 7. The exporter's schedule, and an on-demand day, write csv.gz under exports/.
pub async fn the_exporter_writes_csv_gz_under_exports(h: &Harness) {
    assert!(
        h.fire_schedule("ExporterFunction", "Daily")
            .await
            .expect("schedule")
    );
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let yesterday = (chrono::Utc::now() - chrono::Duration::days(1))
        .format("%Y-%m-%d")
        .to_string();
    let exported = h.functions["ExporterFunction"]
        .invoke(&json!({"date": today}))
        .await;
    assert!(exported.is_ok(), "{exported:?}");
    let s3 = aws_sdk_s3::Client::new(&h.sdk);
    let bucket = &h.values.refs["DataBucket"];
    let keys: Vec<String> = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix("exports/")
        .send()
        .await
        .expect("list")
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect();
    for (kind, day) in [
        ("sales", &yesterday),
        ("inventory", &yesterday),
        ("sales", &today),
        ("inventory", &today),
    ] {
        let prefix = format!("exports/{kind}/date={day}/");
        assert!(
            keys.iter()
                .any(|k| k.starts_with(&prefix) && k.ends_with(".csv.gz")),
            "no {prefix}*.csv.gz in {keys:?}"
        );
    }
    let sales_key = keys
        .iter()
        .find(|k| k.starts_with(&format!("exports/sales/date={today}/")))
        .expect("sales");
    let obj = s3
        .get_object()
        .bucket(bucket)
        .key(sales_key)
        .send()
        .await
        .expect("get");
    let gz = obj.body.collect().await.expect("body").into_bytes();
    let mut csv = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut csv)
        .expect("gunzip");
    assert_eq!(
        csv.lines().filter(|l| l.contains("glazed")).count(),
        3,
        "{csv}"
    );
}

/// 8. The outbox relay's schedule runs clean.
pub async fn the_outbox_relay_runs_clean(h: &Harness) {
    assert!(
        h.fire_schedule("OutboxRelayFunction", "EveryMinute")
            .await
            .expect("schedule")
    );
}
