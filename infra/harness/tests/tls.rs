//! TLS to MySQL as the functions use it on AWS (`inventory::config`), against a MariaDB that
//! accepts only TLS (`require_secure_transport=ON`) with a CA generated for the test:
//! the right CA sells a donut; a wrong CA fails naming the certificate problem; plain text is
//! refused by the server.

use inventory::config::{DbTls, mysql_options};
use inventory::domain::{ProductSpec, Quantity, SaleRequest, Sku};
use inventory::store::{PoolSettings, SaleOutcome, StoreError, connect_mysql};
use lambda_harness::tlsdb::{Pki, TlsMariaDb};
use sqlx::Connection;
use sqlx::mysql::{MySqlConnectOptions, MySqlSslMode};

const PASSWORD: &str = "tlsTestPassw0rd";

fn server(name: &str) -> TlsMariaDb {
    let dir = std::env::temp_dir().join(format!("harness-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    TlsMariaDb::start(&dir, std::process::id())
        .unwrap_or_else(|e| panic!("TLS-only mariadbd did not start: {e}"))
}

fn verified(ca: &std::path::Path) -> DbTls {
    DbTls::VerifyIdentity {
        ca_path: ca.display().to_string(),
        pem: std::fs::read(ca).expect("ca"),
    }
}

fn sale() -> SaleRequest {
    SaleRequest {
        sku: Sku::parse("glazed").expect("sku"),
        quantity: Quantity::new(1).expect("qty"),
        idempotency_key: None,
        correlation_id: "tls-test".into(),
    }
}

/// A TLS-only server with the schema migrated over verified TLS (as the master user) and the
/// product `glazed` (stock 5); the store is the master user's.
async fn migrated_with_a_product(name: &str) -> (TlsMariaDb, inventory::store::DynStore) {
    let db = server(name);
    db.create_master("donuts", "donut_admin", PASSWORD)
        .await
        .expect("master user");
    let tls = verified(&db.pki.ca);
    let opts = mysql_options(&db.host, db.port, "donuts", "donut_admin", PASSWORD, &tls);
    let store = connect_mysql(opts, &PoolSettings::default());
    store.migrate().await.expect("migrate over verified TLS");
    let glazed = Sku::parse("glazed").expect("sku");
    let spec = ProductSpec::new(glazed, None, 5, Some(1), Some(12)).expect("spec");
    store.put_product(&spec).await.expect("put product");
    (db, store)
}

#[tokio::test]
async fn tls_only_database_right_ca_sells_wrong_ca_and_plaintext_are_refused() {
    // 1. The right CA: verified (VERIFY_IDENTITY) connection, migrations, a sale.
    let (db, store) = migrated_with_a_product("tls").await;
    let tls = verified(&db.pki.ca);
    match store.sell(&sale()).await.expect("sale over TLS") {
        SaleOutcome::Sold { sale, .. } => assert_eq!(sale.remaining_stock, 4),
        other => panic!("expected a sale, got {other:?}"),
    }
    // The session really is encrypted.
    let mut c = sqlx::MySqlConnection::connect_with(&mysql_options(
        &db.host,
        db.port,
        "donuts",
        "donut_admin",
        PASSWORD,
        &tls,
    ))
    .await
    .expect("connect");
    let cipher: (String, String) = sqlx::query_as("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
        .fetch_one(&mut c)
        .await
        .expect("cipher");
    assert!(!cipher.1.is_empty(), "no TLS cipher on the session");

    // 2. TLS required but unverified (no DB_CA_BUNDLE): still encrypted, still works.
    let opts = mysql_options(
        &db.host,
        db.port,
        "donuts",
        "donut_admin",
        PASSWORD,
        &DbTls::Required,
    );
    let unverified = connect_mysql(opts, &PoolSettings::default());
    assert!(
        unverified
            .product(&Sku::parse("glazed").expect("sku"))
            .await
            .expect("read")
            .is_some()
    );

    // 3. A wrong CA: the connection fails and the error names the certificate problem.
    let other = Pki::generate(&db.dir.join("other-pki"), "other").expect("other CA");
    let opts = mysql_options(
        &db.host,
        db.port,
        "donuts",
        "donut_admin",
        PASSWORD,
        &verified(&other.ca),
    );
    let wrong = connect_mysql(opts, &PoolSettings::default());
    let err = wrong
        .sell(&sale())
        .await
        .expect_err("a wrong CA must not connect")
        .to_string();
    assert!(
        err.to_lowercase().contains("certificate") || err.contains("UnknownIssuer"),
        "the error should name the certificate problem: {err}"
    );

    // 4. Plain text is refused by the server (require_secure_transport=ON).
    let plain = MySqlConnectOptions::new()
        .host(&db.host)
        .port(db.port)
        .username("donut_admin")
        .password(PASSWORD)
        .database("donuts")
        .ssl_mode(MySqlSslMode::Disabled);
    let err = sqlx::MySqlConnection::connect_with(&plain)
        .await
        .expect_err("plain text must be refused")
        .to_string();
    // MySQL answers 3159 "insecure transport are prohibited"; MariaDB answers 1045 (access
    // denied) to a plain-text login — with the very credentials that logged in over TLS above.
    assert!(
        err.contains("insecure transport") || err.contains("1045"),
        "plain text should be refused: {err}"
    );
}

/// MySQL's transient refusals are 503s with Retry-After (`StoreError::Unavailable`), told apart
/// by the error number (SQLSTATE is HY000 for most): 1205 lock wait timeout and 1040 too many
/// connections (what a `db.t4g.micro` answers when the connection budget is exceeded).
#[tokio::test]
async fn lock_wait_timeout_and_too_many_connections_are_retryable() {
    let (db, _admin) = migrated_with_a_product("errors").await;
    let tls = verified(&db.pki.ca);
    let mut root = sqlx::MySqlConnection::connect_with(&db.root_options())
        .await
        .expect("root");
    for stmt in [
        "SET GLOBAL innodb_lock_wait_timeout = 1",
        "CREATE USER 'limited'@'%' IDENTIFIED BY 'limitedPw1'",
        "GRANT SELECT, INSERT, UPDATE, EXECUTE ON donuts.* TO 'limited'@'%'",
    ] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(stmt))
            .execute(&mut root)
            .await
            .expect(stmt);
    }

    // 1205: another session holds the product's stock row; the sale gives up after 1 s.
    let mut holder = sqlx::MySqlConnection::connect_with(&db.root_options().database("donuts"))
        .await
        .expect("holder");
    sqlx::raw_sql("BEGIN; SELECT stock FROM stock_buckets WHERE sku = 'glazed' FOR UPDATE")
        .execute(&mut holder)
        .await
        .expect("lock the row");
    let opts = mysql_options(&db.host, db.port, "donuts", "limited", "limitedPw1", &tls);
    let store = connect_mysql(opts, &PoolSettings::default());
    match store.sell(&sale()).await {
        Err(StoreError::Unavailable(why)) => assert!(why.contains("1205"), "{why}"),
        other => panic!("a lock wait timeout must be retryable (503), got {other:?}"),
    }
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut holder)
        .await
        .expect("unlock");
    drop(holder);

    // 1040: no connection slot left for an ordinary user (MariaDB's minimum max_connections
    // is 10: fill the slots first).
    sqlx::raw_sql("SET GLOBAL max_connections = 10")
        .execute(&mut root)
        .await
        .expect("max_connections");
    let opts = mysql_options(&db.host, db.port, "donuts", "limited", "limitedPw1", &tls);
    let mut held = Vec::new();
    for _ in 0..12 {
        match sqlx::MySqlConnection::connect_with(&opts).await {
            Ok(c) => held.push(c),
            Err(_) => break,
        }
    }
    assert!(held.len() < 12, "max_connections was not enforced");
    let crowded = connect_mysql(opts, &PoolSettings::default());
    match crowded.product(&Sku::parse("glazed").expect("sku")).await {
        Err(StoreError::Unavailable(why)) => assert!(why.contains("1040"), "{why}"),
        other => panic!("too many connections must be retryable (503), got {other:?}"),
    }
    drop(held);
}
