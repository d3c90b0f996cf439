//! The deployable functions, run locally as AWS runs them — the answer to `sam local`, which
//! needs Docker.
//!
//! [`Harness::start`] reads `template.yaml` and:
//! - starts a TLS-only MariaDB ([`tlsdb`]) for the template's RDS instance, and creates the
//!   template's SNS topics, SQS queues, Kinesis streams, S3 buckets and secrets in moto ([`aws`]);
//! - starts every function's bootstrap (the `cargo lambda build` output, as `sam build` ships
//!   it) as its own process behind its own Lambda Runtime API ([`runtime`]), with the
//!   environment the template gives it (`Globals` + its own, intrinsics resolved to the local
//!   values; API Gateway and Function URL addresses rewritten to the local endpoints);
//! - feeds them the events AWS would, derived from the template: HTTP API routes
//!   ([`apigw`]), Function URLs, SQS event source mappings ([`esm`]), schedules, CloudWatch Logs
//!   subscriptions ([`logs`]) and the custom resources' lifecycle ([`cfn`]).
//!
//! Time is compressed where AWS waits minutes (documented per option): a queue's visibility
//! timeout can be shortened ([`Options::visibility_timeout`]), asynchronous retries wait seconds
//! instead of minutes, and schedules fire when asked ([`Harness::fire_schedule`]).

pub mod apigw;
pub mod aws;
pub mod cfn;
pub mod esm;
pub mod logs;
pub mod moto;
pub mod runtime;
pub mod template;
pub mod tlsdb;

use axum::extract::ConnectInfo;
use logs::LogHub;
use runtime::{Answer, Function, Spec};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use template::{Template, scalar};

pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// How to run the harness.
#[derive(Debug, Clone)]
pub struct Options {
    pub template: PathBuf,
    /// Where `<binary>/bootstrap` are (`$CARGO_TARGET_DIR/lambda`, as cargo-lambda writes them).
    pub bin_dir: PathBuf,
    /// Working directory: database, certificates, function logs.
    pub dir: PathBuf,
    /// The moto server (`http://127.0.0.1:PORT`).
    pub moto: String,
    /// Template parameter overrides (`--parameter-overrides`).
    pub params: HashMap<String, String>,
    /// Instances (execution environments) per function logical id; 1 when absent.
    pub instances: HashMap<String, usize>,
    /// Time compression: every queue's visibility timeout, in seconds, instead of the template's.
    pub visibility_timeout: Option<u64>,
    /// Delays between Lambda's asynchronous retries (AWS: about 1 and 2 minutes).
    pub async_retry_delays: Vec<Duration>,
    /// How long CloudWatch Logs batches subscription deliveries.
    pub log_flush: Duration,
    /// Print every function line on stdout.
    pub echo: bool,
    /// API Gateway's local port (0: any free port).
    pub api_port: u16,
}

impl Options {
    pub fn new(template: PathBuf, bin_dir: PathBuf, dir: PathBuf, moto: String) -> Self {
        Options {
            template,
            bin_dir,
            dir,
            moto,
            params: HashMap::new(),
            instances: HashMap::new(),
            visibility_timeout: None,
            async_retry_delays: vec![Duration::from_secs(1), Duration::from_secs(2)],
            log_flush: Duration::from_millis(300),
            echo: false,
            api_port: 0,
        }
    }
}

/// Where `cargo lambda build` (scripts/lambda-build.sh) put the bootstraps:
/// `HARNESS_BIN_DIR`, else `$CARGO_TARGET_DIR/lambda`, else `<workspace>/target/lambda`.
pub fn bootstraps_dir(workspace: &std::path::Path) -> PathBuf {
    if let Some(d) = std::env::var_os("HARNESS_BIN_DIR") {
        return PathBuf::from(d);
    }
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"))
        .join("lambda")
}

/// A function invoked asynchronously, with its on-failure destination (if the template has one).
#[derive(Clone)]
pub struct AsyncTarget {
    pub function: Arc<Function>,
    pub on_failure: Option<(aws_sdk_sqs::Client, String)>,
    pub retry_delays: Vec<Duration>,
}

