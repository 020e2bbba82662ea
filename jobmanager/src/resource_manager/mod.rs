//! The ResourceManager: the registry of TaskManagers and their slots. TaskManagers
//! register over a gRPC session ([`session`]); the registry answers the REST API and,
//! later, the JobMasters' slot requests. Its state is its own: other components see
//! it only through the methods here.

pub mod heartbeat_stats;
pub mod session;
mod slot_manager;

pub use slot_manager::SlotRequest;

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;
use rask_common::proto::{HardwareDescription, RegisterTaskExecutor, RegistrationAccepted, SlotStatus};

use heartbeat_stats::HeartbeatStats;

/// Why a TaskManager left the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LossReason {
    /// The session's connection broke (process killed, network gone).
    ConnectionLost,
    /// No heartbeat answer within heartbeat.timeout.
    HeartbeatTimeout(Duration),
    /// The TaskManager said goodbye (SIGTERM).
    Disconnected(String),
    /// The JobManager is shutting down.
    Shutdown,
}

/// Why a registration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistrationRefusal {
    #[error("cluster id mismatch: the TaskManager belongs to cluster '{theirs}', this JobManager runs cluster '{ours}'")]
    ClusterIdMismatch { ours: String, theirs: String },
    #[error("a TaskManager with id '{resource_id}' is already registered (from {address}); choose another taskmanager.resource-id")]
    DuplicateResourceId { resource_id: String, address: String },
    #[error("malformed registration: {0}")]
    Malformed(String),
}

/// What the REST API shows of one TaskManager.
#[derive(Debug, Clone)]
pub struct TaskManagerInfo {
    pub resource_id: String,
    pub rpc_address: String,
    pub data_port: u32,
    pub hardware: HardwareDescription,
    pub process_memory_bytes: u64,
    pub slots: Vec<SlotStatus>,
    pub since_last_heartbeat: Duration,
    pub registered_at: SystemTime,
}

impl TaskManagerInfo {
    pub fn free_slots(&self) -> usize {
        self.slots.iter().filter(|s| s.allocation_id.is_empty()).count()
    }
}

/// Totals for `/overview`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceOverview {
    pub taskmanagers: usize,
    pub slots_total: usize,
    pub slots_available: usize,
}

#[derive(Debug)]
struct Registration {
    registration_id: String,
    instance_id: String,
    info: TaskManagerInfo,
    last_heartbeat: Instant,
}

/// A free slot handed to a JobMaster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotOffer {
    pub resource_id: String,
    pub rpc_address: String,
    pub slot_index: u32,
    pub memory_budget_bytes: u64,
}

/// The registry. Cheap to share behind an `Arc`.
pub struct ResourceManager {
    cluster_id: String,
    leader_token: String,
    heartbeat_interval: Duration,
    heartbeat_timeout: Duration,
    taskmanagers: Mutex<HashMap<String, Registration>>,
    /// Slots promised to jobs: (resource id, slot index) -> job id.
    reserved: Mutex<HashMap<(String, u32), String>>,
    /// Slot requests of JobMasters not fulfilled yet, oldest first (`slot_manager`).
    pending: Mutex<std::collections::VecDeque<slot_manager::PendingRequest>>,
    /// Bumped whenever free slots or pending requests may have changed: what an active
    /// resource provider waits on.
    changes: tokio::sync::watch::Sender<u64>,
    lost: tokio::sync::broadcast::Sender<String>,
    stats: HeartbeatStats,
}

impl ResourceManager {
    pub fn new(cluster_id: String, leader_token: String, heartbeat_interval: Duration, heartbeat_timeout: Duration) -> Self {
        Self {
            cluster_id,
            leader_token,
            heartbeat_interval,
            heartbeat_timeout,
            taskmanagers: Mutex::new(HashMap::new()),
            reserved: Mutex::new(HashMap::new()),
            pending: Mutex::new(Default::default()),
            changes: tokio::sync::watch::Sender::new(0),
            lost: tokio::sync::broadcast::channel(64).0,
            stats: HeartbeatStats::default(),
        }
    }

    pub fn leader_token(&self) -> &str {
        &self.leader_token
    }

    pub fn heartbeat_interval(&self) -> Duration {
        self.heartbeat_interval
    }

    pub fn heartbeat_timeout(&self) -> Duration {
        self.heartbeat_timeout
    }

    pub fn heartbeat_stats(&self) -> &HeartbeatStats {
        &self.stats
    }

