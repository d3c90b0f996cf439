//! `donut-ops preflight`: what would make the first deploy fail (or leave it unwatched), checked
//! against the account, the region and the build before `sam deploy` starts a 20-minute create.
//!
//! The parameters are the template's defaults, then samconfig.toml's `parameter_overrides` (the
//! `--config-env` section, as `sam deploy` reads them), then `--parameter KEY=VALUE`. The AWS calls
//! are signed by [`Signer`] (no SDK client for three calls): Lambda `GetAccountSettings` (REST),
//! EC2 `DescribeAvailabilityZones` and RDS `DescribeOrderableDBInstanceOptions` (Query, XML).
//! Every decision is a pure function of what those calls answered, unit-tested below.

mod parse;

use super::signer::Signer;
use crate::failure::Failure;
use parse::{AccountSettings, Elf, Zone};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Lambda keeps at least this many concurrent executions unreserved in every account.
pub const MIN_UNRESERVED: u64 = 100;
/// Zone IDs where Lambda cannot place a VPC function's network interfaces (no API lists them:
/// `--avoid-zone-id` adds more).
pub const LAMBDA_UNSUPPORTED_ZONE_IDS: &[&str] = &["use1-az3"];
/// The functions whose concurrency the template reserves, by parameter.
pub const RESERVATIONS: &[&str] = &[
    "SalesApiMaxConcurrency",
    "RestockMaxConcurrency",
    "OutboxRelayMaxConcurrency",
    "ExporterMaxConcurrency",
];
/// max_connections the connection budget uses per class (docs/deploy.md, "Connection budget").
const MAX_CONNECTIONS: &[(&str, u64)] = &[
    ("db.t4g.micro", 66),
    ("db.t4g.small", 132),
    ("db.t4g.medium", 264),
    ("db.t4g.large", 528),
];

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The SAM template (its parameters' defaults).
    #[arg(long, default_value = "template.yaml")]
    pub template: PathBuf,
    /// samconfig.toml: its `parameter_overrides` and `region` are what `sam deploy` uses.
    #[arg(long, default_value = "samconfig.toml")]
    pub config_file: PathBuf,
    /// The samconfig.toml environment (`sam deploy --config-env`).
    #[arg(long, default_value = "default")]
    pub config_env: String,
    /// A parameter as `sam deploy --parameter-overrides` would set it (wins over samconfig.toml).
    #[arg(long = "parameter", value_name = "KEY=VALUE")]
    pub parameters: Vec<String>,
    /// `sam build`'s output: one folder per function, each with its `bootstrap`.
    #[arg(long, default_value = ".aws-sam/build")]
    pub build_dir: PathBuf,
    /// A zone ID (e.g. use1-az3) to treat as unsupported by Lambda for VPC functions.
    #[arg(long = "avoid-zone-id", value_name = "ZONE_ID")]
    pub avoid_zone_ids: Vec<String>,
}

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

fn param<'a>(p: &'a Params, name: &str) -> &'a str {
    p.get(name).map(String::as_str).unwrap_or("")
}

/// Reserved concurrency per parameter (0 or empty = none).
fn reservations(p: &Params) -> Vec<(&'static str, u64)> {
    RESERVATIONS
        .iter()
        .map(|name| (*name, param(p, name).trim().parse::<u64>().unwrap_or(0)))
        .collect()
}

