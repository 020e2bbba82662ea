//! A job's vertices in Flink's shapes: `/jobs/:id/vertices/:vid` (subtasks with their
//! TaskManager, state and I/O), `/taskmanagers`, `/accumulators`, and the I/O figures
//! of the job detail. A subtask's figures are its final ones once it ended, else the
//! latest fetched from its TaskManager.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::Json;
use rask_common::proto::TaskIoMetrics;
use serde_json::{json, Value};

use super::{RestError, RestState};
use crate::execution_graph::{now_ms, Execution, ExecutionJobVertex, ExecutionState};
use crate::metrics::fetcher::MetricStore;

/// A subtask's I/O, and whether it is known (Flink's `*-complete`: its final figures,
/// or its running task's latest; the dashboard shows a figure only when complete).
pub fn subtask_io(job_id: &str, vertex_id: &str, index: u32, e: &Execution, store: &MetricStore) -> (TaskIoMetrics, bool) {
    if let Some(io) = e.io.filter(|_| e.state.is_terminal()) {
        return (io, true);
    }
    match store.subtask(job_id, vertex_id, index).and_then(|t| t.io) {
        Some(io) => (io, true),
        None => (TaskIoMetrics::default(), false),
    }
}

/// Flink's `metrics` object of a vertex or subtask.
pub fn io_json(io: &TaskIoMetrics, complete: bool) -> Value {
    json!({
        "read-bytes": io.bytes_in,
        "read-bytes-complete": complete,
        "write-bytes": io.bytes_out,
        "write-bytes-complete": complete,
        "read-records": io.records_in,
        "read-records-complete": complete,
        "write-records": io.records_out,
        "write-records-complete": complete,
        "accumulated-backpressured-time": io.backpressured_ms,
        "accumulated-idle-time": io.idle_ms,
        "accumulated-busy-time": io.busy_ms as f64,
    })
}

fn add(a: &mut TaskIoMetrics, b: &TaskIoMetrics) {
    // Saturating: the figures come from TaskManagers, which may report anything.
    a.records_in = a.records_in.saturating_add(b.records_in);
    a.records_out = a.records_out.saturating_add(b.records_out);
    a.bytes_in = a.bytes_in.saturating_add(b.bytes_in);
    a.bytes_out = a.bytes_out.saturating_add(b.bytes_out);
    a.busy_ms = a.busy_ms.saturating_add(b.busy_ms);
    a.backpressured_ms = a.backpressured_ms.saturating_add(b.backpressured_ms);
    a.idle_ms = a.idle_ms.saturating_add(b.idle_ms);
}

/// The sum over a vertex's subtasks, for the job detail.
pub fn vertex_io(job_id: &str, v: &ExecutionJobVertex, store: &MetricStore) -> Value {
    let mut total = TaskIoMetrics::default();
    let mut complete = true;
    for (i, e) in v.subtasks.iter().enumerate() {
        let (io, done) = subtask_io(job_id, &v.id, i as u32, e, store);
        add(&mut total, &io);
        complete &= done;
    }
    io_json(&total, complete)
}

fn duration(start: i64, end: i64) -> i64 {
    match (start, end) {
        (s, _) if s < 0 => -1,
        (s, e) if e >= 0 => e - s,
        (s, _) => now_ms() - s,
    }
}

/// Flink's `status-duration` of a subtask: time spent in each state. Rask keeps when
/// a subtask was deployed and when it ended, so the time in between counts as the
/// current (or last) state's.
fn status_duration(e: &Execution) -> Value {
    let mut d: BTreeMap<&str, i64> = ["CREATED", "SCHEDULED", "DEPLOYING", "INITIALIZING", "RUNNING"].iter().map(|s| (*s, 0)).collect();
    if e.start_time >= 0 {
        let state = if e.state.is_terminal() { "RUNNING" } else { e.state.name() };
        *d.entry(state).or_default() += duration(e.start_time, e.end_time);
    }
    json!(d)
}

