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
    let Some(c) = job.settings.checkpointing.as_ref().filter(|_| !job.settings.savepoint_staging) else {
        return Err(RestError::not_found(format!("Checkpointing is not enabled for job {id}.")));
    };
    Ok(Json(json!({
        "mode": "exactly_once",
        "interval": c.interval.map_or(i64::MAX, |i| i.as_millis() as i64),
        "timeout": c.timeout.as_millis() as u64,
        "min_pause": c.min_pause.as_millis() as u64,
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
    let checkpoint: u64 = checkpoint.parse().map_err(|_| RestError::bad_request(format!("'{checkpoint}' is not a checkpoint id")))?;
    let eg = job.execution.read();
    let record = eg
        .checkpoints
        .history
        .iter()
        .find(|r| r.id == checkpoint)
        .ok_or_else(|| RestError::not_found(format!("Checkpoint {checkpoint} of job {id} is not in the checkpoint history.")))?;
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
