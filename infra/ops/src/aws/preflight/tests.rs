//! preflight's decisions on fixed inputs, and its parsers on answers shaped like AWS's.

use super::checks::*;
use super::parse::{self, AccountSettings, Elf, Zone};
use super::*;

fn params(pairs: &[(&str, &str)]) -> Params {
    let template =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml"))
            .expect("template.yaml");
    let mut p = parse::template_defaults(&template).expect("defaults");
    for (k, v) in pairs {
        p.insert((*k).to_owned(), (*v).to_owned());
    }
    p
}

fn zone(name: &str, id: &str) -> Zone {
    Zone {
        name: name.into(),
        id: id.into(),
        state: "available".into(),
        zone_type: "availability-zone".into(),
    }
}

fn us_east_1() -> Vec<Zone> {
    vec![
        zone("us-east-1a", "use1-az6"),
        zone("us-east-1b", "use1-az1"),
        zone("us-east-1c", "use1-az2"),
        zone("us-east-1e", "use1-az3"),
        Zone {
            zone_type: "local-zone".into(),
            ..zone("us-east-1-bos-1a", "use1-bos1-az1")
        },
    ]
}

#[test]
fn the_template_defaults_are_read_as_text() {
    let p = params(&[]);
    assert_eq!(p["Architecture"], "arm64");
    assert_eq!(p["SalesApiMaxConcurrency"], "10");
    assert_eq!(p["DbMaxConnections"], "2");
    assert_eq!(p["OpsEmail"], "");
}

#[test]
fn a_new_account_cannot_hold_the_default_reservations() {
    // Quota 10, all unreserved: 15 reserved would leave fewer than 100.
    let f = concurrency(
        &params(&[]),
        Ok(AccountSettings {
            limit: 10,
            unreserved: 10,
        }),
    );
    assert_eq!(f[0].status, Status::Block, "{f:?}");
    assert!(f[0].detail.contains("reserves 15"), "{}", f[0].detail);
    let fix = f[0].fix.as_deref().unwrap();
    assert!(
        fix.contains("SalesApiMaxConcurrency=0") && fix.contains("at least 115"),
        "{fix}"
    );
    // 1000 is enough for 15 + 100.
    let f = concurrency(
        &params(&[]),
        Ok(AccountSettings {
            limit: 1000,
            unreserved: 1000,
        }),
    );
    assert_eq!(f[0].status, Status::Ok, "{f:?}");
    assert_eq!(f.len(), 1);
}

#[test]
fn without_reservations_a_small_account_passes_and_the_budget_is_explained() {
    let off = [
        ("SalesApiMaxConcurrency", "0"),
        ("RestockMaxConcurrency", ""),
        ("OutboxRelayMaxConcurrency", "0"),
        ("ExporterMaxConcurrency", "0"),
    ];
    let small = AccountSettings {
        limit: 10,
        unreserved: 10,
    };
    let f = concurrency(&params(&off), Ok(small));
    assert_eq!(f[0].status, Status::Ok, "{f:?}");
    // 10 environments x 2 = 20 connections fit a micro: nothing to warn about.
    assert_eq!(f.len(), 1, "{f:?}");
    // 1000 x 2 do not: a warning naming 1040 -> 503 and the proxy.
    let f = concurrency(
        &params(&off),
        Ok(AccountSettings {
            limit: 1000,
            unreserved: 1000,
        }),
    );
    assert_eq!(f[1].status, Status::Warn, "{f:?}");
    assert!(
        f[1].detail.contains("1040") && f[1].detail.contains("503"),
        "{}",
        f[1].detail
    );
    assert!(f[1].fix.as_deref().unwrap().contains("UseRdsProxy=true"));
    // With the proxy there is nothing to warn about.
    let mut with_proxy = off.to_vec();
    with_proxy.push(("UseRdsProxy", "true"));
    let f = concurrency(
        &params(&with_proxy),
        Ok(AccountSettings {
            limit: 1000,
            unreserved: 1000,
        }),
    );
    assert_eq!(f.len(), 1, "{f:?}");
}

