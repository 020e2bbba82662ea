//! Resource providers: where TaskManagers come from. The interface is Flink's
//! ResourceManagerDriver in small — start a worker, stop a worker, learn of a worker's
//! exit — and is where Kubernetes or YARN would plug in (docs/deployment.md).
//! `standalone` is passive (TaskManagers register themselves); `process` starts
//! TaskManager processes on this host. The driver loop asks an active provider for
//! workers when jobs wait for slots, and stops idle ones.

pub mod process;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use crate::ha::BoxFuture;
use crate::resource_manager::ResourceManager;

/// What a new worker must offer and where it registers.
#[derive(Debug, Clone)]
pub struct WorkerSpec {
    /// The resource id the worker registers with (taskmanager.resource-id).
    pub resource_id: String,
    pub slots: u32,
}

/// A worker process ended (crash, kill, or after stop).
#[derive(Debug, Clone)]
pub struct WorkerExit {
    pub resource_id: String,
    pub description: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("cannot start a TaskManager: {0}")]
    Start(String),
}

/// A source of TaskManagers.
pub trait ResourceProvider: Send + Sync + 'static {
    /// `standalone` or `process`, for logs.
    fn name(&self) -> &'static str;
    /// Whether the provider starts workers itself (false: they register themselves).
    fn is_active(&self) -> bool;
    /// Starts a worker; it registers with the ResourceManager on its own.
    fn start_worker(&self, spec: WorkerSpec) -> BoxFuture<'_, Result<(), ProviderError>>;
    /// Stops a worker this provider started (gracefully, then by force).
    fn stop_worker<'a>(&'a self, resource_id: &'a str) -> BoxFuture<'a, ()>;
    /// Stops every worker this provider started (JobManager shutdown).
    fn stop_all(&self) -> BoxFuture<'_, ()>;
    /// Worker exits, as they happen. Taken once.
    fn exits(&self) -> Option<mpsc::UnboundedReceiver<WorkerExit>>;
}

/// `jobmanager.resource-provider: standalone`: TaskManagers are started by systemd or
/// start-cluster.sh and register themselves; the JobManager starts and stops nothing.
#[derive(Debug, Default)]
pub struct StandaloneProvider;

impl ResourceProvider for StandaloneProvider {
    fn name(&self) -> &'static str {
        "standalone"
    }

    fn is_active(&self) -> bool {
        false
    }

    fn start_worker(&self, _: WorkerSpec) -> BoxFuture<'_, Result<(), ProviderError>> {
        Box::pin(async { Err(ProviderError::Start("the standalone provider starts no TaskManagers".into())) })
    }

    fn stop_worker<'a>(&'a self, _: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }

    fn stop_all(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }

    fn exits(&self) -> Option<mpsc::UnboundedReceiver<WorkerExit>> {
        None
    }
}

/// How long a started worker may take to register before it counts as failed.
const REGISTRATION_GRACE: Duration = Duration::from_secs(30);

/// Drives an active provider for one leadership term: starts workers while jobs wait
/// for slots the registered ones cannot give, stops workers idle for `idle_timeout`,
/// forgets workers that exit. Ends when `ended` turns true.
pub async fn drive(
    provider: Arc<dyn ResourceProvider>,
    rm: Arc<ResourceManager>,
    slots_per_worker: u32,
    cluster_id: String,
    idle_timeout: Duration,
    mut ended: watch::Receiver<bool>,
) {
    if !provider.is_active() {
        return;
    }
    let mut exits = provider.exits();
    // Workers started and not registered yet (resource id -> started at).
    let mut starting: HashMap<String, Instant> = HashMap::new();
    // Registered workers of ours and since when they are idle.
    let mut idle_since: HashMap<String, Option<Instant>> = HashMap::new();
    let mut next = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            Some(exit) = async { match exits.as_mut() { Some(rx) => rx.recv().await, None => std::future::pending().await } } => {
                tracing::info!("TaskManager {} exited ({})", exit.resource_id, exit.description);
                starting.remove(&exit.resource_id);
                idle_since.remove(&exit.resource_id);
                continue;
            }
            _ = stopped(&mut ended) => return,
        }
        let now = Instant::now();
        starting.retain(|id, since| {
            if rm.is_registered(id) {
                idle_since.insert(id.clone(), None);
                false
            } else if now.duration_since(*since) > REGISTRATION_GRACE {
                tracing::warn!("TaskManager {id} did not register within {} s", REGISTRATION_GRACE.as_secs());
                false
            } else {
                true
            }
        });
        let pending_slots = starting.len() * slots_per_worker as usize;
        let missing = rm.unmet_demand().saturating_sub(pending_slots);
        for _ in 0..missing.div_ceil(slots_per_worker.max(1) as usize) {
            next += 1;
            let resource_id = format!("{cluster_id}-taskmanager-{next}");
            match provider.start_worker(WorkerSpec { resource_id: resource_id.clone(), slots: slots_per_worker }).await {
                Ok(()) => {
                    starting.insert(resource_id, Instant::now());
                }
                Err(e) => tracing::error!("{e}"),
            }
        }
        let mut stop = Vec::new();
        for (id, since) in idle_since.iter_mut() {
            if !rm.is_idle(id) {
                *since = None;
            } else if since.get_or_insert(now).elapsed() >= idle_timeout {
                stop.push(id.clone());
            }
        }
        for id in stop {
            tracing::info!("stopping TaskManager {id}: idle for {} ms (resourcemanager.taskmanager-timeout)", idle_timeout.as_millis());
            idle_since.remove(&id);
            provider.stop_worker(&id).await;
        }
    }
}

async fn stopped(ended: &mut watch::Receiver<bool>) {
    let _ = ended.wait_for(|e| *e).await;
}
