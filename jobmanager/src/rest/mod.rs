//! The REST API, with Flink's paths and JSON field names so that tools built for
//! Flink's REST API can drive Rask. Every error is JSON: `{"errors": ["..."]}`.

mod handlers;
mod job_config;
mod jobs;
mod savepoints;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::configuration::JobManagerConfiguration;
use crate::dispatcher::Dispatcher;
use crate::resource_manager::ResourceManager;

/// What the handlers may read. Each component is reached through its own methods.
#[derive(Clone)]
pub struct RestState {
    pub resource_manager: Arc<ResourceManager>,
    pub dispatcher: Arc<Dispatcher>,
    pub configuration: Arc<JobManagerConfiguration>,
    pub started: Instant,
}

/// The longest request target (path and query) answered; longer ones get a 414.
const MAX_URI_BYTES: usize = 8 * 1024;

pub fn router(state: RestState) -> Router {
    let max_body = state.configuration.max_content_length;
    // Every endpoint at its plain path and under /v1/, as Flink serves them (its own
    // clients call the versioned paths).
    let endpoints = endpoints();
    Router::new()
        .merge(endpoints.clone())
        .nest("/v1", endpoints)
        .fallback(handlers::not_found)
        .method_not_allowed_fallback(handlers::method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn_with_state(max_body, json_errors))
        .with_state(state)
}

/// The REST endpoints, by Flink's paths.
fn endpoints() -> Router<RestState> {
    Router::new()
        .route("/config", get(handlers::web_config))
        .route("/overview", get(handlers::overview))
        .route("/taskmanagers", get(handlers::taskmanagers))
        .route("/taskmanagers/{id}", get(handlers::taskmanager_detail))
        .route("/jobmanager/config", get(handlers::jobmanager_config))
        .route("/jobmanager/metrics", get(handlers::jobmanager_metrics))
        .route("/jobs", get(jobs::list).post(jobs::submit))
        .route("/jobs/overview", get(jobs::overview))
        .route("/jobs/{id}", get(jobs::detail).patch(jobs::cancel))
        .route("/jobs/{id}/exceptions", get(jobs::exceptions))
        .route("/jobs/{id}/config", get(job_config::config))
        .route("/jobs/{id}/jobmanager/config", get(job_config::jobmanager_config))
        .route("/jobs/{id}/checkpoints", get(jobs::checkpoints))
        .route("/jobs/{id}/savepoints", axum::routing::post(savepoints::trigger))
        .route("/jobs/{id}/savepoints/{trigger}", get(savepoints::status))
        .route("/jobs/{id}/stop", axum::routing::post(savepoints::stop))
        .route("/savepoint-disposal", axum::routing::post(savepoints::dispose))
        .route("/savepoint-disposal/{trigger}", get(savepoints::disposal_status))
        .route("/jobs/{id}/output", get(jobs::output))
}

/// Every error answer in Flink's JSON shape, including those produced before a
/// handler runs (body too large, unreadable path or query); a request target
/// longer than [`MAX_URI_BYTES`] gets a 414.
async fn json_errors(State(max_body): State<usize>, request: Request, next: Next) -> Response {
    let target = request.uri().path_and_query().map(|p| p.as_str().len()).unwrap_or(0);
    if target > MAX_URI_BYTES {
        let message = format!("The request target is {target} bytes; at most {MAX_URI_BYTES} are accepted.");
        return RestError { status: StatusCode::URI_TOO_LONG, message }.into_response();
    }
    let response = next.run(request).await;
    let status = response.status();
    let json = response.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || json {
        return response;
    }
    let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
        format!("The request body is larger than rest.server.max-content-length ({max_body} bytes).")
    } else {
        let bytes = axum::body::to_bytes(response.into_body(), 64 * 1024).await.unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes).trim().to_string();
        if text.is_empty() {
            status.canonical_reason().unwrap_or("error").to_string()
        } else {
            text
        }
    };
    RestError { status, message }.into_response()
}

/// An error answer in Flink's shape.
pub struct RestError {
    pub status: StatusCode,
    pub message: String,
}

impl RestError {
    pub fn not_found(message: impl Into<String>) -> Self {
        Self { status: StatusCode::NOT_FOUND, message: message.into() }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self { status: StatusCode::BAD_REQUEST, message: message.into() }
    }
}

impl IntoResponse for RestError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "errors": [self.message] }))).into_response()
    }
}
