//! Errors of the operator commands, with the HTTP status the `/ops` routes answer with.

use inventory::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("publish failed: {0}")]
    Publish(String),
}

impl OpsError {
    pub fn status(&self) -> u16 {
        match self {
            OpsError::Invalid(_) => 400,
            OpsError::NotFound(_) => 404,
            OpsError::Conflict(_) => 409,
            OpsError::Store(_) => 503,
            OpsError::Publish(_) => 502,
        }
    }
    pub fn code(&self) -> &'static str {
        match self {
            OpsError::Invalid(_) => "invalid_request",
            OpsError::NotFound(_) => "not_found",
            OpsError::Conflict(_) => "conflict",
            OpsError::Store(_) => "unavailable",
            OpsError::Publish(_) => "publish_failed",
        }
    }
}
