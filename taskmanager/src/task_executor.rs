//! The TaskExecutor gRPC service: the commands a JobManager sends this TaskManager.
//! Each is fenced by the sender's leader token before it touches any state.

use std::sync::Arc;

use parking_lot::Mutex;
use rask_common::proto::task_executor_server::TaskExecutor;
use rask_common::proto::{
    CancelJobTasksRequest, CancelJobTasksResponse, DataFrame, FreeSlotRequest, FreeSlotResponse, LogKind, LogRequest, LogResponse,
    MetricsRequest, NotifyCheckpointCompleteRequest, PartitionRequest, RequestSlotRequest, RequestSlotResponse, SubmitTaskResponse,
    TaskDeploymentDescriptor, TaskManagerMetrics, TriggerCheckpointRequest, TriggerCheckpointResponse,
};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::fencing::LeaderFence;
use crate::metrics::TaskManagerMetricSource;
use crate::runtime::network::registry::SubpartitionKey;
use crate::runtime::network::remote;
use crate::runtime::task::{self, TaskServices};
use crate::slot_table::{SlotError, SlotTable};

pub struct TaskExecutorService {
    pub(crate) fence: Arc<LeaderFence>,
    pub(crate) slots: Arc<Mutex<SlotTable>>,
    pub(crate) tasks: Arc<TaskServices>,
    pub(crate) metrics: Arc<TaskManagerMetricSource>,
}

/// The most of a log a `RequestLog` answer carries.
const MAX_LOG_BYTES: u64 = rask_common::logging::TAIL_BYTES as u64;

#[tonic::async_trait]
impl TaskExecutor for TaskExecutorService {
    async fn request_slot(&self, request: Request<RequestSlotRequest>) -> Result<Response<RequestSlotResponse>, Status> {
        let req = request.into_inner();
        let _fenced = self.fence.guard(&req.leader_token).map_err(|e| Status::failed_precondition(e.to_string()))?;
        let mut slots = self.slots.lock();
        slots.allocate(req.slot_index, &req.allocation_id, &req.job_id).map_err(|e| match e {
            SlotError::NoSuchSlot { .. } | SlotError::EmptyAllocationId => Status::invalid_argument(e.to_string()),
            SlotError::Occupied { .. } => Status::resource_exhausted(e.to_string()),
            SlotError::AllocationElsewhere(_) => Status::already_exists(e.to_string()),
        })?;
        tracing::info!(slot = req.slot_index, allocation = %req.allocation_id, job = %req.job_id, "slot allocated");
        Ok(Response::new(RequestSlotResponse { slot_report: Some(slots.report()) }))
    }

    async fn free_slot(&self, request: Request<FreeSlotRequest>) -> Result<Response<FreeSlotResponse>, Status> {
        let req = request.into_inner();
        let _fenced = self.fence.guard(&req.leader_token).map_err(|e| Status::failed_precondition(e.to_string()))?;
        self.tasks.release_slot(&req.allocation_id);
        let mut slots = self.slots.lock();
        if slots.free(&req.allocation_id) {
            tracing::info!(allocation = %req.allocation_id, "slot freed");
        }
        Ok(Response::new(FreeSlotResponse { slot_report: Some(slots.report()) }))
    }

    async fn submit_task(&self, request: Request<TaskDeploymentDescriptor>) -> Result<Response<SubmitTaskResponse>, Status> {
        let tdd = request.into_inner();
        let _fenced = self.fence.guard(&tdd.leader_token).map_err(|e| Status::failed_precondition(e.to_string()))?;
        task::submit(self.tasks.clone(), tdd).map_err(|e| Status::invalid_argument(e.to_string()))?;
        Ok(Response::new(SubmitTaskResponse {}))
    }

    async fn cancel_job_tasks(&self, request: Request<CancelJobTasksRequest>) -> Result<Response<CancelJobTasksResponse>, Status> {
        let req = request.into_inner();
        let _fenced = self.fence.guard(&req.leader_token).map_err(|e| Status::failed_precondition(e.to_string()))?;
        let cancelled = self.tasks.cancel_job(&req.job_id) as u32;
        Ok(Response::new(CancelJobTasksResponse { cancelled }))
    }

    async fn trigger_checkpoint(&self, request: Request<TriggerCheckpointRequest>) -> Result<Response<TriggerCheckpointResponse>, Status> {
        let req = request.into_inner();
        let _fenced = self.fence.guard(&req.leader_token).map_err(|e| Status::failed_precondition(e.to_string()))?;
        let triggered = self.tasks.trigger_checkpoint(&req.job_id, req.checkpoint_id, req.stop, req.drain) as u32;
        if triggered == 0 {
            return Err(Status::not_found(format!("no source task of job {} runs here", req.job_id)));
        }
        Ok(Response::new(TriggerCheckpointResponse { triggered }))
    }

    async fn notify_checkpoint_complete(
        &self,
        request: Request<NotifyCheckpointCompleteRequest>,
    ) -> Result<Response<TriggerCheckpointResponse>, Status> {
        let req = request.into_inner();
        let _fenced = self.fence.guard(&req.leader_token).map_err(|e| Status::failed_precondition(e.to_string()))?;
        let triggered = self.tasks.notify_checkpoint_complete(&req.job_id, req.checkpoint_id) as u32;
        Ok(Response::new(TriggerCheckpointResponse { triggered }))
    }

    type ReadPartitionStream = ReceiverStream<Result<DataFrame, Status>>;

    async fn request_metrics(&self, request: Request<MetricsRequest>) -> Result<Response<TaskManagerMetrics>, Status> {
        let req = request.into_inner();
        let _fenced = self.fence.guard(&req.leader_token).map_err(|e| Status::failed_precondition(e.to_string()))?;
        Ok(Response::new(self.metrics.current()))
    }

    async fn request_log(&self, request: Request<LogRequest>) -> Result<Response<LogResponse>, Status> {
        let req = request.into_inner();
        let _fenced = self.fence.guard(&req.leader_token).map_err(|e| Status::failed_precondition(e.to_string()))?;
        let tail = match LogKind::try_from(req.kind) {
            Ok(LogKind::Log) => rask_common::logging::log_tail(),
            Ok(LogKind::Stdout) => rask_common::logging::stdout_tail(),
            Ok(LogKind::Threads) => {
                let text: String = rask_common::hardware::own_threads()
                    .into_iter()
                    .map(|(tid, name, state)| format!("{tid}\t{name}\t{state}\n"))
                    .collect();
                let total_bytes = text.len() as u64;
                return Ok(Response::new(LogResponse { text: text.into_bytes(), total_bytes }));
            }
            _ => return Err(Status::invalid_argument(format!("unknown log kind {}", req.kind))),
        };
        let (text, total_bytes) = tail.tail(req.max_bytes.clamp(1, MAX_LOG_BYTES) as usize);
        Ok(Response::new(LogResponse { text, total_bytes }))
    }

    async fn read_partition(&self, request: Request<PartitionRequest>) -> Result<Response<Self::ReadPartitionStream>, Status> {
        let req = request.into_inner();
        let key = SubpartitionKey {
            job_id: req.job_id,
            producer_vertex: req.producer_vertex_id,
            producer_subtask: req.producer_subtask,
            consumer_subtask: req.consumer_subtask,
            attempt: req.attempt,
        };
        let queue =
            self.tasks.partitions.take(key, std::time::Duration::from_secs(60)).await.map_err(|e| Status::not_found(e.to_string()))?;
        Ok(Response::new(ReceiverStream::new(remote::serve(queue))))
    }
}
