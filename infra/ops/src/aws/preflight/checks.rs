//! preflight's decisions: each a pure function of the parameters and what AWS answered.

use super::parse::{AccountSettings, Elf, Zone};
use super::{Finding, Params, Status};

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

pub fn param<'a>(p: &'a Params, name: &str) -> &'a str {
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
                if total > 0 {
                    Status::Block
                } else {
                    Status::Warn
                },
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
        let needed = account.limit.saturating_sub(account.unreserved) + total + MIN_UNRESERVED;
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
        return Finding::ok(
            CHECK,
            "ExistingDatabaseHost set: the stack creates no VPC".into(),
        );
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
    let lambda_ok =
        |z: &Zone| !LAMBDA_UNSUPPORTED_ZONE_IDS.contains(&z.id.as_str()) && !avoid.contains(&z.id);
    // Unchecked (the call failed): every zone passes, and the finding says RDS was not checked.
    let rds_ok = |z: &Zone| match &rds_zones {
        Ok(list) => list.contains(&z.name),
        Err(_) => true,
    };
    let rds_note = rds_zones
        .as_ref()
        .err()
        .map(|e| format!("rds:DescribeOrderableDBInstanceOptions failed ({e})"));
    let chosen = chosen_zones(p, &zones);
    let from = if param(p, "AvailabilityZones").trim().is_empty() {
        "!GetAZs picks"
    } else {
        "AvailabilityZones"
    };
    let mut problems = Vec::new();
    if chosen.len() != 2 {
        problems.push(format!(
            "{from} {} zone(s), the template needs 2",
            chosen.len()
        ));
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
            "no CA bundle: TLS encrypts, but the functions do not verify the database server"
                .into(),
            Some(how.into()),
        );
    }
    if bundle.is_empty() || layer.is_empty() {
        return Finding::new(
            CHECK,
            Status::Block,
            format!(
                "DatabaseCaBundle {bundle:?} and DatabaseCaLayerArn {layer:?}: set both or neither"
            ),
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
            format!(
                "the layer is in {layer_region:?}, the stack deploys to {region} (layers are regional)"
            ),
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
                Some(format!(
                    "sam build --parameter-overrides Architecture={want}"
                )),
            );
        }
        Err(e) => {
            return Finding::new(
                CHECK,
                Status::Block,
                e,
                Some(format!(
                    "sam build --parameter-overrides Architecture={want}"
                )),
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
            format!(
                "{} bootstraps, all {want} (Architecture={want})",
                build.len()
            ),
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