fn stats(values: &[f64]) -> Value {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let q = |p: f64| if v.is_empty() { 0.0 } else { v[((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1] };
    let sum: f64 = v.iter().sum();
    json!({
        "min": v.first().copied().unwrap_or(0.0) as i64,
        "max": v.last().copied().unwrap_or(0.0) as i64,
        "avg": if v.is_empty() { 0 } else { (sum / v.len() as f64) as i64 },
        "sum": sum as i64,
        "median": q(0.5) as i64,
        "p25": q(0.25) as i64,
        "p75": q(0.75) as i64,
        "p95": q(0.95) as i64,
    })
}

/// `GET /jobs/:id/vertices/:vid`.
pub async fn detail(State(state): State<RestState>, Path((job_id, vertex_id)): Path<(String, String)>) -> Result<Json<Value>, RestError> {
    let job = state.dispatcher.job(&job_id)?;
    let store = state.metrics.fetcher.store_for_job(&job).await;
    let eg = job.execution.read();
    let v = vertex(&eg, &job_id, &vertex_id)?;
    let mut ios = Vec::new();
    let subtasks: Vec<Value> = v
        .subtasks
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let (io, complete) = subtask_io(&job_id, &v.id, i as u32, e, &store);
            ios.push(io);
            json!({
                "subtask": i,
                "status": e.state.name(),
                "attempt": 0,
                "endpoint": e.rpc_address.clone().unwrap_or_else(|| "(unassigned)".into()),
                "start-time": e.start_time,
                "end-time": e.end_time,
                "duration": duration(e.start_time, e.end_time),
                "metrics": io_json(&io, complete),
                "taskmanager-id": e.resource_id.clone().unwrap_or_else(|| "(unassigned)".into()),
                "status-duration": status_duration(e),
                "start_time": e.start_time,
            })
        })
        .collect();
    let field = |f: fn(&TaskIoMetrics) -> u64| stats(&ios.iter().map(|io| f(io) as f64).collect::<Vec<_>>());
    let mut state_durations: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for e in &v.subtasks {
        if let Value::Object(m) = status_duration(e) {
            for (k, d) in m {
                let key: &str = match k.as_str() {
                    "CREATED" => "CREATED",
                    "SCHEDULED" => "SCHEDULED",
                    "DEPLOYING" => "DEPLOYING",
                    "INITIALIZING" => "INITIALIZING",
                    _ => "RUNNING",
                };
                state_durations.entry(key).or_default().push(d.as_f64().unwrap_or(0.0));
            }
        }
    }
    Ok(Json(json!({
        "id": v.id,
        "name": v.name,
        "parallelism": v.parallelism,
        "maxParallelism": eg.max_parallelism,
        "now": now_ms(),
        "subtasks": subtasks,
        "aggregated": {
            "metrics": {
                "read-bytes": field(|io| io.bytes_in),
                "write-bytes": field(|io| io.bytes_out),
                "read-records": field(|io| io.records_in),
                "write-records": field(|io| io.records_out),
                "accumulated-backpressured-time": field(|io| io.backpressured_ms),
                "accumulated-idle-time": field(|io| io.idle_ms),
                "accumulated-busy-time": field(|io| io.busy_ms),
            },
            "status-duration": state_durations.iter().map(|(k, vs)| (k.to_string(), stats(vs))).collect::<serde_json::Map<_, _>>(),
        },
    })))
}

/// `GET /jobs/:id/vertices/:vid/taskmanagers`: the vertex's subtasks by TaskManager.
pub async fn taskmanagers(
    State(state): State<RestState>,
    Path((job_id, vertex_id)): Path<(String, String)>,
) -> Result<Json<Value>, RestError> {
    let job = state.dispatcher.job(&job_id)?;
    let store = state.metrics.fetcher.store_for_job(&job).await;
    let eg = job.execution.read();
    let v = vertex(&eg, &job_id, &vertex_id)?;
    let mut by_tm: BTreeMap<String, Vec<(u32, &Execution)>> = BTreeMap::new();
    for (i, e) in v.subtasks.iter().enumerate() {
        if let Some(tm) = &e.resource_id {
            by_tm.entry(tm.clone()).or_default().push((i as u32, e));
        }
    }
    let entries: Vec<Value> = by_tm
        .iter()
        .map(|(tm, subtasks)| {
            let mut io = TaskIoMetrics::default();
            let mut complete = true;
            let mut counts: BTreeMap<&str, usize> = ExecutionState::ALL.iter().map(|s| (s.name(), 0)).collect();
            for (i, e) in subtasks {
                let (one, done) = subtask_io(&job_id, &v.id, *i, e, &store);
                add(&mut io, &one);
                complete &= done;
                *counts.entry(e.state.name()).or_default() += 1;
            }
            counts.insert("RECONCILING", 0);
            let start = subtasks.iter().map(|(_, e)| e.start_time).filter(|t| *t >= 0).min().unwrap_or(-1);
            let end = if subtasks.iter().all(|(_, e)| e.state.is_terminal()) {
                subtasks.iter().map(|(_, e)| e.end_time).max().unwrap_or(-1)
            } else {
                -1
            };
            let status = subtasks.iter().map(|(_, e)| e.state).max().unwrap_or(ExecutionState::Created);
            json!({
                "endpoint": subtasks[0].1.rpc_address,
                "taskmanager-id": tm,
                "status": status.name(),
                "start-time": start,
                "end-time": end,
                "duration": duration(start, end),
                "metrics": io_json(&io, complete),
                "status-counts": counts,
            })
        })
        .collect();
    Ok(Json(json!({ "id": v.id, "name": v.name, "now": now_ms(), "taskmanagers": entries })))
}

