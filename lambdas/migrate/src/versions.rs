//! What the database's migrations table says, compared with the migrations this build embeds,
//! and what a deploy may therefore do. No I/O: [`Status::of`] takes the rows
//! `migrations::read_rows` read; the decision ([`Status::plan`]) is tested here without a
//! database.
//!
//! The rule (docs/migrations.md): a build applies its own pending migrations; it never touches a
//! schema that holds a migration it does not have (applied by a newer build, or left dirty by a
//! newer build's failed run) — that is a rollback, and the newer schema was written to work with
//! this build's code (expand/contract). Its own dirty migration (`success = 0`: a failed run left
//! part of it applied) is never retried blindly: an operator looks and repairs.

use serde::Serialize;
use sqlx::migrate::Migrator;

/// One row of `_sqlx_migrations`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Row {
    pub version: i64,
    pub description: String,
    /// 1 applied, 0 dirty (the run failed after the row was committed).
    pub success: i64,
    pub checksum: Vec<u8>,
    pub installed_on: String,
}

/// A version's state, as `donut-ops migrations status` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// In the table (`success = 1`) and in this build.
    Applied,
    /// In this build, not in the table: the next deploy applies it.
    Pending,
    /// In the table (`success = 1`), not in this build: a newer build applied it.
    Unknown,
    /// In the table with `success = 0`: a run failed part-way (this build's or a newer one's).
    Dirty,
}

#[derive(Debug, Clone, Serialize)]
pub struct Version {
    pub version: i64,
    pub description: String,
    pub state: State,
    /// Whether this build embeds the migration.
    pub in_this_build: bool,
    /// Applied in the table but its SQL differs from this build's file (someone edited a
    /// migration that had shipped).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub modified: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub installed_on: Option<String>,
}

/// Every version the table or the build knows, in version order.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub versions: Vec<Version>,
    /// The newest migration this build embeds.
    pub build_latest: Option<i64>,
}

/// What a deploy does with the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Apply these of this build's migrations, in order (none: up to date).
    Apply(Vec<i64>),
    /// The table holds versions this build does not have: a newer build ran. Leave the schema
    /// alone (on a rollback's Update) or refuse (on a Create).
    Ahead {
        unknown: Vec<i64>,
        dirty: Vec<i64>,
        pending: Vec<i64>,
    },
    /// This build's own migration failed part-way earlier: an operator must look first.
    OwnDirty { version: i64, description: String },
    /// An applied migration of this build was edited after it shipped.
    Modified { version: i64 },
}

impl Status {
    pub fn of(migrator: &Migrator, rows: &[Row]) -> Status {
        let mut versions: Vec<Version> = rows
            .iter()
            .map(|r| {
                let own = own(migrator, r.version);
                let state = match (r.success != 0, own.is_some()) {
                    (false, _) => State::Dirty,
                    (true, true) => State::Applied,
                    (true, false) => State::Unknown,
                };
                Version {
                    version: r.version,
                    description: r.description.clone(),
                    state,
                    in_this_build: own.is_some(),
                    modified: r.success != 0
                        && own.is_some_and(|m| m.checksum.as_ref() != r.checksum.as_slice()),
                    installed_on: Some(r.installed_on.clone()),
                }
            })
            .collect();
        for m in migrator.iter() {
            if m.migration_type.is_down_migration() || rows.iter().any(|r| r.version == m.version) {
                continue;
            }
            versions.push(Version {
                version: m.version,
                description: m.description.to_string(),
                state: State::Pending,
                in_this_build: true,
                modified: false,
                installed_on: None,
            });
        }
        versions.sort_by_key(|v| v.version);
        Status {
            versions,
            build_latest: migrator
                .iter()
                .filter(|m| !m.migration_type.is_down_migration())
                .map(|m| m.version)
                .max(),
        }
    }

    fn select(&self, f: impl Fn(&Version) -> bool) -> Vec<i64> {
        self.versions
            .iter()
            .filter(|v| f(v))
            .map(|v| v.version)
            .collect()
    }

    pub fn count(&self, state: State) -> usize {
        self.versions.iter().filter(|v| v.state == state).count()
    }

    pub fn find(&self, version: i64) -> Option<&Version> {
        self.versions.iter().find(|v| v.version == version)
    }

