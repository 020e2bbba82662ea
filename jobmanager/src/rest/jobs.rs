//! REST handlers for jobs, in Flink's shapes: submit, list, overview, details,
//! cancel, exceptions; plus `/jobs/:id/output`, Rask's feed of printed rows for the
//! CLI's attached mode.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use rask_common::job::graph::JobGraph;
use serde_json::{json, Value};

use super::vertices;
use super::{RestError, RestState};
use crate::dispatcher::DispatcherError;
use crate::execution_graph::{now_ms, ExecutionGraph, ExecutionState, JobStatus};
use crate::job_master::JobMasterHandle;
use crate::metrics::fetcher::MetricStore;

impl From<DispatcherError> for RestError {
    fn from(e: DispatcherError) -> Self {
        let status = match e {
            DispatcherError::NotFound(_) => StatusCode::NOT_FOUND,
            DispatcherError::ForeignAttempt(_) => StatusCode::FORBIDDEN,
            DispatcherError::Duplicate(_) | DispatcherError::AlreadyTerminal(..) => StatusCode::CONFLICT,
            DispatcherError::Invalid(_) => StatusCode::BAD_REQUEST,
            DispatcherError::Store(crate::ha::HaError::JobEnded(_)) => StatusCode::CONFLICT,
            DispatcherError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        RestError { status, message: e.to_string() }
    }
}

/// `POST /jobs` with a JobGraph (JSON) as the body.
pub async fn submit(State(state): State<RestState>, body: Bytes) -> Result<(StatusCode, Json<Value>), RestError> {
    let limit = rask_common::job::limits::MAX_JOB_GRAPH_BYTES;
    if body.len() > limit {
        return Err(RestError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            message: format!("The JobGraph is {} bytes; at most {limit} are accepted.", body.len()),
        });
    }
    let graph: JobGraph =
        serde_json::from_slice(&body).map_err(|e| RestError::bad_request(format!("Request body is not a JobGraph: {e}")))?;
    let id = state.dispatcher.submit(graph).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "jobUrl": format!("/jobs/{id}"), "jobid": id }))))
}

pub async fn list(State(state): State<RestState>) -> Json<Value> {
    let jobs: Vec<Value> = state.dispatcher.jobs().iter().map(|j| json!({ "id": j.graph.job_id, "status": j.status().name() })).collect();
    Json(json!({ "jobs": jobs }))
}

fn duration(eg: &ExecutionGraph) -> i64 {
    if eg.end_time >= 0 {
        eg.end_time - eg.start_time
    } else {
        now_ms() - eg.start_time
    }
}

fn task_counts(eg: &ExecutionGraph) -> Value {
    let mut counts: HashMap<&str, usize> = ExecutionState::ALL.iter().map(|s| (s.name(), 0)).collect();
    for e in eg.executions() {
        *counts.entry(e.state.name()).or_default() += 1;
    }
    counts.insert("RECONCILING", 0);
    json!(counts)
}

pub async fn overview(State(state): State<RestState>) -> Json<Value> {
    let jobs: Vec<Value> = state.dispatcher.jobs().iter().map(overview_entry).collect();
    Json(json!({ "jobs": jobs }))
}

/// One job of `/jobs/overview` (also an application's job in `/applications/:id`).
pub fn overview_entry(j: &JobMasterHandle) -> Value {
    let eg = j.execution.read();
    let mut tasks: serde_json::Map<String, Value> = ExecutionState::ALL.iter().map(|s| (s.name().to_ascii_lowercase(), json!(0))).collect();
    for e in eg.executions() {
        let key = e.state.name().to_ascii_lowercase();
        tasks[&key] = json!(tasks[&key].as_u64().unwrap_or(0) + 1);
    }
    tasks.insert("reconciling".into(), json!(0));
    tasks.insert("total".into(), json!(eg.executions().count()));
    json!({
        "jid": eg.job_id,
        "name": eg.name,
        "jobType": "STREAMING",
        "schedulerType": "Default",
        "start-time": eg.start_time,
        "end-time": eg.end_time,
        "duration": duration(&eg),
        "state": eg.status.name(),
        "last-modification": eg.timestamps.values().max().copied().unwrap_or(eg.start_time),
        "tasks": tasks,
        // Operators not yet part of the running job (Flink's adaptive batch
        // scheduler); a streaming job has none.
        "pending-operators": 0,
    })
}

