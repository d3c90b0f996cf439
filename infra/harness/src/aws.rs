//! Creates the template's AWS resources in moto and records what `Ref`/`GetAtt` answer for
//! them: SNS topics and subscriptions (raw delivery, redrive policy), SQS queues (visibility
//! timeout, delay, redrive policy), Kinesis streams, S3 buckets, Secrets Manager secrets
//! (`GenerateSecretString` generated here), and the RDS instance (its endpoint is the local
//! database; its managed master secret is created with the local credentials). Functions,
//! HTTP APIs, log groups and Function URLs get the names and ARNs Lambda would give them.

use crate::Error;
use crate::template::{ACCOUNT, REGION, Template, Values, scalar};
use rand::Rng;
use serde_json::{Value as Json, json};
use std::collections::HashMap;

/// The database the template's RDS instance stands for.
#[derive(Debug, Clone)]
pub struct LocalDatabase {
    pub host: String,
    pub port: u16,
    /// The master user's password (its name is the template's `MasterUsername`).
    pub master_password: String,
}

/// What provisioning made: clients and the physical values.
pub struct Provisioned {
    pub values: Values,
    pub sqs: aws_sdk_sqs::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    /// Queue logical id → URL.
    pub queue_urls: HashMap<String, String>,
    /// Local endpoints by the AWS URL the template builds for them (rewritten in environments).
    pub url_rewrites: Vec<(String, String)>,
}

pub fn sdk_config_for(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(REGION))
        .credentials_provider(aws_sdk_sqs::config::SharedCredentialsProvider::new(
            aws_sdk_sqs::config::Credentials::new("testing", "testing", None, None, "harness"),
        ))
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build()
}

fn random_string(len: usize, punctuation: bool) -> String {
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    const PUNCT: &[u8] = b"!#$%&()*+,-.:;<=>?[]^_{|}~";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| {
            if punctuation && rng.random_ratio(1, 8) {
                PUNCT[rng.random_range(0..PUNCT.len())] as char
            } else {
                ALNUM[rng.random_range(0..ALNUM.len())] as char
            }
        })
        .collect()
}

fn e<E: std::fmt::Display>(what: &str) -> impl Fn(E) -> Error + '_ {
    move |err| format!("{what}: {err}").into()
}

