//! A process's log and stdout, as Flink serves its `.log` and `.out` files:
//! `/jobmanager/log`, `/jobmanager/stdout`, `/jobmanager/logs` (the list) and
//! `/jobmanager/logs/:name`, and the same under `/taskmanagers/:id/`, fetched from the
//! TaskManager. Each is the tail the process keeps in memory (1 MiB), so it works the
//! same under systemd, in a terminal and in a local cluster. Also each process's
//! thread dump (`/jobmanager/thread-dump`, `/taskmanagers/:id/thread-dump`): its
//! threads with their names and states (a Rust process has no stacks to print
//! without stopping itself).

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use rask_common::logging::{log_tail, stdout_tail, TAIL_BYTES};
use rask_common::proto::LogKind;
use serde_json::{json, Value};

use super::{RestError, RestState};
use crate::execution_graph::now_ms;

fn text(bytes: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], bytes).into_response()
}

fn list(process: &str, log_size: u64, out_size: u64) -> Json<Value> {
    let now = now_ms();
    Json(json!({ "logs": [
        { "name": format!("{process}.log"), "size": log_size, "mtime": now },
        { "name": format!("{process}.out"), "size": out_size, "mtime": now },
    ]}))
}

fn kind_of(process: &str, name: &str) -> Result<LogKind, RestError> {
    match name.strip_prefix(process) {
        Some(".log") => Ok(LogKind::Log),
        Some(".out") => Ok(LogKind::Stdout),
        _ => Err(RestError::not_found(format!("No log file '{name}': {process}.log and {process}.out exist."))),
    }
}

fn local(kind: LogKind) -> Vec<u8> {
    let tail = if kind == LogKind::Stdout { stdout_tail() } else { log_tail() };
    tail.tail(TAIL_BYTES).0
}

pub async fn jobmanager_log() -> Response {
    text(local(LogKind::Log))
}

pub async fn jobmanager_stdout() -> Response {
    text(local(LogKind::Stdout))
}

pub async fn jobmanager_logs() -> Json<Value> {
    list("jobmanager", log_tail().tail(TAIL_BYTES).0.len() as u64, stdout_tail().tail(TAIL_BYTES).0.len() as u64)
}

pub async fn jobmanager_log_file(Path(name): Path<String>) -> Result<Response, RestError> {
    Ok(text(local(kind_of("jobmanager", &name)?)))
}

async fn taskmanager_tail(state: &RestState, id: &str, kind: LogKind) -> Result<Vec<u8>, RestError> {
    let tm = state.resource_manager.taskmanager(id).ok_or_else(|| RestError::not_found(format!("TaskManager {id} does not exist.")))?;
    let answer = state.metrics.fetcher.request_log(&tm.rpc_address, kind, TAIL_BYTES as u64).await.map_err(|e| RestError {
        status: axum::http::StatusCode::SERVICE_UNAVAILABLE,
        message: format!("The log of TaskManager {id} could not be fetched: {e}"),
    })?;
    Ok(answer.text)
}

pub async fn taskmanager_log(State(state): State<RestState>, Path(id): Path<String>) -> Result<Response, RestError> {
    Ok(text(taskmanager_tail(&state, &id, LogKind::Log).await?))
}

pub async fn taskmanager_stdout(State(state): State<RestState>, Path(id): Path<String>) -> Result<Response, RestError> {
    Ok(text(taskmanager_tail(&state, &id, LogKind::Stdout).await?))
}

pub async fn taskmanager_logs(State(state): State<RestState>, Path(id): Path<String>) -> Result<Json<Value>, RestError> {
    let log = taskmanager_tail(&state, &id, LogKind::Log).await?.len() as u64;
    let out = taskmanager_tail(&state, &id, LogKind::Stdout).await?.len() as u64;
    Ok(list("taskmanager", log, out))
}

pub async fn taskmanager_log_file(State(state): State<RestState>, Path((id, name)): Path<(String, String)>) -> Result<Response, RestError> {
    let kind = kind_of("taskmanager", &name)?;
    Ok(text(taskmanager_tail(&state, &id, kind).await?))
}

fn thread_dump(threads: impl Iterator<Item = (String, String, String)>) -> Json<Value> {
    let infos: Vec<Value> = threads
        .map(|(tid, name, state)| json!({ "threadName": name, "stringifiedThreadInfo": format!("\"{name}\" Id={tid} {state}\n") }))
        .collect();
    Json(json!({ "threadInfos": infos }))
}

pub async fn jobmanager_thread_dump() -> Json<Value> {
    thread_dump(rask_common::hardware::own_threads().into_iter().map(|(tid, name, state)| (tid.to_string(), name, state)))
}

pub async fn taskmanager_thread_dump(State(state): State<RestState>, Path(id): Path<String>) -> Result<Json<Value>, RestError> {
    let text = String::from_utf8_lossy(&taskmanager_tail(&state, &id, LogKind::Threads).await?).to_string();
    Ok(thread_dump(text.lines().filter_map(|l| {
        let mut parts = l.splitn(3, '\t');
        Some((parts.next()?.to_string(), parts.next()?.to_string(), parts.next()?.to_string()))
    })))
}
