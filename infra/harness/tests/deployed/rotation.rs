//! The database secret rotates under the functions.

use crate::kit::Api;
use lambda_harness::Harness;
use serde_json::{Value, json};

/// 6b. The database secret rotates: the password changes and the secret with it. Every
/// function's pool re-reads the secret on the refusal and retries: no sale fails.
pub async fn the_database_secret_rotates_and_no_sale_fails(h: &Harness, api: &Api, admin: &str) {
    use sqlx::Connection;
    let new_password = format!("rotated{}", uuid::Uuid::new_v4().simple());
    let mut root = sqlx::MySqlConnection::connect_with(&h.db.root_options())
        .await
        .expect("root");
    // The secret the functions log in with, as the template gives it to them.
    let db_secret = h.functions["SalesApiFunction"].spec.env["DB_SECRET_ARN"].clone();
    let sm = aws_sdk_secretsmanager::Client::new(&h.sdk);
    let old: Value = serde_json::from_str(
        sm.get_secret_value()
            .secret_id(&db_secret)
            .send()
            .await
            .expect("secret")
            .secret_string()
            .unwrap_or_default(),
    )
    .expect("json");
    let user = old["username"].as_str().expect("username").to_owned();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "ALTER USER '{user}'@'%' IDENTIFIED BY '{new_password}'"
    )))
    .execute(&mut root)
    .await
    .expect("rotate the password");
    sm.put_secret_value()
        .secret_id(&db_secret)
        .secret_string(json!({"username": user, "password": new_password}).to_string())
        .send()
        .await
        .expect("rotate the secret");
    // Open sessions outlive a rotation on RDS, but not wait_timeout or a new environment:
    // end them so every function has to log in again with the new password.
    let ids: Vec<i64> =
        sqlx::query_scalar("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = ?")
            .bind(&user)
            .fetch_all(&mut root)
            .await
            .expect("sessions");
    for id in ids {
        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("KILL {id}")))
            .execute(&mut root)
            .await;
    }
    let (s, b) = api
        .call(
            reqwest::Method::PUT,
            "/admin/inventory/maple",
            Some(json!({"stock":50,"reorder_point":0,"reorder_quantity":10})),
            Some(admin),
        )
        .await;
    assert!(s == 200 || s == 201, "admin after rotation: {s} {b}");
    for i in 0..5 {
        let (s, b) = api.sell("maple", 1).await;
        assert_eq!(s, 201, "sale {i} after the rotation: {b}");
    }
    let retried = h
        .logs
        .lines_of(&h.functions["SalesApiFunction"].spec.name)
        .iter()
        .any(|l| l.contains("re-reading them and retrying once"));
    assert!(retried, "sales-api re-read the rotated secret");
}
