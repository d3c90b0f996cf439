//! The `exporter` function's daily exports (its `main.rs` runs them on a schedule, the local
//! stack's `devstack export` on demand): the previous day's sales and an end-of-day inventory
//! snapshot, as deterministic gzip CSV objects under `exports/<dataset>/date=YYYY-MM-DD/` of the
//! data bucket (S3 on AWS, `<data-dir>/bucket/` locally). Re-running a day writes the same keys
//! with byte-identical content; a day without sales writes a header-only file.
//!
//! The snapshot is reconstructed from the ledger rather than read at export time, so it does
//! not depend on when the export runs: `stock at day end = current stock + sold since the day
//! end − restocked since the day end`. Known limit: an operator's `PUT /admin/inventory/{sku}`
//! after the day end (it sets the stock outright) is not in the ledger and shifts the snapshot
//! of that SKU; products created after the day end appear with their reconstructed stock.

use async_trait::async_trait;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use flate2::{Compression, GzBuilder};
use inventory::domain::{Millis, rfc3339};
use inventory::store::{Catalog, Movement, Reports, SaleRow, StoreError};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

pub const SALES_HEADER: &str = "id,sku,quantity,remaining_stock,correlation_id,created_at";
pub const INVENTORY_HEADER: &str = "date,sku,name,stock_end_of_day,sold,restocked";
const DAY_MS: Millis = 86_400_000;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write {key}: {why}")]
    Write { key: String, why: String },
    #[error("invalid export date: {0}")]
    Date(String),
}

/// One object of an export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportFile {
    pub key: String,
    /// gzip-compressed CSV.
    pub body: Vec<u8>,
    /// Data rows (the header not counted).
    pub rows: usize,
}

/// `[start, end)` of a UTC day in milliseconds.
pub fn day_bounds(date: NaiveDate) -> (Millis, Millis) {
    let start = date
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc().timestamp_millis())
        .unwrap_or_default();
    (start, start + DAY_MS)
}

pub fn sales_key(date: NaiveDate) -> String {
    format!("exports/sales/date={}/sales.csv.gz", ymd(date))
}

pub fn inventory_key(date: NaiveDate) -> String {
    format!("exports/inventory/date={}/inventory.csv.gz", ymd(date))
}

fn ymd(date: NaiveDate) -> String {
    format!("{:04}-{:02}-{:02}", date.year(), date.month(), date.day())
}

/// A CSV field (RFC 4180): quoted when it holds a comma, a quote or a line break.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn csv_line(out: &mut String, fields: &[String]) {
    let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
    out.push_str(&line.join(","));
    out.push('\n');
}

/// gzip with no file name and mtime 0: the same CSV always gives the same bytes.
pub fn gzip_deterministic(data: &[u8]) -> Vec<u8> {
    let mut gz = GzBuilder::new().mtime(0).write(
        Vec::with_capacity(data.len() / 4 + 64),
        Compression::default(),
    );
    // Writing into a Vec cannot fail.
    let _ = gz.write_all(data);
    gz.finish().unwrap_or_default()
}

pub fn sales_csv(rows: &[SaleRow]) -> String {
    let mut out = String::with_capacity(64 + rows.len() * 128);
    out.push_str(SALES_HEADER);
    out.push('\n');
    for r in rows {
        csv_line(
            &mut out,
            &[
                r.id.clone(),
                r.sku.clone(),
                r.quantity.to_string(),
                r.remaining_stock.map(|v| v.to_string()).unwrap_or_default(),
                r.correlation_id.clone(),
                rfc3339(r.created_at),
            ],
        );
    }
    out
}

/// One row of the end-of-day inventory snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotRow {
    pub sku: String,
    pub name: String,
    pub stock_end_of_day: i64,
    pub sold: i64,
    pub restocked: i64,
}

/// The end-of-day snapshot of `date`, per SKU in SKU order, from the ledger (see the module
/// docs).
pub async fn inventory_snapshot(
    store: &(impl Catalog + Reports + ?Sized),
    date: NaiveDate,
) -> Result<Vec<SnapshotRow>, StoreError> {
    let (start, end) = day_bounds(date);
    let mut products = store.products().await?;
    products.sort_by(|a, b| a.sku.cmp(&b.sku));
    // Summed by the database: the day's movements, and everything after the day (to walk the
    // current stock back to the end of the day).
    let totals = |ms: Vec<Movement>| -> BTreeMap<String, (i64, i64)> {
        ms.into_iter()
            .map(|m| (m.sku, (m.sold, m.restocked)))
            .collect()
    };
    let day = totals(store.movements_between(start, end).await?);
    let after = totals(store.movements_between(end, i64::MAX).await?);
    Ok(products
        .into_iter()
        .map(|p| {
            let sku = p.sku.to_string();
            let (sold, restocked) = day.get(&sku).copied().unwrap_or_default();
            let (sold_after, restocked_after) = after.get(&sku).copied().unwrap_or_default();
            SnapshotRow {
                stock_end_of_day: p.stock + sold_after - restocked_after,
                sold,
                restocked,
                name: p.name,
                sku,
            }
        })
        .collect())
}

