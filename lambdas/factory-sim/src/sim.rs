//! A faithful stand-in for the legacy Factory API, with fault knobs. One stand-in for everyone
//! who needs one: the local stack hosts it in-process (`devstack`'s `factory.rs`), this
//! function deploys it when no real factory URL is configured (`app`), and the orderer's unit
//! tests serve it on 127.0.0.1 (`factory-orderer`'s `orderer/tests.rs`).
//!
//! Behaviour ([`FactorySim::manufacture`]): `POST /api/manufactures` with the legacy body answers
//! `202 {"reference"}` at once (after `latency_ms`), and `delay_ms` later POSTs the completion to
//! `CallbackUrl`. A repeated request for the same `MessageGroupId` (the factory order id, also
//! sent as `Idempotency-Key`) returns the first reference and schedules nothing new.
//! `failure_rate` answers 500 at random, `down` answers 503 to everything.
//!
//! What differs between hosts is behind [`Completions`]: where a completion waits until it is
//! due (a task of the local stack's process; the deployed sim's SQS delay queue) and which
//! callback URLs are allowed (the deployed sim only sends to its `CALLBACK_BASE_URL`).

use inventory::factory::{Completion, ManufactureRequest};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Knobs {
    /// Time from acceptance to the completion callback.
    pub delay_ms: u64,
    /// Extra latency before answering a request.
    pub latency_ms: u64,
    /// Probability (0..=1) of answering 500.
    pub failure_rate: f64,
    /// Answer 503 to everything.
    pub down: bool,
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            delay_ms: 2000,
            latency_ms: 0,
            failure_rate: 0.0,
            down: false,
        }
    }
}

/// Partial update of the knobs (`POST /factory-sim/control`).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnobsPatch {
    pub delay_ms: Option<u64>,
    pub latency_ms: Option<u64>,
    pub failure_rate: Option<f64>,
    pub down: Option<bool>,
}

/// How the sim answers one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// 202 with a reference; `schedule` is the completion to send later (none for a repeat).
    Accepted {
        reference: String,
        schedule: Option<(String, Completion)>,
    },
    Failed(u16, &'static str),
}

/// What a host does with the completion of a newly accepted order.
pub trait Completions: Send + Sync {
    /// Whether completions may be sent to `callback_url`, asked before the request is answered
    /// (refused: 400). Any URL the request validation accepts, unless the host says otherwise.
    fn allows(&self, callback_url: &str) -> bool {
        let _ = callback_url;
        true
    }

    /// Schedules `item` for delivery `delay` from now. An error takes the acceptance back: the
    /// request is answered 503 and a retry of it schedules again.
    fn schedule(
        &self,
        item: ScheduledCompletion,
        delay: Duration,
    ) -> impl Future<Output = Result<(), String>> + Send;
}

/// The answer to a manufacture request: its HTTP status and JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    fn error(status: u16, code: &str, message: &str) -> Reply {
        Reply {
            status,
            body: json!({"error": code, "message": message}),
        }
    }
}

#[derive(Default)]
pub struct FactorySim {
    knobs: Mutex<Knobs>,
    /// factory order id -> reference (idempotency).
    accepted: Mutex<HashMap<String, String>>,
    /// Requests received, including failed and repeated ones.
    pub requests: AtomicU64,
    /// Distinct batches accepted.
    pub batches: AtomicU64,
    /// Completions delivered (2xx from the callback).
    pub completions: AtomicU64,
}

impl FactorySim {
    pub fn new(knobs: Knobs) -> Self {
        FactorySim {
            knobs: Mutex::new(knobs),
            ..Default::default()
        }
    }

    pub fn knobs(&self) -> Knobs {
        self.knobs.lock().map(|k| k.clone()).unwrap_or_default()
    }

    pub fn set(&self, patch: KnobsPatch) -> Knobs {
        let Ok(mut k) = self.knobs.lock() else {
            return Knobs::default();
        };
        if let Some(v) = patch.delay_ms {
            k.delay_ms = v;
        }
        if let Some(v) = patch.latency_ms {
            k.latency_ms = v;
        }
        if let Some(v) = patch.failure_rate {
            k.failure_rate = v.clamp(0.0, 1.0);
        }
        if let Some(v) = patch.down {
            k.down = v;
        }
        k.clone()
    }

    /// Forgets an accepted order, so a retry of the same request is accepted again and schedules
    /// its completion. For a host that could not schedule the completion it was told to send.
    pub fn forget(&self, message_group_id: &str) {
        if let Ok(mut accepted) = self.accepted.lock() {
            accepted.remove(message_group_id);
        }
    }

