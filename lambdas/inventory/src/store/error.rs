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
            StoreError::Database(_) => "database",
            StoreError::Corrupt(_) => "corrupt",
        }
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
    fn our_own_messages_have_no_source() {
        let err = StoreError::Corrupt("order status \"x\"".into());
        assert_eq!(
            err.to_string(),
            "unexpected data in the database: order status \"x\""
        );
        assert!(err.source().and_then(StdError::source).is_none());
    }
}
