//! The schema objects a migration's SQL creates, alters, drops or renames, read from its words
//! (comments and string literals left out). Two users: `repair` says which of a failed
//! migration's objects exist now, and the expand/contract check (`expand_contract.rs`) finds
//! the statements that take something away from the previous release's code.
//!
//! Not a SQL parser: it recognises the statement shapes this project's migrations use
//! (`CREATE/DROP TABLE`, `ALTER TABLE … ADD/DROP/RENAME/CHANGE COLUMN`, `RENAME TABLE`,
//! `ALTER TABLE … RENAME TO`, `CREATE/DROP PROCEDURE`), on MySQL and SQLite.

use serde_json::Value;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Object {
    Table(String),
    Column { table: String, column: String },
    Procedure(String),
}

impl Object {
    /// `products`, `products.stock`, `procedure donut_sell`: the name a contract marker uses.
    #[cfg(test)]
    pub fn name(&self) -> String {
        match self {
            Object::Table(t) => t.clone(),
            Object::Column { table, column } => format!("{table}.{column}"),
            Object::Procedure(p) => format!("procedure {p}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Create,
    Add,
    Drop,
    /// Renamed away (the old name is the object).
    Rename,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    pub verb: Verb,
    pub object: Object,
}

impl Named {
    /// Takes something the previous release's code may use away: a dropped or renamed table or
    /// column, a dropped procedure the same migration does not create again.
    #[cfg(test)]
    pub fn is_destructive(&self) -> bool {
        matches!(self.verb, Verb::Drop | Verb::Rename)
    }

    /// Whether the object is in the schema summary `{"tables": {t: [cols]}, "procedures": [..]}`.
    pub fn exists_in(&self, schema: &Value) -> bool {
        match &self.object {
            Object::Table(t) => schema["tables"].get(t).is_some(),
            Object::Column { table, column } => schema["tables"][table]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c == column.as_str())),
            Object::Procedure(p) => schema["procedures"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|x| x == p.as_str())),
        }
    }
}

impl fmt::Display for Named {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = match self.verb {
            Verb::Create => "creates",
            Verb::Add => "adds",
            Verb::Drop => "drops",
            Verb::Rename => "renames",
        };
        match &self.object {
            Object::Table(t) => write!(f, "{verb} table {t}"),
            Object::Column { table, column } => write!(f, "{verb} column {table}.{column}"),
            Object::Procedure(p) => write!(f, "{verb} procedure {p}"),
        }
    }
}

/// The words of `sql`, upper-cased keywords and identifiers alike, without comments, string
/// literals or backticks.
fn words(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut chars = sql.chars().peekable();
    let flush = |w: &mut String, out: &mut Vec<String>| {
        if !w.is_empty() {
            out.push(std::mem::take(w));
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '-' if chars.peek() == Some(&'-') => {
                flush(&mut word, &mut out);
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                flush(&mut word, &mut out);
                let mut prev = ' ';
                for c in chars.by_ref() {
                    if prev == '*' && c == '/' {
                        break;
                    }
                    prev = c;
                }
            }
            '\'' | '"' => {
                flush(&mut word, &mut out);
                for x in chars.by_ref() {
                    if x == c {
                        break;
                    }
                }
            }
            c if c.is_ascii_alphanumeric() || c == '_' => word.push(c),
            '`' => {}
            _ => {
                flush(&mut word, &mut out);
                if c == ';' {
                    out.push(";".into());
                }
            }
        }
    }
    flush(&mut word, &mut out);
    out
}

fn is(w: Option<&String>, kw: &str) -> bool {
    w.is_some_and(|w| w.eq_ignore_ascii_case(kw))
}