/// The account can hold the stack's reservations and still keep 100 unreserved; without any
/// reservation, how the connection budget holds.
pub fn concurrency(p: &Params, account: Result<AccountSettings, String>) -> Vec<Finding> {
    const CHECK: &str = "concurrency";
    let reserved = reservations(p);
    let total: u64 = reserved.iter().map(|(_, n)| n).sum();
    let off: String = RESERVATIONS
        .iter()
        .map(|n| format!("{n}=0"))
        .collect::<Vec<_>>()
        .join(" ");
    let account = match account {
        Ok(a) => a,
        Err(e) => {
            return vec![Finding::new(
                CHECK,
                if total > 0 { Status::Block } else { Status::Warn },
                format!("lambda:GetAccountSettings failed ({e}); the stack reserves {total}"),
                Some(format!(
                    "allow lambda:GetAccountSettings and run preflight again, or reserve nothing: {off}"
                )),
            )];
        }
    };
    let mut out = Vec::new();
    let left = account.unreserved.saturating_sub(total);
    if total > 0 && left < MIN_UNRESERVED {
        let list: Vec<String> = reserved
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(k, n)| format!("{k}={n}"))
            .collect();
        let needed = account.limit - account.unreserved + total + MIN_UNRESERVED;
        out.push(Finding::new(
            CHECK,
            Status::Block,
            format!(
                "the account's concurrency quota is {}, {} unreserved; the stack reserves {total} ({}) and Lambda keeps {MIN_UNRESERVED} unreserved: the create would fail after RDS is built",
                account.limit,
                account.unreserved,
                list.join(", ")
            ),
            Some(format!(
                "reserve nothing ({off}; docs/deploy.md, \"Connection budget\"), or ask for a quota of at least {needed} (Service Quotas: AWS Lambda, \"Concurrent executions\")"
            )),
        ));
    } else {
        out.push(Finding::ok(
            CHECK,
            format!(
                "quota {}, {} unreserved; the stack reserves {total}, {left} stay unreserved",
                account.limit, account.unreserved
            ),
        ));
    }
    if total == 0 && param(p, "UseRdsProxy") != "true" {
        let pool: u64 = param(p, "DbMaxConnections").parse().unwrap_or(2);
        let class = param(p, "DatabaseInstanceClass");
        let max = MAX_CONNECTIONS
            .iter()
            .find(|(c, _)| *c == class)
            .map(|(_, m)| *m);
        let worst = account.unreserved * pool;
        if let Some(max) = max.filter(|m| worst > *m) {
            out.push(Finding::new(
                "connection budget",
                Status::Warn,
                format!(
                    "no reserved concurrency: up to {} environments x DbMaxConnections {pool} = {worst} connections could be asked of {class} (max_connections about {max}); beyond it MySQL refuses (1040) and sales-api answers 503 with Retry-After",
                    account.unreserved
                ),
                Some(
                    "UseRdsProxy=true (the proxy queues clients instead), or reserve concurrency once the quota allows".into(),
                ),
            ));
        }
    }
    out
}

/// The zones the subnets would use: the parameter, or what `!GetAZs` would pick (the region's
/// first two zones by name).
fn chosen_zones(p: &Params, zones: &[Zone]) -> Vec<String> {
    let listed: Vec<String> = param(p, "AvailabilityZones")
        .split(',')
        .map(|z| z.trim().to_owned())
        .filter(|z| !z.is_empty())
        .collect();
    if !listed.is_empty() {
        return listed;
    }
    let mut names: Vec<String> = zones
        .iter()
        .filter(|z| z.is_standard())
        .map(|z| z.name.clone())
        .collect();
    names.sort();
    names.truncate(2);
    names
}

