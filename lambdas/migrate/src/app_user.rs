//! The application user: the database account every function except `migrate` logs in as.
//!
//! `migrate` owns the schema and runs as the admin (the RDS master user, or the
//! `ExistingDatabaseSecretArn` account); after the migrations it creates or updates the
//! application user named in its own secret (`DB_APP_SECRET_ARN`, `{"username","password"}`):
//! password from that secret, TLS required, and only [`APP_PRIVILEGES`] on each of the app's
//! tables — not on the sqlx migrations table, not on the schema (no `CREATE`, `ALTER`, `DROP`,
//! `INDEX`, `REFERENCES`, `GRANT OPTION`, no routines, no other databases).
//!
//! Idempotent: run on every migration (and by hand with `{"action":"migrate"}`), it re-applies
//! the secret's current password (so a secret changed or rotated out of band is caught up) and
//! grants the privileges on tables a new migration added. It never revokes: privileges someone
//! granted by hand to that account stay (see docs/deploy.md).

use sqlx::{AssertSqlSafe, MySqlConnection};

/// What the functions do with the app's tables, and nothing more. Checked against the SQL in
/// lambdas/inventory/src/store/: every statement is a SELECT (some `LOCK IN SHARE MODE`), an
/// INSERT (`INSERT … SELECT`) or an UPDATE; nothing deletes a row, locks tables or creates
/// temporary tables. A future DELETE needs its privilege added here.
pub const APP_PRIVILEGES: &str = "SELECT, INSERT, UPDATE";

/// The stored procedures the functions call (EXECUTE only; they run with their definer's
/// rights): the one-round-trip sale (which calls `donut_open_order` with those rights, so the
/// application user needs nothing on that one).
pub const APP_PROCEDURES: &[&str] = &["donut_sell"];

/// sqlx's bookkeeping table: written only by `migrate`, so the application user gets nothing on it.
pub const MIGRATIONS_TABLE: &str = "_sqlx_migrations";

/// The host part of the account: any host. The database is private to the VPC (or your network),
/// and the account requires TLS.
pub const APP_HOST: &str = "%";

/// The application user to create or update.
pub struct AppUser {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for AppUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppUser")
            .field("username", &self.username)
            .field("password", &"***")
            .finish()
    }
}

/// `^[A-Za-z][A-Za-z0-9_]{0,max-1}$`: the template's `DatabaseName` AllowedPattern (max 64), and
/// the same shape for user names (MySQL allows 32 characters) and table names.
fn is_identifier(s: &str, max: usize) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && s.len() <= max
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Table names come from information_schema; anything outside `[A-Za-z0-9_]` is refused rather
/// than quoted (this schema's tables are all plain names).
fn is_table_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The checks that make the statements below safe to build as text: `CREATE USER`, `ALTER USER`
/// and `GRANT` take no bound parameters (the server does not accept placeholders for account
/// names or passwords), so every piece interpolated into them is validated here first. The
/// password must be ASCII letters and digits only — the template generates it that way
/// (`ExcludePunctuation`) and the rotation function excludes every punctuation character — so it
/// cannot end the string literal or be changed by the server's escape handling.
pub fn validate(database: &str, user: &AppUser) -> Result<(), String> {
    if !is_identifier(database, 64) {
        return Err(format!(
            "DB_NAME {database:?} is not a plain schema name (^[A-Za-z][A-Za-z0-9_]{{0,63}}$)"
        ));
    }
    if !is_identifier(&user.username, 32) {
        return Err(format!(
            "the application user name {:?} (DB_APP_SECRET_ARN) is not a plain MySQL user name \
             (^[A-Za-z][A-Za-z0-9_]{{0,31}}$)",
            user.username
        ));
    }
    let p = &user.password;
    if p.len() < 16 || p.len() > 128 || !p.chars().all(|c| c.is_ascii_alphanumeric()) {
        // Never the password itself, nor its length.
        return Err(
            "the application user's password (DB_APP_SECRET_ARN) must be 16-128 ASCII letters \
             and digits (generate it with ExcludePunctuation; rotate it excluding punctuation)"
                .to_owned(),
        );
    }
    Ok(())
}

/// Replaces the password wherever a server message might echo it.
fn scrub(message: &str, password: &str) -> String {
    if password.is_empty() {
        message.to_owned()
    } else {
        message.replace(password, "***")
    }
}