    /// The decision, in this order: a newer build's versions win (don't touch); then this
    /// build's own dirty row; then an edited migration; else apply what is pending.
    pub fn plan(&self) -> Plan {
        let unknown = self.select(|v| !v.in_this_build);
        if !unknown.is_empty() {
            return Plan::Ahead {
                dirty: self.select(|v| !v.in_this_build && v.state == State::Dirty),
                unknown: self.select(|v| v.state == State::Unknown),
                pending: self.select(|v| v.state == State::Pending),
            };
        }
        if let Some(v) = self.versions.iter().find(|v| v.state == State::Dirty) {
            return Plan::OwnDirty {
                version: v.version,
                description: v.description.clone(),
            };
        }
        if let Some(v) = self.versions.iter().find(|v| v.modified) {
            return Plan::Modified { version: v.version };
        }
        Plan::Apply(self.select(|v| v.state == State::Pending))
    }
}

fn own(migrator: &Migrator, version: i64) -> Option<&sqlx::migrate::Migration> {
    migrator
        .iter()
        .find(|m| m.version == version && !m.migration_type.is_down_migration())
}

/// `a, b, c` for a log field or a reason.
pub fn list(versions: &[i64]) -> String {
    versions
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrations::MIGRATOR;

    fn applied(version: i64) -> Row {
        let m = MIGRATOR.iter().find(|m| m.version == version);
        Row {
            version,
            description: m.map(|m| m.description.to_string()).unwrap_or_default(),
            success: 1,
            checksum: m.map(|m| m.checksum.to_vec()).unwrap_or_default(),
            installed_on: "2026-12-01 00:00:00".into(),
        }
    }

    fn all_applied() -> Vec<Row> {
        MIGRATOR.iter().map(|m| applied(m.version)).collect()
    }

    const NEWER: i64 = 20991231000001;

    #[test]
    fn a_fresh_database_applies_everything_and_an_applied_one_nothing() {
        let fresh = Status::of(&MIGRATOR, &[]);
        assert_eq!(
            fresh.plan(),
            Plan::Apply(MIGRATOR.iter().map(|m| m.version).collect())
        );
        assert_eq!(fresh.count(State::Pending), MIGRATOR.iter().count());
        assert_eq!(
            Status::of(&MIGRATOR, &all_applied()).plan(),
            Plan::Apply(vec![])
        );
    }

    #[test]
    fn a_newer_builds_versions_leave_the_schema_alone() {
        let mut rows = all_applied();
        rows.push(applied(NEWER));
        let status = Status::of(&MIGRATOR, &rows);
        assert_eq!(status.find(NEWER).map(|v| v.state), Some(State::Unknown));
        assert_eq!(
            status.plan(),
            Plan::Ahead {
                unknown: vec![NEWER],
                dirty: vec![],
                pending: vec![]
            }
        );
        // Dirty by the newer build: still not ours to touch.
        rows.last_mut().unwrap().success = 0;
        let plan = Status::of(&MIGRATOR, &rows).plan();
        assert_eq!(
            plan,
            Plan::Ahead {
                unknown: vec![],
                dirty: vec![NEWER],
                pending: vec![]
            }
        );
    }

    #[test]
    fn an_own_dirty_row_stops_and_an_edited_migration_is_named() {
        let latest = MIGRATOR.iter().map(|m| m.version).max().unwrap();
        let mut rows = all_applied();
        rows.last_mut().unwrap().success = 0;
        let status = Status::of(&MIGRATOR, &rows);
        assert_eq!(status.find(latest).map(|v| v.state), Some(State::Dirty));
        assert!(matches!(status.plan(), Plan::OwnDirty { version, .. } if version == latest));

        let mut rows = all_applied();
        rows[0].checksum = vec![1, 2, 3];
        let first = rows[0].version;
        assert_eq!(
            Status::of(&MIGRATOR, &rows).plan(),
            Plan::Modified { version: first }
        );
    }

    #[test]
    fn the_status_serialises_states_in_lowercase() {
        let mut rows = all_applied();
        rows.pop();
        rows.push(applied(NEWER));
        let v = serde_json::to_value(Status::of(&MIGRATOR, &rows)).unwrap();
        let states: Vec<&str> = v["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["state"].as_str().unwrap())
            .collect();
        assert!(
            states.contains(&"pending") && states.contains(&"unknown"),
            "{v}"
        );
    }
}
