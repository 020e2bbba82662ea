//! A small client for the JobManager's REST API that turns every failure into one
//! clear line: unreachable address, Flink-style `{"errors": [...]}`, bad JSON.

use std::sync::Arc;
use std::time::Duration;

use rask_common::leader::LeaderRetrieval;

use serde::de::DeserializeOwned;

#[derive(Debug, thiserror::Error)]
pub enum RestError {
    #[error("could not reach the JobManager at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the JobManager at {url} answered {status}: {message}")]
    Status { url: String, status: u16, message: String },
    #[error("unexpected answer from {url}: {reason}")]
    Malformed { url: String, reason: String },
}

pub struct RestClient {
    base: parking_lot::RwLock<String>,
    http: reqwest::Client,
    /// etcd HA: where to find the next leader when this one stops answering.
    leader: Option<Arc<dyn LeaderRetrieval>>,
}

/// How long a read waits for a new leader after the JobManager stopped answering.
const FAILOVER_WAIT: Duration = Duration::from_secs(30);

impl RestClient {
    pub fn new(base: String) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .build()
            .expect("HTTP client");
        Self { base: parking_lot::RwLock::new(base), http, leader: None }
    }

    /// A client of the leader at `base` that moves to the next leader when
    /// `leader` announces one (reads are retried; submissions are not).
    pub fn following(base: String, leader: Arc<dyn LeaderRetrieval>) -> Self {
        Self { leader: Some(leader), ..Self::new(base) }
    }

    pub fn base(&self) -> String {
        self.base.read().clone()
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, RestError> {
        let deadline = std::time::Instant::now() + FAILOVER_WAIT;
        loop {
            let result = self.call(self.http.get(format!("{}{path}", self.base())), path).await;
            match result {
                Err(RestError::Unreachable { .. } | RestError::Status { status: 503, .. })
                    if self.leader.is_some() && std::time::Instant::now() < deadline =>
                {
                    self.await_leader(deadline).await;
                }
                other => return other,
            }
        }
    }

    pub async fn post<B: serde::Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T, RestError> {
        self.call(self.http.post(format!("{}{path}", self.base())).json(body), path).await
    }

    pub async fn patch(&self, path: &str) -> Result<serde_json::Value, RestError> {
        self.call(self.http.patch(format!("{}{path}", self.base())), path).await
    }

    /// Waits briefly for the leader to move, then points at wherever it is.
    async fn await_leader(&self, deadline: std::time::Instant) {
        let Some(leader) = &self.leader else { return };
        let mut rx = leader.subscribe();
        let pause = tokio::time::sleep(Duration::from_millis(200));
        let _ = tokio::time::timeout_at(deadline.into(), async {
            pause.await;
            let _ = rx.wait_for(Option::is_some).await;
        })
        .await;
        let next = rx.borrow().clone();
        if let Some(next) = next {
            *self.base.write() = next.rest_url;
        }
    }

    async fn call<T: DeserializeOwned>(&self, request: reqwest::RequestBuilder, path: &str) -> Result<T, RestError> {
        let base = self.base();
        let url = format!("{base}{path}");
        let response = request.send().await.map_err(|e| RestError::Unreachable { url: base.clone(), reason: root_cause(&e) })?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| RestError::Unreachable { url: base.clone(), reason: root_cause(&e) })?;
        if !status.is_success() {
            let message = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("errors")?.as_array().map(|e| e.iter().filter_map(|m| m.as_str()).collect::<Vec<_>>().join("; ")))
                .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
            return Err(RestError::Status { url, status: status.as_u16(), message });
        }
        serde_json::from_slice(&body).map_err(|e| RestError::Malformed { url, reason: e.to_string() })
    }
}

/// The innermost cause, which names the actual problem ("Connection refused").
fn root_cause(e: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let text = cause.to_string();
    if e.is_timeout() {
        format!("timed out ({text})")
    } else {
        text
    }
}