/// Creates or updates the application user on `conn` (a connection as the admin, whose current
/// database is `database`, after the migrations). Returns the tables it may use.
pub async fn ensure(
    conn: &mut MySqlConnection,
    database: &str,
    user: &AppUser,
) -> Result<Vec<String>, String> {
    validate(database, user)?;
    let (name, password) = (&user.username, &user.password);
    let admin: String = sqlx::query_scalar("SELECT CURRENT_USER()")
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| format!("application user: SELECT CURRENT_USER(): {e}"))?;
    if admin.split('@').next() == Some(name.as_str()) {
        return Err(format!(
            "the application user {name:?} (DB_APP_SECRET_ARN) is the admin account migrate runs \
             as (DB_SECRET_ARN): give the application its own user name"
        ));
    }
    let account = format!("'{name}'@'{APP_HOST}'");
    // Text protocol (raw_sql): these statements are built from the validated pieces above.
    for (what, sql) in [
        (
            "CREATE USER",
            format!("CREATE USER IF NOT EXISTS {account} IDENTIFIED BY '{password}' REQUIRE SSL"),
        ),
        // An existing account (or one rotated out of band) gets the secret's current password,
        // and TLS required, every time.
        (
            "ALTER USER",
            format!("ALTER USER {account} IDENTIFIED BY '{password}' REQUIRE SSL"),
        ),
    ] {
        sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&mut *conn)
            .await
            .map_err(|e| {
                scrub(
                    &format!("application user: {what} {account}: {e}"),
                    password,
                )
            })?;
    }
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT CAST(table_name AS CHAR) FROM information_schema.tables \
         WHERE table_schema = ? AND table_type = 'BASE TABLE' AND table_name <> ? \
         ORDER BY table_name",
    )
    .bind(database)
    .bind(MIGRATIONS_TABLE)
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| format!("application user: listing the tables of {database}: {e}"))?;
    if tables.is_empty() {
        return Err(format!(
            "application user: {database} has no tables to grant (did the migrations run?)"
        ));
    }
    for table in &tables {
        if !is_table_name(table) {
            return Err(format!(
                "application user: table name {table:?} in {database} is not [A-Za-z0-9_]"
            ));
        }
        let sql = format!("GRANT {APP_PRIVILEGES} ON `{database}`.`{table}` TO {account}");
        sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&mut *conn)
            .await
            .map_err(|e| format!("application user: GRANT on {database}.{table}: {e}"))?;
    }
    for procedure in APP_PROCEDURES {
        let sql = format!("GRANT EXECUTE ON PROCEDURE `{database}`.`{procedure}` TO {account}");
        sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&mut *conn)
            .await
            .map_err(|e| {
                format!("application user: GRANT EXECUTE on {database}.{procedure}: {e}")
            })?;
    }
    Ok(tables)
}

