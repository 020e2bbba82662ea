//! The JobMasterGateway gRPC service: TaskManagers report task states and printed rows
//! here; the Dispatcher routes them to the job's JobMaster.

use std::sync::Arc;

use rask_common::proto::job_master_gateway_server::JobMasterGateway;
use rask_common::proto::{Ack, CheckpointAck, CheckpointDecline, TaskExecutionState, TaskOutput};
use tonic::{Request, Response, Status};

use crate::dispatcher::Dispatcher;
use crate::job_master::JobMasterMessage;
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

#[tonic::async_trait]
impl JobMasterGateway for JobMasterGatewayService {
    async fn update_task_execution_state(&self, request: Request<TaskExecutionState>) -> Result<Response<Ack>, Status> {
        self.dispatcher().ok_or_else(not_leader)?.update_task_state(request.into_inner()).map_err(|e| Status::not_found(e.to_string()))?;
        Ok(Response::new(Ack {}))
    }

    async fn publish_output(&self, request: Request<TaskOutput>) -> Result<Response<Ack>, Status> {
        let out = request.into_inner();
        self.dispatcher().ok_or_else(not_leader)?.append_output(&out.job_id, out.lines).map_err(|e| Status::not_found(e.to_string()))?;
        Ok(Response::new(Ack {}))
    }

    async fn acknowledge_checkpoint(&self, request: Request<CheckpointAck>) -> Result<Response<Ack>, Status> {
        let ack = request.into_inner();
        let job = ack.job_id.clone();
        self.dispatcher()
            .ok_or_else(not_leader)?
            .checkpoint_message(&job, JobMasterMessage::CheckpointAck(ack))
            .map_err(|e| Status::not_found(e.to_string()))?;
        Ok(Response::new(Ack {}))
    }

    async fn decline_checkpoint(&self, request: Request<CheckpointDecline>) -> Result<Response<Ack>, Status> {
        let decline = request.into_inner();
        let job = decline.job_id.clone();
        self.dispatcher()
            .ok_or_else(not_leader)?
            .checkpoint_message(&job, JobMasterMessage::CheckpointDecline(decline))
            .map_err(|e| Status::not_found(e.to_string()))?;
        Ok(Response::new(Ack {}))
    }
}
