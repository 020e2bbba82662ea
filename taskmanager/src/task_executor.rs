//! The TaskExecutor gRPC service: the commands a JobManager sends this TaskManager.
//! Each is fenced by the sender's leader token before it touches any state.

use std::sync::Arc;

use parking_lot::Mutex;
use rask_common::proto::task_executor_server::TaskExecutor;
use rask_common::proto::{
    FreeSlotRequest, FreeSlotResponse, RequestSlotRequest, RequestSlotResponse,
};
use tonic::{Request, Response, Status};

use crate::fencing::LeaderFence;
use crate::slot_table::{SlotError, SlotTable};

pub struct TaskExecutorService {
    pub(crate) fence: Arc<LeaderFence>,
    pub(crate) slots: Arc<Mutex<SlotTable>>,
}

#[tonic::async_trait]
impl TaskExecutor for TaskExecutorService {
    async fn request_slot(
        &self,
        request: Request<RequestSlotRequest>,
    ) -> Result<Response<RequestSlotResponse>, Status> {
        let req = request.into_inner();
        self.fence
            .check(&req.leader_token)
            .map_err(|e| Status::failed_precondition(e.to_string()))?;
        let mut slots = self.slots.lock();
        slots
            .allocate(req.slot_index, &req.allocation_id, &req.job_id)
            .map_err(|e| match e {
                SlotError::NoSuchSlot { .. } | SlotError::EmptyAllocationId => {
                    Status::invalid_argument(e.to_string())
                }
                SlotError::Occupied { .. } => Status::resource_exhausted(e.to_string()),
                SlotError::AllocationElsewhere(_) => Status::already_exists(e.to_string()),
            })?;
        tracing::info!(slot = req.slot_index, allocation = %req.allocation_id, job = %req.job_id, "slot allocated");
        Ok(Response::new(RequestSlotResponse {
            slot_report: Some(slots.report()),
        }))
    }

    async fn free_slot(
        &self,
        request: Request<FreeSlotRequest>,
    ) -> Result<Response<FreeSlotResponse>, Status> {
        let req = request.into_inner();
        self.fence
            .check(&req.leader_token)
            .map_err(|e| Status::failed_precondition(e.to_string()))?;
        let mut slots = self.slots.lock();
        if slots.free(&req.allocation_id) {
            tracing::info!(allocation = %req.allocation_id, "slot freed");
        }
        Ok(Response::new(FreeSlotResponse {
            slot_report: Some(slots.report()),
        }))
    }
}
