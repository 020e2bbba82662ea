//! A job's checkpoints in Flink's shapes: `/jobs/:id/checkpoints` (counts, summary,
//! latest, history), `/checkpoints/config` and `/checkpoints/details/:cid`.

use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Value};

use super::{RestError, RestState};
use crate::checkpoint_coordinator::{CheckpointRecord, CheckpointStatus};

fn checkpoint_json(r: &CheckpointRecord) -> Value {
    json!({
        "className": match r.status {
            CheckpointStatus::Completed => "completed",
            CheckpointStatus::Failed => "failed",
            CheckpointStatus::InProgress => "in_progress",
        },
        "id": r.id,
        "status": r.status.name(),
        "is_savepoint": false,
        "savepointFormat": Value::Null,
        "trigger_timestamp": r.trigger_timestamp,
        "latest_ack_timestamp": r.latest_ack_timestamp,
        "checkpointed_size": r.state_size,
        "state_size": r.state_size,
        "end_to_end_duration": r.duration_ms(),
        "alignment_buffered": 0,
        "processed_data": 0,
        "persisted_data": 0,
        "num_subtasks": r.num_subtasks,
        "num_acknowledged_subtasks": r.num_acknowledged,
        "checkpoint_type": "CHECKPOINT",
        "tasks": {},
        "external_path": r.external_path,
        "discarded": false,
        "failure_message": r.failure_message,
    })
}

