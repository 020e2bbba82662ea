//! A small client for the JobManager's REST API that turns every failure into one
//! clear line: unreachable address, Flink-style `{"errors": [...]}`, bad JSON.

use std::sync::Arc;
use std::time::Duration;

use rask_common::leader::LeaderRetrieval;
use rask_common::security::RestTls;

use serde::de::DeserializeOwned;

#[derive(Debug, thiserror::Error)]
pub enum RestError {
    #[error("could not reach the JobManager at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the JobManager at {url} answered {status}: {message}")]
    Status { url: String, status: u16, message: String },
    #[error("unexpected answer from {url}: {reason}")]
    Malformed { url: String, reason: String },
    #[error("REST TLS: {reason}")]
    Tls { reason: String },
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
    /// A client of the JobManager at `base` (`http://` or `https://host:port`); with
    /// `tls` (security.ssl.rest.*), it trusts only that CA and presents the client
    /// certificate when one is configured.
    pub fn new(base: String, tls: Option<&RestTls>) -> Result<Self, RestError> {
        let mut builder = reqwest::Client::builder().connect_timeout(Duration::from_secs(5)).timeout(Duration::from_secs(30));
        if let Some(tls) = tls {
            let setup = |reason: String| RestError::Tls { reason };
            let (trust, identity) = tls.client_parts();
            builder = builder.use_rustls_tls().tls_built_in_root_certs(false);
            if let Some(trust) = trust {
                builder = builder.add_root_certificate(
                    reqwest::Certificate::from_pem(trust).map_err(|e| setup(format!("security.ssl.rest.trust-cert: {e}")))?,
                );
            }
            if let Some(identity) = identity {
                builder = builder.identity(reqwest::Identity::from_pem(&identity).map_err(|e| setup(format!("client certificate: {e}")))?);
            }
        }
        let http = builder.build().map_err(|e| RestError::Tls { reason: e.to_string() })?;
        Ok(Self { base: parking_lot::RwLock::new(base), http, leader: None })
    }

    /// A client of the leader at `base` that moves to the next leader when
    /// `leader` announces one (reads are retried; other requests only when they
    /// certainly were not acted on).
    pub fn following(base: String, tls: Option<&RestTls>, leader: Arc<dyn LeaderRetrieval>) -> Result<Self, RestError> {
        Ok(Self { leader: Some(leader), ..Self::new(base, tls)? })
    }

    pub fn base(&self) -> String {
        self.base.read().clone()
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, RestError> {
        self.request(reqwest::Method::GET, path, None, true).await
    }

    pub async fn post<B: serde::Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T, RestError> {
        let body = serde_json::to_vec(body).map_err(|e| RestError::Malformed { url: self.base(), reason: e.to_string() })?;
        self.request(reqwest::Method::POST, path, Some(body), false).await
    }

    pub async fn patch(&self, path: &str) -> Result<serde_json::Value, RestError> {
        self.request(reqwest::Method::PATCH, path, None, false).await
    }

    /// Sends a request; with HA, moves to the next leader and retries while there is
    /// none or it cannot be reached. A request that may have been acted on (it was
    /// sent, and no 503 came back) is retried only when `idempotent`.
    async fn request<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Vec<u8>>,
        idempotent: bool,
    ) -> Result<T, RestError> {
        let deadline = std::time::Instant::now() + FAILOVER_WAIT;
        loop {
            let mut request = self.http.request(method.clone(), format!("{}{path}", self.base()));
            if let Some(body) = &body {
                request = request.header(reqwest::header::CONTENT_TYPE, "application/json").body(body.clone());
            }
            match self.call(request, path).await {
                Err((error, not_acted_on))
                    if self.leader.is_some()
                        && std::time::Instant::now() < deadline
                        && (not_acted_on || (idempotent && matches!(error, RestError::Unreachable { .. }))) =>
                {
                    self.await_leader(deadline).await;
                }
                other => return other.map_err(|(error, _)| error),
            }
        }
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

    /// One attempt. An error comes with whether the JobManager certainly did not act on
    /// the request (it was never connected to, or it answered 503).
    async fn call<T: DeserializeOwned>(&self, request: reqwest::RequestBuilder, path: &str) -> Result<T, (RestError, bool)> {
        let base = self.base();
        let url = format!("{base}{path}");
        let response =
            request.send().await.map_err(|e| (RestError::Unreachable { url: base.clone(), reason: root_cause(&e) }, e.is_connect()))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| (RestError::Unreachable { url: base.clone(), reason: root_cause(&e) }, false))?;
        if !status.is_success() {
            let message = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("errors")?.as_array().map(|e| e.iter().filter_map(|m| m.as_str()).collect::<Vec<_>>().join("; ")))
                .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
            let unavailable = status == reqwest::StatusCode::SERVICE_UNAVAILABLE;
            return Err((RestError::Status { url, status: status.as_u16(), message }, unavailable));
        }
        serde_json::from_slice(&body).map_err(|e| (RestError::Malformed { url, reason: e.to_string() }, false))
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
