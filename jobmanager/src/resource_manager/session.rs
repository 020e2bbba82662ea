//! The ResourceManager's gRPC service: one `Session` stream per TaskManager. The first
//! message registers; the JobManager then sends a heartbeat request every
//! heartbeat.interval and expects each answer within heartbeat.timeout. The stream's
//! end — a broken connection, a goodbye, a timeout — deregisters the TaskManager.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::Stream;
use rask_common::proto::resource_manager_message::Kind as RmKind;
use rask_common::proto::resource_manager_server::ResourceManager as ResourceManagerRpc;
use rask_common::proto::task_executor_message::Kind as TeKind;
use rask_common::proto::{HeartbeatRequest, RegistrationRejected, ResourceManagerMessage, TaskExecutorMessage};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::{LossReason, ResourceManager};
use crate::leadership::LeaderGate;

/// How long a new session may take to send its registration.
const REGISTRATION_DEADLINE: Duration = Duration::from_secs(10);

/// Serves the leading term's ResourceManager; a standby refuses sessions.
pub struct ResourceManagerService {
    gate: Arc<LeaderGate>,
}

impl ResourceManagerService {
    pub fn new(gate: Arc<LeaderGate>) -> Self {
        Self { gate }
    }
}

type SessionStream = Pin<Box<dyn Stream<Item = Result<ResourceManagerMessage, Status>> + Send>>;

fn message(kind: RmKind) -> ResourceManagerMessage {
    ResourceManagerMessage { kind: Some(kind) }
}

#[tonic::async_trait]
impl ResourceManagerRpc for ResourceManagerService {
    type SessionStream = SessionStream;

    async fn session(&self, request: Request<Streaming<TaskExecutorMessage>>) -> Result<Response<Self::SessionStream>, Status> {
        let peer = request.remote_addr().map(|a| a.to_string()).unwrap_or_else(|| "unknown peer".into());
        let mut inbound = request.into_inner();
        let first = tokio::time::timeout(REGISTRATION_DEADLINE, inbound.message())
            .await
            .map_err(|_| Status::deadline_exceeded("no registration received"))??;
        let Some(TaskExecutorMessage { kind: Some(TeKind::Register(reg)) }) = first else {
            return Err(Status::invalid_argument("the first message of a session must register"));
        };
        let term = self.gate.term().ok_or_else(|| Status::unavailable("this JobManager is not the leader"))?;
        let rm = term.resource_manager.clone();
        let accepted = match rm.register(&reg) {
            Ok(a) => a,
            Err(refusal) => {
                tracing::warn!("refused registration of TaskManager {} from {peer}: {refusal}", reg.resource_id);
                let reply = message(RmKind::Rejected(RegistrationRejected { reason: refusal.to_string() }));
                return Ok(Response::new(Box::pin(futures::stream::iter([Ok(reply)]))));
            }
        };
        let (tx, rx) = mpsc::channel(8);
        let registration_id = accepted.registration_id.clone();
        let _ = tx.send(Ok(message(RmKind::Accepted(accepted)))).await;
        tokio::spawn(heartbeat_loop(rm, reg.resource_id, registration_id, inbound, tx, term.ended()));
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

/// Drives one registered session until it ends, then deregisters the TaskManager.
async fn heartbeat_loop(
    rm: Arc<ResourceManager>,
    resource_id: String,
    registration_id: String,
    mut inbound: Streaming<TaskExecutorMessage>,
    tx: mpsc::Sender<Result<ResourceManagerMessage, Status>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let timeout = rm.heartbeat_timeout();
    let mut ticker = tokio::time::interval(rm.heartbeat_interval());
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_answer = Instant::now();
    let mut seq: u64 = 0;
    // Outstanding requests (seq, sent at), oldest first; bounded by the timeout.
    let mut in_flight: VecDeque<(u64, Instant)> = VecDeque::new();
    let reason = loop {
        tokio::select! {
            _ = tokio::time::sleep_until((last_answer + timeout).into()) => {
                break LossReason::HeartbeatTimeout(timeout);
            }
            _ = ticker.tick() => {
                seq += 1;
                in_flight.push_back((seq, Instant::now()));
                if in_flight.len() > 64 {
                    in_flight.pop_front();
                }
                let request = message(RmKind::Heartbeat(HeartbeatRequest {
                    seq,
                    leader_token: rm.leader_token().to_string(),
                }));
                if tx.send(Ok(request)).await.is_err() {
                    break LossReason::ConnectionLost;
                }
            }
            msg = inbound.message() => match msg {
                Ok(Some(TaskExecutorMessage { kind: Some(TeKind::Heartbeat(hb)) })) => {
                    last_answer = Instant::now();
                    while let Some(&(s, sent)) = in_flight.front() {
                        if s > hb.seq {
                            break;
                        }
                        in_flight.pop_front();
                        if s == hb.seq {
                            rm.heartbeat_stats().record(sent.elapsed());
                        }
                    }
                    rm.heartbeat(&resource_id, &registration_id, hb.slot_report.unwrap_or_default().slots);
                }
                Ok(Some(TaskExecutorMessage { kind: Some(TeKind::Disconnect(d)) })) => {
                    break LossReason::Disconnected(d.reason);
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break LossReason::ConnectionLost,
            },
            _ = stopped(&mut shutdown) => break LossReason::Shutdown,
        }
    };
    rm.deregister(&resource_id, &registration_id, &reason);
    // Dropping `tx` ends the response stream: the TaskManager sees the session close.
}

async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}