pub fn inventory_csv(date: NaiveDate, rows: &[SnapshotRow]) -> String {
    let mut out = String::with_capacity(64 + rows.len() * 64);
    out.push_str(INVENTORY_HEADER);
    out.push('\n');
    let d = ymd(date);
    for r in rows {
        csv_line(
            &mut out,
            &[
                d.clone(),
                r.sku.clone(),
                r.name.clone(),
                r.stock_end_of_day.to_string(),
                r.sold.to_string(),
                r.restocked.to_string(),
            ],
        );
    }
    out
}

/// Builds the objects of one day's export: `exports/sales/date=…/sales.csv.gz` and
/// `exports/inventory/date=…/inventory.csv.gz`.
pub async fn build_exports(
    store: &(impl Catalog + Reports + ?Sized),
    date: NaiveDate,
) -> Result<Vec<ExportFile>, StoreError> {
    let (start, end) = day_bounds(date);
    let sales = store.sales_between(start, end).await?;
    let snapshot = inventory_snapshot(store, date).await?;
    Ok(vec![
        ExportFile {
            key: sales_key(date),
            body: gzip_deterministic(sales_csv(&sales).as_bytes()),
            rows: sales.len(),
        },
        ExportFile {
            key: inventory_key(date),
            body: gzip_deterministic(inventory_csv(date, &snapshot).as_bytes()),
            rows: snapshot.len(),
        },
    ])
}

/// Where export objects are written.
#[async_trait]
pub trait ExportTarget: Send + Sync {
    /// Writes (or overwrites) one object.
    async fn put(&self, key: &str, body: &[u8]) -> Result<(), ExportError>;
    /// A human-readable location of a key (`s3://bucket/key`, a path).
    fn location(&self, key: &str) -> String;
}

/// An S3 bucket (`s3:PutObject` on `exports/*`).
pub struct S3Bucket {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3Bucket {
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        S3Bucket {
            client,
            bucket: bucket.into(),
        }
    }
    pub fn from_sdk(sdk: &aws_config::SdkConfig, bucket: impl Into<String>) -> Self {
        Self::new(aws_sdk_s3::Client::new(sdk), bucket)
    }
}

#[async_trait]
impl ExportTarget for S3Bucket {
    async fn put(&self, key: &str, body: &[u8]) -> Result<(), ExportError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/gzip")
            .body(aws_sdk_s3::primitives::ByteStream::from(body.to_vec()))
            .send()
            .await
            .map_err(|e| ExportError::Write {
                key: self.location(key),
                why: aws_sdk_s3::error::DisplayErrorContext(&e).to_string(),
            })?;
        Ok(())
    }
    fn location(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }
}

/// A local directory standing in for the bucket (`<data-dir>/bucket`).
pub struct LocalDir {
    root: PathBuf,
}

impl LocalDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalDir { root: root.into() }
    }
}