    /// How many distinct factory orders were accepted for a batch (for tests).
    pub fn accepted_orders(&self) -> usize {
        self.accepted.lock().map(|a| a.len()).unwrap_or_default()
    }

    /// Decides the answer to a request (the caller applies `latency_ms` first).
    pub fn answer(&self, req: &ManufactureRequest) -> Answer {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let knobs = self.knobs();
        if knobs.down {
            return Answer::Failed(503, "factory is down");
        }
        if knobs.failure_rate > 0.0 && rand::random::<f64>() < knobs.failure_rate {
            return Answer::Failed(500, "factory failed");
        }
        let Ok(mut accepted) = self.accepted.lock() else {
            return Answer::Failed(500, "factory state poisoned");
        };
        if let Some(reference) = accepted.get(&req.message_group_id) {
            return Answer::Accepted {
                reference: reference.clone(),
                schedule: None,
            };
        }
        let reference = format!("sim-{}", uuid::Uuid::new_v4().simple());
        accepted.insert(req.message_group_id.clone(), reference.clone());
        self.batches.fetch_add(1, Ordering::Relaxed);
        let completion = Completion {
            message_group_id: Some(req.message_group_id.clone()),
            product_id: req.product_id.clone(),
            product_cnt: req.product_cnt,
            factory_id: Some(req.factory_id.clone()),
            requester: Some(req.requester.clone()),
        };
        Answer::Accepted {
            reference,
            schedule: Some((req.callback_url.clone(), completion)),
        }
    }

    /// `POST /api/manufactures`, as every host answers it: waits `latency_ms`, validates the
    /// body (`Err`: the host could not read it, a 400 like an invalid body), checks the callback
    /// URL with the host, answers ([`FactorySim::answer`]), and has the host schedule a newly
    /// accepted order's completion `delay_ms` from now. Logs one line with the outcome.
    pub async fn manufacture<C: Completions>(
        &self,
        body: Result<&[u8], &str>,
        completions: &C,
    ) -> Reply {
        let started = Instant::now();
        let latency = Duration::from_millis(self.knobs().latency_ms);
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let req = match body.map_err(str::to_owned).and_then(parse_request) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(outcome = "bad_request", status = 400, error = %e, "factory-sim: manufacture request");
                return Reply::error(400, "bad_request", &e);
            }
        };
        let factory_order_id = req.message_group_id.clone();
        if !completions.allows(&req.callback_url) {
            tracing::warn!(outcome = "bad_request", status = 400, factory_order_id = %factory_order_id, error = "CallbackUrl not allowed", "factory-sim: manufacture request");
            return Reply::error(
                400,
                "bad_request",
                "CallbackUrl is not an allowed callback URL",
            );
        }
        match self.answer(&req) {
            Answer::Accepted {
                reference,
                schedule,
            } => {
                let repeat = schedule.is_none();
                if let Some((callback_url, completion)) = schedule {
                    let item = ScheduledCompletion {
                        callback_url,
                        completion,
                    };
                    let delay = Duration::from_millis(self.knobs().delay_ms);
                    if let Err(e) = completions.schedule(item, delay).await {
                        // Not accepted after all: a retry must schedule the completion again.
                        self.forget(&factory_order_id);
                        tracing::error!(outcome = "not_scheduled", status = 503, factory_order_id = %factory_order_id, error = %e, "factory-sim: manufacture request: could not schedule the completion");
                        return Reply::error(
                            503,
                            "factory_error",
                            "could not schedule the completion",
                        );
                    }
                }
                let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
                tracing::info!(outcome = "accepted", status = 202, factory_order_id = %factory_order_id, factory_ref = %reference, repeat, latency_ms, "factory-sim: manufacture request");
                Reply {
                    status: 202,
                    body: json!({"reference": reference, "status": "accepted"}),
                }
            }
            Answer::Failed(status, why) => {
                let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
                tracing::warn!(outcome = "failed", status, factory_order_id = %factory_order_id, error = why, latency_ms, "factory-sim: manufacture request");
                Reply::error(status, "factory_error", why)
            }
        }
    }

    /// Sends a due completion to its callback URL ([`deliver`]) and counts it in `completions`
    /// when the callback answered 2xx. The callback's final status; None if never reached.
    pub async fn complete(
        &self,
        http: &reqwest::Client,
        item: &ScheduledCompletion,
    ) -> Option<u16> {
        let status = deliver(http, &item.callback_url, &item.completion).await;
        if status.is_some_and(|s| (200..300).contains(&s)) {
            self.completions.fetch_add(1, Ordering::Relaxed);
        }
        status
    }
}

