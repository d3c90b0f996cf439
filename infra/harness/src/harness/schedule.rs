//! The template's EventBridge schedules: fired on demand, or on their `rate(…)`.

use super::Harness;
use crate::{Error, invoke_async, template};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

impl Harness {
    /// Fires a schedule of the template (`function`'s event `name`) now, as EventBridge does:
    /// an asynchronous invocation with a scheduled event.
    pub async fn fire_schedule(&self, function: &str, name: &str) -> Result<bool, Error> {
        let s = self
            .template
            .schedules(&self.values)?
            .into_iter()
            .find(|s| s.function == function && s.name == name)
            .ok_or_else(|| format!("the template has no schedule {function}.{name}"))?;
        let target = self
            .async_targets
            .get(&s.function)
            .ok_or_else(|| format!("no function {}", s.function))?;
        let event = json!({
            "version": "0",
            "id": uuid::Uuid::new_v4().to_string(),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": template::ACCOUNT,
            "time": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "region": template::REGION,
            "resources": [format!("arn:aws:events:{}:{}:rule/{}-{}{}", template::REGION, template::ACCOUNT, self.template.stack_name, s.function, s.name)],
            "detail": {},
        });
        Ok(invoke_async(target, &event, &self.logs).await)
    }

    /// Runs a schedule's rate (`rate(1 minute)`) forever; cron schedules are fired on demand.
    pub fn schedule_timers(self: &Arc<Self>) -> Result<Vec<tokio::task::JoinHandle<()>>, Error> {
        let mut out = Vec::new();
        for s in self.template.schedules(&self.values)? {
            let Some(every) = rate(&s.expression) else {
                continue;
            };
            if !s.enabled {
                continue;
            }
            let h = self.clone();
            out.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    let _ = h.fire_schedule(&s.function, &s.name).await;
                }
            }));
        }
        Ok(out)
    }
}

/// `rate(5 minutes)` → 5 min.
pub fn rate(expr: &str) -> Option<Duration> {
    let inner = expr.trim().strip_prefix("rate(")?.strip_suffix(')')?;
    let (n, unit) = inner.trim().split_once(' ')?;
    let n: u64 = n.parse().ok()?;
    let secs = match unit.trim_end_matches('s') {
        "minute" => 60,
        "hour" => 3600,
        "day" => 86400,
        _ => return None,
    };
    Some(Duration::from_secs(n * secs))
}

#[cfg(test)]
mod tests {
    #[test]
    fn rates() {
        assert_eq!(super::rate("rate(1 minute)").map(|d| d.as_secs()), Some(60));
        assert_eq!(
            super::rate("rate(2 hours)").map(|d| d.as_secs()),
            Some(7200)
        );
        assert_eq!(super::rate("cron(15 0 * * ? *)"), None);
    }
}
