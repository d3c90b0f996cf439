//! `migrate`: applies the embedded sqlx migrations, then creates or updates the application user
//! (see [`app_user`]). Invoked by the `Migrations` custom resource of the SAM template on stack
//! create/update (and on delete, where it does nothing), or by an operator (`donut-ops
//! migrations status|repair`, or `aws lambda invoke`) with `{"action": "migrate" | "status" |
//! "repair"}`.
//!
//! What a deploy does with the database is decided in [`versions`] and carried out in
//! [`migrations`] (docs/migrations.md): a schema holding migrations this build does not have (a
//! newer build's: this is a rollback) is left alone and the Update answers SUCCESS; this build's
//! own failed migration answers FAILED with its version, the SQL error and the way out.
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
#[cfg(test)]
mod current;
#[cfg(test)]
mod expand_contract;
mod migrations;
mod objects;
mod versions;

use app_user::AppUser;
use cfn::{CfnResponse, Invocation, Operator};
use inventory::config::{ConfigError, DbTls, Env, aws_config, database_credentials, mysql_options};
use inventory::store::StoreError;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use migrations::{Deployed, MIGRATOR};
use serde_json::{Value, json};
use sqlx::Connection;
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection};
use std::future::Future;
use std::str::FromStr;
use std::time::{Duration, SystemTime};
use tracing::Instrument;
use versions::list;

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
        run(http, event.payload, budget, &log_stream, handle).await
    }))
    .await
}

/// What one invocation asks of the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// The custom resource's Create (`create`) or Update, of this stack.
    Deploy {
        create: bool,
        stack: Option<String>,
    },
    Operator(Operator),
}

/// What was done: the custom resource's reason, and the operator's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Done {
    pub reason: String,
    pub body: Value,
}

/// Connects as the admin (reading the database secret) and does what `request` asks. Errors are
/// strings without credentials (`cfn::redact` makes sure).
async fn handle(request: Request) -> Result<Done, String> {
    let env = Env;
    let sdk = aws_config().await;
    let config = |e: ConfigError| format!("configuration: {e}");
    let (admin, database) = admin_options(&env, &sdk).await.map_err(config)?;
    let (create, stack) = match request {
        Request::Deploy { create, stack } => (create, stack),
        Request::Operator(Operator::Migrate) => (false, None),
        Request::Operator(Operator::Status) => {
            let mut conn = connect(&admin).await?;
            let status = migrations::status(&mut conn, &MIGRATOR)
                .await
                .map_err(|e| e.reason(None))?;
            let _ = conn.close().await;
            let reason = status_line(&status);
            return Ok(Done {
                body: serde_json::to_value(&status).unwrap_or_default(),
                reason,
            });
        }
        Request::Operator(Operator::Repair { version }) => {
            let mut conn = connect(&admin).await?;
            let body = migrations::repair(&mut conn, &MIGRATOR, version)
                .await
                .map_err(|e| e.reason(None))?;
            let _ = conn.close().await;
            return Ok(Done {
                reason: format!("removed the dirty row of migration {version}"),
                body,
            });
        }
    };
    // Read before migrating, so a missing or malformed secret fails the deploy up front.
    let app = app_user_from_env(&env, &sdk).await.map_err(config)?;
    let mut conn = connect(&admin).await?;
    let deployed = migrations::deploy(&mut conn, &MIGRATOR, create)
        .await
        .map_err(|e| e.reason(stack.as_deref()))?;
    let build_latest = MIGRATOR.iter().map(|m| m.version).max().unwrap_or_default();
    let (reason, body) = match &deployed {
        Deployed::Applied(applied) => {
            tracing::info!(applied = %list(applied), build_latest, "migrations applied");
            (
                format!("migrations applied ([{}])", list(applied)),
                json!({"status": "migrated", "applied": applied}),
            )
        }
        Deployed::LeftAlone {
            unknown,
            dirty,
            pending,
        } => {
            tracing::warn!(
                unknown_versions = %list(unknown),
                dirty_versions = %list(dirty),
                pending_versions = %list(pending),
                build_latest,
                "the database holds migrations this build does not have (a newer build's: a \
                 rollback); schema left as it is"
            );
            (
                format!(
                    "schema left as it is: it holds migrations this build does not have (a newer \
                     build's; applied [{}], dirty [{}]) — a rollback; this build's newest is {build_latest}",
                    list(unknown),
                    list(dirty)
                ),
                json!({"status": "left_alone", "unknown": unknown, "dirty": dirty, "pending": pending}),
            )
        }
    };
    let tables = app_user::ensure(&mut conn, &database, &app).await?;
    let _ = conn.close().await;
    tracing::info!(
        user = %app.username,
        privileges = app_user::APP_PRIVILEGES,
        tables = ?tables,
        "application user ready (TLS required)"
    );
    Ok(Done {
        reason: format!("{reason}, application user ready"),
        body,
    })
}