    /// Registers a TaskManager. A second registration of the same process (same
    /// instance id, e.g. after a network blip) replaces the first; another process
    /// with the same resource id, or one of another cluster, is refused.
    pub fn register(&self, reg: &RegisterTaskExecutor) -> Result<RegistrationAccepted, RegistrationRefusal> {
        if reg.resource_id.is_empty() {
            return Err(RegistrationRefusal::Malformed("empty resource id".into()));
        }
        if reg.cluster_id != self.cluster_id {
            return Err(RegistrationRefusal::ClusterIdMismatch { ours: self.cluster_id.clone(), theirs: reg.cluster_id.clone() });
        }
        let mut tms = self.taskmanagers.lock();
        if let Some(existing) = tms.get(&reg.resource_id) {
            if existing.instance_id != reg.instance_id {
                return Err(RegistrationRefusal::DuplicateResourceId {
                    resource_id: reg.resource_id.clone(),
                    address: existing.info.rpc_address.clone(),
                });
            }
        }
        let registration_id = rask_common::ids::random_hex_id();
        let info = TaskManagerInfo {
            resource_id: reg.resource_id.clone(),
            rpc_address: reg.rpc_address.clone(),
            data_port: reg.data_port,
            hardware: reg.hardware.unwrap_or_default(),
            process_memory_bytes: reg.process_memory_bytes,
            slots: reg.slot_report.clone().unwrap_or_default().slots,
            since_last_heartbeat: Duration::ZERO,
            registered_at: SystemTime::now(),
        };
        let slots = info.slots.len();
        tms.insert(
            reg.resource_id.clone(),
            Registration {
                registration_id: registration_id.clone(),
                instance_id: reg.instance_id.clone(),
                info,
                last_heartbeat: Instant::now(),
            },
        );
        let total: usize = tms.values().map(|r| r.info.slots.len()).sum();
        drop(tms);
        tracing::info!(
            "registered TaskManager {} at {} with {slots} slots ({total} slots in the cluster)",
            reg.resource_id,
            reg.rpc_address
        );
        self.resources_changed();
        Ok(RegistrationAccepted {
            registration_id,
            leader_token: self.leader_token.clone(),
            cluster_id: self.cluster_id.clone(),
            heartbeat_interval_ms: self.heartbeat_interval.as_millis() as u64,
            heartbeat_timeout_ms: self.heartbeat_timeout.as_millis() as u64,
        })
    }

    /// Records a heartbeat answer with the TaskManager's current slot report.
    pub fn heartbeat(&self, resource_id: &str, registration_id: &str, slots: Vec<SlotStatus>) {
        let changed = {
            let mut tms = self.taskmanagers.lock();
            match tms.get_mut(resource_id) {
                Some(r) if r.registration_id == registration_id => {
                    r.last_heartbeat = Instant::now();
                    let changed = r.info.slots != slots;
                    r.info.slots = slots;
                    changed
                }
                _ => false,
            }
        };
        if changed {
            self.resources_changed();
        }
    }

    /// Records a slot report that came with a TaskExecutor's answer to a slot request.
    pub fn slot_report(&self, resource_id: &str, slots: Vec<SlotStatus>) {
        let changed = match self.taskmanagers.lock().get_mut(resource_id) {
            Some(r) => {
                let changed = r.info.slots != slots;
                r.info.slots = slots;
                changed
            }
            None => false,
        };
        if changed {
            self.resources_changed();
        }
    }

    /// Removes a registration (if it is still the current one for that resource id)
    /// and logs why; its slots leave the pool.
    pub fn deregister(&self, resource_id: &str, registration_id: &str, reason: &LossReason) {
        let mut tms = self.taskmanagers.lock();
        let current = tms.get(resource_id).is_some_and(|r| r.registration_id == registration_id);
        if !current {
            return;
        }
        let removed = tms.remove(resource_id).expect("checked above");
        let total: usize = tms.values().map(|r| r.info.slots.len()).sum();
        drop(tms);
        let slots = removed.info.slots.len();
        let address = &removed.info.rpc_address;
        self.reserved.lock().retain(|(rid, _), _| rid != resource_id);
        let _ = self.lost.send(resource_id.to_string());
        self.resources_changed();
        match reason {
            LossReason::ConnectionLost => tracing::warn!(
                "TaskManager {resource_id} at {address} lost: connection closed; its {slots} slots left the pool ({total} remain)"
            ),
            LossReason::HeartbeatTimeout(t) => tracing::warn!(
                "TaskManager {resource_id} at {address} lost: no heartbeat for {} ms (heartbeat.timeout); its {slots} slots left the pool ({total} remain)",
                t.as_millis()
            ),
            LossReason::Disconnected(why) => tracing::info!(
                "TaskManager {resource_id} at {address} deregistered ({why}); its {slots} slots left the pool ({total} remain)"
            ),
            LossReason::Shutdown => {}
        }
    }

