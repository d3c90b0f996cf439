//! The migrations on one admin connection: a deploy (Create / Update / `{"action":"migrate"}`)
//! under sqlx's migration lock, the operator's `status` and `repair`. The decision is
//! [`crate::versions::Status::plan`]; this file reads the table and carries it out with sqlx's
//! own `Migrate` steps (`ensure_migrations_table`, `apply`, `dirty_version`, `lock`).
//!
//! sqlx's `Migrator::run` would refuse both rollback states (`VersionMissing` for a newer
//! build's row, `Dirty` for a failed one) before looking further, and its `set_ignore_missing`
//! would go on to apply this build's pending migrations under a newer schema: neither is what a
//! rollback needs, so the loop is here.

use crate::app_user::MIGRATIONS_TABLE as TABLE;
use crate::cfn::redact;
use crate::versions::{Plan, Row, State, Status, list};
use serde_json::{Value, json};
use sqlx::MySqlConnection;
use sqlx::migrate::{Migrate, MigrateError, Migrator};

/// The migrations this build embeds (the same files the store's `Schema::migrate` embeds).
pub static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/mysql");

/// What a deploy did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deployed {
    /// Applied these versions (none: the schema was up to date).
    Applied(Vec<i64>),
    /// Left the schema alone: a newer build's versions are in the table (a rollback).
    LeftAlone {
        unknown: Vec<i64>,
        dirty: Vec<i64>,
        pending: Vec<i64>,
    },
}

/// Why a deploy failed; `Display` is the custom resource's reason (credentials redacted by the
/// caller) with the way out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeployError {
    /// One of this build's migrations failed now.
    Failed {
        version: i64,
        description: String,
        error: String,
        /// Its row was left `success = 0` (MySQL commits DDL implicitly: the statements before
        /// the failing one stay applied).
        dirty: bool,
    },
    /// This build's own migration was left dirty by an earlier run.
    OwnDirty {
        version: i64,
        description: String,
        since: String,
    },
    /// A Create onto a database a newer build already migrated.
    AheadOnCreate {
        unknown: Vec<i64>,
        dirty: Vec<i64>,
    },
    Modified {
        version: i64,
    },
    Database(String),
}

/// `donut-ops migrations repair --version V`, with the stack when known.
pub fn repair_command(stack: Option<&str>, version: i64) -> String {
    match stack {
        Some(s) => format!("donut-ops --stack {s} migrations repair --version {version}"),
        None => format!("donut-ops --aws migrations repair --version {version}"),
    }
}

impl DeployError {
    pub fn reason(&self, stack: Option<&str>) -> String {
        match self {
            DeployError::Failed {
                version,
                description,
                error,
                dirty: true,
            } => format!(
                "migration {version} ({description}) failed: {error}. Its row is left dirty \
                 (success = 0) and the statements before the failing one stay applied \
                 (MySQL commits DDL as it goes). Way out: `donut-ops migrations status`, undo or \
                 finish those statements by hand, then `{}` and deploy again",
                repair_command(stack, *version)
            ),
            DeployError::Failed {
                version,
                description,
                error,
                dirty: false,
            } => format!(
                "migration {version} ({description}) failed: {error}. Nothing of it was recorded \
                 (its transaction rolled back): fix the migration and deploy again"
            ),
            DeployError::OwnDirty {
                version,
                description,
                since,
            } => format!(
                "migration {version} ({description}) failed part-way on an earlier run ({since}; \
                 its SQL error is in that run's FAILED reason and log) and is dirty \
                 (success = 0); it is not retried blindly. Way out: `donut-ops migrations \
                 status`, undo or finish its applied statements by hand, then `{}` and deploy \
                 again",
                repair_command(stack, *version)
            ),
            DeployError::AheadOnCreate { unknown, dirty } => format!(
                "the database already holds migrations this build does not have (applied: [{}], \
                 dirty: [{}]): a newer build migrated it. A Create does not put older code on a \
                 newer schema: deploy that build (or a newer one), or point the stack at another \
                 database",
                list(unknown),
                list(dirty)
            ),
            DeployError::Modified { version } => format!(
                "migration {version} was applied but this build's file differs (a shipped \
                 migration was edited): restore the file as it shipped and add a new migration"
            ),
            DeployError::Database(e) => e.clone(),
        }
    }
}

impl From<MigrateError> for DeployError {
    fn from(e: MigrateError) -> Self {
        DeployError::Database(redact(&e.to_string()))
    }
}

impl From<sqlx::Error> for DeployError {
    fn from(e: sqlx::Error) -> Self {
        DeployError::Database(redact(&e.to_string()))
    }
}

/// Every row of the migrations table (created if missing, as sqlx does).
pub async fn read_rows(conn: &mut MySqlConnection) -> Result<Vec<Row>, DeployError> {
    conn.ensure_migrations_table(TABLE).await?;
    Ok(sqlx::query_as::<_, Row>(
        "SELECT version, CAST(description AS CHAR) AS description, \
         CAST(success AS SIGNED) AS success, checksum, \
         CAST(installed_on AS CHAR) AS installed_on FROM _sqlx_migrations ORDER BY version",
    )
    .fetch_all(&mut *conn)
    .await?)
}

pub async fn status(
    conn: &mut MySqlConnection,
    migrator: &Migrator,
) -> Result<Status, DeployError> {
    Ok(Status::of(migrator, &read_rows(conn).await?))
}