fn status_line(s: &versions::Status) -> String {
    use versions::State::*;
    format!(
        "{} applied, {} pending, {} unknown, {} dirty",
        s.count(Applied),
        s.count(Pending),
        s.count(Unknown),
        s.count(Dirty)
    )
}

/// One admin connection, retrying a database that is not reachable yet (a new RDS instance).
async fn connect(admin: &MySqlConnectOptions) -> Result<MySqlConnection, String> {
    let mut attempt = 0u32;
    loop {
        match MySqlConnection::connect_with(admin).await {
            Ok(c) => return Ok(c),
            Err(e) => match StoreError::from(e) {
                StoreError::Unavailable(e) if attempt < 4 => {
                    attempt += 1;
                    tracing::warn!(attempt, error = %cfn::redact(&e.to_string()), "database not reachable yet; retrying");
                    tokio::time::sleep(Duration::from_secs(2u64.pow(attempt))).await;
                }
                e => return Err(cfn::redact(&format!("connecting as the admin: {e}"))),
            },
        }
    }
}

/// The application user's secret, `DB_APP_SECRET_ARN` (`{"username","password"}`; the template's
/// generated `AppDatabaseSecret`).
async fn app_user_from_env(env: &Env, sdk: &aws_config::SdkConfig) -> Result<AppUser, ConfigError> {
    let arn = env.required("DB_APP_SECRET_ARN")?;
    let (username, password) = database_credentials(sdk, &arn).await?;
    Ok(AppUser { username, password })
}

/// The admin's connection options and the schema name: `DATABASE_URL` when set, else
/// `DB_SECRET_ARN` + `DB_HOST`/`DB_PORT`/`DB_NAME` over TLS (`DB_CA_BUNDLE`), as
/// `database_from_env` builds them.
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
    match &tls {
        DbTls::Required => tracing::warn!(
            host = %host,
            "DB_CA_BUNDLE is not set: the database connection is encrypted (TLS required) but \
             the server certificate is NOT verified"
        ),
        DbTls::VerifyIdentity { ca_path, .. } => tracing::info!(
            host = %host,
            ca_bundle = %ca_path,
            "database TLS: server certificate and host name verified (VERIFY_IDENTITY)"
        ),
    }
    let (username, password) = database_credentials(sdk, &arn).await?;
    let opts = mysql_options(&host, port, &database, &username, &password, &tls);
    Ok((opts, database))
}

