//! REST handlers for savepoints, in Flink's shapes: trigger (`POST
//! /jobs/:id/savepoints`), stop with savepoint (`POST /jobs/:id/stop`), poll (`GET
//! /jobs/:id/savepoints/:triggerid`), and disposal (`POST /savepoint-disposal`).

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use parking_lot::Mutex;
use serde_json::{json, Value};

use super::{RestError, RestState};
use crate::checkpoint_coordinator::SavepointOperation;

fn body(bytes: &Bytes) -> Result<Value, RestError> {
    if bytes.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice(bytes).map_err(|e| RestError::bad_request(format!("Request body is not JSON: {e}")))
}

/// Whether `path` is absolute: `/dir`, `file:/dir` or `file:///dir`, or a URL of
/// another scheme.
fn is_absolute(path: &str) -> bool {
    match path.strip_prefix("file:") {
        Some(rest) => rest.starts_with('/'),
        None => path.starts_with('/') || path.split_once("://").is_some_and(|(scheme, rest)| !scheme.is_empty() && !rest.is_empty()),
    }
}

/// A location this build can open (a cloud URL needs its feature): checked before an
/// operation is accepted, so that the answer is a 400 naming what is missing.
fn openable(location: &str) -> Result<(), RestError> {
    rask_common::checkpoint::CheckpointStorage::open(location).map(drop).map_err(|e| RestError::bad_request(e.to_string()))
}

/// The target directory: the request's, else the job's state.savepoints.dir (its own
/// or the cluster's). It must be absolute, inside rask.io.allowed-paths and openable.
fn target(state: &RestState, job_id: &str, given: Option<&str>) -> Result<String, RestError> {
    if let Some(dir) = given.filter(|d| !is_absolute(d)) {
        return Err(RestError::bad_request(format!("The savepoint target '{dir}' is relative: give an absolute path or a file:// URL.")));
    }
    let job = state.dispatcher.job(job_id)?;
    let dir = given
        .map(str::to_string)
        .or_else(|| job.settings.savepoints_dir.clone())
        .map(|d| rask_common::checkpoint::savepoint_dir(&d))
        .ok_or_else(|| RestError::bad_request(format!("No savepoint directory for job {job_id}: give one (`rask savepoint {job_id} DIR`, `rask stop --savepointPath DIR {job_id}`; target-directory in REST), or set state.savepoints.dir for the job (`rask run -D state.savepoints.dir=DIR`, when it is submitted) or in the cluster's configuration (a restart applies it).")))?;
    state.configuration.allowed_paths.check("the savepoint target", &dir).map_err(|e| RestError::bad_request(e.to_string()))?;
    openable(&dir)?;
    Ok(dir)
}

fn accepted(trigger_id: String) -> (StatusCode, Json<Value>) {
    (StatusCode::ACCEPTED, Json(json!({ "request-id": trigger_id })))
}

pub async fn trigger(State(state): State<RestState>, Path(id): Path<String>, bytes: Bytes) -> Result<(StatusCode, Json<Value>), RestError> {
    let request = body(&bytes)?;
    let dir = target(&state, &id, request["target-directory"].as_str())?;
    let stop = request["cancel-job"].as_bool().unwrap_or(false);
    Ok(accepted(state.dispatcher.trigger_savepoint(&id, dir, stop, false)?))
}

pub async fn stop(State(state): State<RestState>, Path(id): Path<String>, bytes: Bytes) -> Result<(StatusCode, Json<Value>), RestError> {
    let request = body(&bytes)?;
    let dir = target(&state, &id, request["targetDirectory"].as_str())?;
    let drain = request["drain"].as_bool().unwrap_or(false);
    Ok(accepted(state.dispatcher.trigger_savepoint(&id, dir, true, drain)?))
}

fn operation_json(op: &SavepointOperation) -> Value {
    match op {
        SavepointOperation::InProgress => json!({ "status": { "id": "IN_PROGRESS" }, "operation": Value::Null }),
        SavepointOperation::Completed { location } => json!({ "status": { "id": "COMPLETED" }, "operation": { "location": location } }),
        SavepointOperation::Failed { cause } => json!({
            "status": { "id": "COMPLETED" },
            "operation": { "failure-cause": { "class": "SavepointException", "stack-trace": cause } }
        }),
    }
}

