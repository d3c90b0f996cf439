//! `donut-ops migrations status|repair` against the deployed migrate bootstrap on the Lambda
//! harness (its Invoke API, `AWS_ENDPOINT_URL_LAMBDA`), through the states a deploy can leave:
//!
//! 1. a Create whose migration fails (a conflicting table) → FAILED naming the version, the SQL
//!    error and the repair command → the rollback's Delete → SUCCESS;
//! 2. `status` shows the dirty version and what is pending; `repair` says which of its objects
//!    exist, removes the row; the Create then succeeds and a sale goes through;
//! 3. a newer build's migration left dirty (its row and the table it created, as a failed run
//!    of a newer build leaves them) → this (older) build's rollback Update → SUCCESS, schema
//!    untouched, sales still work; `status` shows it, `repair` clears it and refuses an applied
//!    row.
//!
//! Needs the bootstraps (`./scripts/lambda-build.sh`) like the harness's own tests.

#[path = "common/mod.rs"]
#[allow(dead_code)] // the queue and boto3 helpers serve the other binary
mod common;

use common::ops;
use lambda_harness::{Harness, Options, cfn, invoke_api, moto::Moto};
use serde_json::{Value, json};
use sqlx::{AssertSqlSafe, Connection, MySqlConnection};
use std::path::PathBuf;

const NEWER: i64 = 20991231000001;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

async fn sql(h: &Harness, database: &str, statement: &str) {
    let mut conn = MySqlConnection::connect_with(&h.db.root_options().database(database))
        .await
        .expect("root connection");
    sqlx::raw_sql(AssertSqlSafe(statement.to_owned()))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{statement}: {e}"));
}

