//! Two AWS calls made without a generated client, signed with SigV4.

use super::arn::FunctionArn;
use crate::failure::Failure;
use serde_json::{Value, json};
use std::time::Duration;
/// Requests signed with SigV4 by `aws-sigv4` (the SDK's own signer, already in the build):
/// `lambda:InvokeFunction` with `InvocationType=Event`, and CloudWatch's `DescribeAlarms`
/// (its JSON 1.0 protocol). No generated client for these: one call each does not justify
/// another SDK crate in the build, and aws-sdk-cloudwatch speaks CBOR through a crate whose
/// license (BlueOak-1.0.0) deny.toml does not allow.
pub struct Signer {
    http: reqwest::Client,
    endpoint: Option<String>,
    region: Option<String>,
    credentials: aws_sdk_sqs::config::Credentials,
}
/// The lambda invoker is the signer.
pub type Invoker = Signer;
impl Signer {
    pub async fn new(sdk: &aws_config::SdkConfig) -> Result<Self, Failure> {
        use aws_sdk_sqs::config::ProvideCredentials;
        let provider = sdk.credentials_provider().ok_or_else(|| {
            Failure::Usage("no AWS credentials (aws configure, SSO or AWS_* variables)".into())
        })?;
        let credentials = provider
            .provide_credentials()
            .await
            .map_err(|e| Failure::Usage(format!("AWS credentials: {e}")))?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| Failure::Failed(e.to_string()))?;
        Ok(Signer {
            http,
            endpoint: sdk
                .endpoint_url()
                .map(|u| u.trim_end_matches('/').to_owned()),
            region: sdk.region().map(|r| r.to_string()),
            credentials,
        })
    }

    /// The SDK's region (`AWS_REGION`, the profile's).
    pub(super) fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }

    /// `https://<prefix>.<region>.amazonaws.com` (or `AWS_ENDPOINT_URL`).
    pub(super) fn base(&self, prefix: &str, region: &str) -> String {
        self.endpoint.clone().unwrap_or_else(|| {
            let suffix = if region.starts_with("cn-") {
                "amazonaws.com.cn"
            } else {
                "amazonaws.com"
            };
            format!("https://{prefix}.{region}.{suffix}")
        })
    }

    /// Signs and sends a POST; the response's status and body.
    pub(super) async fn post(
        &self,
        target: &str,
        region: &str,
        service: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<(u16, String), String> {
        self.send("POST", target, region, service, headers, body)
            .await
    }

    /// Signs and sends a request (`GET` or `POST`); the response's status and body.
    pub(super) async fn send(
        &self,
        method: &str,
        target: &str,
        region: &str,
        service: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<(u16, String), String> {
        use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
        reqwest::Url::parse(target).map_err(|e| format!("{target}: {e}"))?;
        let identity = self.credentials.clone().into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name(service)
            .time(std::time::SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| format!("SigV4: {e}"))?
            .into();
        let signable = SignableRequest::new(
            method,
            target,
            headers.iter().copied(),
            SignableBody::Bytes(&body),
        )
        .map_err(|e| format!("SigV4: {e}"))?;
        let (signed, _) = sign(signable, &params)
            .map_err(|e| format!("SigV4: {e}"))?
            .into_parts();
        let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
        let mut req = self.http.request(method, target).body(body);
        for (k, v) in headers.iter().copied().chain(signed.headers()) {
            req = req.header(k, v);
        }
        let res = req.send().await.map_err(|e| e.without_url().to_string())?;
        let status = res.status().as_u16();
        Ok((status, res.text().await.unwrap_or_default()))
    }

    pub async fn invoke_event(&self, function_arn: &str, payload: &Value) -> Result<(), String> {
        let f = FunctionArn::parse(function_arn)?;
        let base = self.base("lambda", &f.region);
        let mut target = format!("{base}/2015-03-31/functions/{}/invocations", f.name);
        if let Some(q) = &f.qualifier {
            target = format!("{target}?Qualifier={q}");
        }
        let body = serde_json::to_vec(payload).map_err(|e| e.to_string())?;
        let headers = [
            ("content-type", "application/json"),
            ("x-amz-invocation-type", "Event"),
        ];
        let (status, text) = self
            .post(&target, &f.region, "lambda", &headers, body)
            .await
            .map_err(|e| format!("lambda:InvokeFunction {}: {e}", f.name))?;
        if status == 202 {
            return Ok(());
        }
        Err(format!(
            "lambda:InvokeFunction {}: {} {}",
            f.name,
            status,
            text.chars().take(300).collect::<String>()
        ))
    }

    /// `cloudwatch:DescribeAlarms` (JSON 1.0 protocol), every page: metric and composite
    /// alarms, by names (at most 100 a call) or by a name prefix.
    pub async fn describe_alarms(&self, filter: &Value) -> Result<Vec<Value>, Failure> {
        let region = self.region.clone().ok_or_else(|| {
            Failure::Usage("no AWS region: set AWS_REGION or a profile's region".into())
        })?;
        let target = format!("{}/", self.base("monitoring", &region));
        let mut alarms = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut body = filter.clone();
            body["AlarmTypes"] = json!(["MetricAlarm", "CompositeAlarm"]);
            body["MaxRecords"] = json!(100);
            if let Some(t) = &token {
                body["NextToken"] = json!(t);
            }
            let headers = [
                ("content-type", "application/x-amz-json-1.0"),
                (
                    "x-amz-target",
                    "GraniteServiceVersion20100801.DescribeAlarms",
                ),
            ];
            let (status, text) = self
                .post(
                    &target,
                    &region,
                    "monitoring",
                    &headers,
                    body.to_string().into_bytes(),
                )
                .await
                .map_err(|e| Failure::Failed(format!("cloudwatch:DescribeAlarms: {e}")))?;
            let page: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            if status != 200 {
                return Err(Failure::Failed(format!(
                    "cloudwatch:DescribeAlarms: {status} {}",
                    page.get("message")
                        .or(page.get("Message"))
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                        .unwrap_or_else(|| text.chars().take(300).collect())
                )));
            }
            for kind in ["MetricAlarms", "CompositeAlarms"] {
                alarms.extend(page[kind].as_array().into_iter().flatten().cloned());
            }
            token = page["NextToken"].as_str().map(str::to_owned);
            if token.is_none() {
                return Ok(alarms);
            }
        }
    }
}