/// The subnets' zones exist, Lambda supports them for VPC functions and RDS offers the class there.
pub fn zones(
    p: &Params,
    zones: Result<Vec<Zone>, String>,
    rds_zones: Result<Vec<String>, String>,
    avoid: &[String],
) -> Finding {
    const CHECK: &str = "availability zones";
    if !param(p, "ExistingDatabaseHost").is_empty() {
        return Finding::ok(CHECK, "ExistingDatabaseHost set: the stack creates no VPC".into());
    }
    let zones = match zones {
        Ok(z) => z,
        Err(e) => {
            return Finding::new(
                CHECK,
                Status::Warn,
                format!("ec2:DescribeAvailabilityZones failed ({e}): zones not checked"),
                Some("allow ec2:DescribeAvailabilityZones and run preflight again".into()),
            );
        }
    };
    let class = param(p, "DatabaseInstanceClass");
    let version = param(p, "DatabaseEngineVersion");
    let lambda_ok = |z: &Zone| {
        !LAMBDA_UNSUPPORTED_ZONE_IDS.contains(&z.id.as_str()) && !avoid.contains(&z.id)
    };
    let (rds_ok, rds_note): (Box<dyn Fn(&Zone) -> bool>, Option<String>) = match &rds_zones {
        Ok(list) => (Box::new(move |z: &Zone| list.contains(&z.name)), None),
        Err(e) => (
            Box::new(|_: &Zone| true),
            Some(format!("rds:DescribeOrderableDBInstanceOptions failed ({e})")),
        ),
    };
    let chosen = chosen_zones(p, &zones);
    let from = if param(p, "AvailabilityZones").trim().is_empty() {
        "!GetAZs picks"
    } else {
        "AvailabilityZones"
    };
    let mut problems = Vec::new();
    if chosen.len() != 2 {
        problems.push(format!("{from} {} zone(s), the template needs 2", chosen.len()));
    }
    for name in &chosen {
        match zones.iter().find(|z| &z.name == name) {
            None => problems.push(format!("{name} is not a zone of this region")),
            Some(z) if !z.is_standard() => problems.push(format!(
                "{name} ({}) is {} / {}",
                z.id, z.state, z.zone_type
            )),
            Some(z) if !lambda_ok(z) => problems.push(format!(
                "{name} ({}) is a zone Lambda does not support for VPC functions",
                z.id
            )),
            Some(z) if !rds_ok(z) => problems.push(format!(
                "RDS does not offer mysql {version} {class} in {name}"
            )),
            Some(_) => {}
        }
    }
    let good: Vec<&Zone> = {
        let mut g: Vec<&Zone> = zones
            .iter()
            .filter(|z| z.is_standard() && lambda_ok(z) && rds_ok(z))
            .collect();
        g.sort_by(|a, b| a.name.cmp(&b.name));
        g
    };
    if problems.is_empty() {
        let mut detail = format!("{from} {}", chosen.join(", "));
        if let Some(n) = rds_note {
            return Finding::new(
                CHECK,
                Status::Warn,
                format!("{detail}; RDS not checked: {n}"),
                Some("allow rds:DescribeOrderableDBInstanceOptions and run preflight again".into()),
            );
        }
        detail.push_str(&format!(
            ": Lambda supports them for VPC functions, RDS offers {class} there"
        ));
        return Finding::ok(CHECK, detail);
    }
    let fix = if good.len() >= 2 {
        format!(
            "AvailabilityZones={},{} (zones where Lambda and RDS {class} both work)",
            good[0].name, good[1].name
        )
    } else if rds_zones.as_ref().is_ok_and(|z| z.is_empty()) {
        format!(
            "RDS offers mysql {version} {class} in no zone of this region: choose another DatabaseInstanceClass or region"
        )
    } else {
        "fewer than 2 zones fit: choose another region or DatabaseInstanceClass".into()
    };
    Finding::new(CHECK, Status::Block, problems.join("; "), Some(fix))
}

/// Alarms reach someone from the first day.
pub fn ops_email(p: &Params) -> Finding {
    let email = param(p, "OpsEmail");
    if email.contains('@') {
        return Finding::ok(
            "ops e-mail",
            format!("OpsEmail {email} (confirm the subscription mail AWS sends)"),
        );
    }
    Finding::new(
        "ops e-mail",
        Status::Block,
        "OpsEmail is empty: every alarm would notify nobody".into(),
        Some("OpsEmail=you@example.com (then confirm the subscription mail)".into()),
    )
}

