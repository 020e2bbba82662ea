//! What a task tells its JobMaster: its state changes (retried briefly, with its final
//! figures at the end) and the rows its print sinks printed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rask_common::proto::{ExecutionState, TaskDeploymentDescriptor, TaskExecutionState, TaskOutput};

use super::printed::PrintedRows;
use super::task::TaskServices;

/// Sends printed lines to the JobMaster in order, in chunks under the gRPC message
/// limit, each retried briefly; logs a summary at most every 10 s. Returns how many
/// lines could not be delivered.
pub(super) async fn forward_output(
    services: Arc<TaskServices>,
    tdd: TaskDeploymentDescriptor,
    name: String,
    printed: Arc<PrintedRows>,
) -> u64 {
    let mut undelivered = 0u64;
    let mut sent = 0u64;
    let mut last_summary = Instant::now();
    while let Some(crate::runtime::printed::Chunk { lines, total, rows }) = printed.next_chunk().await {
        let count = lines.len() as u64;
        // This TaskManager's stdout, as Flink's print sink writes to its `.out` file.
        let stdout = rask_common::logging::stdout_tail();
        for line in &lines {
            stdout.append(line.as_bytes());
            stdout.append(b"\n");
        }
        let output = TaskOutput {
            job_id: tdd.job_id.clone(),
            lines,
            rows,
            vertex_id: tdd.vertex_id.clone(),
            subtask_index: tdd.subtask_index,
            execution_attempt_id: tdd.execution_attempt_id.clone(),
        };
        let mut delivered = false;
        for attempt in 0..5u32 {
            let Ok(mut client) = services.jobmaster(&tdd.jobmaster_address) else { break };
            match client.publish_output(output.clone()).await {
                Ok(_) => {
                    delivered = true;
                    break;
                }
                Err(e) if matches!(e.code(), tonic::Code::NotFound | tonic::Code::PermissionDenied) => break,
                Err(e) => {
                    tracing::debug!("forwarding printed rows failed (attempt {attempt}): {}", e.message());
                    tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                }
            }
        }
        if delivered {
            sent += count;
        } else {
            undelivered += count;
        }
        if last_summary.elapsed() >= Duration::from_secs(10) {
            tracing::info!("{name}: {sent} of {total} printed lines forwarded to the JobMaster");
            last_summary = Instant::now();
        }
    }
    if undelivered > 0 {
        tracing::warn!("{name}: {undelivered} printed lines could not be delivered to the JobMaster");
    }
    undelivered
}

/// Reports a state change; retried briefly, since the JobMaster relies on it.
pub(super) async fn report(services: &TaskServices, tdd: &TaskDeploymentDescriptor, state: ExecutionState, error: &str) {
    report_final(services, tdd, state, error, None).await
}

/// Reports a state change with the task's final figures.
pub(super) async fn report_final(
    services: &TaskServices,
    tdd: &TaskDeploymentDescriptor,
    state: ExecutionState,
    error: &str,
    io_metrics: Option<rask_common::proto::TaskIoMetrics>,
) {
    let update = TaskExecutionState {
        io_metrics,
        job_id: tdd.job_id.clone(),
        vertex_id: tdd.vertex_id.clone(),
        subtask_index: tdd.subtask_index,
        attempt: tdd.attempt,
        state: state.into(),
        error: error.to_string(),
        resource_id: services.resource_id.clone(),
        execution_attempt_id: tdd.execution_attempt_id.clone(),
    };
    for attempt in 0..5 {
        let Ok(mut client) = services.jobmaster(&tdd.jobmaster_address) else {
            return;
        };
        match client.update_task_execution_state(update.clone()).await {
            Ok(_) => return,
            Err(e) if matches!(e.code(), tonic::Code::NotFound | tonic::Code::PermissionDenied) => return,
            Err(e) => {
                tracing::debug!("reporting {} failed (attempt {attempt}): {}", state.as_str_name(), e.message());
                tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
            }
        }
    }
}
