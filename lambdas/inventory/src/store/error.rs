//! The store's one error type: what a caller can do about a failure (retry, report), with the
//! database driver's error kept as the source.

use std::error::Error as StdError;
use std::fmt;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached right now (pool timeout, connection refused, lock wait,
    /// deadlock, too many connections): the caller may retry; HTTP maps it to 503 with
    /// `Retry-After`.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] Cause),
    /// The database refused the credentials (MySQL 1045): on AWS the secret was rotated. The
    /// MySQL store re-reads it and retries once; HTTP maps it to 503 like `Unavailable`.
    #[error("database access denied: {0}")]
    AccessDenied(#[source] Cause),
    /// The connection failed while, or after, the statement that commits was on its way (reset,
    /// closed, killed, server gone): the write may have committed or not. Only an operation
    /// that commits in the statement it sends reports it ([`StoreError::from_commit`]): the
    /// sale (`Sales::sell_as`), the admin upsert and the restock. The caller finds out by
    /// reading what it wrote (`Sales::sale` by the id it chose); HTTP answers 503
    /// `outcome_unknown` when it cannot.
    #[error("outcome unknown: {0}")]
    Ambiguous(#[source] Cause),
    #[error("database error: {0}")]
    Database(#[source] Cause),
    #[error("unexpected data in the database: {0}")]
    Corrupt(#[source] Cause),
}

impl StoreError {
    /// The span's `error.kind` (telemetry's fixed vocabulary: never the message).
    pub fn kind(&self) -> &'static str {
        match self {
            StoreError::Unavailable(_) => "unavailable",
            StoreError::AccessDenied(_) => "access_denied",
            StoreError::Ambiguous(_) => "ambiguous",
            StoreError::Database(_) => "database",
            StoreError::Corrupt(_) => "corrupt",
        }
    }
}

impl StoreError {
    /// A driver error of the statement that commits, raised once that statement was sent:
    /// losing the connection then is [`StoreError::Ambiguous`] (the server may have committed
    /// before the answer was lost); every other error is what `From<sqlx::Error>` says, and
    /// certainly did not commit (the procedures and transactions roll back on any error they
    /// raise before their commit). Errors before the statement was sent (pool acquire timeout,
    /// connection refused, access denied: the caller acquires the connection first) never
    /// come here: nothing was executed.
    pub(crate) fn from_commit(e: sqlx::Error) -> StoreError {
        if connection_lost(&e) {
            StoreError::Ambiguous(e.into())
        } else {
            e.into()
        }
    }

    /// An error of a read after the write's commit (the answer's re-read): the write committed,
    /// but this call cannot say so, so a lost database is [`StoreError::Ambiguous`] (the
    /// caller resolves it by reading again) rather than a failure the caller would report.
    pub(crate) fn after_commit(self) -> StoreError {
        match self {
            StoreError::Unavailable(why) | StoreError::AccessDenied(why) => {
                StoreError::Ambiguous(why)
            }
            other => other,
        }
    }

    /// The write may or may not have committed ([`StoreError::Ambiguous`]).
    pub fn is_ambiguous(&self) -> bool {
        matches!(self, StoreError::Ambiguous(_))
    }
}

/// The connection failed under a statement: the server may have run it to the end.
fn connection_lost(e: &sqlx::Error) -> bool {
    use sqlx::Error as E;
    match e {
        E::Io(_) | E::Tls(_) | E::Protocol(_) | E::WorkerCrashed => true,
        E::Database(db) => db
            .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
            .is_some_and(|m| {
                // 1053 server shutdown, 1317 query interrupted, 1927 connection killed (a
                // procedure can be interrupted after its COMMIT), 2006 / 2013 server gone.
                matches!(m.number(), 1053 | 1317 | 1927 | 2006 | 2013)
            }),
        _ => false,
    }
}

/// Why a store operation failed: a message (the driver's, or ours) and, when the driver raised
/// it, the driver's error as the source (so `error.source()` chains reach sqlx).
#[derive(Debug)]
pub struct Cause {
    message: String,
    source: Option<sqlx::Error>,
}

impl Cause {
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for Cause {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source.as_ref().map(|e| e as &(dyn StdError + 'static))
    }
}

/// `why.contains("1205")` and friends read the message.
impl std::ops::Deref for Cause {
    type Target = str;
    fn deref(&self) -> &str {
        &self.message
    }
}

impl From<String> for Cause {
    fn from(message: String) -> Self {
        Cause {
            message,
            source: None,
        }
    }
}

impl From<&str> for Cause {
    fn from(message: &str) -> Self {
        message.to_owned().into()
    }
}

impl From<sqlx::Error> for Cause {
    fn from(e: sqlx::Error) -> Self {
        Cause {
            message: e.to_string(),
            source: Some(e),
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        use sqlx::Error as E;
        match &e {
            E::PoolTimedOut | E::PoolClosed | E::Io(_) | E::Tls(_) | E::WorkerCrashed => {
                StoreError::Unavailable(e.into())
            }
            E::Database(db) => {
                // MySQL: the error *number* (`code()` is the SQLSTATE, e.g. HY000 for most).
                if let Some(m) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
                    return match m.number() {
                        // 1045: access denied (a rotated password).
                        1045 => StoreError::AccessDenied(e.into()),
                        // 1040 too many connections, 1205 lock wait timeout, 1213 deadlock,
                        // 2006/2013 server gone.
                        1040 | 1205 | 1213 | 2006 | 2013 => StoreError::Unavailable(e.into()),
                        _ => StoreError::Database(e.into()),
                    };
                }
                // SQLite: 5 SQLITE_BUSY, 6 SQLITE_LOCKED (and their extended codes).
                let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
                if matches!(code.as_str(), "5" | "6" | "517" | "261") {
                    StoreError::Unavailable(e.into())
                } else {
                    StoreError::Database(e.into())
                }
            }
            E::Protocol(_) => StoreError::Unavailable(e.into()),
            _ => StoreError::Database(e.into()),
        }
    }
}

pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn driver_errors_stay_reachable_as_the_source() {
        let err = StoreError::from(sqlx::Error::PoolTimedOut);
        assert!(matches!(err, StoreError::Unavailable(_)));
        let cause = err.source().expect("a cause");
        let driver = cause.source().expect("the sqlx error");
        assert!(driver.downcast_ref::<sqlx::Error>().is_some());
        assert!(err.to_string().starts_with("database unavailable: "));
    }

    #[test]
    fn a_lost_connection_under_the_commit_is_ambiguous_anything_else_is_not() {
        let reset = || sqlx::Error::Io(std::io::ErrorKind::ConnectionReset.into());
        let eof = sqlx::Error::Protocol("unexpected end of stream".into());
        assert!(StoreError::from_commit(reset()).is_ambiguous());
        assert!(StoreError::from_commit(eof).is_ambiguous());
        assert!(StoreError::from_commit(sqlx::Error::WorkerCrashed).is_ambiguous());
        assert_eq!(StoreError::from_commit(reset()).kind(), "ambiguous");
        // Before the statement was sent: certainly not executed.
        assert!(matches!(
            StoreError::from_commit(sqlx::Error::PoolTimedOut),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(
            StoreError::from(reset()),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(
            StoreError::from_commit(sqlx::Error::RowNotFound),
            StoreError::Database(_)
        ));
    }

    #[test]
    fn our_own_messages_have_no_source() {
        let err = StoreError::Corrupt("order status \"x\"".into());
        assert_eq!(
            err.to_string(),
            "unexpected data in the database: order status \"x\""
        );
        assert!(err.source().and_then(StdError::source).is_none());
    }
}