#[test]
fn an_unanswered_account_check_blocks_only_when_something_is_reserved() {
    let f = concurrency(&params(&[]), Err("403 AccessDenied".into()));
    assert_eq!(f[0].status, Status::Block);
    let off: Vec<(&str, &str)> = RESERVATIONS.iter().map(|n| (*n, "0")).collect();
    let f = concurrency(&params(&off), Err("403 AccessDenied".into()));
    assert_eq!(f[0].status, Status::Warn);
}

#[test]
fn getazs_picking_a_zone_lambda_does_not_support_blocks_with_good_zones() {
    let rds = Ok(vec![
        "us-east-1a".into(),
        "us-east-1b".into(),
        "us-east-1e".into(),
    ]);
    // Explicit zones, one of them use1-az3.
    let p = params(&[("AvailabilityZones", "us-east-1a,us-east-1e")]);
    let f = zones(&p, Ok(us_east_1()), rds.clone(), &[]);
    assert_eq!(f.status, Status::Block, "{f:?}");
    assert!(f.detail.contains("use1-az3"), "{}", f.detail);
    assert_eq!(
        f.fix.as_deref().unwrap(),
        "AvailabilityZones=us-east-1a,us-east-1b (zones where Lambda and RDS db.t4g.micro both work)"
    );
    // !GetAZs: the first two by name (a, b) are fine.
    let f = zones(&params(&[]), Ok(us_east_1()), rds.clone(), &[]);
    assert_eq!(f.status, Status::Ok, "{f:?}");
    assert!(f.detail.contains("us-east-1a, us-east-1b"), "{}", f.detail);
    // A zone the operator knows to avoid.
    let rds = Ok(vec![
        "us-east-1a".into(),
        "us-east-1b".into(),
        "us-east-1c".into(),
    ]);
    let f = zones(&params(&[]), Ok(us_east_1()), rds, &["use1-az1".into()]);
    assert_eq!(f.status, Status::Block, "{f:?}");
    assert!(
        f.fix
            .unwrap()
            .starts_with("AvailabilityZones=us-east-1a,us-east-1c")
    );
}

#[test]
fn a_class_rds_does_not_offer_in_a_zone_blocks() {
    let rds = Ok(vec!["us-east-1a".into(), "us-east-1c".into()]);
    let f = zones(&params(&[]), Ok(us_east_1()), rds, &[]);
    assert_eq!(f.status, Status::Block, "{f:?}");
    assert!(
        f.detail
            .contains("RDS does not offer mysql 8.4 db.t4g.micro in us-east-1b"),
        "{}",
        f.detail
    );
    assert!(
        f.fix
            .unwrap()
            .starts_with("AvailabilityZones=us-east-1a,us-east-1c")
    );
    // Not offered anywhere: another class.
    let f = zones(&params(&[]), Ok(us_east_1()), Ok(vec![]), &[]);
    assert!(f.fix.unwrap().contains("another DatabaseInstanceClass"));
    // One zone given, a zone of another region.
    let f = zones(
        &params(&[("AvailabilityZones", "eu-west-1a")]),
        Ok(us_east_1()),
        Ok(vec![]),
        &[],
    );
    assert!(
        f.detail.contains("1 zone(s)") && f.detail.contains("not a zone of this region"),
        "{}",
        f.detail
    );
    // An existing database: no VPC, nothing to check.
    let f = zones(
        &params(&[("ExistingDatabaseHost", "db.example.com")]),
        Err("x".into()),
        Err("y".into()),
        &[],
    );
    assert_eq!(f.status, Status::Ok);
}

