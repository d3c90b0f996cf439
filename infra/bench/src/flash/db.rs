//! The database a flash sale runs on: set-up (migrations, each run's hot product) and the
//! correctness check after a run.

use super::cpu::find_mariadbd;
use inventory::domain::{MAX_STOCK, ProductSpec, Sku};
use inventory::store::{DynStore, MySqlStore, PoolSettings};

pub struct Db {
    pub url: String,
    /// Setup and checks (not the measured pools).
    pub store: DynStore,
    pub check_pool: sqlx::MySqlPool,
    /// The server process, for its CPU time.
    pub pid: Option<u32>,
}

impl Db {
    pub async fn new(url: String) -> Db {
        let settings = PoolSettings {
            max_connections: 2,
            ..PoolSettings::default()
        };
        let store = inventory::store::connect(&url, &settings).expect("connect");
        store.migrate().await.expect("migrate");
        let check = MySqlStore::connect_lazy(&url, &settings).expect("connect");
        let port = url
            .rsplit('@')
            .next()
            .and_then(|hp| hp.split('/').next())
            .and_then(|hp| hp.rsplit(':').next())
            .and_then(|p| p.parse().ok());
        Db {
            pid: port.and_then(find_mariadbd),
            url,
            store,
            check_pool: check.pool().clone(),
        }
    }

    /// The run's hot product: stock [`MAX_STOCK`] spread evenly over `buckets` rows (10^9 in a
    /// row at most: an `INT` holds it; no bucket of a run comes near empty, so no sale takes the
    /// rebalancing path), reorder point 0 (never reached).
    pub(super) async fn hot_product(&self, sku: &str, buckets: i64) {
        let spec = ProductSpec::build(
            Sku::parse(sku).expect("sku"),
            None,
            Some(MAX_STOCK),
            Some(0),
            Some(100),
            Some(buckets),
        )
        .expect("spec");
        self.store.put_product(&spec).await.expect("put product");
    }

    pub(super) async fn check(&self, sku: &str, successes: u64) -> Check {
        let (stock,): (i64,) = sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(stock), 0) AS SIGNED) FROM stock_buckets WHERE sku = ?",
        )
        .bind(sku)
        .fetch_one(&self.check_pool)
        .await
        .expect("stock");
        let (rows, quantity): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), CAST(COALESCE(SUM(quantity), 0) AS SIGNED) FROM sales WHERE sku = ?",
        )
        .bind(sku)
        .fetch_one(&self.check_pool)
        .await
        .expect("sales");
        let consumed = MAX_STOCK - stock;
        let s = i64::try_from(successes).unwrap_or(i64::MAX);
        Check {
            ok: consumed == s && rows == s && quantity == s,
            consumed,
            sales_rows: rows,
            sales_quantity: quantity,
            successes,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Check {
    pub ok: bool,
    pub consumed: i64,
    pub sales_rows: i64,
    pub sales_quantity: i64,
    pub successes: u64,
}

impl Check {
    pub fn describe(&self) -> String {
        format!(
            "{}: stock consumed {} = sales rows {} (quantity {}) = successful sales {}",
            if self.ok { "OK" } else { "MISMATCH" },
            self.consumed,
            self.sales_rows,
            self.sales_quantity,
            self.successes
        )
    }
}
