//! The deploy rule on a real MariaDB (tests/src/lib.rs: a throwaway mariadbd,
//! `TEST_DATABASE_URL`, or 127.0.0.1:3306), with two builds: this one, and a "newer" one that
//! embeds one migration more (or an "older" one, one less).

use super::*;
use sqlx::migrate::{Migration, MigrationType};
use sqlx::{AssertSqlSafe, SqlSafeStr};
use std::str::FromStr;

const NEWER: i64 = 20991231000001;

/// This build's migrations plus `sql` as version [`NEWER`].
fn newer_build(sql: &str) -> Migrator {
    let mut all: Vec<Migration> = MIGRATOR.iter().cloned().collect();
    all.push(Migration::new(
        NEWER,
        "newer build".into(),
        MigrationType::Simple,
        AssertSqlSafe(sql.to_owned()).into_sql_str(),
        false,
    ));
    Migrator::with_migrations(all)
}

/// This build without its newest migration.
fn older_build() -> (Migrator, i64) {
    let mut all: Vec<Migration> = MIGRATOR.iter().cloned().collect();
    let latest = all.pop().expect("migrations").version;
    (Migrator::with_migrations(all), latest)
}

async fn fresh() -> MySqlConnection {
    let url = pipeline_tests::fresh_mysql_database().await;
    MySqlConnection::connect_with(&sqlx::mysql::MySqlConnectOptions::from_str(&url).unwrap())
        .await
        .expect("connect")
}

use sqlx::Connection;

fn all_versions(m: &Migrator) -> Vec<i64> {
    m.iter().map(|m| m.version).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_after_a_newer_build_leaves_the_schema_alone() {
    let mut conn = fresh().await;
    // The newer build expands (adds a nullable column), as the rule asks.
    let newer = newer_build("ALTER TABLE products ADD COLUMN colour VARCHAR(16) NULL;");
    assert_eq!(
        deploy(&mut conn, &newer, true).await,
        Ok(Deployed::Applied(all_versions(&newer)))
    );
    let before = schema_summary(&mut conn).await.unwrap();
    // The rollback: this build's Update.
    assert_eq!(
        deploy(&mut conn, &MIGRATOR, false).await,
        Ok(Deployed::LeftAlone {
            unknown: vec![NEWER],
            dirty: vec![],
            pending: vec![]
        })
    );
    assert_eq!(schema_summary(&mut conn).await.unwrap(), before);
    // A Create of this build onto that database is refused, naming the version.
    let e = deploy(&mut conn, &MIGRATOR, true).await.unwrap_err();
    assert!(
        e.reason(None).contains(&NEWER.to_string()),
        "{}",
        e.reason(None)
    );
    // An even older build with a pending migration of its own does not apply it either.
    let (older, latest) = older_build();
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = ?")
        .bind(NEWER)
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        deploy(&mut conn, &older, false).await,
        Ok(Deployed::LeftAlone {
            unknown: vec![latest],
            dirty: vec![],
            pending: vec![]
        })
    );
    assert_eq!(
        deploy(&mut conn, &MIGRATOR, false).await,
        Ok(Deployed::Applied(vec![]))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_migration_fails_its_build_and_not_the_rollback_and_repair_clears_it() {
    let mut conn = fresh().await;
    assert!(deploy(&mut conn, &MIGRATOR, true).await.is_ok());
    // The newer build's migration creates a table, then fails: MySQL committed the CREATE.
    let broken = "CREATE TABLE colours (id INT PRIMARY KEY); \
                  ALTER TABLE no_such_table ADD COLUMN x INT;";
    let newer = newer_build(broken);
    let e = deploy(&mut conn, &newer, false).await.unwrap_err();
    let reason = e.reason(Some("donut-pipeline"));
    assert!(
        matches!(&e, DeployError::Failed { version: NEWER, dirty: true, error, .. } if error.contains("no_such_table")),
        "{e:?}"
    );
    assert!(
        reason.contains(&format!(
            "donut-ops --stack donut-pipeline migrations repair --version {NEWER}"
        )),
        "{reason}"
    );
    let st = status(&mut conn, &MIGRATOR).await.unwrap();
    assert_eq!(st.find(NEWER).map(|v| v.state), Some(State::Dirty));
    // The rollback's Update from this (older) build: SUCCESS, nothing touched.
    assert_eq!(
        deploy(&mut conn, &MIGRATOR, false).await,
        Ok(Deployed::LeftAlone {
            unknown: vec![],
            dirty: vec![NEWER],
            pending: vec![]
        })
    );
    // The newer build again (a retry): its own dirty row, FAILED with the way out.
    let e = deploy(&mut conn, &newer, false).await.unwrap_err();
    assert!(
        matches!(e, DeployError::OwnDirty { version: NEWER, .. }),
        "{e:?}"
    );
    assert!(e.reason(None).contains("migrations repair --version"));

    // Repair refuses an applied row, an unknown version; then clears the dirty one and says
    // the table its first statement created is there.
    let first = MIGRATOR.iter().next().unwrap().version;
    assert!(repair(&mut conn, &MIGRATOR, first).await.is_err());
    assert!(repair(&mut conn, &MIGRATOR, 1).await.is_err());
    let done = repair(&mut conn, &newer, NEWER).await.expect("repair");
    assert_eq!(done["rows_deleted"], 1, "{done}");
    assert_eq!(
        done["migration_objects"][0],
        serde_json::json!({"statement": "creates table colours", "object_exists_now": true}),
        "{done}"
    );
    assert!(done["schema"]["tables"]["colours"].is_array(), "{done}");
    // The operator undoes the partial change; a fixed newer build applies cleanly.
    sqlx::raw_sql("DROP TABLE colours")
        .execute(&mut conn)
        .await
        .unwrap();
    let fixed = newer_build("CREATE TABLE colours (id INT PRIMARY KEY);");
    assert_eq!(
        deploy(&mut conn, &fixed, false).await,
        Ok(Deployed::Applied(vec![NEWER]))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn this_builds_own_failure_names_version_error_and_way_out() {
    let mut conn = fresh().await;
    // A conflicting object before the Create: 20261202000002 creates stock_buckets first.
    sqlx::raw_sql("CREATE TABLE stock_buckets (x INT)")
        .execute(&mut conn)
        .await
        .unwrap();
    let e = deploy(&mut conn, &MIGRATOR, true).await.unwrap_err();
    let reason = e.reason(None);
    assert!(
        matches!(
            &e,
            DeployError::Failed {
                version: 20261202000002,
                dirty: true,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(reason.contains("already exists"), "{reason}");
    assert!(
        reason.contains("repair --version 20261202000002"),
        "{reason}"
    );
    let st = status(&mut conn, &MIGRATOR).await.unwrap();
    assert_eq!(st.count(State::Dirty), 1);
    assert!(st.count(State::Pending) >= 2, "{st:?}");
    // Way out: drop the conflicting table, repair, deploy.
    sqlx::raw_sql("DROP TABLE stock_buckets")
        .execute(&mut conn)
        .await
        .unwrap();
    let done = repair(&mut conn, &MIGRATOR, 20261202000002).await.unwrap();
    assert_eq!(
        done["migration_objects"][0]["object_exists_now"], false,
        "{done}"
    );
    assert!(
        matches!(deploy(&mut conn, &MIGRATOR, false).await, Ok(Deployed::Applied(v)) if v.len() >= 3)
    );
}
