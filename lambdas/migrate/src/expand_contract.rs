//! The expand/contract check (docs/migrations.md), run by `cargo test -p migrate` in CI: a
//! migration in migrations/mysql or migrations/sqlite that drops or renames a table, a column or
//! a procedure fails unless it carries a marker naming that object and the earlier migration
//! whose release's code stopped using it:
//!
//! ```sql
//! -- contract: products.stock (previous release stopped using it in 20261202000003)
//! ```
//!
//! A rollback runs the previous release's code against the new schema, so what that code reads
//! can only go away one release after the code stopped reading it. The check cannot know which
//! release shipped which migration: the marker is the author's statement, a reviewer checks it
//! against the release notes, and the check makes sure it names the object and an older
//! migration.

use crate::objects::named_objects;
use std::path::{Path, PathBuf};

/// Migrations that shipped before the check existed and broke the rule. They stay (a shipped
/// migration is never edited: its checksum is in every database), named here so that nothing
/// else can.
const GRANDFATHERED: &[(i64, &str, &str)] = &[(
    20261202000002,
    "products.stock",
    "VIOLATION, shipped before this check: the release that moved stock into stock_buckets also \
     dropped products.stock, which the previous release's code reads on every sale — rolling \
     that release back would have broken every sale. The column should have been dropped one \
     release later.",
)];

/// A `-- contract: <object> (previous release stopped using it in <version>)` line.
#[derive(Debug, PartialEq, Eq)]
struct Marker {
    object: String,
    since: i64,
}

fn markers(sql: &str) -> Vec<Marker> {
    sql.lines()
        .filter_map(|l| l.trim().strip_prefix("-- contract:"))
        .filter_map(|rest| {
            let (object, why) = rest.split_once('(')?;
            let since = why
                .trim()
                .strip_prefix("previous release stopped using it in ")?
                .trim_end_matches(')')
                .trim()
                .parse()
                .ok()?;
            Some(Marker {
                object: object.trim().to_owned(),
                since,
            })
        })
        .collect()
}

/// The rule's violations in one migration (`version`, its SQL), given every version of its
/// directory.
fn violations(version: i64, sql: &str, versions: &[i64]) -> Vec<String> {
    let marks = markers(sql);
    named_objects(sql)
        .into_iter()
        .filter(|n| n.is_destructive())
        .filter(|n| {
            !GRANDFATHERED
                .iter()
                .any(|(v, o, _)| *v == version && *o == n.object.name())
        })
        .filter_map(|n| {
            let name = n.object.name();
            let ok = marks
                .iter()
                .any(|m| m.object == name && m.since < version && versions.contains(&m.since));
            (!ok).then(|| {
                format!(
                    "{version}: {n} without `-- contract: {name} (previous release stopped using \
                     it in <an older migration's version>)`: the previous release's code may \
                     still use it, and a rollback runs that code (docs/migrations.md)"
                )
            })
        })
        .collect()
}

fn migrations(dir: &Path) -> Vec<(i64, String)> {
    let mut out: Vec<(i64, String)> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .map(|p| {
            let name = p
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .to_string();
            let version = name
                .split('_')
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{name}: no version prefix"));
            let sql = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{name}: {e}"));
            (version, sql)
        })
        .collect();
    out.sort();
    out
}

fn repo_dir(backend: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../migrations/{backend}"))
}

#[test]
fn every_migration_keeps_the_previous_release_working() {
    let mut found = Vec::new();
    for backend in ["mysql", "sqlite"] {
        let all = migrations(&repo_dir(backend));
        assert!(!all.is_empty(), "no migrations for {backend}");
        let versions: Vec<i64> = all.iter().map(|(v, _)| *v).collect();
        for (version, sql) in &all {
            found.extend(
                violations(*version, sql, &versions)
                    .into_iter()
                    .map(|v| format!("migrations/{backend}/{v}")),
            );
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn the_grandfathered_drop_is_the_one_that_shipped() {
    // The exception covers exactly what 20261202000002 drops, on both databases, and nothing
    // else: without it the check fails there.
    for backend in ["mysql", "sqlite"] {
        let all = migrations(&repo_dir(backend));
        let versions: Vec<i64> = all.iter().map(|(v, _)| *v).collect();
        let (version, sql) = all
            .iter()
            .find(|(v, _)| *v == 20261202000002)
            .expect("20261202000002 shipped");
        let destructive: Vec<String> = named_objects(sql)
            .into_iter()
            .filter(|n| n.is_destructive())
            .map(|n| n.object.name())
            .collect();
        assert_eq!(destructive, ["products.stock"], "{backend}");
        assert!(violations(*version, sql, &versions).is_empty());
        // The same statement in any later migration is caught.
        assert_eq!(violations(*version + 1, sql, &versions).len(), 1);
    }
}

#[test]
fn a_new_drop_or_rename_needs_the_marker() {
    let versions = [20261121000001, 20261202000004, 20270101000001];
    let drop = "ALTER TABLE sales DROP COLUMN correlation_id;";
    let v = violations(20270101000001, drop, &versions);
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(v[0].contains("sales.correlation_id"), "{v:?}");
    for sql in [
        "DROP TABLE restocks;",
        "ALTER TABLE products RENAME COLUMN name TO title;",
        "ALTER TABLE products CHANGE name title VARCHAR(64);",
        "RENAME TABLE restocks TO restock_log;",
        "ALTER TABLE products DROP reorder_point;",
    ] {
        assert_eq!(violations(20270101000001, sql, &versions).len(), 1, "{sql}");
    }
    let marked = format!(
        "-- contract: sales.correlation_id (previous release stopped using it in 20261202000004)\n{drop}"
    );
    assert!(violations(20270101000001, &marked, &versions).is_empty());
    // The marker must name the object and an older migration that exists.
    for bad in [
        "-- contract: sales.other (previous release stopped using it in 20261202000004)",
        "-- contract: sales.correlation_id (previous release stopped using it in 20270101000001)",
        "-- contract: sales.correlation_id (previous release stopped using it in 20261111000009)",
        "-- contract: sales.correlation_id",
    ] {
        let sql = format!("{bad}\n{drop}");
        assert_eq!(
            violations(20270101000001, &sql, &versions).len(),
            1,
            "{bad}"
        );
    }
    // Adding, and replacing a procedure, take nothing away.
    let expand = "ALTER TABLE products ADD COLUMN colour VARCHAR(16) NULL; \
        DROP PROCEDURE IF EXISTS donut_sell; CREATE PROCEDURE donut_sell() BEGIN END;";
    assert!(violations(20270101000001, expand, &versions).is_empty());
}