pub async fn status(State(state): State<RestState>, Path((id, trigger)): Path<(String, String)>) -> Result<Json<Value>, RestError> {
    let job = state.dispatcher.job(&id)?;
    let op = job
        .savepoints
        .lock()
        .get(&trigger)
        .cloned()
        .ok_or_else(|| RestError::not_found(format!("There is no savepoint operation {trigger} for job {id}.")))?;
    if op != SavepointOperation::InProgress {
        // A per-job cluster waits for this before it stops.
        job.savepoints_delivered.send_modify(|d| {
            d.insert(trigger);
        });
    }
    Ok(Json(operation_json(&op)))
}

/// Disposal results by request id (disposals are done at once).
fn disposals() -> &'static Mutex<HashMap<String, SavepointOperation>> {
    static D: OnceLock<Mutex<HashMap<String, SavepointOperation>>> = OnceLock::new();
    D.get_or_init(Default::default)
}

pub async fn dispose(State(state): State<RestState>, bytes: Bytes) -> Result<(StatusCode, Json<Value>), RestError> {
    let request = body(&bytes)?;
    let path = request["savepoint-path"].as_str().ok_or_else(|| RestError::bad_request("Missing 'savepoint-path'."))?.to_string();
    if !is_absolute(&path) {
        return Err(RestError::bad_request(format!(
            "The savepoint path '{path}' must be an absolute path or a URL (file:///dir, s3://…)."
        )));
    }
    let dir = rask_common::checkpoint::savepoint_dir(&path);
    state.configuration.allowed_paths.check("the savepoint path", &dir).map_err(|e| RestError::bad_request(e.to_string()))?;
    openable(&dir)?;
    if let Some(job) = live_checkpoints_of(&state, &dir) {
        return Err(RestError {
            status: StatusCode::CONFLICT,
            message: format!("'{path}' holds the checkpoints of job {job}, which is still running: only savepoints are disposed of."),
        });
    }
    // Async through the checkpoint storage: nothing blocks this thread.
    let result = rask_common::checkpoint::dispose_savepoint(&path).await;
    let op = match result {
        Ok(()) => SavepointOperation::Completed { location: String::new() },
        Err(e) => SavepointOperation::Failed { cause: e.to_string() },
    };
    let id = rask_common::ids::random_hex_id();
    disposals().lock().insert(id.clone(), op);
    Ok(accepted(id))
}

/// The running job whose checkpoint directory (`<state.checkpoints.dir>/<job id>`)
/// holds `dir` or lies in it, if any: local paths compared resolved, URLs by their
/// path segments.
fn live_checkpoints_of(state: &RestState, dir: &str) -> Option<String> {
    let resolved = rask_common::security::paths::resolve(std::path::Path::new(dir));
    state.dispatcher.jobs().iter().filter(|j| !j.status().is_terminal()).find_map(|j| {
        let storage = j.settings.checkpointing.as_ref()?;
        let holds = match &resolved {
            Some(resolved) => {
                let own = rask_common::security::paths::resolve(std::path::Path::new(storage.storage.dir()))?.join(&j.graph.job_id);
                resolved.starts_with(&own) || own.starts_with(resolved)
            }
            None => {
                let (own, dir) = (format!("{}/{}/", storage.storage.dir(), j.graph.job_id), format!("{}/", dir.trim_end_matches('/')));
                dir.starts_with(&own) || own.starts_with(&dir)
            }
        };
        holds.then(|| j.graph.job_id.clone())
    })
}

pub async fn disposal_status(Path(trigger): Path<String>) -> Result<Json<Value>, RestError> {
    let op = disposals().lock().get(&trigger).cloned().ok_or_else(|| RestError::not_found(format!("There is no disposal {trigger}.")))?;
    Ok(Json(match op {
        SavepointOperation::Completed { .. } => json!({ "status": { "id": "COMPLETED" }, "operation": {} }),
        other => operation_json(&other),
    }))
}
