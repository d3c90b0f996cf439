//! An ambiguous commit, resolved before answering: the connection failed at or after the
//! statement that commits ([`StoreError::Ambiguous`]), so the write may have committed or not.
//! The handler asks the database what happened, within the request's deadline (Lambda's
//! deadline on AWS; [`LOCAL_BUDGET`] where there is none, as on the local stack), and answers
//! what it finds; when the database cannot tell it in time, `503 outcome_unknown` naming what
//! the client can look up later.
//!
//! Every resolution logs one line `ambiguous outcome` with `operation` (`sale`, `admin_put`,
//! `restock`) and `resolution`: `committed`, `not_committed` or `unknown`.

use super::request::Call;
use crate::store::StoreError;
use lambda_http::RequestExt;
use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

/// Without a Lambda deadline (the local stack, tests): as long as the deployed function has
/// (`SalesApiFunction`'s `Timeout: 10` in template.yaml), less [`MARGIN`].
pub const LOCAL_BUDGET: Duration = Duration::from_secs(9);
/// Kept free before Lambda's deadline to send the answer.
const MARGIN: Duration = Duration::from_millis(1000);
/// The first wait between two questions to a database that does not answer (doubling, at
/// most [`MAX_PAUSE`]).
const FIRST_PAUSE: Duration = Duration::from_millis(50);
const MAX_PAUSE: Duration = Duration::from_millis(500);

/// Until when a handler may keep asking.
#[derive(Debug, Clone, Copy)]
pub(super) struct Deadline(Instant);

impl Deadline {
    /// The invocation's deadline less the margin, or [`LOCAL_BUDGET`] from now.
    pub fn of(call: &Call) -> Self {
        let now = Instant::now();
        let budget = call
            .head
            .extensions
            .lambda_context_ref()
            .map(|ctx| {
                let now_ms = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_millis() as u64)
                    .unwrap_or_default();
                Duration::from_millis(ctx.deadline.saturating_sub(now_ms)).saturating_sub(MARGIN)
            })
            .unwrap_or(LOCAL_BUDGET);
        Deadline(now + budget)
    }

    #[cfg(test)]
    pub fn after(budget: Duration) -> Self {
        Deadline(Instant::now() + budget)
    }

    /// `work`, unless the deadline comes first (`None`).
    pub async fn run<T>(&self, work: impl Future<Output = T>) -> Option<T> {
        tokio::time::timeout_at(self.0, work).await.ok()
    }

    /// Waits `pause` (then doubles it), or returns `false` if the deadline would pass first.
    async fn pause(&self, pause: &mut Duration) -> bool {
        if Instant::now() + *pause >= self.0 {
            return false;
        }
        tokio::time::sleep(*pause).await;
        *pause = (*pause * 2).min(MAX_PAUSE);
        true
    }
}

/// What the database said about an ambiguous write.
pub(super) enum Found<T> {
    /// It committed: what it wrote.
    Committed(T),
    /// It certainly did not commit.
    NotCommitted,
}

/// Asks `check` until the database answers or the deadline passes (`None`: still unknown).
/// Errors of `check` (the database still away) are waited out.
pub(super) async fn ask<T, F, Fut>(deadline: &Deadline, mut check: F) -> Option<Found<T>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Found<T>, StoreError>>,
{
    let mut pause = FIRST_PAUSE;
    loop {
        match deadline.run(check()).await? {
            Ok(found) => return Some(found),
            Err(e) => {
                tracing::debug!(error = %e, "the outcome is not known yet: asking again");
                if !deadline.pause(&mut pause).await {
                    return None;
                }
            }
        }
    }
}

/// The log line of a resolution (`resolution`: `committed`, `not_committed`, `unknown`).
pub(super) fn log(operation: &'static str, resolution: &'static str, id: &str) {
    if resolution == "unknown" {
        tracing::error!(operation, resolution, id, "ambiguous outcome");
    } else {
        tracing::warn!(operation, resolution, id, "ambiguous outcome");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn asks_until_the_database_answers_or_the_deadline() {
        let deadline = Deadline::after(Duration::from_secs(2));
        let mut asked = 0;
        let found = ask(&deadline, || {
            asked += 1;
            let n = asked;
            async move {
                if n < 4 {
                    Err(StoreError::Unavailable("down".into()))
                } else {
                    Ok(Found::Committed(n))
                }
            }
        })
        .await;
        assert!(matches!(found, Some(Found::Committed(4))));

        let deadline = Deadline::after(Duration::from_millis(300));
        let started = Instant::now();
        let never: Option<Found<()>> = ask(&deadline, || async {
            Err(StoreError::Unavailable("down".into()))
        })
        .await;
        assert!(never.is_none());
        assert!(started.elapsed() < Duration::from_millis(400));
    }
}
