//! `donut-ops preflight`: what would make the first deploy fail (or leave it unwatched), checked
//! against the account, the region and the build before `sam deploy` starts a 20-minute create.
//!
//! The parameters are the template's defaults, then samconfig.toml's `parameter_overrides` (the
//! `--config-env` section, as `sam deploy` reads them), then `--parameter KEY=VALUE`. The AWS calls
//! are signed by [`Signer`] (no SDK client for three calls): Lambda `GetAccountSettings` (REST),
//! EC2 `DescribeAvailabilityZones` and RDS `DescribeOrderableDBInstanceOptions` (Query, XML).
//! Every decision is a pure function of what those calls answered, unit-tested below.

mod checks;
mod parse;

use super::signer::Signer;
use crate::cli::PreflightArgs;
use crate::failure::Failure;
use checks::{architecture, ca_bundle, concurrency, ops_email, param, zones};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// How a finding bears on the deploy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    /// The deploy works, but something is weaker than it should be (or could not be checked).
    Warn,
    /// The deploy would fail, or run unwatched: fix it first.
    Block,
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub check: &'static str,
    pub status: Status,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Finding {
    fn new(check: &'static str, status: Status, detail: String, fix: Option<String>) -> Self {
        Finding {
            check,
            status,
            detail,
            fix,
        }
    }
    fn ok(check: &'static str, detail: String) -> Self {
        Finding::new(check, Status::Ok, detail, None)
    }
}

/// The parameters a deploy would use.
pub type Params = BTreeMap<String, String>;

/// The answer: every finding, and how many block the deploy.
pub fn report(region: &str, findings: &[Finding]) -> Value {
    let blocking = findings
        .iter()
        .filter(|f| f.status == Status::Block)
        .count();
    json!({"region": region, "blocking": blocking, "findings": findings})
}

/// One line per finding, with its fix under it.
pub fn render(v: &Value) -> String {
    let mut out = String::new();
    for f in v["findings"].as_array().into_iter().flatten() {
        let status = f["status"].as_str().unwrap_or("?").to_uppercase();
        out.push_str(&format!(
            "{status:<5} {}: {}\n",
            f["check"].as_str().unwrap_or("?"),
            f["detail"].as_str().unwrap_or("")
        ));
        if let Some(fix) = f["fix"].as_str() {
            out.push_str(&format!("      fix: {fix}\n"));
        }
    }
    let blocking = v["blocking"].as_u64().unwrap_or(0);
    out.push_str(&if blocking == 0 {
        format!(
            "preflight: nothing blocks the deploy to {}\n",
            v["region"].as_str().unwrap_or("?")
        )
    } else {
        format!("preflight: {blocking} finding(s) block the deploy\n")
    });
    out
}

/// Reads the inputs, asks AWS, decides.
pub async fn run(sdk: &aws_config::SdkConfig, args: &PreflightArgs) -> Result<Value, Failure> {
    let read = |path: &PathBuf| {
        std::fs::read_to_string(path)
            .map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))
    };
    let mut params = parse::template_defaults(&read(&args.template)?)
        .map_err(|e| Failure::Usage(format!("{}: {e}", args.template.display())))?;
    let samconfig = if args.config_file.exists() {
        read(&args.config_file)?
    } else {
        String::new()
    };
    let env = &args.config_env;
    for section in [
        format!("{env}.global.parameters"),
        format!("{env}.deploy.parameters"),
    ] {
        if let Some(o) = parse::samconfig_value(&samconfig, &section, "parameter_overrides") {
            params.extend(parse::overrides(&o));
        }
    }
    for kv in &args.parameters {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| Failure::Usage(format!("--parameter {kv}: expected KEY=VALUE")))?;
        params.insert(k.to_owned(), v.to_owned());
    }
    let region = [
        format!("{env}.deploy.parameters"),
        format!("{env}.global.parameters"),
    ]
    .iter()
    .find_map(|s| parse::samconfig_value(&samconfig, s, "region"))
    .or_else(|| sdk.region().map(|r| r.to_string()))
    .ok_or_else(|| Failure::Usage("no region: set AWS_REGION or samconfig.toml's region".into()))?;

    let signer = Signer::new(sdk).await?;
    let account = signer
        .send(
            "GET",
            &format!(
                "{}/2016-08-19/account-settings/",
                signer.base("lambda", &region)
            ),
            &region,
            "lambda",
            &[],
            Vec::new(),
        )
        .await
        .and_then(|(status, body)| expect_ok(status, &body))
        .and_then(|body| parse::account_settings(&body));
    let query = |service: &'static str, body: String| {
        let signer = &signer;
        let region = &region;
        async move {
            let target = format!("{}/", signer.base(service, region));
            let headers = [(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )];
            signer
                .send(
                    "POST",
                    &target,
                    region,
                    service,
                    &headers,
                    body.into_bytes(),
                )
                .await
                .and_then(|(status, body)| expect_ok(status, &body))
        }
    };
    let zone_list = query(
        "ec2",
        "Action=DescribeAvailabilityZones&Version=2016-11-15".into(),
    )
    .await
    .and_then(|b| parse::availability_zones(&b));
    let class = param(&params, "DatabaseInstanceClass").to_owned();
    let version = param(&params, "DatabaseEngineVersion").to_owned();
    let mut rds_zones: Result<Vec<String>, String> = Ok(Vec::new());
    let mut marker: Option<String> = None;
    for _ in 0..20 {
        let mut body = format!(
            "Action=DescribeOrderableDBInstanceOptions&Version=2014-10-31&Engine=mysql&DBInstanceClass={}&MaxRecords=100",
            form(&class)
        );
        if let Some(m) = &marker {
            body.push_str(&format!("&Marker={}", form(m)));
        }
        match query("rds", body)
            .await
            .and_then(|b| parse::orderable_zones(&b, &version))
        {
            Ok((zones, next)) => {
                if let Ok(all) = rds_zones.as_mut() {
                    for z in zones {
                        if !all.contains(&z) {
                            all.push(z);
                        }
                    }
                }
                marker = next;
            }
            Err(e) => {
                rds_zones = Err(e);
                break;
            }
        }
        if marker.is_none() {
            break;
        }
    }
    let mut findings = concurrency(&params, account);
    findings.push(zones(&params, zone_list, rds_zones, &args.avoid_zone_ids));
    findings.push(ops_email(&params));
    findings.push(ca_bundle(&params, &region));
    findings.push(architecture(&params, parse::bootstraps(&args.build_dir)));
    Ok(report(&region, &findings))
}

fn expect_ok(status: u16, body: &str) -> Result<String, String> {
    if status == 200 {
        return Ok(body.to_owned());
    }
    Err(format!(
        "{status} {}",
        body.chars().take(200).collect::<String>()
    ))
}

/// `application/x-www-form-urlencoded` for the few characters a class name or marker can hold.
fn form(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests;
