//! Flink's metric queries: `/jobmanager/metrics`, `/jobs/:id/metrics`,
//! `/taskmanagers/:id/metrics`, a vertex's `/metrics`, `/subtasks/metrics`
//! (aggregated), `/subtasks/:n/metrics`, `/watermarks` and `/backpressure`. Without
//! `get` a query lists the metric ids; `get=a,b` answers their values as strings
//! (ids not known are left out, as Flink does). The values are the ones the
//! Prometheus reporters serve.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::Json;
use rask_common::metrics::taskmanager::{operator_values, process_values, task_values};
use rask_common::proto::TaskMetrics;
use serde_json::{json, Value};

use super::{RestError, RestState};
use crate::execution_graph::now_ms;
use crate::metrics::{job_values, render_value};

type Params = Query<HashMap<String, String>>;

/// The most ids one query may name.
const MAX_QUERY_IDS: usize = 1024;

fn wanted(params: &HashMap<String, String>) -> Result<Option<Vec<&str>>, RestError> {
    let Some(get) = params.get("get") else { return Ok(None) };
    let ids: Vec<&str> = get.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    if ids.len() > MAX_QUERY_IDS {
        return Err(RestError::bad_request(format!("at most {MAX_QUERY_IDS} metrics per query")));
    }
    Ok(Some(ids))
}

/// Answers a metric query over `values`.
fn answer(values: Vec<(String, f64)>, params: &HashMap<String, String>) -> Result<Json<Value>, RestError> {
    Ok(Json(match wanted(params)? {
        None => json!(values.iter().map(|(id, _)| json!({ "id": id })).collect::<Vec<_>>()),
        Some(ids) => {
            let by_id: HashMap<&str, f64> = values.iter().map(|(id, v)| (id.as_str(), *v)).collect();
            json!(ids.iter().filter_map(|id| by_id.get(id).map(|v| json!({ "id": id, "value": render_value(*v) }))).collect::<Vec<_>>())
        }
    }))
}