async fn sell(h: &Harness) -> u16 {
    reqwest::Client::new()
        .post(format!("{}/sales", h.api_url))
        .header("content-type", "application/json")
        .body(json!({"sku": "glazed", "quantity": 1}).to_string())
        .send()
        .await
        .expect("sale")
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn migrations_fail_roll_back_and_are_repaired_through_donut_ops() {
    let bins = lambda_harness::bootstraps_dir(&root());
    assert!(
        bins.join("migrate/bootstrap").is_file(),
        "no bootstraps in {}: build them with ./scripts/lambda-build.sh",
        bins.display()
    );
    let moto = Moto::start(&root().join(".venv"), None).expect("moto");
    let dir = std::env::temp_dir().join(format!("ops-migrations-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let opts = Options::new(
        root().join("template.yaml"),
        bins,
        dir.clone(),
        moto.endpoint.clone(),
    );
    let h = Harness::start(opts).await.expect("harness starts");
    let (lambda, _task) = invoke_api::serve(&h).await.expect("invoke api");
    let migrate = h.functions["MigrateFunction"].clone();
    let database = migrate.spec.env["DB_NAME"].clone();
    let env = [
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
        ("AWS_ENDPOINT_URL_LAMBDA", lambda.as_str()),
        ("MIGRATE_FUNCTION", migrate.spec.name.as_str()),
    ];
    let status = || async { ops(&["--aws", "-o", "json", "migrations", "status"], &env).await };
    let state_of = |s: &Value, v: i64| {
        s["versions"]
            .as_array()
            .and_then(|vs| vs.iter().find(|x| x["version"] == v))
            .map(|x| x["state"].as_str().unwrap_or_default().to_owned())
    };

    // 1. A conflicting table makes 20261202000002 fail on the Create; the stack's rollback
    //    deletes the resource, which never touches the database.
    sql(&h, &database, "CREATE TABLE stock_buckets (x INT)").await;
    let (created, deleted) = cfn::create_or_roll_back(&h, "Migrations")
        .await
        .expect("create");
    let reason = created["Reason"].as_str().unwrap_or_default();
    assert_eq!(created["Status"], "FAILED", "{created}");
    for want in [
        "migration 20261202000002",
        "already exists",
        "migrations repair --version 20261202000002",
    ] {
        assert!(reason.contains(want), "{want}: {reason}");
    }
    let deleted = deleted.expect("the rollback's Delete");
    assert_eq!(deleted["Status"], "SUCCESS", "{deleted}");

    // 2. status shows it; the operator drops the conflicting table and repairs.
    let s = status().await;
    assert_eq!(s.code, 0, "{}", s.stderr);
    let s = s.json();
    assert_eq!(
        state_of(&s, 20261202000002).as_deref(),
        Some("dirty"),
        "{s}"
    );
    assert_eq!(
        state_of(&s, 20261202000004).as_deref(),
        Some("pending"),
        "{s}"
    );
    assert_eq!(
        state_of(&s, 20261121000001).as_deref(),
        Some("applied"),
        "{s}"
    );
    let table = ops(&["--aws", "migrations", "status"], &env).await;
    assert!(
        table.stdout.contains("1 dirty")
            && table
                .stdout
                .contains("migrations repair --version 20261202000002"),
        "{}",
        table.stdout
    );
    sql(&h, &database, "DROP TABLE stock_buckets").await;
    let repaired = ops(
        &[
            "--aws",
            "migrations",
            "repair",
            "--version",
            "20261202000002",
        ],
        &env,
    )
    .await;
    assert_eq!(repaired.code, 0, "{}", repaired.stderr);
    assert!(
        repaired
            .stdout
            .contains("removed the dirty row of migration 20261202000002"),
        "{}",
        repaired.stdout
    );
    assert!(
        repaired.stdout.contains("creates table stock_buckets")
            && repaired.stdout.contains("absent"),
        "{}",
        repaired.stdout
    );
    assert!(
        h.logs
            .lines_of(&migrate.spec.name)
            .iter()
            .any(|l| l.contains("repair: removed the dirty row")),
        "repair is logged"
    );
    h.create_custom_resources().await.expect("Create succeeds");
    let admin = aws_sdk_secretsmanager::Client::new(&h.sdk)
        .get_secret_value()
        .secret_id(&h.values.refs["AdminTokenSecret"])
        .send()
        .await
        .expect("admin token")
        .secret_string()
        .unwrap_or_default()
        .to_owned();
    let put = reqwest::Client::new()
        .put(format!("{}/admin/inventory/glazed", h.api_url))
        .header("authorization", format!("Bearer {admin}"))
        .header("content-type", "application/json")
        .body(
            json!({"name": "Glazed", "stock": 50, "reorder_point": 5, "reorder_quantity": 24})
                .to_string(),
        )
        .send()
        .await
        .expect("admin put");
    assert!(put.status().is_success(), "{}", put.status());
    assert_eq!(sell(&h).await, 201);

    // 3. A newer build's migration failed part-way: its row (success = 0) and the table its first
    //    statement created. The rollback's Update, run by this older build, leaves them alone.
    sql(&h, &database, "CREATE TABLE colours (id INT PRIMARY KEY)").await;
    sql(
        &h,
        &database,
        &format!(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES ({NEWER}, 'colours', 0, x'00', -1)"
        ),
    )
    .await;
    let mut newer_props = cfn::template_properties(&h, "Migrations").unwrap();
    newer_props["CodeVersion"] = json!(format!("{}:99", migrate.arn()));
    let previous = cfn::template_properties(&h, "Migrations").unwrap();
    let rollback = cfn::send(&h, "Migrations", "Update", previous, Some(newer_props))
        .await
        .expect("rollback update");
    assert_eq!(rollback["Status"], "SUCCESS", "{rollback}");
    assert!(
        rollback["Reason"]
            .as_str()
            .is_some_and(|r| r.contains("left as it is") && r.contains(&NEWER.to_string())),
        "{rollback}"
    );
    let logged = h.logs.lines_of(&migrate.spec.name).into_iter().any(|l| {
        l.contains("\"dirty_versions\":\"20991231000001\"") && l.contains("\"level\":\"WARN\"")
    });
    assert!(logged, "a JSON line names the newer build's versions");
    assert_eq!(sell(&h).await, 201, "sales still work after the rollback");
    let s = status().await.json();
    assert_eq!(state_of(&s, NEWER).as_deref(), Some("dirty"), "{s}");
    // repair refuses an applied row, then clears the newer build's dirty one.
    let refused = ops(
        &[
            "--aws",
            "migrations",
            "repair",
            "--version",
            "20261121000001",
        ],
        &env,
    )
    .await;
    assert_eq!(refused.code, 1, "{}", refused.stdout);
    assert!(refused.stderr.contains("not dirty"), "{}", refused.stderr);
    let cleared = ops(
        &[
            "--aws",
            "-o",
            "json",
            "migrations",
            "repair",
            "--version",
            &NEWER.to_string(),
        ],
        &env,
    )
    .await;
    assert_eq!(cleared.code, 0, "{}", cleared.stderr);
    assert_eq!(cleared.json()["in_this_build"], false);
    assert_eq!(state_of(&status().await.json(), NEWER), None);
    h.stop();
    let _ = std::fs::remove_dir_all(dir);
}
