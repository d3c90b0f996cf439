//! `migrate`: applies the embedded sqlx migrations, then creates or updates the application user
//! (see [`app_user`]). Invoked by the `Migrations` custom resource of the SAM template on stack
//! create/update (and on delete, where it does nothing), or by an operator with
//! `{"action": "migrate"}`.
//!
//! It is the only function that logs in as the admin (`DB_SECRET_ARN`: the RDS master secret or
//! `ExistingDatabaseSecretArn`); every other function gets the application user's secret
//! (`DB_APP_SECRET_ARN` here) as its `DB_SECRET_ARN`.
//!
//! A custom resource must always be answered, or CloudFormation waits for its `ServiceTimeout`:
//! configuration and database errors are therefore handled inside the invocation (not at init)
//! and reported as `FAILED` with the reason (credentials redacted). Nothing here panics.

mod app_user;
mod cfn;

use app_user::AppUser;
use cfn::{CfnResponse, Invocation};
use inventory::config::{
    ConfigError, DbTls, Env, aws_config, database_credentials, database_from_env, mysql_options,
};
use inventory::store::StoreError;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};
use sqlx::mysql::MySqlConnectOptions;
use std::future::Future;
use std::str::FromStr;
use std::time::{Duration, SystemTime};
use tracing::Instrument;

/// Time kept, before the function's own timeout, to send the custom resource response.
const RESPONSE_MARGIN: Duration = Duration::from_secs(10);

#[tokio::main]
async fn main() -> Result<(), Error> {
    inventory::telemetry::init("migrate");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()?;
    let http = &http;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let budget = event
            .context
            .deadline()
            .duration_since(SystemTime::now())
            .unwrap_or_default()
            .saturating_sub(RESPONSE_MARGIN);
        let log_stream = event.context.env_config.log_stream.clone();
        run(http, event.payload, budget, &log_stream, migrate_database).await
    }))
    .await
}

