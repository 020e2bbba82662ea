//! Flink 2.3's application view (`/applications/overview`, `/applications/:id`) and
//! `/jobmanager/environment`. Each Rask job is its own application, with the job's id
//! (as Flink gives a job submitted to a session cluster), in every deployment mode.

use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Value};

use super::{RestError, RestState};
use crate::execution_graph::{now_ms, ExecutionGraph, JobStatus};

/// Flink's per-state job counts of an application (one job here).
fn job_counts(status: JobStatus) -> Value {
    let mut counts: serde_json::Map<String, Value> = JobStatus::ALL.iter().map(|s| (s.name().to_string(), json!(0))).collect();
    for extra in ["SUSPENDED", "RECONCILING"] {
        counts.insert(extra.into(), json!(0));
    }
    counts.insert(status.name().into(), json!(1));
    counts.insert("TOTAL".into(), json!(1));
    Value::Object(counts)
}

fn duration(eg: &ExecutionGraph) -> i64 {
    if eg.end_time >= 0 {
        eg.end_time - eg.start_time
    } else {
        now_ms() - eg.start_time
    }
}

fn summary(eg: &ExecutionGraph) -> Value {
    json!({
        "id": eg.job_id,
        "name": eg.name,
        "status": eg.status.name(),
        "start-time": eg.start_time,
        "end-time": eg.end_time,
        "duration": duration(eg),
        "jobs": job_counts(eg.status),
    })
}

pub async fn overview(State(state): State<RestState>) -> Json<Value> {
    let apps: Vec<Value> = state.dispatcher.jobs().iter().map(|j| summary(&j.execution.read())).collect();
    Json(json!({ "applications": apps }))
}

pub async fn detail(State(state): State<RestState>, Path(id): Path<String>) -> Result<Json<Value>, RestError> {
    let job = state.dispatcher.job(&id).map_err(|_| RestError::not_found(format!("Application {id} does not exist.")))?;
    let overview = super::jobs::overview_entry(&job);
    let eg = job.execution.read();
    let mut body = summary(&eg);
    let timestamps: serde_json::Map<String, Value> =
        JobStatus::ALL.iter().map(|s| (s.name().to_string(), json!(eg.timestamps.get(s).copied().unwrap_or(0)))).collect();
    body["timestamps"] = Value::Object(timestamps);
    body["status-counts"] = body["jobs"].take();
    body["jobs"] = json!([overview]);
    Ok(Json(body))
}

/// `GET /applications/:id/exceptions`: the failures of the application's job.
pub async fn exceptions(State(state): State<RestState>, Path(id): Path<String>) -> Result<Json<Value>, RestError> {
    let job = state.dispatcher.job(&id).map_err(|_| RestError::not_found(format!("Application {id} does not exist.")))?;
    let eg = job.execution.read();
    let entries: Vec<Value> = eg
        .failure_history
        .iter()
        .rev()
        .map(|(t, cause)| json!({ "exceptionName": "TaskFailure", "stacktrace": cause, "timestamp": t, "jobId": eg.job_id }))
        .collect();
    Ok(Json(json!({ "exceptionHistory": { "entries": entries, "truncated": eg.failure_count > eg.failure_history.len() as u64 } })))
}

/// `GET /jobmanager/environment`: Flink describes its JVM; Rask has none, so `jvm`
/// names the Rask build and platform, and the classpath is empty.
pub async fn environment() -> Json<Value> {
    Json(json!({
        "jvm": {
            "version": format!("Rask {} (Rust, no JVM)", rask_common::VERSION),
            "arch": std::env::consts::ARCH,
            "options": [],
        },
        "classpath": [],
    }))
}
