//! The JobMasterGateway gRPC service: TaskManagers report task states and printed rows
//! here; the Dispatcher routes them to the job's JobMaster.

use std::sync::Arc;

use rask_common::proto::job_master_gateway_server::JobMasterGateway;
use rask_common::proto::{Ack, CheckpointAck, CheckpointDecline, TaskExecutionState, TaskOutput};
use tonic::{Request, Response, Status};

use crate::dispatcher::{Dispatcher, DispatcherError};
use crate::leadership::LeaderGate;

pub struct JobMasterGatewayService {
    pub gate: Arc<LeaderGate>,
}

impl JobMasterGatewayService {
    /// The leading term's Dispatcher; a standby has none.
    fn dispatcher(&self) -> Option<Arc<Dispatcher>> {
        self.gate.term().map(|t| t.dispatcher.clone())
    }
}

fn not_leader() -> Status {
    Status::unavailable("this JobManager is not the leader")
}

fn refused(e: DispatcherError) -> Status {
    match e {
        DispatcherError::ForeignAttempt(_) => Status::permission_denied(e.to_string()),
        other => Status::not_found(other.to_string()),
    }
}

#[tonic::async_trait]
impl JobMasterGateway for JobMasterGatewayService {
    async fn update_task_execution_state(&self, request: Request<TaskExecutionState>) -> Result<Response<Ack>, Status> {
        self.dispatcher().ok_or_else(not_leader)?.update_task_state(request.into_inner()).map_err(refused)?;
        Ok(Response::new(Ack {}))
    }

    async fn publish_output(&self, request: Request<TaskOutput>) -> Result<Response<Ack>, Status> {
        self.dispatcher().ok_or_else(not_leader)?.append_output(request.into_inner()).map_err(refused)?;
        Ok(Response::new(Ack {}))
    }

    async fn acknowledge_checkpoint(&self, request: Request<CheckpointAck>) -> Result<Response<Ack>, Status> {
        self.dispatcher().ok_or_else(not_leader)?.acknowledge_checkpoint(request.into_inner()).map_err(refused)?;
        Ok(Response::new(Ack {}))
    }

    async fn decline_checkpoint(&self, request: Request<CheckpointDecline>) -> Result<Response<Ack>, Status> {
        self.dispatcher().ok_or_else(not_leader)?.decline_checkpoint(request.into_inner()).map_err(refused)?;
        Ok(Response::new(Ack {}))
    }
}
