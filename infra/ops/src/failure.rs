//! How a command fails, and the exit status each way maps to.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Failed(String),
    #[error("{0}")]
    Alarm(String),
}

impl From<ops_core::OpsError> for Failure {
    fn from(e: ops_core::OpsError) -> Self {
        Failure::Failed(e.to_string())
    }
}

impl Failure {
    /// The exit status: 2 usage error, 3 an alarm in ALARM (`alarms --check`), 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Usage(_) => 2,
            Failure::Alarm(_) => 3,
            Failure::Failed(_) => 1,
        }
    }
}