    pub fn overview(&self) -> ResourceOverview {
        let tms = self.taskmanagers.lock();
        let reserved = self.reserved.lock();
        let free = tms
            .values()
            .flat_map(|r| r.info.slots.iter().map(move |s| (r, s)))
            .filter(|(r, s)| s.allocation_id.is_empty() && !reserved.contains_key(&(r.info.resource_id.clone(), s.index)))
            .count();
        ResourceOverview { taskmanagers: tms.len(), slots_total: tms.values().map(|r| r.info.slots.len()).sum(), slots_available: free }
    }

    /// Whether a TaskManager holds no slot and has none reserved.
    pub fn is_idle(&self, resource_id: &str) -> bool {
        let tms = self.taskmanagers.lock();
        let reserved = self.reserved.lock();
        tms.get(resource_id).is_some_and(|r| {
            r.info.slots.iter().all(|s| s.allocation_id.is_empty() && !reserved.contains_key(&(resource_id.to_string(), s.index)))
        })
    }

    /// Resource ids of TaskManagers as they are lost or leave.
    pub fn subscribe_lost(&self) -> tokio::sync::broadcast::Receiver<String> {
        self.lost.subscribe()
    }

    /// All registered TaskManagers, sorted by id.
    pub fn taskmanagers(&self) -> Vec<TaskManagerInfo> {
        let tms = self.taskmanagers.lock();
        let mut out: Vec<TaskManagerInfo> = tms.values().map(snapshot).collect();
        out.sort_by(|a, b| a.resource_id.cmp(&b.resource_id));
        out
    }

    pub fn is_registered(&self, resource_id: &str) -> bool {
        self.taskmanagers.lock().contains_key(resource_id)
    }

    pub fn taskmanager(&self, resource_id: &str) -> Option<TaskManagerInfo> {
        self.taskmanagers.lock().get(resource_id).map(snapshot)
    }
}

fn snapshot(r: &Registration) -> TaskManagerInfo {
    let mut info = r.info.clone();
    info.since_last_heartbeat = r.last_heartbeat.elapsed();
    info
}

#[cfg(test)]
mod tests {
    use super::*;
    use rask_common::proto::SlotReport;

    fn reg(id: &str, instance: &str, cluster: &str, slots: u32) -> RegisterTaskExecutor {
        RegisterTaskExecutor {
            resource_id: id.into(),
            instance_id: instance.into(),
            cluster_id: cluster.into(),
            rpc_address: "127.0.0.1:1".into(),
            slot_report: Some(SlotReport {
                slots: (0..slots).map(|index| SlotStatus { index, memory_budget_bytes: 1, ..Default::default() }).collect(),
            }),
            ..Default::default()
        }
    }

    fn rm() -> ResourceManager {
        ResourceManager::new("c".into(), "t".into(), Duration::from_secs(1), Duration::from_secs(5))
    }

    #[test]
    fn register_refuse_and_deregister() {
        let rm = rm();
        let a = rm.register(&reg("tm1", "i1", "c", 2)).unwrap();
        assert_eq!(a.leader_token, "t");
        assert!(matches!(rm.register(&reg("tm1", "i2", "c", 2)), Err(RegistrationRefusal::DuplicateResourceId { .. })));
        assert!(matches!(rm.register(&reg("tm2", "i3", "other", 2)), Err(RegistrationRefusal::ClusterIdMismatch { .. })));
        rm.register(&reg("tm2", "i3", "c", 3)).unwrap();
        assert_eq!(rm.overview(), ResourceOverview { taskmanagers: 2, slots_total: 5, slots_available: 5 });
        // Same process reconnecting replaces its registration; the old session's
        // late deregistration does not remove the new one.
        let b = rm.register(&reg("tm1", "i1", "c", 2)).unwrap();
        rm.deregister("tm1", &a.registration_id, &LossReason::ConnectionLost);
        assert_eq!(rm.overview().taskmanagers, 2);
        rm.deregister("tm1", &b.registration_id, &LossReason::ConnectionLost);
        assert_eq!(rm.overview().slots_total, 3);
    }
}
