//! [`Harness::start`]: the database, the AWS resources in moto, every function's process, and
//! the event sources wired as the template wires them.

use super::Harness;
use crate::logs::LogHub;
use crate::runtime::{Function, Spec};
use crate::template::{self, Template, scalar};
use crate::{AsyncTarget, Error, Options, apigw, aws, cfn, esm, tlsdb};
use axum::extract::ConnectInfo;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

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
        // Every path absolute: child processes (mariadb-install-db, the bootstraps) resolve a
        // relative one from their own directory, not the caller's.
        let opts = opts.absolute()?;
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
            let name = values.refs.get(&id).cloned().unwrap_or_else(|| id.clone());
            // Lambda's advanced logging controls become variables of the function, and its
            // log-level filter applies to what the function prints.
            if let Some(lc) = template.fn_prop(&id, "LoggingConfig", &values)? {
                if let Some(filter) = crate::logs::LevelFilter::from_logging_config(&lc)
                    .map_err(|e| format!("{id}: {e}"))?
                {
                    logs.set_level_filter(&name, filter);
                }
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
            // Absent (or `!Ref AWS::NoValue`): unreserved.
            let reserved_concurrency = template
                .fn_prop(&id, "ReservedConcurrentExecutions", &values)?
                .map(|j| scalar(&j))
                .map(|s| {
                    s.parse::<usize>()
                        .map_err(|e| format!("{id}: ReservedConcurrentExecutions {s:?}: {e}"))
                })
                .transpose()?;
            let spec = Spec {
                logical_id: id.clone(),
                name,
                binary: opts.bin_dir.join(&binary).join("bootstrap"),
                env,
                timeout: Duration::from_secs(num("Timeout", 3)?),
                memory_mb: num("MemorySize", 128)?,
                instances: opts.instances.get(&id).copied().unwrap_or(1),
                reserved_concurrency,
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
                    throttle_backoff: opts.async_throttle_backoff,
                    max_event_age: opts.async_max_event_age,
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
}
