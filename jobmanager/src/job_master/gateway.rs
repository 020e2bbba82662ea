//! The JobMaster's view of a TaskExecutor (Flink's TaskExecutorGateway): the calls a
//! JobMaster makes to run its tasks. `grpc` reaches a TaskManager over tonic; tests
//! put a fake behind the same trait to drive the JobMaster without processes.

use std::sync::Arc;
use std::time::Duration;

use rask_common::proto::task_executor_client::TaskExecutorClient;
use rask_common::proto::{
    CancelJobTasksRequest, FreeSlotRequest, LogRequest, LogResponse, MetricsRequest, NotifyCheckpointCompleteRequest, RequestSlotRequest,
    SlotReport, TaskDeploymentDescriptor, TaskManagerMetrics, TriggerCheckpointRequest,
};
use tonic::transport::Channel;

use crate::ha::BoxFuture;

/// Why a call to a TaskExecutor failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GatewayError {
    /// The TaskExecutor has not taken this leader's registration answer yet (it
    /// has just registered): worth a retry in a moment.
    #[error("{0}")]
    NotReady(String),
    /// The TaskExecutor answered with a refusal, or could not be reached.
    #[error("{0}")]
    Failed(String),
}

/// One TaskExecutor, as the JobMaster calls it. Every call is bounded in time by the
/// caller; an implementation may block until its transport gives up.
pub trait TaskExecutorGateway: Send + Sync {
    /// Allocates slot `slot_index` to the job under `allocation_id`; answers with the
    /// TaskExecutor's slot report. `NotReady` when it does not know this leader yet.
    fn request_slot(&self, request: RequestSlotRequest) -> BoxFuture<'_, Result<Option<SlotReport>, GatewayError>>;
    /// Starts one subtask; returns once the TaskExecutor accepted it (its states
    /// arrive later, as task state updates).
    fn submit_task(&self, tdd: TaskDeploymentDescriptor) -> BoxFuture<'_, Result<(), GatewayError>>;
    /// Cancels every task of the job on this TaskExecutor; each reports CANCELED.
    fn cancel_job_tasks(&self, request: CancelJobTasksRequest) -> BoxFuture<'_, Result<(), GatewayError>>;
    /// Frees a slot of the job; answers with the slot report after it.
    fn free_slot(&self, request: FreeSlotRequest) -> BoxFuture<'_, Result<Option<SlotReport>, GatewayError>>;
    /// Injects checkpoint barriers at the job's source tasks on this TaskExecutor.
    fn trigger_checkpoint(&self, request: TriggerCheckpointRequest) -> BoxFuture<'_, Result<(), GatewayError>>;
    /// Tells the job's tasks that a checkpoint completed (sinks commit).
    fn notify_checkpoint_complete(&self, request: NotifyCheckpointCompleteRequest) -> BoxFuture<'_, Result<(), GatewayError>>;
    /// The TaskExecutor's metrics now: its process and its running tasks.
    fn request_metrics(&self, request: MetricsRequest) -> BoxFuture<'_, Result<TaskManagerMetrics, GatewayError>>;
    /// The tail of the TaskExecutor's log or stdout, at most `max_bytes` of it.
    fn request_log(&self, request: LogRequest) -> BoxFuture<'_, Result<LogResponse, GatewayError>>;
}

/// Where a JobMaster gets the gateway of a TaskExecutor address.
pub trait TaskExecutorGateways: Send + Sync {
    /// A gateway to the TaskExecutor at `address` (host:port). Connecting is lazy:
    /// an unreachable address fails the first call, not this one.
    fn connect(&self, address: &str) -> Result<Arc<dyn TaskExecutorGateway>, GatewayError>;
}

/// TaskExecutors over gRPC, with the cluster's internal TLS when configured.
pub struct GrpcGateways {
    pub tls: Option<Arc<rask_common::security::InternalTls>>,
}

impl TaskExecutorGateways for GrpcGateways {
    fn connect(&self, address: &str) -> Result<Arc<dyn TaskExecutorGateway>, GatewayError> {
        let channel = rask_common::security::tls::endpoint(address, self.tls.as_deref())
            .map_err(|e| GatewayError::Failed(e.to_string()))?
            .connect_timeout(Duration::from_secs(5))
            .tcp_nodelay(true)
            .connect_lazy();
        Ok(Arc::new(GrpcGateway(TaskExecutorClient::new(channel).max_encoding_message_size(256 << 20))))
    }
}

struct GrpcGateway(TaskExecutorClient<Channel>);

fn failed(status: tonic::Status) -> GatewayError {
    match status.code() {
        tonic::Code::FailedPrecondition => GatewayError::NotReady(status.message().to_string()),
        _ => GatewayError::Failed(status.message().to_string()),
    }
}

impl TaskExecutorGateway for GrpcGateway {
    fn request_slot(&self, request: RequestSlotRequest) -> BoxFuture<'_, Result<Option<SlotReport>, GatewayError>> {
        let mut client = self.0.clone();
        Box::pin(async move { client.request_slot(request).await.map(|r| r.into_inner().slot_report).map_err(failed) })
    }

    fn submit_task(&self, tdd: TaskDeploymentDescriptor) -> BoxFuture<'_, Result<(), GatewayError>> {
        let mut client = self.0.clone();
        Box::pin(async move { client.submit_task(tdd).await.map(drop).map_err(failed) })
    }

    fn cancel_job_tasks(&self, request: CancelJobTasksRequest) -> BoxFuture<'_, Result<(), GatewayError>> {
        let mut client = self.0.clone();
        Box::pin(async move { client.cancel_job_tasks(request).await.map(drop).map_err(failed) })
    }

    fn free_slot(&self, request: FreeSlotRequest) -> BoxFuture<'_, Result<Option<SlotReport>, GatewayError>> {
        let mut client = self.0.clone();
        Box::pin(async move { client.free_slot(request).await.map(|r| r.into_inner().slot_report).map_err(failed) })
    }

    fn trigger_checkpoint(&self, request: TriggerCheckpointRequest) -> BoxFuture<'_, Result<(), GatewayError>> {
        let mut client = self.0.clone();
        Box::pin(async move { client.trigger_checkpoint(request).await.map(drop).map_err(failed) })
    }

    fn notify_checkpoint_complete(&self, request: NotifyCheckpointCompleteRequest) -> BoxFuture<'_, Result<(), GatewayError>> {
        let mut client = self.0.clone();
        Box::pin(async move { client.notify_checkpoint_complete(request).await.map(drop).map_err(failed) })
    }

    fn request_metrics(&self, request: MetricsRequest) -> BoxFuture<'_, Result<TaskManagerMetrics, GatewayError>> {
        let mut client = self.0.clone();
        Box::pin(async move { client.request_metrics(request).await.map(|r| r.into_inner()).map_err(failed) })
    }

    fn request_log(&self, request: LogRequest) -> BoxFuture<'_, Result<LogResponse, GatewayError>> {
        let mut client = self.0.clone();
        Box::pin(async move { client.request_log(request).await.map(|r| r.into_inner()).map_err(failed) })
    }
}
