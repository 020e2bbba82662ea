//! The TaskManager's session with the leading JobManager's ResourceManager: register,
//! answer heartbeat requests with the slot report, watch the JobManager's heartbeats,
//! and on any loss retry with exponential back-off until a JobManager accepts again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rask_common::leader::{LeaderAddress, LeaderRetrieval};
use rask_common::proto::resource_manager_client::ResourceManagerClient;
use rask_common::proto::resource_manager_message::Kind as RmKind;
use rask_common::proto::task_executor_message::Kind as TeKind;
use rask_common::proto::{
    DisconnectTaskExecutor, HardwareDescription, HeartbeatResponse, RegisterTaskExecutor, RegistrationAccepted, TaskExecutorMessage,
};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;

use crate::fencing::LeaderFence;
use crate::runtime::task::TaskServices;
use crate::slot_table::SlotTable;

/// What the connection needs to know about its TaskManager.
pub struct ConnectionContext {
    pub resource_id: String,
    pub instance_id: String,
    pub cluster_id: String,
    pub rpc_address: String,
    pub data_port: u32,
    pub process_memory_bytes: u64,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    pub leader_retrieval: Arc<dyn LeaderRetrieval>,
    /// Mutual TLS for the session with the ResourceManager.
    pub internal_tls: Option<Arc<rask_common::security::InternalTls>>,
    pub fence: Arc<LeaderFence>,
    pub slots: Arc<Mutex<SlotTable>>,
    pub tasks: Arc<TaskServices>,
    /// Registrations accepted so far: tells whether a JobManager came back.
    pub registrations: Arc<std::sync::atomic::AtomicU64>,
    /// heartbeat.timeout of the last registration, in ms.
    pub heartbeat_timeout_ms: Arc<std::sync::atomic::AtomicU64>,
}

/// After a lost session: unless a JobManager accepts this TaskManager again within
/// heartbeat.timeout, the lost JobManager's tasks are orphans (it has declared this
/// TaskManager lost and restarts their jobs elsewhere). Cancel them and free their
/// slots, as Flink does, so that nothing keeps running and writing unsupervised.
fn guard_orphans(ctx: &ConnectionContext) {
    use std::sync::atomic::Ordering::SeqCst;
    let seen = ctx.registrations.load(SeqCst);
    let timeout = Duration::from_millis(ctx.heartbeat_timeout_ms.load(SeqCst).max(1));
    let (registrations, fence, slots, tasks) = (ctx.registrations.clone(), ctx.fence.clone(), ctx.slots.clone(), ctx.tasks.clone());
    tokio::spawn(async move {
        tokio::time::sleep(timeout).await;
        let Some(token) = fence.current() else { return };
        // Under the fence's write lock: no command of any leader passes meanwhile.
        fence.switch_leader(&token, || {
            if registrations.load(SeqCst) != seen {
                return;
            }
            let cancelled = tasks.cancel_all();
            let freed = slots.lock().free_all();
            for allocation in &freed {
                tasks.release_slot(allocation);
            }
            if cancelled > 0 || !freed.is_empty() {
                tracing::warn!(
                    "no JobManager for {} ms (heartbeat.timeout): cancelled its {cancelled} tasks and freed {} slots",
                    timeout.as_millis(),
                    freed.len()
                );
            }
        });
    });
}

/// Why the connection loop ended for good.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error("registration refused by the JobManager at {address}: {reason}")]
    Refused { address: String, reason: String },
}

/// How one session ended, when it did not end the loop.
enum SessionEnd {
    /// Lost or never reached the JobManager: retry after back-off.
    Lost { registered: bool },
    /// Shutdown requested; the JobManager was told.
    Shutdown,
}

/// Runs until `shutdown` turns true (then deregisters and returns Ok) or the
/// JobManager refuses the registration (returns the refusal).
pub async fn run(ctx: ConnectionContext, mut shutdown: watch::Receiver<bool>) -> Result<(), ConnectionError> {
    let mut backoff = ctx.initial_backoff;
    let mut failures: u32 = 0;
    let mut leader = ctx.leader_retrieval.subscribe();
    loop {
        if *shutdown.borrow() {
            return Ok(());
        }
        match session(&ctx, &mut leader, &mut shutdown, failures).await? {
            SessionEnd::Shutdown => return Ok(()),
            SessionEnd::Lost { registered } => {
                if registered {
                    guard_orphans(&ctx);
                    backoff = ctx.initial_backoff;
                    failures = 0;
                } else {
                    failures += 1;
                }
            }
        }
        // A new leader announced meanwhile is tried at once.
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            Ok(()) = leader.changed() => backoff = ctx.initial_backoff,
            _ = shutdown.changed() => return Ok(()),
        }
        backoff = (backoff * 2).min(ctx.max_backoff);
    }
}