/// Connects with `admin` and runs [`ensure`] on one connection, closed afterwards.
#[cfg(test)]
pub async fn ensure_with(
    admin: &sqlx::mysql::MySqlConnectOptions,
    database: &str,
    user: &AppUser,
) -> Result<Vec<String>, String> {
    use sqlx::Connection;
    let mut conn = MySqlConnection::connect_with(admin)
        .await
        .map_err(|e| format!("application user: connecting as the admin: {e}"))?;
    let result = ensure(&mut conn, database, user).await;
    let _ = conn.close().await;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, password: &str) -> AppUser {
        AppUser {
            username: name.into(),
            password: password.into(),
        }
    }

    #[test]
    fn only_plain_names_and_alphanumeric_passwords_are_accepted() {
        let ok = "Abcdefgh12345678XYZ";
        assert!(validate("donuts", &user("donut_app", ok)).is_ok());
        for db in ["", "1donuts", "don-uts", "don`uts", "a".repeat(65).as_str()] {
            assert!(validate(db, &user("donut_app", ok)).is_err(), "{db:?}");
        }
        for name in ["", "_app", "donut-app", "app'@'%", "a".repeat(33).as_str()] {
            assert!(validate("donuts", &user(name, ok)).is_err(), "{name:?}");
        }
        for pw in [
            "short1",
            "abcdefgh12345678'",
            "abcdefgh 12345678",
            "abcdefgh\\12345678",
            "abcdefgh12345678é",
        ] {
            let err = validate("donuts", &user("donut_app", pw)).unwrap_err();
            assert!(!err.contains(pw), "{err}");
        }
    }

    #[test]
    fn debug_and_errors_never_show_the_password() {
        let u = user("donut_app", "Sup3rSecretPassw0rd");
        assert!(!format!("{u:?}").contains("Sup3rSecret"));
        assert_eq!(
            scrub("near 'Sup3rSecretPassw0rd' REQUIRE SSL", &u.password),
            "near '***' REQUIRE SSL"
        );
    }

    /// Against a real MariaDB (tests/src/lib.rs: a throwaway mariadbd, `TEST_DATABASE_URL`, or
    /// 127.0.0.1:3306): after the migrations and [`ensure`], the application user runs every
    /// store operation the functions use, and is refused DDL, DELETE, GRANT and the migrations
    /// table; it cannot log in without TLS; re-running updates its password.
    mod mariadb {
        use super::super::*;
        use inventory::domain::{ProductSpec, Quantity, SaleRequest, Sku, now_millis};
        use inventory::store::{FulfillOutcome, PoolSettings, SaleOutcome, connect_mysql};
        use sqlx::Connection;
        use sqlx::mysql::{MySqlConnectOptions, MySqlSslMode};
        use std::str::FromStr;

        /// MySQL's "command denied" (1142), "access denied to database" (1044) and "access denied"
        /// (1045) errors, or a refused GRANT (1044/1142/1227/1410).
        async fn refused(conn: &mut MySqlConnection, sql: &str) -> bool {
            match sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
                .execute(&mut *conn)
                .await
            {
                Ok(_) => false,
                Err(sqlx::Error::Database(e)) => {
                    let code = e
                        .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
                        .map(|m| m.number());
                    matches!(code, Some(1044 | 1045 | 1142 | 1143 | 1227 | 1410))
                        || panic!("{sql}: unexpected {e}")
                }
                Err(e) => panic!("{sql}: unexpected {e}"),
            }
        }

        fn sale(q: i64) -> SaleRequest {
            SaleRequest {
                sku: Sku::parse("glazed").unwrap(),
                quantity: Quantity::new(q).unwrap(),
                idempotency_key: None,
                correlation_id: "app-user-test".into(),
            }
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn the_application_user_gets_dml_on_the_app_tables_and_nothing_else() {
            let url = pipeline_tests::fresh_mysql_database().await;
            let admin = MySqlConnectOptions::from_str(&url).unwrap();
            let database = admin.get_database().unwrap().to_owned();
            let settings = PoolSettings {
                max_connections: 2,
                ..Default::default()
            };
            let migrated = inventory::store::connect(&url, &settings).unwrap();
            migrated.migrate().await.expect("migrate");
            // One account per test run: accounts are server-wide and tests share the server.
            let id = uuid::Uuid::new_v4().simple().to_string();
            let mut user = AppUser {
                username: format!("app_{}", &id[..12]),
                password: format!("P{id}"),
            };
            let account = format!("'{}'@'%'", user.username);

            let tables = ensure_with(&admin, &database, &user).await.expect("ensure");
            for t in [
                "factory_order_transitions",
                "factory_orders",
                "outbox",
                "products",
                "restocks",
                "sales",
                "stock_buckets",
            ] {
                assert!(tables.iter().any(|x| x == t), "{t} not granted: {tables:?}");
            }
            assert!(!tables.iter().any(|t| t == MIGRATIONS_TABLE), "{tables:?}");
            // Idempotent, and a new password in the secret replaces the old one.
            let old_password = std::mem::replace(&mut user.password, format!("Q{id}"));
            ensure_with(&admin, &database, &user)
                .await
                .expect("ensure again");

            let mut root = MySqlConnection::connect_with(&admin).await.unwrap();
            let plain = admin
                .clone()
                .username(&user.username)
                .password(&user.password)
                .ssl_mode(MySqlSslMode::Disabled);
            // REQUIRE SSL: the account cannot log in over a plain connection.
            assert!(
                MySqlConnection::connect_with(&plain).await.is_err(),
                "logged in without TLS"
            );
            let have_ssl: String = sqlx::query_scalar("SELECT CAST(@@have_ssl AS CHAR)")
                .fetch_one(&mut root)
                .await
                .unwrap();
            let app_opts = if have_ssl == "YES" {
                plain.clone().ssl_mode(MySqlSslMode::Required)
            } else {
                // The throwaway server has no certificate: TLS was asserted above; relax it
                // for this account only so the privileges can be exercised.
                sqlx::raw_sql(AssertSqlSafe(format!("ALTER USER {account} REQUIRE NONE")))
                    .execute(&mut root)
                    .await
                    .unwrap();
                plain.clone()
            };
            let stale = app_opts.clone().password(&old_password);
            assert!(
                MySqlConnection::connect_with(&stale).await.is_err(),
                "the old password still works"
            );

            // Everything the functions do, as the application user.
            let store = connect_mysql(app_opts.clone(), &settings);
            let spec = ProductSpec::new(Sku::parse("glazed").unwrap(), None, 3, Some(1), Some(10))
                .unwrap();
            store
                .put_product(&spec)
                .await
                .expect("put_product (INSERT)");
            store
                .put_product(&spec)
                .await
                .expect("put_product (UPDATE)");
            let SaleOutcome::Sold { sale: sold, event } = store.sell(&sale(2)).await.expect("sell")
            else {
                panic!("not sold")
            };
            let order = sold
                .factory_order
                .expect("a factory order at the reorder point")
                .id;
            let event = event.expect("stock-out event");
            assert!(matches!(
                store.sell(&sale(5)).await.expect("refused sale"),
                SaleOutcome::OutOfStock { .. }
            ));
            let pending = store
                .unpublished(now_millis() + 60_000, 10)
                .await
                .expect("unpublished");
            assert!(!pending.is_empty());
            store
                .note_publish_failure(&pending[0].id)
                .await
                .expect("note_publish_failure");
            store
                .mark_published(&event.event_id)
                .await
                .expect("mark_published");
            assert!(
                store
                    .mark_requested(&order, "ref-1", &event.event_id)
                    .await
                    .expect("mark_requested")
            );
            store
                .record_failure(&order, "factory said no", false)
                .await
                .expect("record_failure");
            let _ = store
                .handle_stuck(now_millis() + 1_000_000, 100, 10)
                .await
                .expect("handle_stuck");
            assert!(matches!(
                store.fulfill(&order, &"c".into()).await.expect("fulfill"),
                FulfillOutcome::Restocked(_)
            ));
            store
                .factory_order(&order)
                .await
                .expect("factory_order")
                .expect("order");
            store.products().await.expect("products");
            store
                .orders_in(inventory::domain::OrderStatus::Fulfilled, 10)
                .await
                .expect("orders_in");
            store
                .sales_between(0, now_millis() + 1)
                .await
                .expect("sales_between");
            store
                .movements_between(0, now_millis() + 1)
                .await
                .expect("movements_between");
            store.ledger().await.expect("ledger");

            // And nothing else.
            let mut app = MySqlConnection::connect_with(&app_opts)
                .await
                .expect("app user logs in");
            let db = &database;
            for sql in [
                format!("DROP TABLE `{db}`.products"),
                format!("ALTER TABLE `{db}`.products ADD COLUMN x INT"),
                format!("CREATE TABLE `{db}`.intruder (id INT)"),
                format!("CREATE INDEX i ON `{db}`.sales (sku)"),
                format!("TRUNCATE TABLE `{db}`.sales"),
                format!("DELETE FROM `{db}`.sales"),
                format!("GRANT SELECT ON `{db}`.products TO {account}"),
                format!("SELECT * FROM `{db}`.{MIGRATIONS_TABLE}"),
                format!("UPDATE `{db}`.{MIGRATIONS_TABLE} SET success = 0"),
                format!("DROP DATABASE `{db}`"),
                "CREATE DATABASE intruder".to_owned(),
                "SELECT user FROM mysql.user".to_owned(),
                format!("CREATE USER 'x_{}'@'%'", &id[..8]),
            ] {
                assert!(
                    refused(&mut app, &sql).await,
                    "the application user may: {sql}"
                );
            }
            let _ = app.close().await;
            let _ = sqlx::raw_sql(AssertSqlSafe(format!("DROP USER {account}")))
                .execute(&mut root)
                .await;
        }

        #[tokio::test]
        async fn the_admin_account_is_never_the_application_user() {
            let url = pipeline_tests::fresh_mysql_database().await;
            let admin = MySqlConnectOptions::from_str(&url).unwrap();
            let database = admin.get_database().unwrap().to_owned();
            inventory::store::connect(&url, &PoolSettings::default())
                .unwrap()
                .migrate()
                .await
                .unwrap();
            let user = AppUser {
                username: admin.get_username().to_owned(),
                password: "Abcdefgh12345678XYZ".into(),
            };
            let err = ensure_with(&admin, &database, &user).await.unwrap_err();
            assert!(err.contains("admin account"), "{err}");
        }
    }
}
