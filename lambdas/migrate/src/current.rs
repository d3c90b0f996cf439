//! The current text of the stored procedures, in one file: `migrations/current/procedures.sql`
//! (docs/migrations.md, "Stored procedures: their current text"). A procedure is replaced by a
//! new migration (`DROP PROCEDURE IF EXISTS p; CREATE PROCEDURE p …`), never by editing the one
//! that shipped, so without this file its text today is the last of several migrations.
//!
//! The file is not run by anything: it is what a fresh MariaDB holds after every migration of
//! migrations/mysql (`SHOW CREATE PROCEDURE`, definer left out), checked here in CI. When it
//! is stale the test fails with the difference and prints the new text;
//! `UPDATE_SNAPSHOT=1 cargo test -p migrate current` writes it.

use crate::migrations::{Deployed, MIGRATOR, deploy};
use sqlx::{AssertSqlSafe, Connection, MySqlConnection, Row};
use std::path::PathBuf;
use std::str::FromStr;

/// The snapshot, from the repository's root.
const SNAPSHOT: &str = "migrations/current/procedures.sql";

const HEADER: &str = "\
-- The stored procedures as the migrations in migrations/mysql leave them: what a fresh MariaDB
-- holds after all of them (SHOW CREATE PROCEDURE, definer left out). Generated and checked by
-- `cargo test -p migrate current` (lambdas/migrate/src/current.rs); nothing runs this file.
--
-- donut_sell is the sale rule on MySQL (docs/architecture.md, \"The sale rule\"); SQLite and the
-- memory store follow it, held to it by the contract suite (tests/tests/store/sale_rule.rs).
-- To change a procedure: a new migration (DROP PROCEDURE IF EXISTS p; CREATE PROCEDURE p ...,
-- copied from here; same parameters and result columns, else a new name: docs/migrations.md),
-- then `UPDATE_SNAPSHOT=1 cargo test -p migrate current` rewrites this file.
";

/// `SHOW CREATE PROCEDURE`'s statement without the definer (the migrating user, which differs
/// per server) and with the name unquoted, ending in `;`: `CREATE PROCEDURE p(…) … END;`.
fn statement(shown: &str, name: &str) -> Result<String, String> {
    let quoted = format!(" PROCEDURE `{name}`(");
    match shown.split_once(&quoted) {
        Some((head, rest)) if head.starts_with("CREATE") => {
            Ok(format!("CREATE PROCEDURE {name}({};\n", rest.trim_end()))
        }
        _ => Err(format!(
            "{name}: unexpected SHOW CREATE PROCEDURE text: {shown}"
        )),
    }
}

/// The snapshot's text for the schema `conn` is on: the header, then every procedure by name.
async fn snapshot(conn: &mut MySqlConnection) -> String {
    let routines: Vec<(String, String)> = sqlx::query_as(
        "SELECT CAST(routine_name AS CHAR), CAST(routine_type AS CHAR) \
         FROM information_schema.routines WHERE routine_schema = DATABASE() \
         ORDER BY routine_name",
    )
    .fetch_all(&mut *conn)
    .await
    .expect("list routines");
    let mut out = HEADER.to_owned();
    for (name, kind) in routines {
        assert_eq!(
            kind, "PROCEDURE",
            "{name}: a stored {kind}: teach lambdas/migrate/src/current.rs to render it"
        );
        assert!(
            !name.contains('`'),
            "{name}: a backtick in a procedure name"
        );
        let row = sqlx::query(AssertSqlSafe(format!("SHOW CREATE PROCEDURE `{name}`")))
            .fetch_one(&mut *conn)
            .await
            .expect("SHOW CREATE PROCEDURE");
        let shown: Vec<u8> = row.try_get(2).expect("the Create Procedure column");
        let shown = String::from_utf8(shown).expect("UTF-8");
        out.push('\n');
        out.push_str(&statement(&shown, &name).unwrap_or_else(|e| panic!("{e}")));
    }
    out
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn procedures_sql_is_what_the_migrations_leave() {
    let url = pipeline_tests::fresh_mysql_database().await;
    let opts = sqlx::mysql::MySqlConnectOptions::from_str(&url).expect("URL");
    let mut conn = MySqlConnection::connect_with(&opts).await.expect("connect");
    let applied = deploy(&mut conn, &MIGRATOR, true).await;
    assert!(matches!(applied, Ok(Deployed::Applied(_))), "{applied:?}");
    let now = snapshot(&mut conn).await;
    let path = repo_root().join(SNAPSHOT);
    if std::env::var_os("UPDATE_SNAPSHOT").is_some() {
        std::fs::write(&path, &now).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        eprintln!("{SNAPSHOT} written");
        return;
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    if on_disk != now {
        eprintln!(
            "{SNAPSHOT} is stale. What the migrations leave now (write it with \
             `UPDATE_SNAPSHOT=1 cargo test -p migrate current`):\n\n{now}"
        );
    }
    pretty_assertions::assert_eq!(
        on_disk,
        now,
        "{SNAPSHOT} (left) differs from what a fresh MariaDB holds after every migration \
         (right). A procedure is changed by a new migration, and this file follows it: \
         `UPDATE_SNAPSHOT=1 cargo test -p migrate current` writes the text printed above"
    );
}

#[test]
fn the_definer_is_left_out_and_the_name_unquoted() {
    let shown = "CREATE DEFINER=`root`@`127.0.0.1` PROCEDURE `donut_sell`(\n    IN p INT\n)\n    \
                 MODIFIES SQL DATA\nBEGIN\n    -- a comment\n    SELECT p;\nEND";
    assert_eq!(
        statement(shown, "donut_sell").unwrap(),
        "CREATE PROCEDURE donut_sell(\n    IN p INT\n)\n    MODIFIES SQL DATA\nBEGIN\n    \
         -- a comment\n    SELECT p;\nEND;\n"
    );
    let no_definer = "CREATE PROCEDURE `p`() BEGIN END";
    assert_eq!(
        statement(no_definer, "p").unwrap(),
        "CREATE PROCEDURE p() BEGIN END;\n"
    );
    assert!(statement("CREATE PROCEDURE `q`() BEGIN END", "p").is_err());
}