fn registration(ctx: &ConnectionContext) -> TaskExecutorMessage {
    let (physical, free) = rask_common::hardware::memory();
    TaskExecutorMessage {
        kind: Some(TeKind::Register(RegisterTaskExecutor {
            resource_id: ctx.resource_id.clone(),
            instance_id: ctx.instance_id.clone(),
            cluster_id: ctx.cluster_id.clone(),
            rpc_address: ctx.rpc_address.clone(),
            data_port: ctx.data_port,
            hardware: Some(HardwareDescription {
                cpu_cores: rask_common::hardware::cpu_cores(),
                physical_memory_bytes: physical,
                free_memory_bytes: free,
            }),
            process_memory_bytes: ctx.process_memory_bytes,
            slot_report: Some(ctx.slots.lock().report()),
        })),
    }
}

async fn session(
    ctx: &ConnectionContext,
    leader: &mut watch::Receiver<Option<LeaderAddress>>,
    shutdown: &mut watch::Receiver<bool>,
    failures: u32,
) -> Result<SessionEnd, ConnectionError> {
    // Say so when the JobManager cannot be reached: at the first failure, then now and
    // then, so the log neither stays silent nor floods.
    let loud = failures == 1 || (failures > 0 && failures.is_multiple_of(20));
    let lost = SessionEnd::Lost { registered: false };
    // Connecting and registering; a shutdown meanwhile has nothing to deregister.
    // No leader known (HA, between terms): wait for one, or for shutdown.
    let mut stop = shutdown.clone();
    let target = tokio::select! {
        l = leader.wait_for(Option::is_some) => match l {
            Ok(l) => l.clone().expect("waited for Some"),
            Err(_) => return Ok(lost),
        },
        _ = stopped(&mut stop) => return Ok(SessionEnd::Shutdown),
    };
    let connect = async {
        let address = target.rpc_address.clone();
        let endpoint = match rask_common::security::tls::endpoint(&address, ctx.internal_tls.as_deref()) {
            Ok(e) => e.connect_timeout(Duration::from_secs(5)).tcp_nodelay(true),
            Err(e) => {
                tracing::error!("invalid JobManager address {address}: {e}");
                return Ok(None);
            }
        };
        let channel = match endpoint.connect().await {
            Ok(c) => c,
            Err(e) => {
                let cause = std::error::Error::source(&e).map(|s| s.to_string()).unwrap_or_else(|| e.to_string());
                if loud {
                    tracing::warn!("JobManager at {address} not reachable ({cause}); retrying");
                } else {
                    tracing::debug!("JobManager at {address} not reachable: {cause}");
                }
                return Ok(None);
            }
        };
        let (tx, rx) = mpsc::channel::<TaskExecutorMessage>(8);
        let _ = tx.send(registration(ctx)).await;
        let mut inbound = match ResourceManagerClient::new(channel).session(ReceiverStream::new(rx)).await {
            Ok(r) => r.into_inner(),
            Err(e) => {
                tracing::debug!("JobManager at {address} did not open a session: {e}");
                return Ok(None);
            }
        };
        let accepted: RegistrationAccepted = match inbound.message().await {
            Ok(Some(msg)) => match msg.kind {
                Some(RmKind::Accepted(a)) => a,
                Some(RmKind::Rejected(r)) => {
                    return Err(ConnectionError::Refused { address, reason: r.reason });
                }
                _ => {
                    tracing::warn!("JobManager at {address} answered the registration with an unexpected message");
                    return Ok(None);
                }
            },
            Ok(None) | Err(_) => return Ok(None),
        };
        Ok::<_, ConnectionError>(Some((address, tx, inbound, accepted)))
    };
    let mut stop = shutdown.clone();
    let (address, tx, mut inbound, accepted) = tokio::select! {
        r = connect => match r? {
            Some(session) => session,
            None => return Ok(lost),
        },
        _ = stopped(&mut stop) => return Ok(SessionEnd::Shutdown),
    };
    if !target.session.is_empty() && target.session != accepted.leader_token {
        // Not the leader etcd names (a deposed leader still answering): go elsewhere.
        tracing::warn!("the JobManager at {address} is not the leader etcd names (its token differs); reconnecting");
        return Ok(lost);
    }
    // Counted before the fence moves, so that a pending orphan guard sees it.
    ctx.heartbeat_timeout_ms.store(accepted.heartbeat_timeout_ms, std::sync::atomic::Ordering::SeqCst);
    ctx.registrations.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    if ctx.fence.current().is_some_and(|previous| previous != accepted.leader_token) {
        // Tasks and slots of an earlier leader are orphans: its jobs restart under the
        // new leader from their checkpoints. Release them while no command of either
        // leader can pass the fence.
        ctx.fence.switch_leader(&accepted.leader_token, || {
            let cancelled = ctx.tasks.cancel_all();
            let freed = ctx.slots.lock().free_all();
            for allocation in &freed {
                ctx.tasks.release_slot(allocation);
            }
            if cancelled > 0 || !freed.is_empty() {
                tracing::info!("new JobManager leader: cancelled {cancelled} tasks and freed {} slots of the previous one", freed.len());
            }
        });
    } else {
        ctx.fence.accept_leader(&accepted.leader_token);
    }
    // The registration's slot report may predate that release: report again now.
    let report =
        TaskExecutorMessage { kind: Some(TeKind::Heartbeat(HeartbeatResponse { seq: 0, slot_report: Some(ctx.slots.lock().report()) })) };
    let _ = tx.send(report).await;
    tracing::info!("registered at the JobManager at {address} as {} with {} slots", ctx.resource_id, ctx.slots.lock().report().slots.len());
    let timeout = Duration::from_millis(accepted.heartbeat_timeout_ms.max(1));
    let mut last_heartbeat = Instant::now();
    let mut watchdog = tokio::time::interval(Duration::from_millis(accepted.heartbeat_interval_ms.clamp(10, 1000)));
    loop {
        tokio::select! {
            msg = inbound.message() => match msg {
                Ok(Some(msg)) => {
                    if let Some(RmKind::Heartbeat(hb)) = msg.kind {
                        if hb.leader_token != accepted.leader_token {
                            tracing::warn!("ignoring a heartbeat with a stale leader token");
                            continue;
                        }
                        last_heartbeat = Instant::now();
                        let reply = TaskExecutorMessage {
                            kind: Some(TeKind::Heartbeat(HeartbeatResponse {
                                seq: hb.seq,
                                slot_report: Some(ctx.slots.lock().report()),
                            })),
                        };
                        if tx.send(reply).await.is_err() {
                            break;
                        }
                    }
                }
                Ok(None) => {
                    tracing::warn!("the JobManager at {address} closed the session; reconnecting");
                    break;
                }
                Err(e) => {
                    tracing::warn!("lost the connection to the JobManager at {address} ({}); reconnecting", e.message());
                    break;
                }
            },
            Ok(()) = leader.changed() => {
                let next = leader.borrow_and_update().clone();
                if let Some(next) = next.filter(|n| *n != target) {
                    tracing::info!("the JobManager leader moved to {}; leaving the session with {address}", next.rpc_address);
                    break;
                }
            }
            _ = watchdog.tick() => {
                if last_heartbeat.elapsed() > timeout {
                    tracing::warn!(
                        "no heartbeat from the JobManager at {address} for {} ms (heartbeat.timeout); reconnecting",
                        timeout.as_millis()
                    );
                    break;
                }
            }
            _ = shutdown.changed() => {
                let bye = TaskExecutorMessage {
                    kind: Some(TeKind::Disconnect(DisconnectTaskExecutor {
                        reason: "TaskManager is shutting down".into(),
                    })),
                };
                if tx.send(bye).await.is_ok() {
                    // The JobManager ends the session once it has deregistered us (a
                    // loaded one may take a moment: leaving early would read as a loss).
                    let _ = tokio::time::timeout(Duration::from_secs(5), async {
                        while let Ok(Some(_)) = inbound.message().await {}
                    })
                    .await;
                }
                tracing::info!("deregistered from the JobManager at {address}");
                return Ok(SessionEnd::Shutdown);
            }
        }
    }
    Ok(SessionEnd::Lost { registered: true })
}

async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}
