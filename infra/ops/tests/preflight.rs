//! `donut-ops preflight` end to end against moto: the real template's defaults, samconfig-style
//! overrides, EC2's zones as moto answers them (us-east-1e is use1-az3 there too), a build folder
//! of ELF headers. moto has no Lambda `GetAccountSettings` and no MySQL orderable options, so
//! those two answers are exercised as failures here; their decisions on real answers are the
//! unit tests in src/aws/preflight/tests.rs.

#[allow(dead_code)] // the queue and boto3 helpers are for the other test binary
#[path = "common/mod.rs"]
mod common;

use common::ops;
use serde_json::Value;

fn elf(machine: u16) -> Vec<u8> {
    let mut h = b"\x7fELF\x02\x01\x01".to_vec();
    h.resize(18, 0);
    h.extend_from_slice(&machine.to_le_bytes());
    h.resize(64, 0);
    h
}

fn finding<'a>(v: &'a Value, check: &str) -> &'a Value {
    v["findings"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["check"] == check))
        .unwrap_or_else(|| panic!("no {check} finding in {v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_names_every_blocker_with_its_fix_and_exits_non_zero() {
    let endpoint = pipeline_tests::moto_endpoint();
    let build = tempfile::tempdir().unwrap();
    for f in ["SalesApiFunction", "MigrateFunction"] {
        std::fs::create_dir(build.path().join(f)).unwrap();
        std::fs::write(build.path().join(f).join("bootstrap"), elf(0x3e)).unwrap();
    }
    let template = concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml");
    let build_dir = build.path().to_str().unwrap();
    let no_config = build.path().join("samconfig.toml");
    let env = [
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ];
    let run = |extra: &'static [&'static str], json: bool| {
        let mut args = vec![
            "preflight",
            "--template",
            template,
            "--config-file",
            no_config.to_str().unwrap(),
            "--build-dir",
            build_dir,
        ];
        args.extend_from_slice(extra);
        if json {
            args.extend_from_slice(&["-o", "json"]);
        }
        let args: Vec<String> = args.into_iter().map(str::to_owned).collect();
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            ops(&args, &env).await
        }
    };

    // The defaults (arm64, no OpsEmail, 15 reserved) with zones a and e, and an x86_64 build.
    let out = run(
        &["--parameter", "AvailabilityZones=us-east-1a,us-east-1e"],
        true,
    )
    .await;
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("block the deploy"), "{}", out.stderr);
    let v = out.json();
    assert_eq!(v["region"], "us-east-1");
    let zones = finding(&v, "availability zones");
    assert_eq!(zones["status"], "block", "{zones}");
    assert!(
        zones["detail"]
            .as_str()
            .unwrap()
            .contains("us-east-1e (use1-az3) is a zone Lambda does not support for VPC functions"),
        "{zones}"
    );
    let arch = finding(&v, "build architecture");
    assert_eq!(arch["status"], "block", "{arch}");
    assert!(
        arch["detail"]
            .as_str()
            .unwrap()
            .contains("Architecture=arm64 but MigrateFunction is x86_64"),
        "{arch}"
    );
    let email = finding(&v, "ops e-mail");
    assert_eq!(email["status"], "block");
    // moto has no GetAccountSettings: with 15 reserved, an unchecked quota blocks.
    let conc = finding(&v, "concurrency");
    assert_eq!(conc["status"], "block", "{conc}");
    assert!(
        conc["detail"]
            .as_str()
            .unwrap()
            .contains("GetAccountSettings failed"),
        "{conc}"
    );
    assert!(
        conc["fix"]
            .as_str()
            .unwrap()
            .contains("SalesApiMaxConcurrency=0"),
        "{conc}"
    );
    assert_eq!(finding(&v, "CA bundle")["status"], "warn");
    assert_eq!(v["blocking"], 4, "{v}");

    // Fixed: the build's architecture, an e-mail, no reservations, !GetAZs (a and b in moto).
    // Only RDS is left: moto offers no MySQL class anywhere, which preflight reports as such.
    let fixed: &'static [&'static str] = &[
        "--parameter",
        "Architecture=x86_64",
        "--parameter",
        "OpsEmail=ops@example.com",
        "--parameter",
        "SalesApiMaxConcurrency=0",
        "--parameter",
        "RestockMaxConcurrency=0",
        "--parameter",
        "OutboxRelayMaxConcurrency=",
        "--parameter",
        "ExporterMaxConcurrency=0",
    ];
    let out = run(fixed, false).await;
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    let text = &out.stdout;
    assert!(
        text.contains("OK    build architecture: 2 bootstraps, all x86_64"),
        "{text}"
    );
    assert!(
        text.contains("OK    ops e-mail: OpsEmail ops@example.com"),
        "{text}"
    );
    assert!(
        text.contains("WARN  concurrency: lambda:GetAccountSettings failed"),
        "{text}"
    );
    assert!(
        text.contains(
            "BLOCK availability zones: RDS does not offer mysql 8.4 db.t4g.micro in us-east-1a"
        ),
        "{text}"
    );
    assert!(
        text.contains("      fix: RDS offers mysql 8.4 db.t4g.micro in no zone"),
        "{text}"
    );
    assert!(
        text.contains("preflight: 1 finding(s) block the deploy"),
        "{text}"
    );
}