/// Lambda's asynchronous invocation: up to two retries, then the on-failure destination.
/// Returns whether an attempt succeeded.
pub async fn invoke_async(target: &AsyncTarget, event: &Value, hub: &LogHub) -> bool {
    let mut last = Answer::Err(json!({}));
    for attempt in 0..=target.retry_delays.len() {
        if attempt > 0 {
            tokio::time::sleep(target.retry_delays[attempt - 1]).await;
        }
        last = target.function.invoke(event).await;
        if last.is_ok() {
            return true;
        }
    }
    let err = match &last {
        Answer::Err(e) => e.clone(),
        Answer::Ok(_) => Value::Null,
    };
    hub.harness(
        &target.function.spec.name,
        &format!(
            "asynchronous invocation failed after {} attempts: {err}",
            target.retry_delays.len() + 1
        ),
    );
    if let Some((sqs, url)) = &target.on_failure {
        let record = json!({
            "version": "1.0",
            "timestamp": chrono::Utc::now().to_rfc3339(),
            "requestContext": {
                "requestId": uuid::Uuid::new_v4().to_string(),
                "functionArn": format!("{}:$LATEST", target.function.arn()),
                "condition": "RetriesExhausted",
                "approximateInvokeCount": target.retry_delays.len() + 1,
            },
            "requestPayload": event,
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "responsePayload": err,
        });
        let _ = sqs
            .send_message()
            .queue_url(url)
            .message_body(record.to_string())
            .send()
            .await;
    }
    false
}

/// The running harness.
pub struct Harness {
    pub template: Template,
    pub values: template::Values,
    pub functions: HashMap<String, Arc<Function>>,
    pub api_url: String,
    pub api_router: Arc<apigw::Router>,
    /// Function logical id → its local Function URL.
    pub function_urls: HashMap<String, String>,
    pub logs: Arc<LogHub>,
    pub db: tlsdb::TlsMariaDb,
    pub sdk: aws_config::SdkConfig,
    pub queue_urls: HashMap<String, String>,
    pub cfn: Arc<cfn::Responses>,
    /// Logical id → the last answer to each custom resource (`PhysicalResourceId`, properties).
    pub custom: tokio::sync::Mutex<HashMap<String, (String, Value)>>,
    pub opts: Options,
    async_targets: HashMap<String, AsyncTarget>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

async fn listen(port: u16) -> Result<(tokio::net::TcpListener, String), Error> {
    let l = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let url = format!("http://{}", l.local_addr()?);
    Ok((l, url))
}

fn serve_router(
    listener: tokio::net::TcpListener,
    router: Arc<apigw::Router>,
) -> tokio::task::JoinHandle<()> {
    let app = axum::Router::new().fallback(
        move |ConnectInfo(addr): ConnectInfo<SocketAddr>, req: axum::extract::Request| {
            let router = router.clone();
            async move { apigw::serve(router, req, Some(addr)).await }
        },
    );
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    })
}