#[test]
fn ops_email_and_ca_bundle_decisions() {
    assert_eq!(ops_email(&params(&[])).status, Status::Block);
    assert_eq!(
        ops_email(&params(&[("OpsEmail", "ops@example.com")])).status,
        Status::Ok
    );

    assert_eq!(ca_bundle(&params(&[]), "us-east-1").status, Status::Warn);
    let layer = "arn:aws:lambda:us-east-1:123456789012:layer:rds-ca-bundle:3";
    let both = [
        ("DatabaseCaLayerArn", layer),
        ("DatabaseCaBundle", "/opt/rds-ca/global-bundle.pem"),
    ];
    assert_eq!(ca_bundle(&params(&both), "us-east-1").status, Status::Ok);
    let f = ca_bundle(&params(&both), "eu-west-1");
    assert_eq!(f.status, Status::Block);
    assert!(f.detail.contains("us-east-1") && f.fix.unwrap().contains("eu-west-1"));
    assert_eq!(
        ca_bundle(&params(&both[..1]), "us-east-1").status,
        Status::Block
    );
    let f = ca_bundle(
        &params(&[both[0], ("DatabaseCaBundle", "/var/task/ca.pem")]),
        "us-east-1",
    );
    assert_eq!(f.status, Status::Block);
    let mut proxy = both.to_vec();
    proxy.push(("UseRdsProxy", "true"));
    let f = ca_bundle(&params(&proxy), "us-east-1");
    assert_eq!(f.status, Status::Warn);
    assert!(f.fix.unwrap().contains("AmazonRootCA1.pem"));
}

fn elf(machine: u16) -> Vec<u8> {
    let mut h = b"\x7fELF\x02\x01\x01".to_vec();
    h.resize(18, 0);
    h.extend_from_slice(&machine.to_le_bytes());
    h.extend_from_slice(&[0; 44]);
    h
}

#[test]
fn the_build_architecture_must_match_the_parameter() {
    let dir = tempfile::tempdir().unwrap();
    for (f, m) in [("SalesApiFunction", 0xb7u16), ("RestockFunction", 0xb7)] {
        std::fs::create_dir(dir.path().join(f)).unwrap();
        std::fs::write(dir.path().join(f).join("bootstrap"), elf(m)).unwrap();
    }
    let build = || parse::bootstraps(dir.path());
    assert_eq!(architecture(&params(&[]), build()).status, Status::Ok);
    let f = architecture(&params(&[("Architecture", "x86_64")]), build());
    assert_eq!(f.status, Status::Block);
    assert!(
        f.detail.contains("RestockFunction is arm64"),
        "{}",
        f.detail
    );
    std::fs::write(dir.path().join("RestockFunction/bootstrap"), elf(0x3e)).unwrap();
    let f = architecture(&params(&[]), build());
    assert_eq!(f.detail, "Architecture=arm64 but RestockFunction is x86_64");
    // Not built, or not an executable.
    let none = architecture(&params(&[]), parse::bootstraps(&dir.path().join("missing")));
    assert_eq!(none.status, Status::Block);
    assert!(none.fix.unwrap().starts_with("sam build"));
    std::fs::write(dir.path().join("RestockFunction/bootstrap"), b"#!/bin/sh\n").unwrap();
    assert!(
        parse::bootstraps(dir.path())
            .unwrap_err()
            .contains("not an ELF")
    );
    assert_eq!(
        Elf::read(&elf(0x28)).unwrap().describe(),
        "ELF machine 0x28"
    );
}

#[test]
fn samconfig_overrides_are_read_as_sam_reads_them() {
    let toml = r#"
version = 0.1
[default.global.parameters]
region = "eu-west-1"
[default.deploy.parameters]
# parameter_overrides = "Architecture=x86_64"
parameter_overrides = "Architecture=arm64 OpsEmail=\"ops@example.com\" CorsAllowOrigin=\"https://a b\" ParameterKey=LogLevel,ParameterValue=WARN"
[prod.deploy.parameters]
parameter_overrides = 'SalesApiMaxConcurrency=0'
"#;
    let o = parse::overrides(
        &parse::samconfig_value(toml, "default.deploy.parameters", "parameter_overrides").unwrap(),
    );
    assert_eq!(o["Architecture"], "arm64");
    assert_eq!(o["OpsEmail"], "ops@example.com");
    assert_eq!(o["CorsAllowOrigin"], "https://a b");
    assert_eq!(o["LogLevel"], "WARN");
    assert_eq!(
        parse::samconfig_value(toml, "default.global.parameters", "region").unwrap(),
        "eu-west-1"
    );
    let prod =
        parse::samconfig_value(toml, "prod.deploy.parameters", "parameter_overrides").unwrap();
    assert_eq!(parse::overrides(&prod)["SalesApiMaxConcurrency"], "0");
    assert!(parse::samconfig_value(toml, "prod.global.parameters", "region").is_none());
}

