//! A stand-in Factory API answering a script of statuses before accepting.

use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One answer of the scripted factory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Answer with this status and a JSON error body.
    Status(u16),
    /// Hold the request this long, then accept (a timeout when longer than the client's).
    Hang(Duration),
    /// `202 {"reference"}`; the completion is POSTed to the callback URL `delay` later (once
    /// per factory order, like a factory honouring the idempotency key).
    Accept,
}

/// A stand-in Factory API on 127.0.0.1 following a script (then accepting everything).
pub struct ScriptedFactory {
    pub base_url: String,
    script: Mutex<std::collections::VecDeque<Step>>,
    /// Every request: (idempotency key, step answered).
    pub log: Mutex<Vec<(String, Step)>>,
    accepted: Mutex<HashMap<String, String>>,
    pub requests: AtomicU64,
    pub batches: AtomicU64,
    pub completions: AtomicU64,
    pub completion_delay: Duration,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl ScriptedFactory {
    pub async fn start(script: Vec<Step>, completion_delay: Duration) -> Arc<ScriptedFactory> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind scripted factory");
        let addr = listener.local_addr().expect("addr");
        let f = Arc::new(ScriptedFactory {
            base_url: format!("http://{addr}"),
            script: Mutex::new(script.into()),
            log: Mutex::new(Vec::new()),
            accepted: Mutex::new(HashMap::new()),
            requests: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            completions: AtomicU64::new(0),
            completion_delay,
            task: Mutex::new(None),
        });
        let me = Arc::downgrade(&f);
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let Some(f) = me.upgrade() else { return };
                tokio::spawn(async move { f.serve(sock).await });
            }
        });
        *f.task.lock().expect("task") = Some(task);
        f
    }

    pub fn keys(&self) -> Vec<String> {
        self.log
            .lock()
            .map(|l| l.iter().map(|(k, _)| k.clone()).collect())
            .unwrap_or_default()
    }

    async fn serve(self: Arc<Self>, mut sock: tokio::net::TcpStream) {
        let Some((head, body)) = read_http_message(&mut sock).await else {
            return;
        };
        let key = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case("idempotency-key")
                    .then(|| v.trim().to_owned())
            })
            .unwrap_or_default();
        self.requests.fetch_add(1, Ordering::SeqCst);
        let step = self
            .script
            .lock()
            .ok()
            .and_then(|mut s| s.pop_front())
            .unwrap_or(Step::Accept);
        if let Ok(mut l) = self.log.lock() {
            l.push((key.clone(), step));
        }
        let (status, reply) = match step {
            Step::Status(s) => (
                s,
                json!({"error": "scripted", "message": format!("scripted {s}")}),
            ),
            Step::Hang(d) => {
                tokio::time::sleep(d).await;
                self.accept(&key, &body)
            }
            Step::Accept => self.accept(&key, &body),
        };
        let text = reply.to_string();
        let mut res = format!(
            "HTTP/1.1 {status} Scripted\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
            text.len()
        );
        if status == 429 {
            res.push_str("retry-after: 1\r\n");
        }
        res.push_str("\r\n");
        res.push_str(&text);
        let _ = sock.write_all(res.as_bytes()).await;
        let _ = sock.shutdown().await;
    }

    fn accept(self: &Arc<Self>, key: &str, body: &[u8]) -> (u16, Value) {
        let mut accepted = self.accepted.lock().expect("accepted");
        if let Some(r) = accepted.get(key) {
            return (202, json!({"reference": r, "status": "accepted"}));
        }
        let Ok(req) = serde_json::from_slice::<Value>(body) else {
            return (400, json!({"error": "bad_request"}));
        };
        let reference = format!("scripted-{}", uuid::Uuid::new_v4().simple());
        accepted.insert(key.to_owned(), reference.clone());
        self.batches.fetch_add(1, Ordering::SeqCst);
        let me = self.clone();
        let delay = self.completion_delay;
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let url = req["CallbackUrl"].as_str().unwrap_or_default().to_owned();
            let completion = json!({
                "MessageGroupId": req["MessageGroupId"],
                "MessageAttributeProductId": req["MessageAttributeProductId"],
                "MessageAttributeProductCnt": req["MessageAttributeProductCnt"],
                "MessageAttributeFactoryId": req["MessageAttributeFactoryId"],
                "MessageAttributeRequester": req["MessageAttributeRequester"],
            });
            let sent = reqwest::Client::new()
                .post(url)
                .json(&completion)
                .send()
                .await;
            if sent.is_ok_and(|r| r.status().is_success()) {
                me.completions.fetch_add(1, Ordering::SeqCst);
            }
        });
        (202, json!({"reference": reference, "status": "accepted"}))
    }
}

impl Drop for ScriptedFactory {
    fn drop(&mut self) {
        if let Ok(mut t) = self.task.lock()
            && let Some(t) = t.take()
        {
            t.abort();
        }
    }
}

/// Reads one HTTP/1.1 message (head, body by content-length).
async fn read_http_message(sock: &mut tokio::net::TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some((head, body))
}