/// Connects (reading the database secret) and applies the migrations, retrying a database that
/// is not reachable yet; then sets up the application user. Errors are strings without
/// credentials (`cfn::redact` makes sure).
async fn migrate_database() -> Result<(), String> {
    let env = Env;
    let sdk = aws_config().await;
    let store = database_from_env(&env, Some(&sdk), 1)
        .await
        .map_err(|e| format!("configuration: {e}"))?;
    // Read before migrating, so a missing or malformed secret fails the deploy up front.
    let app = app_user_from_env(&env, &sdk)
        .await
        .map_err(|e| format!("configuration: {e}"))?;
    let mut attempt = 0u32;
    loop {
        match store.migrate().await {
            Ok(()) => break,
            Err(StoreError::Unavailable(e)) if attempt < 4 => {
                attempt += 1;
                tracing::warn!(attempt, error = %cfn::redact(&e), "database not reachable yet; retrying");
                tokio::time::sleep(Duration::from_secs(2u64.pow(attempt))).await;
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    drop(store);
    let (admin, database) = admin_options(&env, &sdk)
        .await
        .map_err(|e| format!("configuration: {e}"))?;
    let tables = app_user::ensure_with(&admin, &database, &app).await?;
    tracing::info!(
        user = %app.username,
        privileges = app_user::APP_PRIVILEGES,
        tables = ?tables,
        "application user ready (TLS required)"
    );
    Ok(())
}

/// The application user's secret, `DB_APP_SECRET_ARN` (`{"username","password"}`; the template's
/// generated `AppDatabaseSecret`).
async fn app_user_from_env(env: &Env, sdk: &aws_config::SdkConfig) -> Result<AppUser, ConfigError> {
    let arn = env.required("DB_APP_SECRET_ARN")?;
    let (username, password) = database_credentials(sdk, &arn).await?;
    Ok(AppUser { username, password })
}

/// The admin's connection options (what the migrations ran with) and the schema name:
/// `DATABASE_URL` when set, else `DB_SECRET_ARN` + `DB_HOST`/`DB_PORT`/`DB_NAME` over TLS
/// (`DB_CA_BUNDLE`), as `database_from_env` builds them.
async fn admin_options(
    env: &Env,
    sdk: &aws_config::SdkConfig,
) -> Result<(MySqlConnectOptions, String), ConfigError> {
    if let Some(url) = env.optional("DATABASE_URL") {
        let opts = MySqlConnectOptions::from_str(&url).map_err(|e| ConfigError::Invalid {
            name: "DATABASE_URL",
            why: cfn::redact(&e.to_string()),
        })?;
        let database = opts.get_database().unwrap_or_default().to_owned();
        return Ok((opts, database));
    }
    let arn = env.required("DB_SECRET_ARN")?;
    let host = env.required("DB_HOST")?;
    let port: u16 = env.parse_or("DB_PORT", 3306)?;
    let database = env.required("DB_NAME")?;
    let tls = DbTls::from_env(env)?;
    let (username, password) = database_credentials(sdk, &arn).await?;
    let opts = mysql_options(&host, port, &database, &username, &password, &tls);
    Ok((opts, database))
}

/// One invocation. `migrate` is [`migrate_database`] (a parameter so tests can replace it).
async fn run<F, Fut>(
    http: &reqwest::Client,
    payload: Value,
    budget: Duration,
    log_stream: &str,
    migrate: F,
) -> Result<Value, Error>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let migrate_within_budget = || async {
        match tokio::time::timeout(budget, migrate()).await {
            Ok(result) => result,
            Err(_) => Err(format!(
                "migrations did not finish within {}s",
                budget.as_secs()
            )),
        }
    };
    match Invocation::parse(payload) {
        Invocation::Invalid(why) => {
            tracing::error!(error = %why, "unexpected event");
            Err(why.into())
        }
        Invocation::Direct => {
            tracing::info!("direct invocation: applying migrations");
            migrate_within_budget().await.map_err(|e| {
                let e = cfn::redact(&e);
                tracing::error!(error = %e, "migrations failed");
                Error::from(e)
            })?;
            tracing::info!("migrations applied");
            Ok(json!({"status": "migrated"}))
        }
        Invocation::CustomResource(req) => {
            let span = tracing::info_span!("custom_resource", request_type = %req.request_type, logical_resource_id = %req.logical_resource_id, request_id = %req.request_id, stack_id = %req.stack_id);
            async {
                tracing::info!(resource_type = ?req.resource_type, "custom resource request");
                let outcome = match req.request_type.as_str() {
                    "Create" | "Update" => migrate_within_budget()
                        .await
                        .map(|()| "migrations applied, application user ready".to_owned())
                        .map_err(|e| format!("{e} (CloudWatch log stream {log_stream})")),
                    // The schema outlives the stack resource: deleting it touches nothing.
                    "Delete" => Ok("nothing to do on delete".to_owned()),
                    other => Err(format!("unknown RequestType {other:?}")),
                };
                let response = CfnResponse::new(&req, &outcome);
                match &outcome {
                    Ok(_) => tracing::info!(reason = %response.reason, "responding SUCCESS"),
                    Err(_) => tracing::error!(reason = %response.reason, "responding FAILED"),
                }
                // Not delivered: fail the invocation so Lambda's asynchronous retry tries again
                // (the migrations are idempotent).
                cfn::send(http, &req.response_url, &response)
                    .await
                    .map_err(Error::from)?;
                Ok(json!({"Status": response.status, "Reason": response.reason}))
            }
            .instrument(span)
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Records one HTTP request (head and body) and answers 200.
    async fn response_server() -> (String, Arc<Mutex<Vec<(String, String)>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let (head_end, len) = loop {
                    let n = sock.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        break (buf.len(), 0);
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..i]).to_lowercase();
                        let len = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        break (i + 4, len);
                    }
                };
                while buf.len() < head_end + len {
                    let n = sock.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let body = String::from_utf8_lossy(&buf[head_end..]).to_string();
                log.lock().unwrap().push((head, body));
                let _ = sock
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
            }
        });
        (format!("http://{addr}/response?X-Amz-Signature=s"), seen)
    }

    fn event(kind: &str, url: &str) -> Value {
        json!({"RequestType": kind, "ResponseURL": url, "StackId": "arn:aws:cloudformation:us-east-1:1:stack/s/g",
               "RequestId": "r-1", "LogicalResourceId": "Migrations", "ResourceType": "Custom::Migrations",
               "ResourceProperties": {}})
    }

    async fn invoke(
        kind: &str,
        result: Result<(), String>,
    ) -> (Value, (String, String), Arc<Mutex<u32>>) {
        let (url, seen) = response_server().await;
        let calls = Arc::new(Mutex::new(0u32));
        let counter = calls.clone();
        let out = run(
            &reqwest::Client::new(),
            event(kind, &url),
            Duration::from_secs(5),
            "2026/01/01/[$LATEST]abc",
            move || {
                *counter.lock().unwrap() += 1;
                let result = result.clone();
                async move { result }
            },
        )
        .await
        .unwrap();
        let request = seen.lock().unwrap()[0].clone();
        (out, request, calls)
    }

    #[tokio::test]
    async fn create_migrates_and_puts_success_without_content_type() {
        let (out, (head, body), calls) = invoke("Create", Ok(())).await;
        assert_eq!(out["Status"], "SUCCESS");
        assert_eq!(*calls.lock().unwrap(), 1);
        assert!(
            head.starts_with("PUT /response?X-Amz-Signature=s "),
            "{head}"
        );
        let content_type = head.lines().find_map(|l| {
            l.to_lowercase()
                .strip_prefix("content-type:")
                .map(|v| v.trim().to_owned())
        });
        assert_eq!(content_type.as_deref().unwrap_or(""), "", "{head}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["Status"], "SUCCESS");
        assert_eq!(body["PhysicalResourceId"], cfn::PHYSICAL_ID);
        assert_eq!(body["LogicalResourceId"], "Migrations");
        assert_eq!(body["RequestId"], "r-1");
        assert_eq!(body["Data"], json!({}));
    }

    #[tokio::test]
    async fn a_failure_is_reported_failed_without_secrets() {
        let (out, (_, body), _) = invoke(
            "Update",
            Err("error with mysql://admin:s3cr3t@db.internal:3306/donuts".into()),
        )
        .await;
        assert_eq!(out["Status"], "FAILED");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["Status"], "FAILED");
        let reason = body["Reason"].as_str().unwrap();
        assert!(!reason.contains("s3cr3t"), "{reason}");
        assert!(reason.contains("db.internal"), "{reason}");
        assert!(reason.contains("[$LATEST]abc"), "{reason}");
    }

    #[tokio::test]
    async fn delete_never_touches_the_database() {
        let (out, (_, body), calls) = invoke("Delete", Err("must not run".into())).await;
        assert_eq!(out["Status"], "SUCCESS");
        assert_eq!(*calls.lock().unwrap(), 0);
        assert!(body.contains("\"SUCCESS\""));
    }

    #[tokio::test]
    async fn a_slow_migration_is_reported_before_the_function_times_out() {
        let (url, seen) = response_server().await;
        let out = run(
            &reqwest::Client::new(),
            event("Create", &url),
            Duration::from_millis(50),
            "ls",
            || async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                Ok(())
            },
        )
        .await
        .unwrap();
        assert_eq!(out["Status"], "FAILED");
        assert!(seen.lock().unwrap()[0].1.contains("did not finish"));
    }

    #[tokio::test]
    async fn direct_invocation_and_bad_events() {
        let http = reqwest::Client::new();
        let d = Duration::from_secs(1);
        let ok = run(&http, json!({"action": "migrate"}), d, "ls", || async {
            Ok(())
        })
        .await;
        assert_eq!(ok.unwrap()["status"], "migrated");
        let failed = run(&http, json!({"action": "migrate"}), d, "ls", || async {
            Err("mysql://u:pw@h/db down".to_owned())
        })
        .await;
        assert!(!failed.unwrap_err().to_string().contains("pw@"));
        assert!(
            run(&http, json!({"hello": 1}), d, "ls", || async { Ok(()) })
                .await
                .is_err()
        );
    }
}