/// One invocation. `handle` is [`handle`] (a parameter so tests can replace it).
async fn run<F, Fut>(
    http: &reqwest::Client,
    payload: Value,
    budget: Duration,
    log_stream: &str,
    handle: F,
) -> Result<Value, Error>
where
    F: Fn(Request) -> Fut,
    Fut: Future<Output = Result<Done, String>>,
{
    let within_budget = |request: Request| {
        let work = handle(request);
        async move {
            match tokio::time::timeout(budget, work).await {
                Ok(result) => result,
                Err(_) => Err(format!(
                    "migrations did not finish within {}s",
                    budget.as_secs()
                )),
            }
        }
    };
    match Invocation::parse(payload) {
        Invocation::Invalid(why) => {
            tracing::error!(error = %why, "unexpected event");
            Err(why.into())
        }
        Invocation::Operator(op) => {
            tracing::info!(action = ?op, "operator invocation");
            let done = within_budget(Request::Operator(op)).await.map_err(|e| {
                let e = cfn::redact(&e);
                tracing::error!(error = %e, "operator action failed");
                Error::from(e)
            })?;
            tracing::info!(result = %done.reason, "operator action done");
            Ok(done.body)
        }
        Invocation::CustomResource(req) => {
            let span = tracing::info_span!("custom_resource", request_type = %req.request_type, logical_resource_id = %req.logical_resource_id, request_id = %req.request_id, stack_id = %req.stack_id);
            async {
                tracing::info!(resource_type = ?req.resource_type, "custom resource request");
                let stack = req.stack_name().map(str::to_owned);
                let outcome = match req.request_type.as_str() {
                    kind @ ("Create" | "Update") => within_budget(Request::Deploy {
                        create: kind == "Create",
                        stack,
                    })
                    .await
                    .map(|done| done.reason)
                    .map_err(|e| format!("{e} (CloudWatch log stream {log_stream})")),
                    // The schema outlives the stack resource: deleting it touches nothing, also
                    // after a failed Create (whatever that left is for the next Create to meet).
                    "Delete" => Ok("nothing to do on delete".to_owned()),
                    other => Err(format!("unknown RequestType {other:?}")),
                };
                let response = CfnResponse::new(&req, &outcome);
                match &outcome {
                    Ok(_) => tracing::info!(reason = %response.reason, "responding SUCCESS"),
                    Err(_) => tracing::error!(reason = %response.reason, "responding FAILED"),
                }
                // Not delivered: fail the invocation so Lambda's asynchronous retry tries again
                // (a deploy is idempotent).
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

    /// Records every HTTP request (its head as on the wire: request line and headers; its body)
    /// and answers 200.
    async fn response_server() -> (String, Arc<Mutex<Vec<(String, String)>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let app = axum::Router::new().fallback(move |request: axum::extract::Request| async move {
            let (parts, body) = request.into_parts();
            let mut head = format!("{} {} {:?}\r\n", parts.method, parts.uri, parts.version);
            for (name, value) in &parts.headers {
                head.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap_or("")));
            }
            let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
            let body = String::from_utf8_lossy(&body).to_string();
            log.lock().unwrap().push((head, body));
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}/response?X-Amz-Signature=s"), seen)
    }

    fn event(kind: &str, url: &str) -> Value {
        json!({"RequestType": kind, "ResponseURL": url, "StackId": "arn:aws:cloudformation:us-east-1:1:stack/s/g",
               "RequestId": "r-1", "LogicalResourceId": "Migrations", "ResourceType": "Custom::Migrations",
               "ResourceProperties": {}})
    }

    fn done() -> Result<Done, String> {
        Ok(Done {
            reason: "applied".into(),
            body: json!({"status": "migrated"}),
        })
    }

    async fn invoke(
        kind: &str,
        result: Result<Done, String>,
    ) -> (Value, (String, String), Arc<Mutex<Vec<Request>>>) {
        let (url, seen) = response_server().await;
        let calls = Arc::new(Mutex::new(Vec::new()));
        let counter = calls.clone();
        let out = run(
            &reqwest::Client::new(),
            event(kind, &url),
            Duration::from_secs(5),
            "2026/01/01/[$LATEST]abc",
            move |request| {
                counter.lock().unwrap().push(request);
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
        let (out, (head, body), calls) = invoke("Create", done()).await;
        assert_eq!(out["Status"], "SUCCESS");
        assert_eq!(
            *calls.lock().unwrap(),
            [Request::Deploy {
                create: true,
                stack: Some("s".into())
            }]
        );
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
        assert!(calls.lock().unwrap().is_empty());
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
            |_| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                done()
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
        let ok = run(
            &http,
            json!({"action": "migrate"}),
            d,
            "ls",
            |r| async move {
                assert_eq!(r, Request::Operator(Operator::Migrate));
                done()
            },
        )
        .await;
        assert_eq!(ok.unwrap()["status"], "migrated");
        let failed = run(&http, json!({"action": "status"}), d, "ls", |_| async {
            Err("mysql://u:pw@h/db down".to_owned())
        })
        .await;
        assert!(!failed.unwrap_err().to_string().contains("pw@"));
        assert!(
            run(&http, json!({"hello": 1}), d, "ls", |_| async { done() })
                .await
                .is_err()
        );
    }
}