impl Harness {
    pub async fn start(opts: Options) -> Result<Harness, Error> {
        std::fs::create_dir_all(&opts.dir)?;
        let db = {
            let dir = opts.dir.join("db");
            let _ = std::fs::remove_dir_all(&dir);
            tokio::task::spawn_blocking(move || tlsdb::TlsMariaDb::start(&dir, std::process::id()))
                .await??
        };
        let mut params = opts.params.clone();
        let mut template = Template::load(&opts.template, &HashMap::new())?;
        // The database's CA bundle, when the template takes one: the local CA (verified TLS).
        if template.params.contains_key("DatabaseCaBundle") {
            params
                .entry("DatabaseCaBundle".into())
                .or_insert_with(|| db.pki.ca.display().to_string());
        }
        for (k, v) in &params {
            if !template.params.contains_key(k) {
                return Err(format!("parameter {k}: not a parameter of the template").into());
            }
            template.params.insert(k.clone(), v.clone());
        }
        let suffix = format!("{:06x}", rand::random::<u32>() & 0xff_ffff);
        let (api_listener, api_url) = listen(opts.api_port).await?;
        let mut url_listeners = HashMap::new();
        let mut function_urls = HashMap::new();
        for f in template.functions()? {
            if template
                .props(&f)
                .and_then(|p| p.get("FunctionUrlConfig"))
                .is_some()
            {
                let (l, url) = listen(0).await?;
                function_urls.insert(f.clone(), url);
                url_listeners.insert(f, l);
            }
        }
        let master_password = format!("pw{}", uuid::Uuid::new_v4().simple());
        let local_db = aws::LocalDatabase {
            host: db.host.clone(),
            port: db.port,
            master_password: master_password.clone(),
        };
        let prov = aws::provision(
            &template,
            &opts.moto,
            &local_db,
            &suffix,
            &api_url,
            &function_urls,
            opts.visibility_timeout,
        )
        .await?;
        let values = prov.values.clone();
        for id in template.of_type("AWS::RDS::DBInstance")? {
            let user = template
                .prop(&id, &["MasterUsername"], &values)?
                .map(|j| scalar(&j))
                .unwrap_or_else(|| "admin".into());
            let name = template
                .prop(&id, &["DBName"], &values)?
                .map(|j| scalar(&j))
                .unwrap_or_else(|| "mysql".into());
            db.create_master(&name, &user, &master_password).await?;
        }

        let logs = LogHub::new(Some(opts.dir.clone()), opts.echo);
        let mut functions = HashMap::new();
        for id in template.functions()? {
            let binary = template
                .binary(&id)
                .ok_or_else(|| format!("{id}: no Metadata.BuildProperties.Binary"))?;
            let mut env = template.environment(&id, &values)?;
            for val in env.values_mut() {
                for (aws_url, local) in &prov.url_rewrites {
                    *val = val.replace(aws_url.as_str(), local);
                }
            }
            // Lambda's advanced logging controls become variables of the function.
            if let Some(lc) = template.fn_prop(&id, "LoggingConfig", &values)? {
                if let Some(level) = lc.get("ApplicationLogLevel") {
                    env.insert("AWS_LAMBDA_LOG_LEVEL".into(), scalar(level));
                }
                if let Some(format) = lc.get("LogFormat") {
                    env.insert("AWS_LAMBDA_LOG_FORMAT".into(), scalar(format));
                }
            }
            // What Lambda adds: credentials of the execution role (here: moto's), and the
            // endpoint of every AWS service (here: moto).
            for (k, v) in [
                ("AWS_ACCESS_KEY_ID", "testing"),
                ("AWS_SECRET_ACCESS_KEY", "testing"),
                ("AWS_SESSION_TOKEN", "testing"),
                ("AWS_ENDPOINT_URL", opts.moto.as_str()),
            ] {
                env.insert(k.into(), v.into());
            }
            let num = |key: &str, d: u64| -> Result<u64, Error> {
                Ok(template
                    .fn_prop(&id, key, &values)?
                    .map(|j| scalar(&j))
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(d))
            };
            let spec = Spec {
                logical_id: id.clone(),
                name: values.refs.get(&id).cloned().unwrap_or_else(|| id.clone()),
                binary: opts.bin_dir.join(&binary).join("bootstrap"),
                env,
                timeout: Duration::from_secs(num("Timeout", 3)?),
                memory_mb: num("MemorySize", 128)?,
                instances: opts.instances.get(&id).copied().unwrap_or(1),
            };
            functions.insert(id, Function::start(spec, logs.clone()).await?);
        }

        let sqs = prov.sqs.clone();
        let mut async_targets = HashMap::new();
        for (id, f) in &functions {
            let dest = template.prop(
                id,
                &[
                    "EventInvokeConfig",
                    "DestinationConfig",
                    "OnFailure",
                    "Destination",
                ],
                &values,
            )?;
            let on_failure = dest
                .map(|d| scalar(&d))
                .and_then(|arn| template.logical_id_of(&arn, &values))
                .and_then(|q| prov.queue_urls.get(&q).cloned())
                .map(|url| (sqs.clone(), url));
            async_targets.insert(
                id.clone(),
                AsyncTarget {
                    function: f.clone(),
                    on_failure,
                    retry_delays: opts.async_retry_delays.clone(),
                },
            );
        }

        let mut tasks = Vec::new();
        // API Gateway: the template's routes.
        let api_id = template
            .of_type("AWS::Serverless::HttpApi")?
            .first()
            .and_then(|id| values.refs.get(id).cloned())
            .unwrap_or_else(|| "api".into());
        let mut bound = Vec::new();
        for route in template.routes(&values)? {
            if let Some(f) = functions.get(&route.function) {
                bound.push(apigw::Bound {
                    route,
                    function: f.clone(),
                });
            }
        }
        let api_router = Arc::new(apigw::Router::new(api_id.clone(), bound));
        tasks.push(serve_router(api_listener, api_router.clone()));
        // Function URLs: every request, route key `$default`.
        for (id, l) in url_listeners {
            if let Some(f) = functions.get(&id) {
                let r = apigw::Router::new(
                    format!("{}-url", id.to_lowercase()),
                    vec![apigw::Bound {
                        route: template::Route {
                            function: id.clone(),
                            method: None,
                            path: None,
                        },
                        function: f.clone(),
                    }],
                );
                tasks.push(serve_router(l, Arc::new(r)));
            }
        }
        // CloudWatch Logs subscriptions.
        for sub in template.log_subscriptions(&values)? {
            let Some(dest) = async_targets.get(&sub.destination) else {
                continue;
            };
            let group_name = values.refs.get(&sub.log_group).cloned().unwrap_or_default();
            for id in template.functions()? {
                if template.log_group_of(&id, &values)?.as_deref() == Some(sub.log_group.as_str())
                    && let Some(f) = functions.get(&id)
                {
                    logs.subscribe(
                        &f.spec.name,
                        &group_name,
                        sub.clone(),
                        dest.clone(),
                        opts.log_flush,
                    );
                }
            }
        }
        // SQS event source mappings.
        for m in template.mappings(&values)? {
            let (Some(f), Some(url)) = (functions.get(&m.function), prov.queue_urls.get(&m.queue))
            else {
                continue;
            };
            let arn = values
                .attrs
                .get(&(m.queue.clone(), "Arn".into()))
                .cloned()
                .unwrap_or_default();
            let pollers = f.spec.instances.clamp(1, m.max_concurrency.max(1));
            for _ in 0..pollers {
                tasks.push(tokio::spawn(esm::poll(
                    m.clone(),
                    sqs.clone(),
                    url.clone(),
                    arn.clone(),
                    f.clone(),
                    logs.clone(),
                )));
            }
        }

        let (cfn_responses, cfn_task) = cfn::Responses::serve().await?;
        tasks.push(cfn_task);
        let h = Harness {
            template,
            values,
            functions,
            api_url,
            api_router,
            function_urls,
            logs,
            db,
            sdk: aws::sdk_config_for(&opts.moto),
            queue_urls: prov.queue_urls,
            cfn: cfn_responses,
            custom: tokio::sync::Mutex::new(HashMap::new()),
            opts,
            async_targets,
            tasks,
        };
        Ok(h)
    }

