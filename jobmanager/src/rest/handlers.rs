//! REST handlers: each turns a component's answer into Flink's JSON shape.

use axum::extract::{Path, State};
use axum::http::Uri;
use axum::Json;
use serde_json::{json, Value};

use super::{RestError, RestState};
use crate::execution_graph::JobStatus;
use crate::resource_manager::TaskManagerInfo;

const MIB: u64 = 1 << 20;

pub async fn web_config() -> Json<Value> {
    Json(json!({
        "refresh-interval": 3000,
        "timezone-name": "Coordinated Universal Time",
        "timezone-offset": 0,
        "flink-version": rask_common::VERSION,
        "flink-revision": format!("rask {}", rask_common::VERSION),
        "features": {
            "web-submit": false,
            "web-cancel": true,
            "web-rescale": false,
            "web-history": false
        }
    }))
}

pub async fn overview(State(state): State<RestState>) -> Json<Value> {
    let o = state.resource_manager.overview();
    let counts = state.dispatcher.counts();
    let count = |s: JobStatus| counts.get(&s).copied().unwrap_or(0);
    let running = counts.iter().filter(|(s, _)| !s.is_terminal()).map(|(_, n)| n).sum::<usize>();
    Json(json!({
        "taskmanagers": o.taskmanagers,
        "slots-total": o.slots_total,
        "slots-available": o.slots_available,
        "jobs-running": running,
        "jobs-finished": count(JobStatus::Finished),
        "jobs-cancelled": count(JobStatus::Canceled),
        "jobs-failed": count(JobStatus::Failed),
        "flink-version": rask_common::VERSION,
        "flink-commit": "",
    }))
}

fn resource(cores: u32, memory_bytes: u64) -> Value {
    json!({
        "cpuCores": f64::from(cores),
        "taskHeapMemory": 0,
        "taskOffHeapMemory": 0,
        "managedMemory": memory_bytes / MIB,
        "networkMemory": 0,
        "extendedResources": {}
    })
}

/// The running (not yet ended) tasks on each TaskManager.
fn assigned_tasks(state: &RestState) -> std::collections::HashMap<String, usize> {
    let mut counts = std::collections::HashMap::new();
    for job in state.dispatcher.jobs() {
        for e in job.execution.read().executions().filter(|e| !e.state.is_terminal()) {
            if let Some(tm) = &e.resource_id {
                *counts.entry(tm.clone()).or_default() += 1;
            }
        }
    }
    counts
}

fn taskmanager_json(tm: &TaskManagerInfo, assigned: usize) -> Value {
    let slots = tm.slots.len();
    let free = tm.free_slots();
    let slot_memory: u64 = tm.slots.iter().map(|s| s.memory_budget_bytes).sum();
    let free_memory: u64 = tm.slots.iter().filter(|s| s.allocation_id.is_empty()).map(|s| s.memory_budget_bytes).sum();
    let cores = tm.hardware.cpu_cores;
    json!({
        "id": tm.resource_id,
        "path": format!("grpc://{}", tm.rpc_address),
        "dataPort": tm.data_port,
        "jmxPort": -1,
        // Despite its name, Flink answers the time of the last heartbeat (epoch ms).
        "timeSinceLastHeartbeat": crate::execution_graph::now_ms() - tm.since_last_heartbeat.as_millis() as i64,
        "slotsNumber": slots,
        "freeSlots": free,
        "assignedTasks": assigned,
        "totalResource": resource(cores, slot_memory),
        "freeResource": resource(if slots == 0 { 0 } else { cores * free as u32 / slots as u32 }, free_memory),
        "hardware": {
            "cpuCores": cores,
            "physicalMemory": tm.hardware.physical_memory_bytes,
            "freeMemory": tm.hardware.free_memory_bytes,
            "managedMemory": slot_memory,
        },
        // Flink's memory model: Rask has no JVM heap, metaspace or overhead and no
        // network buffer pool apart from the slots' budgets, so those are 0 (as Flink
        // reports a component it does not use); the slots' budgets are managed memory.
        "memoryConfiguration": {
            "frameworkHeap": 0,
            "taskHeap": 0,
            "frameworkOffHeap": 0,
            "taskOffHeap": 0,
            "networkMemory": 0,
            "managedMemory": slot_memory,
            "jvmMetaspace": 0,
            "jvmOverhead": 0,
            "totalFlinkMemory": slot_memory,
            "totalProcessMemory": tm.process_memory_bytes,
        },
    })
}

