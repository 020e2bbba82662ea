//! A small client for the JobManager's REST API that turns every failure into one
//! clear line: unreachable address, Flink-style `{"errors": [...]}`, bad JSON.

use std::time::Duration;

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
    base: String,
    http: reqwest::Client,
}

impl RestClient {
    pub fn new(base: String) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .build()
            .expect("HTTP client");
        Self { base, http }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, RestError> {
        self.call(self.http.get(format!("{}{path}", self.base)), path).await
    }

    pub async fn post<B: serde::Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T, RestError> {
        self.call(self.http.post(format!("{}{path}", self.base)).json(body), path).await
    }

    pub async fn patch(&self, path: &str) -> Result<serde_json::Value, RestError> {
        self.call(self.http.patch(format!("{}{path}", self.base)), path).await
    }

    async fn call<T: DeserializeOwned>(&self, request: reqwest::RequestBuilder, path: &str) -> Result<T, RestError> {
        let url = format!("{}{path}", self.base);
        let response = request.send().await.map_err(|e| RestError::Unreachable { url: self.base.clone(), reason: root_cause(&e) })?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| RestError::Unreachable { url: self.base.clone(), reason: root_cause(&e) })?;
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
