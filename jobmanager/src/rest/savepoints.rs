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

/// The target directory: the request's, else state.savepoints.dir.
fn target(state: &RestState, given: Option<&str>) -> Result<String, RestError> {
    given
        .map(str::to_string)
        .or_else(|| state.configuration.savepoints_dir.clone())
        .map(|d| rask_common::checkpoint::savepoint_dir(&d))
        .ok_or_else(|| RestError::bad_request("No savepoint directory: give one (`rask savepoint JOBID DIR`, `rask stop --savepointPath DIR`; target-directory in REST) or set state.savepoints.dir."))
}

fn accepted(trigger_id: String) -> (StatusCode, Json<Value>) {
    (StatusCode::ACCEPTED, Json(json!({ "request-id": trigger_id })))
}

pub async fn trigger(State(state): State<RestState>, Path(id): Path<String>, bytes: Bytes) -> Result<(StatusCode, Json<Value>), RestError> {
    let request = body(&bytes)?;
    let dir = target(&state, request["target-directory"].as_str())?;
    let stop = request["cancel-job"].as_bool().unwrap_or(false);
    Ok(accepted(state.dispatcher.trigger_savepoint(&id, dir, stop, false)?))
}

pub async fn stop(State(state): State<RestState>, Path(id): Path<String>, bytes: Bytes) -> Result<(StatusCode, Json<Value>), RestError> {
    let request = body(&bytes)?;
    let dir = target(&state, request["targetDirectory"].as_str())?;
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
        job.savepoints_delivered.lock().insert(trigger);
    }
    Ok(Json(operation_json(&op)))
}

/// Disposal results by request id (disposals are done at once).
fn disposals() -> &'static Mutex<HashMap<String, SavepointOperation>> {
    static D: OnceLock<Mutex<HashMap<String, SavepointOperation>>> = OnceLock::new();
    D.get_or_init(Default::default)
}

pub async fn dispose(bytes: Bytes) -> Result<(StatusCode, Json<Value>), RestError> {
    let request = body(&bytes)?;
    let path = request["savepoint-path"].as_str().ok_or_else(|| RestError::bad_request("Missing 'savepoint-path'."))?.to_string();
    let result = tokio::task::spawn_blocking(move || rask_common::checkpoint::dispose_savepoint(&path))
        .await
        .map_err(|e| RestError { status: StatusCode::INTERNAL_SERVER_ERROR, message: e.to_string() })?;
    let op = match result {
        Ok(()) => SavepointOperation::Completed { location: String::new() },
        Err(e) => SavepointOperation::Failed { cause: e.to_string() },
    };
    let id = rask_common::ids::random_hex_id();
    disposals().lock().insert(id.clone(), op);
    Ok(accepted(id))
}

pub async fn disposal_status(Path(trigger): Path<String>) -> Result<Json<Value>, RestError> {
    let op = disposals().lock().get(&trigger).cloned().ok_or_else(|| RestError::not_found(format!("There is no disposal {trigger}.")))?;
    Ok(Json(match op {
        SavepointOperation::Completed { .. } => json!({ "status": { "id": "COMPLETED" }, "operation": {} }),
        other => operation_json(&other),
    }))
}