/// `GET /jobs/:id/vertices/:vid/accumulators`: Rask jobs have no user accumulators.
pub async fn accumulators(
    State(state): State<RestState>,
    Path((job_id, vertex_id)): Path<(String, String)>,
) -> Result<Json<Value>, RestError> {
    let job = state.dispatcher.job(&job_id)?;
    vertex(&job.execution.read(), &job_id, &vertex_id)?;
    Ok(Json(json!({ "id": vertex_id, "user-accumulators": [] })))
}

/// `GET /jobs/:id/accumulators`: Rask has no user accumulators; each vertex with a
/// sink reports the rows its sinks took, once its subtasks have ended, as
/// `<vertex>.sinkRecordsIn` (a LongCounter; chained sinks have no records-out figure
/// of their own).
pub async fn job_accumulators(State(state): State<RestState>, Path(job_id): Path<String>) -> Result<Json<Value>, RestError> {
    let job = state.dispatcher.job(&job_id)?;
    let sinks: Vec<Value> = job
        .execution
        .read()
        .vertices
        .iter()
        .filter(|v| v.name.contains("Sink: "))
        .filter_map(|v| {
            let reports: Vec<u64> = v.subtasks.iter().filter_map(|e| e.io.map(|io| io.sink_records_in)).collect();
            (reports.len() == v.subtasks.len() && !reports.is_empty())
                .then(|| json!({ "name": format!("{}.sinkRecordsIn", v.name), "type": "LongCounter", "value": reports.iter().sum::<u64>().to_string() }))
        })
        .collect();
    Ok(Json(json!({ "job-accumulators": [], "user-task-accumulators": sinks, "serialized-user-task-accumulators": {} })))
}

/// The vertex, or a 404 naming it.
pub(super) fn vertex<'a>(
    eg: &'a crate::execution_graph::ExecutionGraph,
    job_id: &str,
    vertex_id: &str,
) -> Result<&'a ExecutionJobVertex, RestError> {
    eg.vertices
        .iter()
        .find(|v| v.id == vertex_id)
        .ok_or_else(|| RestError::not_found(format!("Job vertex {vertex_id} does not exist in job {job_id}.")))
}

/// `GET /jobs/:id/vertices/:vid/subtasks/accumulators`: none per subtask.
pub async fn subtask_accumulators(
    State(state): State<RestState>,
    Path((job_id, vertex_id)): Path<(String, String)>,
) -> Result<Json<Value>, RestError> {
    let job = state.dispatcher.job(&job_id)?;
    let eg = job.execution.read();
    let v = vertex(&eg, &job_id, &vertex_id)?;
    let subtasks: Vec<Value> = v
        .subtasks
        .iter()
        .enumerate()
        .map(|(i, e)| json!({ "subtask": i, "attempt": 0, "endpoint": e.rpc_address, "user-accumulators": [] }))
        .collect();
    Ok(Json(json!({ "id": v.id, "parallelism": v.parallelism, "subtasks": subtasks })))
}

/// `GET /jobs/:id/vertices/:vid/subtasktimes`: when each subtask entered its states
/// (Rask records deployment and end; RUNNING is reported from deployment on).
pub async fn subtask_times(
    State(state): State<RestState>,
    Path((job_id, vertex_id)): Path<(String, String)>,
) -> Result<Json<Value>, RestError> {
    let job = state.dispatcher.job(&job_id)?;
    let eg = job.execution.read();
    let v = vertex(&eg, &job_id, &vertex_id)?;
    let subtasks: Vec<Value> = v
        .subtasks
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let mut timestamps = serde_json::Map::new();
            if e.start_time >= 0 {
                for s in ["SCHEDULED", "DEPLOYING", "INITIALIZING", "RUNNING"] {
                    timestamps.insert(s.into(), json!(e.start_time));
                }
            }
            if e.end_time >= 0 && e.state.is_terminal() {
                timestamps.insert(e.state.name().into(), json!(e.end_time));
            }
            json!({
                "subtask": i,
                "host": e.rpc_address.as_deref().and_then(|a| a.rsplit_once(':').map(|(h, _)| h.to_string())),
                "duration": duration(e.start_time, e.end_time),
                "timestamps": timestamps,
            })
        })
        .collect();
    Ok(Json(json!({ "id": v.id, "name": v.name, "now": now_ms(), "subtasks": subtasks })))
}

/// `GET /jobs/:id/vertices/:vid/flamegraph`: Rask samples no stacks, so it answers as
/// Flink does with `rest.flamegraph.enabled: false` (`endTimestamp` -2: disabled).
pub async fn flame_graph(
    State(state): State<RestState>,
    Path((job_id, vertex_id)): Path<(String, String)>,
) -> Result<Json<Value>, RestError> {
    let job = state.dispatcher.job(&job_id)?;
    vertex(&job.execution.read(), &job_id, &vertex_id)?;
    Ok(Json(json!({ "endTimestamp": -2, "data": { "name": "", "value": 0, "children": [] } })))
}