/// Validates a manufacture request body.
pub fn parse_request(body: &[u8]) -> Result<ManufactureRequest, String> {
    let req: ManufactureRequest =
        serde_json::from_slice(body).map_err(|e| format!("invalid manufacture request: {e}"))?;
    if req.product_cnt <= 0 {
        return Err("MessageAttributeProductCnt must be positive".into());
    }
    if !(req.callback_url.starts_with("http://") || req.callback_url.starts_with("https://")) {
        return Err("CallbackUrl must be an http(s) URL".into());
    }
    Ok(req)
}

/// A completion waiting to be delivered: what the deployed sim puts on its delay queue.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ScheduledCompletion {
    pub callback_url: String,
    pub completion: Completion,
}

/// Whether the sim may POST a completion to `url`. With no `allowed_base`, any http(s) URL;
/// otherwise only URLs with the base's scheme, host and port whose path is under the base's path
/// (and no user info), so a public sim cannot be used to send requests anywhere else.
pub fn callback_allowed(url: &str, allowed_base: Option<&str>) -> bool {
    let Ok(url) = reqwest::Url::parse(url) else {
        return false;
    };
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return false;
    }
    let Some(base) = allowed_base else {
        return true;
    };
    let Ok(base) = reqwest::Url::parse(base.trim()) else {
        return false;
    };
    if !url.username().is_empty() || url.password().is_some() {
        return false;
    }
    let prefix = base.path().trim_end_matches('/');
    url.origin() == base.origin()
        && (url.path() == prefix || url.path().starts_with(&format!("{prefix}/")))
}

/// POSTs a completion to its callback URL, retrying a few times like a legacy system would.
/// Returns the final HTTP status (or None if never reached).
pub async fn deliver(http: &reqwest::Client, url: &str, completion: &Completion) -> Option<u16> {
    let mut last = None;
    for attempt in 0..4u32 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(200 * 2u64.pow(attempt))).await;
        }
        match http.post(url).json(completion).send().await {
            Ok(res) => {
                let status = res.status().as_u16();
                last = Some(status);
                if res.status().is_success() || (400..500).contains(&status) {
                    return last;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e.without_url(), attempt, "factory-sim: callback failed")
            }
        }
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callbacks_are_limited_to_the_allowed_base() {
        let base = Some("https://abc.execute-api.us-east-1.amazonaws.com");
        let ok = "https://abc.execute-api.us-east-1.amazonaws.com/factory/callbacks/o1?token=t";
        assert!(callback_allowed(ok, base));
        assert!(callback_allowed(
            ok,
            Some("https://abc.execute-api.us-east-1.amazonaws.com/")
        ));
        assert!(callback_allowed(ok, None));
        assert!(callback_allowed("http://127.0.0.1:3000/x", None));
        for bad in [
            "https://abc.execute-api.us-east-1.amazonaws.com.evil.example/factory/callbacks/o1",
            "https://abc.execute-api.us-east-1.amazonaws.com@evil.example/factory/callbacks/o1",
            "https://u:p@abc.execute-api.us-east-1.amazonaws.com/factory/callbacks/o1",
            "http://abc.execute-api.us-east-1.amazonaws.com/factory/callbacks/o1",
            "https://abc.execute-api.us-east-1.amazonaws.com:8443/factory/callbacks/o1",
            "https://evil.example/factory/callbacks/o1",
            "ftp://abc.execute-api.us-east-1.amazonaws.com/x",
            "not a url",
        ] {
            assert!(!callback_allowed(bad, base), "{bad}");
        }
        assert!(!callback_allowed("ftp://x/y", None));
        let under = Some("https://h.example/prod");
        assert!(callback_allowed(
            "https://h.example/prod/factory/callbacks/o1",
            under
        ));
        assert!(!callback_allowed("https://h.example/production/x", under));
        assert!(!callback_allowed("https://h.example/other", under));
    }

    #[test]
    fn forget_lets_a_retry_schedule_again() {
        let sim = FactorySim::new(Knobs::default());
        let req = parse_request(
            br#"{"MessageGroupId":"o1","MessageAttributeProductId":"glazed","MessageAttributeProductCnt":10,"MessageAttributeFactoryId":"f","MessageAttributeRequester":"r","CallbackUrl":"https://h.example/cb"}"#,
        )
        .unwrap();
        let Answer::Accepted {
            reference,
            schedule,
        } = sim.answer(&req)
        else {
            panic!("accepted")
        };
        assert!(schedule.is_some());
        assert!(
            matches!(sim.answer(&req), Answer::Accepted { schedule: None, reference: r } if r == reference)
        );
        sim.forget("o1");
        assert!(matches!(
            sim.answer(&req),
            Answer::Accepted {
                schedule: Some(_),
                ..
            }
        ));
    }
}
