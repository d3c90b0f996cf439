//! The stack's custom resource (the migrations): Create over verified TLS, a rollback after a
//! newer release, then Update and Delete, each answered as CloudFormation expects. (The failed
//! migration → repair path through `donut-ops` is infra/ops/tests/migrations.rs.)

use crate::kit::Api;
use lambda_harness::{Harness, cfn};
use serde_json::{Value, json};

/// 1. The stack's custom resource runs the migrations (Create), over TLS.
pub async fn create_runs_the_migrations_over_tls(h: &Harness) {
    h.create_custom_resources()
        .await
        .expect("migrations Create succeeds");
    let ca_line = h
        .logs
        .lines_of(&h.functions["MigrateFunction"].spec.name)
        .into_iter()
        .any(|l| l.contains("VERIFY_IDENTITY"));
    assert!(
        ca_line,
        "migrate verified the database certificate (DB_CA_BUNDLE from the template)"
    );
}

/// 11. The custom resource's Update and Delete are answered too.
pub async fn update_and_delete_are_answered(h: &Harness) {
    let up = h
        .custom_resource("Migrations", "Update")
        .await
        .expect("update");
    assert_eq!(up["Status"], "SUCCESS", "{up}");
    let del = h
        .custom_resource("Migrations", "Delete")
        .await
        .expect("delete");
    assert_eq!(del["Status"], "SUCCESS", "{del}");
}

/// The version a newer build would have: this build does not embed it.
const NEWER: i64 = 20991231000001;

async fn root_sql(h: &Harness, statement: &str) {
    use sqlx::Connection;
    let database = &h.functions["MigrateFunction"].spec.env["DB_NAME"];
    let mut conn = sqlx::MySqlConnection::connect_with(&h.db.root_options().database(database))
        .await
        .expect("root connection");
    sqlx::raw_sql(sqlx::AssertSqlSafe(statement.to_owned()))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{statement}: {e}"));
}

/// 10b. Rollback after a newer release (docs/migrations.md): a newer build applied its
/// migration (an expand: a nullable column, and its row in `_sqlx_migrations`, as that build's
/// Update writes them) and something else in its deploy failed. CloudFormation's rollback sends
/// this (older) build the Update with the previous properties: SUCCESS, the schema untouched, a
/// JSON line naming the versions, and sales go on. A Create onto that database is refused
/// (older code on a newer schema), and the Delete of that failed Create succeeds.
pub async fn a_rollback_after_a_newer_release_keeps_selling(h: &Harness, api: &Api, admin: &str) {
    root_sql(h, "ALTER TABLE products ADD COLUMN colour VARCHAR(16) NULL").await;
    root_sql(
        h,
        &format!(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES ({NEWER}, 'product colour', 1, x'00', 1)"
        ),
    )
    .await;
    let migrate = &h.functions["MigrateFunction"];
    let mut newer = cfn::template_properties(h, "Migrations").unwrap();
    newer["CodeVersion"] = json!(format!("{}:99", migrate.arn()));
    let previous = cfn::template_properties(h, "Migrations").unwrap();
    let rollback = cfn::send(h, "Migrations", "Update", previous, Some(newer))
        .await
        .expect("rollback update");
    assert_eq!(rollback["Status"], "SUCCESS", "{rollback}");
    let reason = rollback["Reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("left as it is") && reason.contains(&NEWER.to_string()),
        "{reason}"
    );
    let line = h
        .logs
        .lines_of(&migrate.spec.name)
        .into_iter()
        .find(|l| l.contains("\"unknown_versions\":\"20991231000001\""))
        .expect("a JSON line names the newer build's version");
    let line: Value = serde_json::from_str(&line).expect("a JSON line");
    assert_eq!(line["level"], "WARN", "{line}");
    assert!(line["build_latest"].as_i64().is_some(), "{line}");

    let (s, b) = api
        .call(
            reqwest::Method::PUT,
            "/admin/inventory/rollback-cruller",
            Some(json!({"name":"Cruller","stock":5,"reorder_point":0,"reorder_quantity":12})),
            Some(admin),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let (s, b) = api.sell("rollback-cruller", 2).await;
    assert_eq!(s, 201, "the older code sells on the newer schema: {b}");
    assert_eq!(b["remaining_stock"], 3, "{b}");

    // A Create of this build onto the newer database: FAILED, and its rollback's Delete SUCCESS.
    let (created, deleted) = {
        // The emulation keeps one state per logical id: the stack's is set aside while another
        // stack's Create (and its rollback's Delete) of this resource meets the same database.
        let props = cfn::template_properties(h, "Migrations").unwrap();
        let saved = h.custom.lock().await.remove("Migrations");
        let created = cfn::send(h, "Migrations", "Create", props, None)
            .await
            .expect("create");
        let deleted = cfn::request(h, "Migrations", "Delete")
            .await
            .expect("delete");
        if let Some(s) = saved {
            h.custom.lock().await.insert("Migrations".into(), s);
        }
        (created, deleted)
    };
    assert_eq!(created["Status"], "FAILED", "{created}");
    assert!(
        created["Reason"]
            .as_str()
            .is_some_and(|r| r.contains(&NEWER.to_string())),
        "{created}"
    );
    assert_eq!(deleted["Status"], "SUCCESS", "{deleted}");

    // Back to this build's schema for the cases after this one.
    root_sql(
        h,
        &format!("DELETE FROM _sqlx_migrations WHERE version = {NEWER}"),
    )
    .await;
    root_sql(h, "ALTER TABLE products DROP COLUMN colour").await;
}