/// Every object `sql` creates, adds, drops or renames, in order. A procedure dropped and created
/// again in the same migration is a replacement: only its `Create` is kept.
pub fn named_objects(sql: &str) -> Vec<Named> {
    let w = words(sql);
    let at = |i: usize| w.get(i);
    let mut out = Vec::new();
    // The table of the ALTER TABLE statement being read (until `;`).
    let mut altering: Option<String> = None;
    let mut i = 0;
    while i < w.len() {
        let push = |out: &mut Vec<Named>, verb, object| out.push(Named { verb, object });
        // Skips IF [NOT] EXISTS, answers the next word.
        let name_after = |mut j: usize| {
            if is(at(j), "IF") {
                j += if is(at(j + 1), "NOT") { 3 } else { 2 };
            }
            at(j).cloned().unwrap_or_default()
        };
        let word = &w[i];
        if word == ";" {
            altering = None;
        } else if word.eq_ignore_ascii_case("CREATE") && is(at(i + 1), "TABLE") {
            push(&mut out, Verb::Create, Object::Table(name_after(i + 2)));
        } else if word.eq_ignore_ascii_case("CREATE") && is(at(i + 1), "PROCEDURE") {
            push(&mut out, Verb::Create, Object::Procedure(name_after(i + 2)));
        } else if word.eq_ignore_ascii_case("DROP") && is(at(i + 1), "TABLE") {
            push(&mut out, Verb::Drop, Object::Table(name_after(i + 2)));
        } else if word.eq_ignore_ascii_case("DROP") && is(at(i + 1), "PROCEDURE") {
            push(&mut out, Verb::Drop, Object::Procedure(name_after(i + 2)));
        } else if word.eq_ignore_ascii_case("RENAME") && is(at(i + 1), "TABLE") {
            push(&mut out, Verb::Rename, Object::Table(name_after(i + 2)));
        } else if word.eq_ignore_ascii_case("ALTER") && is(at(i + 1), "TABLE") {
            altering = Some(name_after(i + 2));
            i += 2;
        } else if let Some(table) = &altering {
            let column = |j: usize| Object::Column {
                table: table.clone(),
                column: name_after(j),
            };
            if word.eq_ignore_ascii_case("ADD") && is(at(i + 1), "COLUMN") {
                push(&mut out, Verb::Add, column(i + 2));
            } else if word.eq_ignore_ascii_case("DROP") && is(at(i + 1), "COLUMN") {
                push(&mut out, Verb::Drop, column(i + 2));
            } else if word.eq_ignore_ascii_case("DROP")
                && !["CONSTRAINT", "INDEX", "KEY", "PRIMARY", "FOREIGN", "CHECK"]
                    .iter()
                    .any(|k| is(at(i + 1), k))
            {
                // MySQL's `DROP c` (COLUMN is optional).
                push(&mut out, Verb::Drop, column(i + 1));
            } else if word.eq_ignore_ascii_case("RENAME") && is(at(i + 1), "COLUMN") {
                push(&mut out, Verb::Rename, column(i + 2));
            } else if word.eq_ignore_ascii_case("RENAME") && is(at(i + 1), "TO")
                || word.eq_ignore_ascii_case("RENAME") && is(at(i + 1), "AS")
            {
                push(&mut out, Verb::Rename, Object::Table(table.clone()));
            } else if word.eq_ignore_ascii_case("CHANGE") {
                // `CHANGE [COLUMN] old new type`: a rename unless old = new.
                let j = if is(at(i + 1), "COLUMN") {
                    i + 2
                } else {
                    i + 1
                };
                if at(j).zip(at(j + 1)).is_none_or(|(a, b)| a != b) {
                    push(&mut out, Verb::Rename, column(j));
                }
            }
        }
        i += 1;
    }
    // A procedure dropped and created again is replaced, not removed.
    let created: Vec<Object> = out
        .iter()
        .filter(|n| n.verb == Verb::Create)
        .map(|n| n.object.clone())
        .collect();
    out.retain(|n| {
        !(n.verb == Verb::Drop
            && matches!(n.object, Object::Procedure(_))
            && created.contains(&n.object))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(sql: &str) -> Vec<String> {
        named_objects(sql).iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn reads_the_shapes_the_migrations_use() {
        let sql = "-- DROP TABLE not_this (a comment)\n\
            CREATE TABLE IF NOT EXISTS `stock_buckets` (sku VARCHAR(64));\n\
            INSERT INTO t (a) VALUES ('DROP TABLE nor_this');\n\
            ALTER TABLE products ADD COLUMN buckets INT NOT NULL DEFAULT 1,\n\
              DROP CONSTRAINT c1, DROP COLUMN stock, DROP legacy, CHANGE old_name new_name INT,\n\
              CHANGE kept kept BIGINT;\n\
            ALTER TABLE products RENAME COLUMN a TO b;\n\
            ALTER TABLE orders_old RENAME TO orders;\n\
            RENAME TABLE x TO y;\n\
            DROP TABLE IF EXISTS gone;\n\
            DROP PROCEDURE IF EXISTS donut_sell; CREATE PROCEDURE donut_sell(IN p INT) BEGIN SELECT 1; END;\n\
            DROP PROCEDURE old_proc;";
        assert_eq!(
            names(sql),
            [
                "creates table stock_buckets",
                "adds column products.buckets",
                "drops column products.stock",
                "drops column products.legacy",
                "renames column products.old_name",
                "renames column products.a",
                "renames table orders_old",
                "renames table x",
                "drops table gone",
                "creates procedure donut_sell",
                "drops procedure old_proc",
            ]
        );
    }

    #[test]
    fn existence_in_a_schema_summary() {
        let schema = serde_json::json!({"tables": {"products": ["sku", "buckets"]}, "procedures": ["donut_sell"]});
        let n = named_objects(
            "CREATE TABLE products (x INT); ALTER TABLE products DROP COLUMN stock, ADD COLUMN buckets INT; CREATE PROCEDURE donut_sell() BEGIN END",
        );
        let exists: Vec<bool> = n.iter().map(|n| n.exists_in(&schema)).collect();
        assert_eq!(exists, [true, false, true, true]);
    }
}