#[test]
fn aws_answers_are_parsed() {
    let a = parse::account_settings(
        r#"{"AccountLimit":{"TotalCodeSize":80530636800,"CodeSizeUnzipped":262144000,"CodeSizeZipped":52428800,"ConcurrentExecutions":10,"UnreservedConcurrentExecutions":10},"AccountUsage":{"TotalCodeSize":0,"FunctionCount":0}}"#,
    )
    .unwrap();
    assert_eq!(
        a,
        AccountSettings {
            limit: 10,
            unreserved: 10
        }
    );
    assert!(parse::account_settings(r#"{"Message":"x"}"#).is_err());

    let ec2 = r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeAvailabilityZonesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
    <requestId>abc</requestId>
    <availabilityZoneInfo>
        <item><zoneName>us-east-1a</zoneName><zoneState>available</zoneState><regionName>us-east-1</regionName>
            <messageSet/><zoneId>use1-az6</zoneId><zoneType>availability-zone</zoneType></item>
        <item><zoneName>us-east-1e</zoneName><zoneState>impaired</zoneState><messageSet><item><message>x &amp; y</message></item></messageSet>
            <zoneId>use1-az3</zoneId></item>
    </availabilityZoneInfo>
</DescribeAvailabilityZonesResponse>"#;
    let z = parse::availability_zones(ec2).unwrap();
    assert_eq!(z.len(), 2);
    assert_eq!(z[0], zone("us-east-1a", "use1-az6"));
    assert_eq!(
        (z[1].id.as_str(), z[1].state.as_str(), z[1].is_standard()),
        ("use1-az3", "impaired", false)
    );

    let rds = r#"<DescribeOrderableDBInstanceOptionsResponse xmlns="http://rds.amazonaws.com/doc/2014-10-31/">
  <DescribeOrderableDBInstanceOptionsResult>
    <OrderableDBInstanceOptions>
      <OrderableDBInstanceOption><Engine>mysql</Engine><EngineVersion>8.0.39</EngineVersion>
        <AvailabilityZones><AvailabilityZone><Name>us-east-1f</Name></AvailabilityZone></AvailabilityZones>
        <DBInstanceClass>db.t4g.micro</DBInstanceClass></OrderableDBInstanceOption>
      <OrderableDBInstanceOption><Engine>mysql</Engine><EngineVersion>8.4.3</EngineVersion>
        <AvailabilityZones><AvailabilityZone><Name>us-east-1a</Name></AvailabilityZone>
          <AvailabilityZone><Name>us-east-1b</Name></AvailabilityZone></AvailabilityZones>
        <DBInstanceClass>db.t4g.micro</DBInstanceClass></OrderableDBInstanceOption>
    </OrderableDBInstanceOptions>
    <Marker>next-page</Marker>
  </DescribeOrderableDBInstanceOptionsResult>
</DescribeOrderableDBInstanceOptionsResponse>"#;
    let (zones, marker) = parse::orderable_zones(rds, "8.4").unwrap();
    assert_eq!(zones, ["us-east-1a", "us-east-1b"]);
    assert_eq!(marker.as_deref(), Some("next-page"));
    let (zones, _) = parse::orderable_zones(rds, "8.0").unwrap();
    assert_eq!(zones, ["us-east-1f"]);
    assert!(parse::orderable_zones("<ErrorResponse><Error/></ErrorResponse>", "8.4").is_err());
    assert!(parse::availability_zones("<a><b></a>").is_err());
}

#[test]
fn the_report_counts_what_blocks_and_renders_each_fix() {
    let findings = [
        ops_email(&params(&[])),
        ops_email(&params(&[("OpsEmail", "ops@example.com")])),
    ];
    let v = report("us-east-1", &findings);
    assert_eq!(v["blocking"], 1);
    let text = render(&v);
    assert!(
        text.contains("BLOCK ops e-mail: OpsEmail is empty"),
        "{text}"
    );
    assert!(
        text.contains("      fix: OpsEmail=you@example.com"),
        "{text}"
    );
    assert!(
        text.ends_with("preflight: 1 finding(s) block the deploy\n"),
        "{text}"
    );
}