fn owned(values: Vec<(&'static str, f64)>) -> Vec<(String, f64)> {
    values.into_iter().map(|(n, v)| (n.to_string(), v)).collect()
}

/// A subtask's metrics by id: the task's (`numRecordsIn`) and its operators'
/// (`<operator name>.numRecordsOut`).
fn subtask_values(t: &TaskMetrics) -> Vec<(String, f64)> {
    let mut out = owned(task_values(t));
    for o in &t.operators {
        out.extend(operator_values(o).into_iter().map(|(n, v)| (format!("{}.{n}", o.name), v)));
    }
    out
}

/// Flink's JVM metrics, which its dashboard asks every process for. Rask has no JVM:
/// they answer 0, as Flink reports a component it does not use (the REST API only;
/// the Prometheus endpoints leave them out).
const JVM_METRICS: &[&str] = &[
    "Status.JVM.Memory.Heap.Used",
    "Status.JVM.Memory.Heap.Committed",
    "Status.JVM.Memory.Heap.Max",
    "Status.JVM.Memory.NonHeap.Used",
    "Status.JVM.Memory.NonHeap.Committed",
    "Status.JVM.Memory.NonHeap.Max",
    "Status.JVM.Memory.Metaspace.Used",
    "Status.JVM.Memory.Metaspace.Max",
    "Status.JVM.Memory.Direct.Count",
    "Status.JVM.Memory.Direct.MemoryUsed",
    "Status.JVM.Memory.Direct.TotalCapacity",
    "Status.JVM.Memory.Mapped.Count",
    "Status.JVM.Memory.Mapped.MemoryUsed",
    "Status.JVM.Memory.Mapped.TotalCapacity",
    "Status.Shuffle.Netty.UsedMemory",
    "Status.Shuffle.Netty.TotalMemory",
];

fn with_jvm(mut values: Vec<(String, f64)>) -> Vec<(String, f64)> {
    values.extend(JVM_METRICS.iter().map(|n| (n.to_string(), 0.0)));
    values
}

pub async fn jobmanager(State(state): State<RestState>, params: Params) -> Result<Json<Value>, RestError> {
    let mut values = owned(crate::metrics::process_values(&state.cpu, state.started));
    values.extend(owned(state.metrics.cluster_values()));
    answer(with_jvm(values), &params)
}

pub async fn job(State(state): State<RestState>, Path(id): Path<String>, params: Params) -> Result<Json<Value>, RestError> {
    let job = state.dispatcher.job(&id)?;
    answer(owned(job_values(&job)), &params)
}

pub async fn taskmanager(State(state): State<RestState>, Path(id): Path<String>, params: Params) -> Result<Json<Value>, RestError> {
    if state.resource_manager.taskmanager(&id).is_none() {
        return Err(RestError::not_found(format!("TaskManager {id} does not exist.")));
    }
    let store = state.metrics.fetcher.store_for_taskmanager(&id).await;
    let values = store.taskmanagers.get(&id).map(|m| owned(process_values(m))).unwrap_or_default();
    answer(with_jvm(values), &params)
}

/// The vertex's running subtasks' metrics, after checking the job and vertex exist.
async fn live_subtasks(state: &RestState, job_id: &str, vertex_id: &str) -> Result<Vec<TaskMetrics>, RestError> {
    let job = state.dispatcher.job(job_id)?;
    super::vertices::vertex(&job.execution.read(), job_id, vertex_id)?;
    let store = state.metrics.fetcher.store_for_job(&job).await;
    Ok(store.subtasks(job_id, vertex_id).into_iter().map(|(_, t)| t.clone()).collect())
}

pub async fn vertex(
    State(state): State<RestState>,
    Path((job_id, vertex_id)): Path<(String, String)>,
    params: Params,
) -> Result<Json<Value>, RestError> {
    let subtasks = live_subtasks(&state, &job_id, &vertex_id).await?;
    let values = subtasks.iter().flat_map(|t| subtask_values(t).into_iter().map(move |(n, v)| (format!("{}.{n}", t.subtask_index), v)));
    answer(values.collect(), &params)
}

pub async fn subtask(
    State(state): State<RestState>,
    Path((job_id, vertex_id, index)): Path<(String, String, u32)>,
    params: Params,
) -> Result<Json<Value>, RestError> {
    let subtasks = live_subtasks(&state, &job_id, &vertex_id).await?;
    let values = subtasks.iter().find(|t| t.subtask_index == index).map(subtask_values).unwrap_or_default();
    answer(values, &params)
}

/// `/subtasks/metrics?get=…&agg=min,max,sum,avg,skew`: each metric over the subtasks.
pub async fn subtasks_aggregated(
    State(state): State<RestState>,
    Path((job_id, vertex_id)): Path<(String, String)>,
    params: Params,
) -> Result<Json<Value>, RestError> {
    let subtasks = live_subtasks(&state, &job_id, &vertex_id).await?;
    let mut by_id: Vec<(String, Vec<f64>)> = Vec::new();
    for t in &subtasks {
        for (id, v) in subtask_values(t) {
            match by_id.iter_mut().find(|(i, _)| *i == id) {
                Some((_, vs)) => vs.push(v),
                None => by_id.push((id, vec![v])),
            }
        }
    }
    let Some(ids) = wanted(&params)? else {
        return Ok(Json(json!(by_id.iter().map(|(id, _)| json!({ "id": id })).collect::<Vec<_>>())));
    };
    let aggs: Vec<String> = match params.get("agg") {
        Some(a) => a.split(',').map(|s| s.trim().to_ascii_lowercase()).filter(|s| !s.is_empty()).collect(),
        None => ["min", "max", "avg", "sum", "skew"].map(String::from).to_vec(),
    };
    if let Some(bad) = aggs.iter().find(|a| !["min", "max", "avg", "sum", "skew"].contains(&a.as_str())) {
        return Err(RestError::bad_request(format!("Unknown aggregation '{bad}': use min, max, avg, sum or skew.")));
    }
    let out: Vec<Value> = ids
        .iter()
        .filter_map(|id| by_id.iter().find(|(i, _)| i == id))
        .map(|(id, vs)| {
            let mut entry = serde_json::Map::new();
            entry.insert("id".into(), json!(id));
            let sum: f64 = vs.iter().sum();
            let avg = sum / vs.len() as f64;
            for a in &aggs {
                let v = match a.as_str() {
                    "min" => vs.iter().copied().fold(f64::INFINITY, f64::min),
                    "max" => vs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                    "sum" => sum,
                    "avg" => avg,
                    // Flink's skew: how far the largest value is from the average, in %.
                    _ => {
                        let max = vs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                        if max > 0.0 {
                            (max - avg) / max * 100.0
                        } else {
                            0.0
                        }
                    }
                };
                entry.insert(a.clone(), json!(v));
            }
            Value::Object(entry)
        })
        .collect();
    Ok(Json(json!(out)))
}

/// `/watermarks`: each running subtask's `currentInputWatermark`.
pub async fn watermarks(
    State(state): State<RestState>,
    Path((job_id, vertex_id)): Path<(String, String)>,
) -> Result<Json<Value>, RestError> {
    let subtasks = live_subtasks(&state, &job_id, &vertex_id).await?;
    Ok(Json(json!(subtasks
        .iter()
        .map(|t| json!({ "id": format!("{}.currentInputWatermark", t.subtask_index), "value": t.current_input_watermark.to_string() }))
        .collect::<Vec<_>>())))
}

/// Flink's back-pressure levels of a ratio (time back-pressured per time).
fn level(ratio: f64) -> &'static str {
    if ratio <= 0.10 {
        "ok"
    } else if ratio <= 0.5 {
        "low"
    } else {
        "high"
    }
}

/// `/backpressure`, from the tasks' `backPressuredTimeMsPerSecond` (as Flink since 1.13).
pub async fn backpressure(
    State(state): State<RestState>,
    Path((job_id, vertex_id)): Path<(String, String)>,
) -> Result<Json<Value>, RestError> {
    let subtasks = live_subtasks(&state, &job_id, &vertex_id).await?;
    let mut worst: f64 = 0.0;
    let entries: Vec<Value> = subtasks
        .iter()
        .map(|t| {
            let r = t.rates.unwrap_or_default();
            let ratio = r.backpressured_ms / 1000.0;
            worst = worst.max(ratio);
            json!({
                "subtask": t.subtask_index,
                "attempt-number": t.attempt,
                "backpressure-level": level(ratio),
                "ratio": ratio,
                "idleRatio": r.idle_ms / 1000.0,
                "busyRatio": r.busy_ms / 1000.0,
            })
        })
        .collect();
    Ok(Json(json!({
        "status": "ok",
        "backpressure-level": level(worst),
        "end-timestamp": now_ms(),
        "subtasks": entries,
    })))
}
