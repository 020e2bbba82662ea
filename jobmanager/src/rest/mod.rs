//! The REST API, with Flink's paths and JSON field names so that tools built for
//! Flink's REST API can drive Rask. Every error is JSON: `{"errors": ["..."]}`.

mod applications;
mod checkpoints;
mod dashboard;
mod handlers;
mod job_config;
mod jobs;
mod logs;
mod metrics;
mod savepoints;
mod vertices;

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
    pub metrics: Arc<crate::metrics::JobManagerMetrics>,
    /// The process's CPU load, for `/jobmanager/metrics`.
    pub cpu: Arc<rask_common::hardware::CpuLoad>,
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
        .merge(dashboard::routes())
        .fallback(handlers::not_found)
        .method_not_allowed_fallback(handlers::method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn_with_state(max_body, json_errors))
        .with_state(state)
}

/// The REST endpoints, by Flink's paths.
fn endpoints() -> Router<RestState> {
    use axum::routing::post;
    Router::new()
        .route("/config", get(handlers::web_config))
        .route("/overview", get(handlers::overview))
        .route("/applications/overview", get(applications::overview))
        .route("/applications/{id}", get(applications::detail))
        .route("/applications/{id}/exceptions", get(applications::exceptions))
        .route("/taskmanagers", get(handlers::taskmanagers))
        .route("/taskmanagers/{id}", get(handlers::taskmanager_detail))
        .route("/taskmanagers/{id}/metrics", get(metrics::taskmanager))
        .route("/taskmanagers/{id}/log", get(logs::taskmanager_log))
        .route("/taskmanagers/{id}/logs", get(logs::taskmanager_logs))
        .route("/taskmanagers/{id}/logs/{name}", get(logs::taskmanager_log_file))
        .route("/taskmanagers/{id}/stdout", get(logs::taskmanager_stdout))
        .route("/taskmanagers/{id}/thread-dump", get(logs::taskmanager_thread_dump))
        .route("/jobmanager/config", get(handlers::jobmanager_config))
        .route("/jobmanager/environment", get(applications::environment))
        .route("/jobmanager/metrics", get(metrics::jobmanager))
        .route("/jobmanager/log", get(logs::jobmanager_log))
        .route("/jobmanager/logs", get(logs::jobmanager_logs))
        .route("/jobmanager/logs/{name}", get(logs::jobmanager_log_file))
        .route("/jobmanager/stdout", get(logs::jobmanager_stdout))
        .route("/jobmanager/thread-dump", get(logs::jobmanager_thread_dump))
        .route("/jobs", get(jobs::list).post(jobs::submit))
        .route("/jobs/overview", get(jobs::overview))
        .route("/jobs/{id}", get(jobs::detail).patch(jobs::cancel))
        .route("/jobs/{id}/plan", get(jobs::plan))
        .route("/jobs/{id}/metrics", get(metrics::job))
        .route("/jobs/{id}/accumulators", get(vertices::job_accumulators))
        .route("/jobs/{id}/exceptions", get(jobs::exceptions))
        .route("/jobs/{id}/config", get(job_config::config))
        .route("/jobs/{id}/jobmanager/config", get(job_config::jobmanager_config))
        .route("/jobs/{id}/checkpoints", get(checkpoints::checkpoints))
        .route("/jobs/{id}/checkpoints/config", get(checkpoints::config))
        .route("/jobs/{id}/checkpoints/details/{cid}", get(checkpoints::details))
        .route("/jobs/{id}/checkpoints/details/{cid}/subtasks/{vid}", get(checkpoints::vertex_details))
        .route("/jobs/{id}/vertices/{vid}", get(vertices::detail))
        .route("/jobs/{id}/vertices/{vid}/taskmanagers", get(vertices::taskmanagers))
        .route("/jobs/{id}/vertices/{vid}/accumulators", get(vertices::accumulators))
        .route("/jobs/{id}/vertices/{vid}/subtasks/accumulators", get(vertices::subtask_accumulators))
        .route("/jobs/{id}/vertices/{vid}/subtasktimes", get(vertices::subtask_times))
        .route("/jobs/{id}/vertices/{vid}/flamegraph", get(vertices::flame_graph))
        .route("/jobs/{id}/vertices/{vid}/metrics", get(metrics::vertex))
        .route("/jobs/{id}/vertices/{vid}/subtasks/metrics", get(metrics::subtasks_aggregated))
        .route("/jobs/{id}/vertices/{vid}/subtasks/{index}/metrics", get(metrics::subtask))
        .route("/jobs/{id}/vertices/{vid}/watermarks", get(metrics::watermarks))
        .route("/jobs/{id}/vertices/{vid}/backpressure", get(metrics::backpressure))
        .route("/jobs/{id}/savepoints", post(savepoints::trigger))
        .route("/jobs/{id}/savepoints/{trigger}", get(savepoints::status))
        .route("/jobs/{id}/stop", post(savepoints::stop))
        .route("/savepoint-disposal", post(savepoints::dispose))
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