    /// Requests the local API Gateway passed to a function.
    pub fn api_requests(&self) -> u64 {
        self.api_router
            .requests
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn function(&self, logical_id: &str) -> Result<&Arc<Function>, Error> {
        self.functions
            .get(logical_id)
            .ok_or_else(|| format!("the template has no function {logical_id}").into())
    }

    /// Fires a schedule of the template (`function`'s event `name`) now, as EventBridge does:
    /// an asynchronous invocation with a scheduled event.
    pub async fn fire_schedule(&self, function: &str, name: &str) -> Result<bool, Error> {
        let s = self
            .template
            .schedules(&self.values)?
            .into_iter()
            .find(|s| s.function == function && s.name == name)
            .ok_or_else(|| format!("the template has no schedule {function}.{name}"))?;
        let target = self
            .async_targets
            .get(&s.function)
            .ok_or_else(|| format!("no function {}", s.function))?;
        let event = json!({
            "version": "0",
            "id": uuid::Uuid::new_v4().to_string(),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": template::ACCOUNT,
            "time": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "region": template::REGION,
            "resources": [format!("arn:aws:events:{}:{}:rule/{}-{}{}", template::REGION, template::ACCOUNT, self.template.stack_name, s.function, s.name)],
            "detail": {},
        });
        Ok(invoke_async(target, &event, &self.logs).await)
    }

    /// Runs a schedule's rate (`rate(1 minute)`) forever; cron schedules are fired on demand.
    pub fn schedule_timers(self: &Arc<Self>) -> Result<Vec<tokio::task::JoinHandle<()>>, Error> {
        let mut out = Vec::new();
        for s in self.template.schedules(&self.values)? {
            let Some(every) = rate(&s.expression) else {
                continue;
            };
            if !s.enabled {
                continue;
            }
            let h = self.clone();
            out.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    let _ = h.fire_schedule(&s.function, &s.name).await;
                }
            }));
        }
        Ok(out)
    }

    /// Sends a custom resource request (`Create`, `Update` or `Delete`) to its service token's
    /// function, as CloudFormation does, and waits for the answer PUT to the response URL.
    pub async fn custom_resource(&self, id: &str, request_type: &str) -> Result<Value, Error> {
        cfn::request(self, id, request_type).await
    }

    /// Every custom resource's `Create`, in template order; the first failure is an error
    /// (CloudFormation would roll the stack back).
    pub async fn create_custom_resources(&self) -> Result<(), Error> {
        for id in self.template.custom_resources()? {
            let r = self.custom_resource(&id, "Create").await?;
            if r.get("Status").and_then(Value::as_str) != Some("SUCCESS") {
                return Err(format!("custom resource {id}: {r}").into());
            }
        }
        Ok(())
    }

    /// Stops every function (SIGTERM) and the background tasks.
    pub fn stop(&self) {
        for f in self.functions.values() {
            f.stop();
        }
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `rate(5 minutes)` → 5 min.
pub fn rate(expr: &str) -> Option<Duration> {
    let inner = expr.trim().strip_prefix("rate(")?.strip_suffix(')')?;
    let (n, unit) = inner.trim().split_once(' ')?;
    let n: u64 = n.parse().ok()?;
    let secs = match unit.trim_end_matches('s') {
        "minute" => 60,
        "hour" => 3600,
        "day" => 86400,
        _ => return None,
    };
    Some(Duration::from_secs(n * secs))
}

#[cfg(test)]
mod tests {
    #[test]
    fn rates() {
        assert_eq!(super::rate("rate(1 minute)").map(|d| d.as_secs()), Some(60));
        assert_eq!(
            super::rate("rate(2 hours)").map(|d| d.as_secs()),
            Some(7200)
        );
        assert_eq!(super::rate("cron(15 0 * * ? *)"), None);
    }
}
