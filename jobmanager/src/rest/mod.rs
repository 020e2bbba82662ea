//! The REST API, with Flink's paths and JSON field names so that tools built for
//! Flink's REST API can drive Rask. Every error is JSON: `{"errors": ["..."]}`.

mod handlers;
mod jobs;
mod savepoints;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
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

pub fn router(state: RestState) -> Router {
    Router::new()
        .route("/config", get(handlers::web_config))
        .route("/overview", get(handlers::overview))
        .route("/taskmanagers", get(handlers::taskmanagers))
        .route("/taskmanagers/:id", get(handlers::taskmanager_detail))
        .route("/jobmanager/config", get(handlers::jobmanager_config))
        .route("/jobmanager/metrics", get(handlers::jobmanager_metrics))
        .route("/jobs", get(jobs::list).post(jobs::submit))
        .route("/jobs/overview", get(jobs::overview))
        .route("/jobs/:id", get(jobs::detail).patch(jobs::cancel))
        .route("/jobs/:id/exceptions", get(jobs::exceptions))
        .route("/jobs/:id/checkpoints", get(jobs::checkpoints))
        .route("/jobs/:id/savepoints", axum::routing::post(savepoints::trigger))
        .route("/jobs/:id/savepoints/:trigger", get(savepoints::status))
        .route("/jobs/:id/stop", axum::routing::post(savepoints::stop))
        .route("/savepoint-disposal", axum::routing::post(savepoints::dispose))
        .route("/savepoint-disposal/:trigger", get(savepoints::disposal_status))
        .route("/jobs/:id/output", get(jobs::output))
        .fallback(handlers::not_found)
        .method_not_allowed_fallback(handlers::method_not_allowed)
        .layer(DefaultBodyLimit::max(64 << 20))
        .with_state(state)
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