fn summary<T: Copy + Into<f64>>(values: &[T]) -> Value {
    let mut v: Vec<f64> = values.iter().map(|x| (*x).into()).collect();
    v.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    let q = |p: f64| if v.is_empty() { 0.0 } else { v[((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1] };
    json!({
        "min": v.first().copied().unwrap_or(0.0) as i64,
        "max": v.last().copied().unwrap_or(0.0) as i64,
        "avg": if v.is_empty() { 0 } else { (v.iter().sum::<f64>() / v.len() as f64) as i64 },
        "p50": q(0.5), "p90": q(0.9), "p95": q(0.95), "p99": q(0.99), "p999": q(0.999),
    })
}

/// `GET /jobs/:id/checkpoints`, in Flink's shape.
pub async fn checkpoints(State(state): State<RestState>, Path(id): Path<String>) -> Result<Json<Value>, RestError> {
    let job = state.dispatcher.job(&id)?;
    let eg = job.execution.read();
    let s = &eg.checkpoints;
    let durations: Vec<f64> = s.durations_ms.iter().map(|d| *d as f64).collect();
    let sizes: Vec<f64> = s.sizes.iter().map(|d| *d as f64).collect();
    Ok(Json(json!({
        "counts": {
            "restored": s.restored,
            "total": s.completed + s.failed + s.in_progress,
            "in_progress": s.in_progress,
            "completed": s.completed,
            "failed": s.failed,
        },
        "summary": {
            "checkpointed_size": summary(&sizes),
            "state_size": summary(&sizes),
            "end_to_end_duration": summary(&durations),
            // Rask's barriers are aligned without buffering in-flight data: 0, as
            // Flink reports for aligned checkpoints.
            "alignment_buffered": summary::<f64>(&[]),
            "processed_data": summary::<f64>(&[]),
            "persisted_data": summary::<f64>(&[]),
        },
        "latest": {
            "completed": s.latest_completed.as_ref().map(checkpoint_json),
            "savepoint": Value::Null,
            "failed": s.latest_failed.as_ref().map(checkpoint_json),
            "restored": s.latest_restored.map(|(id, t)| json!({ "id": id, "restore_timestamp": t, "is_savepoint": false, "external_path": Value::Null })),
        },
        "history": s.history.iter().map(checkpoint_json).collect::<Vec<_>>(),
    })))
}

/// `GET /jobs/:id/checkpoints/config`. Rask keeps keyed state in memory (Flink's
/// HashMapStateBackend) and writes checkpoints to files or an object store.
pub async fn config(State(state): State<RestState>, Path(id): Path<String>) -> Result<Json<Value>, RestError> {
    let job = state.dispatcher.job(&id)?;
    // A streaming job without periodic checkpoints answers as in Flink: an interval
    // of Long.MAX_VALUE (savepoints still work).
    let c = job.settings.checkpointing.as_ref().filter(|_| !job.settings.savepoint_staging);
    let ms = |d: std::time::Duration| d.as_millis() as i64;
    Ok(Json(json!({
        "mode": "exactly_once",
        "interval": c.and_then(|c| c.interval).map_or(i64::MAX, ms),
        "timeout": c.map_or(600_000, |c| ms(c.timeout)),
        "min_pause": c.map_or(0, |c| ms(c.min_pause)),
        "max_concurrent": 1,
        "externalization": { "enabled": true, "delete_on_cancellation": false },
        "state_backend": "HashMapStateBackend",
        "checkpoint_storage": "FileSystemCheckpointStorage",
        "unaligned_checkpoints": false,
        "tolerable_failed_checkpoints": 0,
        "aligned_checkpoint_timeout": 0,
        "checkpoints_after_tasks_finish": true,
        "state_changelog_enabled": false,
        "changelog_periodic_materialization_interval": 600000,
        "changelog_storage": "memory",
    })))
}

/// `GET /jobs/:id/checkpoints/details/:cid`: one checkpoint of the history, with its
/// figures per vertex.
pub async fn details(State(state): State<RestState>, Path((id, checkpoint)): Path<(String, String)>) -> Result<Json<Value>, RestError> {
    let job = state.dispatcher.job(&id)?;
    let eg = job.execution.read();
    let record = history_record(&eg, &id, &checkpoint)?;
    let mut body = checkpoint_json(record);
    // Every task takes part in every checkpoint; the state size is the checkpoint's
    // (Rask records it per checkpoint, not per vertex).
    let tasks: serde_json::Map<String, Value> = eg
        .vertices
        .iter()
        .map(|v| {
            (
                v.id.clone(),
                json!({
                    "id": record.id,
                    "status": record.status.name(),
                    "latest_ack_timestamp": record.latest_ack_timestamp,
                    "checkpointed_size": 0,
                    "state_size": 0,
                    "end_to_end_duration": record.duration_ms(),
                    "alignment_buffered": 0,
                    "processed_data": 0,
                    "persisted_data": 0,
                    "num_subtasks": v.parallelism,
                    "num_acknowledged_subtasks": if record.status == CheckpointStatus::Completed { v.parallelism } else { 0 },
                }),
            )
        })
        .collect();
    body["tasks"] = Value::Object(tasks);
    Ok(Json(body))
}

/// `GET /jobs/:id/checkpoints/details/:cid/subtasks/:vid`: one vertex's part of a
/// checkpoint, per subtask. Rask records when each checkpoint was acknowledged in
/// full and its total size, not per subtask: each subtask shows the checkpoint's
/// acknowledgement time and duration, and sizes of 0.
pub async fn vertex_details(
    State(state): State<RestState>,
    Path((id, checkpoint, vertex_id)): Path<(String, String, String)>,
) -> Result<Json<Value>, RestError> {
    let job = state.dispatcher.job(&id)?;
    let eg = job.execution.read();
    let record = history_record(&eg, &id, &checkpoint)?;
    let v = super::vertices::vertex(&eg, &id, &vertex_id)?;
    let done = record.status == CheckpointStatus::Completed;
    let stats = |v: f64| json!({ "min": v as i64, "max": v as i64, "avg": v as i64, "p50": v, "p90": v, "p95": v, "p99": v, "p999": v });
    let duration = record.duration_ms() as f64;
    let subtasks: Vec<Value> = (0..v.parallelism)
        .map(|i| {
            if done {
                json!({
                    "index": i, "status": "completed", "ack_timestamp": record.latest_ack_timestamp,
                    "end_to_end_duration": record.duration_ms(), "checkpointed_size": 0, "state_size": 0,
                    "checkpoint": { "sync": 0, "async": 0 },
                    "alignment": { "buffered": 0, "processed": 0, "persisted": 0, "duration": 0 },
                    "start_delay": 0, "unaligned_checkpoint": false, "aborted": false,
                })
            } else {
                json!({ "index": i, "status": "pending_or_failed" })
            }
        })
        .collect();
    Ok(Json(json!({
        "id": record.id,
        "status": record.status.name(),
        "latest_ack_timestamp": record.latest_ack_timestamp,
        "checkpointed_size": 0,
        "state_size": 0,
        "end_to_end_duration": record.duration_ms(),
        "alignment_buffered": 0,
        "processed_data": 0,
        "persisted_data": 0,
        "num_subtasks": v.parallelism,
        "num_acknowledged_subtasks": if done { v.parallelism } else { 0 },
        "summary": {
            "checkpointed_size": stats(0.0),
            "state_size": stats(0.0),
            "end_to_end_duration": stats(duration),
            "checkpoint_duration": { "sync": stats(0.0), "async": stats(0.0) },
            "alignment": { "buffered": stats(0.0), "processed": stats(0.0), "persisted": stats(0.0), "duration": stats(0.0) },
            "start_delay": stats(0.0),
        },
        "subtasks": subtasks,
    })))
}

/// A checkpoint of the job's history, by the id in the path (400 when not a number,
/// 404 when not in the history).
fn history_record<'a>(
    eg: &'a crate::execution_graph::ExecutionGraph,
    job_id: &str,
    checkpoint: &str,
) -> Result<&'a CheckpointRecord, RestError> {
    let id: u64 = checkpoint.parse().map_err(|_| RestError::bad_request(format!("'{checkpoint}' is not a checkpoint id")))?;
    eg.checkpoints
        .history
        .iter()
        .find(|r| r.id == id)
        .ok_or_else(|| RestError::not_found(format!("Checkpoint {id} of job {job_id} is not in the checkpoint history.")))
}
