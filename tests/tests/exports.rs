//! Daily exports, each run against SQLite and a real MariaDB: the content matches the database,
//! a rerun is byte-identical, an empty day gives header-only files, and a past day's inventory
//! snapshot is reconstructed from the ledger.

use chrono::{DateTime, NaiveDate, Utc};
use exporter::{
    INVENTORY_HEADER, LocalDir, SALES_HEADER, build_exports, day_bounds, inventory_key, run_export,
    sales_key,
};
use inventory::domain::{Millis, ProductSpec, Quantity, SaleRequest, Sku, rfc3339};
use inventory::store::{DynStore, FulfillOutcome, SaleOutcome};
use pipeline_tests::both;
use pipeline_tests::{Db, store};
use std::collections::BTreeMap;
use std::io::Read;

async fn put(store: &DynStore, sku: &str, name: Option<&str>, stock: i64, rp: i64, rq: i64) {
    let spec = ProductSpec::new(
        Sku::parse(sku).unwrap(),
        name.map(str::to_owned),
        stock,
        Some(rp),
        Some(rq),
    )
    .unwrap();
    store.put_product(&spec).await.unwrap();
}

async fn sell(store: &DynStore, sku: &str, q: i64, corr: &str) -> inventory::domain::Sale {
    let req = SaleRequest {
        sku: Sku::parse(sku).unwrap(),
        quantity: Quantity::new(q).unwrap(),
        idempotency_key: None,
        correlation_id: corr.into(),
    };
    match store.sell(&req).await.unwrap() {
        SaleOutcome::Sold { sale, .. } => sale,
        other => panic!("{other:?}"),
    }
}

fn date_of(ms: Millis) -> NaiveDate {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap()
        .date_naive()
}

fn gunzip(bytes: &[u8]) -> String {
    let mut s = String::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_string(&mut s)
        .expect("valid gzip");
    s
}

/// A small RFC 4180 reader (quoted fields, doubled quotes, line breaks in quotes).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, '\r') => {}
            (false, c) => field.push(c),
        }
    }
    assert!(!quoted, "unterminated quoted field");
    assert!(
        field.is_empty() && row.is_empty(),
        "the file ends with a newline"
    );
    rows
}

fn file<'a>(files: &'a [exporter::ExportFile], key: &str) -> &'a [u8] {
    &files
        .iter()
        .find(|f| f.key == key)
        .unwrap_or_else(|| panic!("no {key}"))
        .body
}

const MAPLE_NAME: &str = "Maple, \"Special\" Bar";

async fn export_matches_the_database(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let store = store(db, dir.path()).await;
    put(&store, "glazed", Some("Original Glazed"), 50, 0, 100).await;
    put(&store, "maple", Some(MAPLE_NAME), 20, 0, 100).await;
    put(&store, "plain", None, 7, 0, 100).await;
    let first = sell(&store, "glazed", 2, "corr-1").await;
    sell(&store, "maple", 1, "corr-2").await;
    sell(&store, "glazed", 3, "corr-3").await;
    sell(&store, "maple", 4, "corr:4.x_y-z").await;
    let date = date_of(first.created_at);
    let (_, day_end) = day_bounds(date);

    let files = build_exports(&*store, date).await.unwrap();
    assert_eq!(
        files.iter().map(|f| f.key.as_str()).collect::<Vec<_>>(),
        vec![sales_key(date).as_str(), inventory_key(date).as_str()]
    );
    let ymd = date.format("%Y-%m-%d").to_string();
    assert_eq!(
        sales_key(date),
        format!("exports/sales/date={ymd}/sales.csv.gz")
    );
    assert_eq!(
        inventory_key(date),
        format!("exports/inventory/date={ymd}/inventory.csv.gz")
    );

    // Sales: one row per sale of the day, field for field.
    let (start, end) = day_bounds(date);
    let db_sales = store.sales_between(start, end).await.unwrap();
    assert_eq!(db_sales.len(), 4);
    let rows = parse_csv(&gunzip(file(&files, &sales_key(date))));
    assert_eq!(rows[0].join(","), SALES_HEADER);
    assert_eq!(rows.len() - 1, db_sales.len());
    for (row, s) in rows[1..].iter().zip(&db_sales) {
        assert_eq!(
            row,
            &vec![
                s.id.clone(),
                s.sku.clone(),
                s.quantity.to_string(),
                s.remaining_stock.map(|v| v.to_string()).unwrap_or_default(),
                s.correlation_id.clone(),
                rfc3339(s.created_at),
            ]
        );
    }

    // Inventory: the end-of-day stock is the initial stock less what was sold up to the day end.
    let initial: BTreeMap<&str, i64> = [("glazed", 50), ("maple", 20), ("plain", 7)].into();
    let mut sold_by_end: BTreeMap<String, i64> = BTreeMap::new();
    for s in store.sales_between(0, day_end).await.unwrap() {
        *sold_by_end.entry(s.sku).or_default() += s.quantity;
    }
    let mut sold_on_day: BTreeMap<String, i64> = BTreeMap::new();
    for s in &db_sales {
        *sold_on_day.entry(s.sku.clone()).or_default() += s.quantity;
    }
    let names: BTreeMap<String, String> = store
        .products()
        .await
        .unwrap()
        .into_iter()
        .map(|p| (p.sku.to_string(), p.name))
        .collect();
    let rows = parse_csv(&gunzip(file(&files, &inventory_key(date))));
    assert_eq!(rows[0].join(","), INVENTORY_HEADER);
    let skus: Vec<&str> = rows[1..].iter().map(|r| r[1].as_str()).collect();
    assert_eq!(skus, vec!["glazed", "maple", "plain"]);
    for row in &rows[1..] {
        let sku = row[1].as_str();
        let get = |m: &BTreeMap<String, i64>| m.get(sku).copied().unwrap_or(0);
        assert_eq!(
            row,
            &vec![
                ymd.clone(),
                sku.to_owned(),
                names[sku].clone(),
                (initial[sku] - get(&sold_by_end)).to_string(),
                get(&sold_on_day).to_string(),
                "0".to_owned(),
            ]
        );
    }
    assert!(
        rows.iter().any(|r| r[2] == MAPLE_NAME),
        "a name with a comma and quotes survives the CSV round trip"
    );

    // A rerun is byte-identical; the local target overwrites the same keys with the same bytes.
    let again = build_exports(&*store, date).await.unwrap();
    assert_eq!(again, files);
    let bucket = dir.path().join("bucket");
    let target = LocalDir::new(&bucket);
    let report = run_export(&*store, &target, date).await.unwrap();
    assert_eq!(report.objects.len(), 2);
    assert_eq!(report.objects[0].rows, 4);
    let first_run: Vec<Vec<u8>> = files
        .iter()
        .map(|f| std::fs::read(bucket.join(&f.key)).unwrap())
        .collect();
    run_export(&*store, &target, date).await.unwrap();
    for (f, before) in files.iter().zip(&first_run) {
        let after = std::fs::read(bucket.join(&f.key)).unwrap();
        assert_eq!(&after, before, "{} changed on rerun", f.key);
        assert_eq!(&after, &f.body);
    }
    // Only the two objects (no temporary files left behind).
    let mut count = 0;
    let mut todo = vec![bucket.clone()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.path().is_dir() {
                todo.push(e.path());
            } else {
                count += 1;
            }
        }
    }
    assert_eq!(count, 2);
}
both!(export_matches_the_database);