/// The CA bundle the functions verify the server with: named, in a layer, of this region.
pub fn ca_bundle(p: &Params, region: &str) -> Finding {
    const CHECK: &str = "CA bundle";
    let bundle = param(p, "DatabaseCaBundle");
    let layer = param(p, "DatabaseCaLayerArn");
    let how = "publish the RDS CA layer and set DatabaseCaLayerArn=<layer version ARN> DatabaseCaBundle=/opt/rds-ca/global-bundle.pem (docs/deploy.md, \"TLS to the database\")";
    if bundle.is_empty() && layer.is_empty() {
        return Finding::new(
            CHECK,
            Status::Warn,
            "no CA bundle: TLS encrypts, but the functions do not verify the database server".into(),
            Some(how.into()),
        );
    }
    if bundle.is_empty() || layer.is_empty() {
        return Finding::new(
            CHECK,
            Status::Block,
            format!("DatabaseCaBundle {bundle:?} and DatabaseCaLayerArn {layer:?}: set both or neither"),
            Some(how.into()),
        );
    }
    if !bundle.starts_with("/opt/") {
        return Finding::new(
            CHECK,
            Status::Block,
            format!("DatabaseCaBundle {bundle} is not under /opt (where layers appear)"),
            Some(how.into()),
        );
    }
    let layer_region = layer.split(':').nth(3).unwrap_or("");
    if layer_region != region {
        return Finding::new(
            CHECK,
            Status::Block,
            format!("the layer is in {layer_region:?}, the stack deploys to {region} (layers are regional)"),
            Some(format!("publish the layer in {region} and use that ARN")),
        );
    }
    let mut detail = format!("{bundle} from {layer}");
    if param(p, "UseRdsProxy") == "true" {
        detail.push_str(
            "; with UseRdsProxy the bundle must also hold Amazon Root CA 1 (the proxy's certificate)",
        );
        return Finding::new(
            CHECK,
            Status::Warn,
            detail,
            Some("append https://www.amazontrust.com/repository/AmazonRootCA1.pem to the bundle (docs/deploy.md)".into()),
        );
    }
    Finding::ok(CHECK, detail)
}

/// Every built bootstrap is an ELF for the `Architecture` parameter.
pub fn architecture(p: &Params, build: Result<Vec<(String, Elf)>, String>) -> Finding {
    const CHECK: &str = "build architecture";
    let want = param(p, "Architecture");
    let build = match build {
        Ok(b) if !b.is_empty() => b,
        Ok(_) => {
            return Finding::new(
                CHECK,
                Status::Block,
                "no bootstrap in the build folder".into(),
                Some(format!("sam build --parameter-overrides Architecture={want}")),
            );
        }
        Err(e) => {
            return Finding::new(
                CHECK,
                Status::Block,
                e,
                Some(format!("sam build --parameter-overrides Architecture={want}")),
            );
        }
    };
    let wrong: Vec<String> = build
        .iter()
        .filter(|(_, elf)| elf.lambda_architecture() != Some(want))
        .map(|(f, elf)| format!("{f} is {}", elf.describe()))
        .collect();
    if wrong.is_empty() {
        return Finding::ok(
            CHECK,
            format!("{} bootstraps, all {want} (Architecture={want})", build.len()),
        );
    }
    Finding::new(
        CHECK,
        Status::Block,
        format!("Architecture={want} but {}", wrong.join(", ")),
        Some(format!(
            "sam build with the same Architecture as the deploy (samconfig.toml: both Architecture={want}), or deploy with the Architecture the build has"
        )),
    )
}

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
pub async fn run(sdk: &aws_config::SdkConfig, args: &Args) -> Result<Value, Failure> {
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
    for section in [format!("{env}.global.parameters"), format!("{env}.deploy.parameters")] {
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
    let region = [format!("{env}.deploy.parameters"), format!("{env}.global.parameters")]
        .iter()
        .find_map(|s| parse::samconfig_value(&samconfig, s, "region"))
        .or_else(|| sdk.region().map(|r| r.to_string()))
        .ok_or_else(|| Failure::Usage("no region: set AWS_REGION or samconfig.toml's region".into()))?;

    let signer = Signer::new(sdk).await?;
    let account = signer
        .send(
            "GET",
            &format!("{}/2016-08-19/account-settings/", signer.base("lambda", &region)),
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
                .send("POST", &target, region, service, &headers, body.into_bytes())
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