/// A TaskManager's `metrics` in `/taskmanagers/:id`: Flink's JVM and Netty figures,
/// which have no counterpart in a Rask process (0, as Flink shows before its first
/// metrics fetch).
fn jvm_metrics() -> Value {
    let zero = |names: &[&str]| names.iter().map(|n| (n.to_string(), json!(0))).collect::<serde_json::Map<String, Value>>();
    let mut metrics = zero(&[
        "heapUsed",
        "heapCommitted",
        "heapMax",
        "nonHeapUsed",
        "nonHeapCommitted",
        "nonHeapMax",
        "directCount",
        "directUsed",
        "directMax",
        "mappedCount",
        "mappedUsed",
        "mappedMax",
        "nettyShuffleMemorySegmentsAvailable",
        "nettyShuffleMemorySegmentsUsed",
        "nettyShuffleMemorySegmentsTotal",
        "nettyShuffleMemoryAvailable",
        "nettyShuffleMemoryUsed",
        "nettyShuffleMemoryTotal",
    ]);
    metrics.insert("garbageCollectors".into(), json!([]));
    Value::Object(metrics)
}

pub async fn taskmanagers(State(state): State<RestState>) -> Json<Value> {
    let assigned = assigned_tasks(&state);
    let tms: Vec<Value> = state
        .resource_manager
        .taskmanagers()
        .iter()
        .map(|tm| taskmanager_json(tm, assigned.get(&tm.resource_id).copied().unwrap_or(0)))
        .collect();
    Json(json!({ "taskmanagers": tms }))
}

pub async fn taskmanager_detail(State(state): State<RestState>, Path(id): Path<String>) -> Result<Json<Value>, RestError> {
    let tm = state.resource_manager.taskmanager(&id).ok_or_else(|| RestError::not_found(format!("TaskManager {id} does not exist.")))?;
    let mut body = taskmanager_json(&tm, assigned_tasks(&state).get(&tm.resource_id).copied().unwrap_or(0));
    body["metrics"] = jvm_metrics();
    let slots: Vec<Value> = tm
        .slots
        .iter()
        .map(|s| {
            json!({
                "index": s.index,
                "memoryBudget": s.memory_budget_bytes,
                "allocationId": if s.allocation_id.is_empty() { Value::Null } else { json!(s.allocation_id) },
                "jobId": if s.job_id.is_empty() { Value::Null } else { json!(s.job_id) },
            })
        })
        .collect();
    let allocated: Vec<Value> = tm
        .slots
        .iter()
        .filter(|s| !s.allocation_id.is_empty())
        .map(|s| json!({ "jobId": s.job_id, "resource": resource(0, s.memory_budget_bytes) }))
        .collect();
    body["allocatedSlots"] = json!(allocated);
    body["slots"] = json!(slots);
    Ok(Json(body))
}

pub async fn jobmanager_config(State(state): State<RestState>) -> Json<Value> {
    let entries: Vec<Value> =
        state.configuration.raw.effective_entries().into_iter().map(|(key, value)| json!({ "key": key, "value": value })).collect();
    Json(json!(entries))
}

pub async fn not_found(uri: Uri) -> RestError {
    RestError::not_found(format!("Not found: {}", uri.path()))
}

pub async fn method_not_allowed(method: axum::http::Method, uri: Uri) -> RestError {
    RestError { status: axum::http::StatusCode::METHOD_NOT_ALLOWED, message: format!("Method {method} is not allowed for {}", uri.path()) }
}