/// Yesterday's snapshot from today's ledger: current stock + sold since − restocked since.
async fn past_day_snapshot_is_reconstructed(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let store = store(db, dir.path()).await;
    put(&store, "glazed", None, 10, 5, 20).await;
    // 10 → 4: at or below the reorder point, a factory order opens; completing it adds 20.
    let sale = sell(&store, "glazed", 6, "c1").await;
    let order = sale.factory_order.expect("a factory order").id;
    match store.fulfill(&order, &"c1".into()).await.unwrap() {
        FulfillOutcome::Restocked(_) => {}
        other => panic!("{other:?}"),
    }
    sell(&store, "glazed", 2, "c2").await;
    let today = date_of(sale.created_at);
    let product = store.product(&Sku::parse("glazed").unwrap()).await.unwrap();
    assert_eq!(product.unwrap().stock, 22);

    let yesterday = today.pred_opt().unwrap();
    let files = build_exports(&*store, yesterday).await.unwrap();
    assert_eq!(
        gunzip(file(&files, &sales_key(yesterday))),
        format!("{SALES_HEADER}\n"),
        "no sales yesterday: header only"
    );
    let rows = parse_csv(&gunzip(file(&files, &inventory_key(yesterday))));
    assert_eq!(rows.len(), 2);
    // 22 now + 8 sold since − 20 restocked since = 10.
    assert_eq!(&rows[1][1..], &["glazed", "glazed", "10", "0", "0"]);

    let files = build_exports(&*store, today).await.unwrap();
    let rows = parse_csv(&gunzip(file(&files, &inventory_key(today))));
    assert_eq!(&rows[1][1..], &["glazed", "glazed", "22", "8", "20"]);
}
both!(past_day_snapshot_is_reconstructed);

/// An empty day writes header-only files (both datasets on an empty database; sales when
/// there are products but no sales).
async fn empty_day_writes_header_only_files(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let store = store(db, dir.path()).await;
    let day = NaiveDate::from_ymd_opt(2001, 2, 3).unwrap();
    let bucket = dir.path().join("bucket");
    let report = run_export(&*store, &LocalDir::new(&bucket), day)
        .await
        .unwrap();
    assert!(report.objects.iter().all(|o| o.rows == 0));
    let read = |key: String| gunzip(&std::fs::read(bucket.join(key)).unwrap());
    assert_eq!(read(sales_key(day)), format!("{SALES_HEADER}\n"));
    assert_eq!(read(inventory_key(day)), format!("{INVENTORY_HEADER}\n"));
    assert!(
        bucket
            .join("exports/sales/date=2001-02-03/sales.csv.gz")
            .is_file()
    );

    put(&store, "glazed", None, 5, 0, 100).await;
    let files = build_exports(&*store, day).await.unwrap();
    assert_eq!(
        gunzip(file(&files, &sales_key(day))),
        format!("{SALES_HEADER}\n")
    );
}
both!(empty_day_writes_header_only_files);