#[async_trait]
impl ExportTarget for LocalDir {
    async fn put(&self, key: &str, body: &[u8]) -> Result<(), ExportError> {
        let path = self.root.join(key);
        let fail = |e: std::io::Error| ExportError::Write {
            key: path.display().to_string(),
            why: e.to_string(),
        };
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await.map_err(fail)?;
        }
        // Written aside and renamed: a reader never sees half an object.
        let tmp = path.with_extension(format!("part-{}", uuid::Uuid::new_v4().simple()));
        tokio::fs::write(&tmp, body).await.map_err(fail)?;
        tokio::fs::rename(&tmp, &path).await.map_err(fail)
    }
    fn location(&self, key: &str) -> String {
        self.root.join(key).display().to_string()
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ExportedObject {
    pub key: String,
    pub location: String,
    pub rows: usize,
    pub bytes: usize,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ExportReport {
    /// `YYYY-MM-DD`.
    pub date: String,
    pub objects: Vec<ExportedObject>,
}

/// Builds and writes one day's export.
pub async fn run_export(
    store: &(impl Catalog + Reports + ?Sized),
    target: &dyn ExportTarget,
    date: NaiveDate,
) -> Result<ExportReport, ExportError> {
    let files = build_exports(store, date).await?;
    let mut objects = Vec::with_capacity(files.len());
    for f in files {
        target.put(&f.key, &f.body).await?;
        tracing::info!(location = %target.location(&f.key), rows = f.rows, bytes = f.body.len(), "export object written");
        objects.push(ExportedObject {
            location: target.location(&f.key),
            rows: f.rows,
            bytes: f.body.len(),
            key: f.key,
        });
    }
    let report = ExportReport {
        date: ymd(date),
        objects,
    };
    Ok(report)
}

/// The UTC day before `now`.
pub fn yesterday(now: DateTime<Utc>) -> NaiveDate {
    let today = now.date_naive();
    today.pred_opt().unwrap_or(today)
}

/// The day an invocation exports: `{"date": "YYYY-MM-DD"}` when given (on-demand runs and
/// backfills); otherwise the day before the scheduled event's `time` (so a retried invocation
/// exports the same day), or before `now`.
pub fn export_date(event: &Value, now: DateTime<Utc>) -> Result<NaiveDate, ExportError> {
    if let Some(d) = event.get("date") {
        let s = d
            .as_str()
            .ok_or_else(|| ExportError::Date(format!("{d} is not a string")))?;
        return NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map_err(|e| ExportError::Date(format!("{s:?}: {e}")));
    }
    let at = event
        .get("time")
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or(now);
    Ok(yesterday(at))
}

/// The `exporter` handler: an EventBridge scheduled event (or `{"date": "YYYY-MM-DD"}`).
pub async fn handle_event(
    store: &(impl Catalog + Reports + ?Sized),
    target: &dyn ExportTarget,
    event: Value,
) -> Result<ExportReport, ExportError> {
    let date = export_date(&event, Utc::now())?;
    run_export(store, target, date).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn csv_escaping() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_field(""), "");
    }

    #[test]
    fn gzip_is_deterministic_and_round_trips() {
        let a = gzip_deterministic(b"id,sku\n1,glazed\n");
        let b = gzip_deterministic(b"id,sku\n1,glazed\n");
        assert_eq!(a, b);
        assert_eq!(&a[4..8], &[0, 0, 0, 0], "mtime 0");
        assert_eq!(a[3] & 0x08, 0, "no file name");
        let mut out = String::new();
        flate2::read::GzDecoder::new(&a[..])
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "id,sku\n1,glazed\n");
    }

    #[test]
    fn keys_and_days() {
        let d = NaiveDate::from_ymd_opt(2026, 3, 7).unwrap();
        assert_eq!(sales_key(d), "exports/sales/date=2026-03-07/sales.csv.gz");
        assert_eq!(
            inventory_key(d),
            "exports/inventory/date=2026-03-07/inventory.csv.gz"
        );
        let (s, e) = day_bounds(d);
        assert_eq!(rfc3339(s), "2026-03-07T00:00:00.000Z");
        assert_eq!(e - s, DAY_MS);
    }

    #[test]
    fn event_dates() {
        let now = DateTime::parse_from_rfc3339("2026-11-22T00:15:03Z")
            .unwrap()
            .with_timezone(&Utc);
        let scheduled = serde_json::json!({"detail-type": "Scheduled Event", "source": "aws.events",
            "time": "2026-11-22T00:15:00Z", "detail": {}});
        assert_eq!(
            export_date(&scheduled, now).unwrap().to_string(),
            "2026-11-21"
        );
        assert_eq!(
            export_date(&serde_json::json!({}), now)
                .unwrap()
                .to_string(),
            "2026-11-21"
        );
        let on_demand = serde_json::json!({"date": "2026-01-31"});
        assert_eq!(
            export_date(&on_demand, now).unwrap().to_string(),
            "2026-01-31"
        );
        assert!(export_date(&serde_json::json!({"date": "31/01/2026"}), now).is_err());
        assert!(export_date(&serde_json::json!({"date": 20260131}), now).is_err());
    }

    #[test]
    fn empty_csvs_are_header_only() {
        let d = NaiveDate::from_ymd_opt(2026, 3, 7).unwrap();
        assert_eq!(sales_csv(&[]), format!("{SALES_HEADER}\n"));
        assert_eq!(inventory_csv(d, &[]), format!("{INVENTORY_HEADER}\n"));
    }
}

#[cfg(test)]
mod snapshot_tests {
    //! The snapshot arithmetic against the in-memory store (the SQL versions are in
    //! `tests/tests/exports.rs`).
    use super::*;
    use inventory::domain::{ProductSpec, Quantity, SaleRequest, Sku, now_millis};
    use inventory::store::{Catalog, MemoryStore, Sales};

    #[tokio::test]
    async fn today_walks_current_stock_back_to_the_end_of_yesterday() {
        let store = MemoryStore::new();
        let sku = Sku::parse("glazed").unwrap();
        let spec = ProductSpec::new(sku.clone(), None, 10, Some(0), Some(5)).unwrap();
        store.put_product(&spec).await.unwrap();
        let req = SaleRequest {
            sku,
            quantity: Quantity::new(3).unwrap(),
            idempotency_key: None,
            correlation_id: "c".into(),
        };
        store.sell(&req).await.unwrap();
        let today = DateTime::<Utc>::from_timestamp_millis(now_millis())
            .unwrap()
            .date_naive();
        let rows = inventory_snapshot(&store, today).await.unwrap();
        assert_eq!((rows[0].stock_end_of_day, rows[0].sold), (7, 3));
        let yesterday = today.pred_opt().unwrap();
        let rows = inventory_snapshot(&store, yesterday).await.unwrap();
        assert_eq!((rows[0].stock_end_of_day, rows[0].sold), (10, 0));
        let files = build_exports(&store, today).await.unwrap();
        assert_eq!(files[0].rows, 1, "one sale today");
    }
}