/// A deploy under sqlx's migration lock (other migrate runs wait). `create`: the stack's Create.
pub async fn deploy(
    conn: &mut MySqlConnection,
    migrator: &Migrator,
    create: bool,
) -> Result<Deployed, DeployError> {
    conn.lock().await?;
    let result = deploy_locked(conn, migrator, create).await;
    let _ = conn.unlock().await;
    result
}

async fn deploy_locked(
    conn: &mut MySqlConnection,
    migrator: &Migrator,
    create: bool,
) -> Result<Deployed, DeployError> {
    let status = status(conn, migrator).await?;
    match status.plan() {
        Plan::Ahead { unknown, dirty, .. } if create => {
            Err(DeployError::AheadOnCreate { unknown, dirty })
        }
        Plan::Ahead {
            unknown,
            dirty,
            pending,
        } => Ok(Deployed::LeftAlone {
            unknown,
            dirty,
            pending,
        }),
        Plan::OwnDirty {
            version,
            description,
        } => Err(DeployError::OwnDirty {
            version,
            description,
            since: status
                .find(version)
                .and_then(|v| v.installed_on.clone())
                .map(|t| format!("row written {t} UTC"))
                .unwrap_or_default(),
        }),
        Plan::Modified { version } => Err(DeployError::Modified { version }),
        Plan::Apply(pending) => {
            for version in &pending {
                let Some(m) = migrator.iter().find(|m| m.version == *version) else {
                    continue;
                };
                match conn.apply(TABLE, m).await {
                    Ok(took) => tracing::info!(
                        version,
                        description = %m.description,
                        took_ms = took.as_millis() as u64,
                        "migration applied"
                    ),
                    Err(MigrateError::ExecuteMigration(e, version)) => {
                        let dirty = conn.dirty_version(TABLE).await.ok().flatten() == Some(version);
                        return Err(DeployError::Failed {
                            version,
                            description: m.description.to_string(),
                            error: redact(&e.to_string()),
                            dirty,
                        });
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(Deployed::Applied(pending))
        }
    }
}

/// `repair --version V`: removes the row of a failed migration (`success = 0`) so the next deploy
/// runs it again from its first statement. Refuses anything else: no row, an applied row. Says
/// what the schema holds now, and what the migration (when this build has it) creates or drops,
/// so the operator sees whether its first statements took effect.
pub async fn repair(
    conn: &mut MySqlConnection,
    migrator: &Migrator,
    version: i64,
) -> Result<Value, DeployError> {
    conn.lock().await?;
    let result = repair_locked(conn, migrator, version).await;
    let _ = conn.unlock().await;
    result
}

async fn repair_locked(
    conn: &mut MySqlConnection,
    migrator: &Migrator,
    version: i64,
) -> Result<Value, DeployError> {
    let status = status(conn, migrator).await?;
    let Some(row) = status.find(version) else {
        return Err(DeployError::Database(format!(
            "repair: no migration {version} in the table or this build"
        )));
    };
    if row.state != State::Dirty {
        return Err(DeployError::Database(
            format!(
                "repair: migration {version} is {:?}, not dirty: repair only removes the row of a \
             failed migration (success = 0)",
                row.state
            )
            .to_lowercase(),
        ));
    }
    let schema = schema_summary(conn).await?;
    let statements = migrator
        .iter()
        .find(|m| m.version == version)
        .map(|m| crate::objects::named_objects(m.sql.as_str()));
    let mut checked = Vec::new();
    for o in statements.into_iter().flatten() {
        let exists = o.exists_in(&schema);
        checked.push(json!({"statement": o.to_string(), "object_exists_now": exists}));
    }
    let deleted = sqlx::query("DELETE FROM _sqlx_migrations WHERE version = ? AND success = 0")
        .bind(version)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    let statements_checked = Value::from(checked.clone()).to_string();
    tracing::warn!(
        version,
        description = %row.description,
        rows_deleted = deleted,
        statements_checked = %statements_checked,
        "repair: removed the dirty row of a failed migration; the next deploy runs it again"
    );
    Ok(json!({
        "repaired": version,
        "description": row.description,
        "was": "dirty",
        "in_this_build": row.in_this_build,
        "rows_deleted": deleted,
        "migration_objects": checked,
        "schema": schema,
        "next": format!(
            "the next deploy (or {{\"action\":\"migrate\"}}) runs migration {version} again from its \
             first statement: each statement above that already took effect must have been undone, \
             or that run fails again"
        ),
    }))
}

/// The schema now: each table's columns and the stored procedures.
pub async fn schema_summary(conn: &mut MySqlConnection) -> Result<Value, DeployError> {
    let columns: Vec<(String, String)> = sqlx::query_as(
        "SELECT CAST(table_name AS CHAR), CAST(column_name AS CHAR) FROM information_schema.columns \
         WHERE table_schema = DATABASE() AND table_name <> ? ORDER BY table_name, ordinal_position",
    )
    .bind(TABLE)
    .fetch_all(&mut *conn)
    .await?;
    let mut tables = std::collections::BTreeMap::<String, Vec<String>>::new();
    for (table, column) in columns {
        tables.entry(table).or_default().push(column);
    }
    let procedures: Vec<String> = sqlx::query_scalar(
        "SELECT CAST(routine_name AS CHAR) FROM information_schema.routines \
         WHERE routine_schema = DATABASE() ORDER BY routine_name",
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(json!({"tables": tables, "procedures": procedures}))
}

#[cfg(test)]
mod tests;