fn detail_json(job: &JobMasterHandle, store: &MetricStore) -> Value {
    let eg = job.execution.read();
    let timestamps: serde_json::Map<String, Value> = JobStatus::ALL
        .iter()
        .map(|s| (s.name().to_string(), json!(eg.timestamps.get(s).copied().unwrap_or(0))))
        .chain([("SUSPENDED".to_string(), json!(0)), ("RECONCILING".to_string(), json!(0))])
        .collect();
    let vertices: Vec<Value> = eg
        .vertices
        .iter()
        .map(|v| {
            let start = v.subtasks.iter().map(|e| e.start_time).filter(|t| *t >= 0).min().unwrap_or(-1);
            let end = if v.subtasks.iter().all(|e| e.state.is_terminal()) {
                v.subtasks.iter().map(|e| e.end_time).max().unwrap_or(-1)
            } else {
                -1
            };
            let mut tasks: serde_json::Map<String, Value> = v.counts().into_iter().map(|(s, n)| (s.name().to_string(), json!(n))).collect();
            tasks.insert("RECONCILING".into(), json!(0));
            json!({
                "id": v.id,
                // Every vertex shares the job's one slot sharing group, as in Flink by default.
                "slotSharingGroupId": slot_sharing_group(&eg.job_id),
                "metrics": vertices::vertex_io(&eg.job_id, v, store),
                "name": v.name,
                "maxParallelism": eg.max_parallelism,
                "parallelism": v.parallelism,
                "status": v.status().name(),
                "start-time": start,
                "end-time": end,
                "duration": if start < 0 { -1 } else if end >= 0 { end - start } else { now_ms() - start },
                "tasks": tasks,
                "subtasks": v.subtasks.iter().enumerate().map(|(i, e)| json!({
                    "subtask": i,
                    "status": e.state.name(),
                    "taskmanager-id": e.resource_id,
                    "endpoint": e.rpc_address,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let plan_nodes: Vec<Value> = job
        .graph
        .vertices
        .iter()
        .map(|v| {
            let inputs: Vec<Value> = job
                .graph
                .inputs_of(&v.id)
                .iter()
                .enumerate()
                .map(|(n, e)| json!({ "num": n, "id": e.source, "ship_strategy": ship_strategy(&e.partitioning), "exchange": "pipelined_bounded" }))
                .collect();
            json!({
                "id": v.id,
                "parallelism": v.parallelism,
                "operator": "",
                "operator_strategy": "",
                "description": v.name,
                "optimizer_properties": {},
                "inputs": inputs,
            })
        })
        .collect();
    json!({
        "jid": eg.job_id,
        // Each job is its own application (see /applications).
        "application-id": eg.job_id,
        "name": eg.name,
        "isStoppable": false,
        "state": eg.status.name(),
        "job-type": "STREAMING",
        "schedulerType": "Default",
        "pending-operators": 0,
        "start-time": eg.start_time,
        "end-time": eg.end_time,
        "duration": duration(&eg),
        "maxParallelism": eg.max_parallelism,
        "now": now_ms(),
        "timestamps": timestamps,
        "vertices": vertices,
        "status-counts": task_counts(&eg),
        "plan": { "jid": eg.job_id, "name": eg.name, "type": "STREAMING", "nodes": plan_nodes },
    })
}

pub fn ship_strategy(p: &rask_common::job::graph::Partitioning) -> &'static str {
    use rask_common::job::graph::Partitioning::*;
    match p {
        Forward => "FORWARD",
        Hash { .. } => "HASH",
        Rebalance => "REBALANCE",
        Broadcast => "BROADCAST",
    }
}

pub async fn detail(State(state): State<RestState>, Path(id): Path<String>) -> Result<Json<Value>, RestError> {
    let job = state.dispatcher.job(&id)?;
    let store = state.metrics.fetcher.store_for_job(&job).await;
    Ok(Json(detail_json(&job, &store)))
}

/// `GET /jobs/:id/plan`: the job's dataflow plan, as in the job detail.
pub async fn plan(State(state): State<RestState>, Path(id): Path<String>) -> Result<Json<Value>, RestError> {
    let job = state.dispatcher.job(&id)?;
    let detail = detail_json(&job, &MetricStore::default());
    Ok(Json(json!({ "plan": detail["plan"] })))
}

/// A stable id for the job's slot sharing group (32 hex characters, as Flink's).
fn slot_sharing_group(job_id: &str) -> String {
    format!("{:032x}", xxhash_rust::xxh3::xxh3_128(format!("slot-sharing-group:{job_id}").as_bytes()))
}

/// `PATCH /jobs/:id?mode=cancel`, as Flink.
pub async fn cancel(
    State(state): State<RestState>,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<(StatusCode, Json<Value>), RestError> {
    match params.get("mode").map(String::as_str) {
        None | Some("cancel") => {}
        Some(other) => return Err(RestError::bad_request(format!("Unsupported mode '{other}': use mode=cancel."))),
    }
    state.dispatcher.cancel(&id)?;
    Ok((StatusCode::ACCEPTED, Json(json!({}))))
}

pub async fn exceptions(State(state): State<RestState>, Path(id): Path<String>) -> Result<Json<Value>, RestError> {
    let job = state.dispatcher.job(&id)?;
    let eg = job.execution.read();
    let entries: Vec<Value> = eg
        .failure_history
        .iter()
        .rev()
        .map(|(t, cause)| json!({ "exceptionName": "TaskFailure", "stacktrace": cause, "timestamp": t, "taskName": Value::Null, "location": Value::Null, "concurrentExceptions": [] }))
        .collect();
    Ok(Json(json!({
        "root-exception": eg.failure.as_ref().map(|(_, c)| c.clone()),
        "timestamp": eg.failure.as_ref().map(|(t, _)| *t),
        "all-exceptions": [],
        "truncated": false,
        "exceptionHistory": { "entries": entries, "truncated": eg.failure_count > eg.failure_history.len() as u64 },
    })))
}

/// The longest a `/jobs/:id/output` request waits for rows (`wait`, in ms).
const OUTPUT_MAX_WAIT: Duration = Duration::from_secs(10);

/// `GET /jobs/:id/output?from=N&wait=MS`: printed rows from line N on. With `wait`,
/// a long poll: when there is no row from N on yet and the job runs, the answer waits
/// (at most `wait` ms, at most 10 s) for rows or the job's end.
pub async fn output(
    State(state): State<RestState>,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, RestError> {
    let job = state.dispatcher.job(&id)?;
    let from: usize = match params.get("from") {
        Some(v) => v.parse().map_err(|_| RestError::bad_request(format!("'from' must be a line number, got '{v}'")))?,
        None => 0,
    };
    let wait = match params.get("wait") {
        Some(v) => Duration::from_millis(v.parse().map_err(|_| RestError::bad_request(format!("'wait' must be milliseconds, got '{v}'")))?),
        None => Duration::ZERO,
    };
    if !wait.is_zero() {
        let mut appended = job.output_appended.subscribe();
        let mut ended = job.terminal.clone();
        // Checked after subscribing: an append in between is not missed.
        if job.output.lock().end() <= from && !job.status().is_terminal() {
            let _ = tokio::time::timeout(wait.min(OUTPUT_MAX_WAIT), async {
                tokio::select! {
                    _ = appended.changed() => {}
                    _ = ended.wait_for(|t| *t) => {}
                }
            })
            .await;
        }
    }
    // Read the state first: once terminal, every printed line is already in.
    let status = job.status();
    let (lines, next, dropped, end, rows) = {
        let output = job.output.lock();
        let (lines, next, dropped) = output.read(from);
        (lines, next, dropped, output.end(), output.rows)
    };
    // Terminal only with the last page: a client reads on until it has every line.
    let terminal = status.is_terminal() && next >= end;
    let mut answer =
        json!({ "lines": lines, "next": next, "dropped": dropped, "state": status.name(), "terminal": terminal, "rows": rows });
    {
        // Failures so far (each restart's cause), for the attached client to report,
        // and the checkpoints, for its progress line and summary.
        let eg = job.execution.read();
        let kept: Vec<Value> = eg.failure_history.iter().map(|(t, cause)| json!({ "timestamp": t, "cause": cause })).collect();
        answer["failure-count"] = json!(eg.failure_count);
        answer["failures"] = json!(kept);
        answer["checkpoints"] = json!({
            "completed": eg.checkpoints.completed,
            "state-size": eg.checkpoints.latest_completed.as_ref().map_or(0, |c| c.state_size),
        });
    }
    if terminal {
        if let Some((_, cause)) = job.execution.read().failure.clone().filter(|_| status != JobStatus::Finished) {
            answer["root-exception"] = json!(cause);
        }
        // The client has the job's end and every printed row (a per-job cluster in
        // attached mode may stop now).
        job.result_served.send_replace(true);
    }
    Ok(Json(answer))
}