pub async fn provision(
    t: &Template,
    endpoint: &str,
    db: &LocalDatabase,
    suffix: &str,
    local_api: &str,
    local_urls: &HashMap<String, String>,
    visibility_timeout: Option<u64>,
) -> Result<Provisioned, Error> {
    let sdk = sdk_config_for(endpoint);
    let sns = aws_sdk_sns::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let kinesis = aws_sdk_kinesis::Client::new(&sdk);
    let s3 = aws_sdk_s3::Client::new(&sdk);
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let mut v = Values::default();
    let mut url_rewrites = Vec::new();
    let name = |id: &str| format!("{}-{id}-{suffix}", t.stack_name);

    // Names and ARNs Lambda, API Gateway and CloudWatch Logs would give.
    for id in t.functions()? {
        let fname = name(id.as_str());
        let arn = format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{fname}");
        v.set_ref(&id, &fname);
        v.set_attr(&id, "Arn", &arn);
        v.set_ref(&format!("{id}.Alias"), format!("{arn}:live"));
        v.set_ref(&format!("{id}.Version"), format!("{arn}:1"));
        v.set_attr(
            &format!("{id}Role"),
            "Arn",
            format!("arn:aws:iam::{ACCOUNT}:role/{fname}"),
        );
        if let Some(local) = local_urls.get(&id) {
            let url_id = format!("{}{}", id.to_lowercase(), suffix.to_lowercase());
            let host = format!("https://{url_id}.lambda-url.{REGION}.on.aws");
            v.set_attr(&format!("{id}Url"), "FunctionUrl", format!("{host}/"));
            url_rewrites.push((host, local.clone()));
        }
    }
    for id in t.of_type("AWS::Serverless::HttpApi")? {
        let api_id = format!("api{}", suffix.to_lowercase());
        v.set_ref(&id, &api_id);
        v.set_attr(
            &id,
            "ApiEndpoint",
            format!("https://{api_id}.execute-api.{REGION}.amazonaws.com"),
        );
        url_rewrites.push((
            format!("https://{api_id}.execute-api.{REGION}.amazonaws.com"),
            local_api.to_owned(),
        ));
    }
    for id in t.of_type("AWS::Logs::LogGroup")? {
        let group = t
            .prop(&id, &["LogGroupName"], &v)?
            .map(|j| scalar(&j))
            .unwrap_or_else(|| format!("/aws/lambda/{}", name(&id)));
        v.set_ref(&id, &group);
        v.set_attr(
            &id,
            "Arn",
            format!("arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}:*"),
        );
    }

    for id in t.of_type("AWS::SNS::Topic")? {
        let out = sns
            .create_topic()
            .name(name(&id))
            .send()
            .await
            .map_err(e(&format!("create topic {id}")))?;
        let arn = out.topic_arn().unwrap_or_default().to_owned();
        v.set_ref(&id, &arn);
        v.set_attr(&id, "TopicArn", &arn);
        v.set_attr(&id, "TopicName", name(&id));
    }
    let mut queue_urls = HashMap::new();
    let queues = t.of_type("AWS::SQS::Queue")?;
    for id in &queues {
        let qname = name(id);
        let out = sqs
            .create_queue()
            .queue_name(&qname)
            .send()
            .await
            .map_err(e(&format!("create queue {id}")))?;
        let url = out.queue_url().unwrap_or_default().to_owned();
        v.set_ref(id, &url);
        v.set_attr(id, "Arn", format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{qname}"));
        v.set_attr(id, "QueueName", &qname);
        v.set_attr(id, "QueueUrl", &url);
        queue_urls.insert(id.clone(), url);
    }
    // Attributes after every queue exists (a redrive policy names another queue's ARN).
    for id in &queues {
        let p = t.prop(id, &[], &v)?.unwrap_or(Json::Null);
        let mut attrs: HashMap<aws_sdk_sqs::types::QueueAttributeName, String> = HashMap::new();
        use aws_sdk_sqs::types::QueueAttributeName as A;
        for (key, attr) in [
            ("VisibilityTimeout", A::VisibilityTimeout),
            ("MessageRetentionPeriod", A::MessageRetentionPeriod),
            ("DelaySeconds", A::DelaySeconds),
            (
                "ReceiveMessageWaitTimeSeconds",
                A::ReceiveMessageWaitTimeSeconds,
            ),
        ] {
            if let Some(x) = p.get(key) {
                attrs.insert(attr, scalar(x));
            }
        }
        if let Some(vt) = visibility_timeout {
            attrs.insert(A::VisibilityTimeout, vt.to_string());
        }
        if let Some(r) = p.get("RedrivePolicy") {
            let policy = json!({
                "deadLetterTargetArn": r.get("deadLetterTargetArn").map(scalar),
                "maxReceiveCount": r.get("maxReceiveCount").map(scalar).and_then(|s| s.parse::<u64>().ok()),
            });
            attrs.insert(A::RedrivePolicy, policy.to_string());
        }
        if !attrs.is_empty() {
            sqs.set_queue_attributes()
                .queue_url(&queue_urls[id])
                .set_attributes(Some(attrs))
                .send()
                .await
                .map_err(e(&format!("queue attributes {id}")))?;
        }
    }
    for id in t.of_type("AWS::SNS::Subscription")? {
        let p = t.prop(&id, &[], &v)?.unwrap_or(Json::Null);
        let protocol = p.get("Protocol").map(scalar).unwrap_or_default();
        if protocol != "sqs" {
            continue; // e-mail etc.: nothing to deliver locally
        }
        let mut req = sns
            .subscribe()
            .topic_arn(p.get("TopicArn").map(scalar).unwrap_or_default())
            .protocol("sqs")
            .endpoint(p.get("Endpoint").map(scalar).unwrap_or_default())
            .return_subscription_arn(true);
        if let Some(raw) = p.get("RawMessageDelivery") {
            req = req.attributes("RawMessageDelivery", scalar(raw));
        }
        if let Some(r) = p.get("RedrivePolicy") {
            req = req.attributes("RedrivePolicy", r.to_string());
        }
        if let Some(f) = p.get("FilterPolicy") {
            req = req.attributes("FilterPolicy", f.to_string());
        }
        let out = req.send().await.map_err(e(&format!("subscribe {id}")))?;
        v.set_ref(&id, out.subscription_arn().unwrap_or_default());
    }
    for id in t.of_type("AWS::Kinesis::Stream")? {
        let sname = name(&id);
        let mode = t
            .prop(&id, &["StreamModeDetails", "StreamMode"], &v)?
            .map(|j| scalar(&j));
        let mut req = kinesis.create_stream().stream_name(&sname);
        if mode.as_deref() == Some("ON_DEMAND") {
            req = req.stream_mode_details(
                aws_sdk_kinesis::types::StreamModeDetails::builder()
                    .stream_mode(aws_sdk_kinesis::types::StreamMode::OnDemand)
                    .build()
                    .map_err(e("stream mode"))?,
            );
        } else {
            req = req.shard_count(1);
        }
        req.send()
            .await
            .map_err(e(&format!("create stream {id}")))?;
        v.set_ref(&id, &sname);
        v.set_attr(
            &id,
            "Arn",
            format!("arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{sname}"),
        );
    }
    for id in t.of_type("AWS::S3::Bucket")? {
        let bname = name(&id).to_lowercase();
        s3.create_bucket()
            .bucket(&bname)
            .send()
            .await
            .map_err(e(&format!("create bucket {id}")))?;
        v.set_ref(&id, &bname);
        v.set_attr(&id, "Arn", format!("arn:aws:s3:::{bname}"));
    }
    for id in t.of_type("AWS::RDS::DBInstance")? {
        let user = t
            .prop(&id, &["MasterUsername"], &v)?
            .map(|j| scalar(&j))
            .unwrap_or_else(|| "admin".into());
        let out = secrets
            .create_secret()
            .name(format!("rds!{}", name(&id)))
            .secret_string(json!({"username": user, "password": db.master_password}).to_string())
            .send()
            .await
            .map_err(e(&format!("master secret of {id}")))?;
        v.set_ref(&id, name(&id));
        v.set_attr(
            &id,
            "MasterUserSecret.SecretArn",
            out.arn().unwrap_or_default(),
        );
        v.set_attr(&id, "Endpoint.Address", &db.host);
        v.set_attr(&id, "Endpoint.Port", db.port.to_string());
    }
    // Secrets last: a SecretString may name other resources.
    for id in t.of_type("AWS::SecretsManager::Secret")? {
        let p = t.prop(&id, &[], &v)?.unwrap_or(Json::Null);
        let value = match (p.get("SecretString"), p.get("GenerateSecretString")) {
            (Some(s), _) => scalar(s),
            (None, Some(g)) => {
                let len = g
                    .get("PasswordLength")
                    .map(scalar)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(32);
                let punct = g.get("ExcludePunctuation").map(scalar).as_deref() != Some("true");
                let generated = random_string(len, punct);
                match (
                    g.get("SecretStringTemplate").map(scalar),
                    g.get("GenerateStringKey").map(scalar),
                ) {
                    (Some(tpl), Some(key)) => {
                        let mut doc: Json = serde_json::from_str(&tpl)
                            .map_err(e(&format!("{id}: SecretStringTemplate")))?;
                        doc[key] = json!(generated);
                        doc.to_string()
                    }
                    _ => generated,
                }
            }
            _ => String::new(),
        };
        let out = secrets
            .create_secret()
            .name(name(&id))
            .secret_string(value)
            .send()
            .await
            .map_err(e(&format!("create secret {id}")))?;
        let arn = out.arn().unwrap_or_default().to_owned();
        v.set_ref(&id, &arn);
        v.set_attr(&id, "Id", &arn);
    }
    Ok(Provisioned {
        values: v,
        sqs,
        secrets,
        queue_urls,
        url_rewrites,
    })
}
