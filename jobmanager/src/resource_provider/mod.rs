//! Resource providers: where TaskManagers come from. The interface is Flink's
//! ResourceManagerDriver in small — start a worker, stop a worker, learn of a worker's
//! exit — and is where Kubernetes or YARN would plug in (docs/deployment.md).
//! `standalone` is passive (TaskManagers register themselves); `process` starts
//! TaskManager processes on this host. The driver loop asks an active provider for
//! workers when jobs wait for slots, and stops idle ones.

pub mod process;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, watch};

use crate::ha::BoxFuture;
use crate::resource_manager::ResourceManager;

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
    /// Starts a worker with `slots` slots; returns the resource id it registers with.
    fn start_worker(&self, slots: u32) -> BoxFuture<'_, Result<String, ProviderError>>;
    /// Stops a worker this provider started (gracefully, then by force).
    fn stop_worker<'a>(&'a self, resource_id: &'a str) -> BoxFuture<'a, ()>;
    /// Stops every worker this provider started (JobManager shutdown).
    fn stop_all(&self) -> BoxFuture<'_, ()>;
    /// The workers started and not exited, with when each was started.
    fn workers(&self) -> Vec<(String, Instant)>;
    /// Every later worker exit (each subscriber sees all of them).
    fn exits(&self) -> broadcast::Receiver<WorkerExit>;
}

/// `jobmanager.resource-provider: standalone`: TaskManagers are started by systemd or
/// start-cluster.sh and register themselves; the JobManager starts and stops nothing.
pub struct StandaloneProvider {
    exits: broadcast::Sender<WorkerExit>,
}

impl Default for StandaloneProvider {
    fn default() -> Self {
        Self { exits: broadcast::channel(1).0 }
    }
}

impl ResourceProvider for StandaloneProvider {
    fn name(&self) -> &'static str {
        "standalone"
    }

    fn is_active(&self) -> bool {
        false
    }

    fn start_worker(&self, _: u32) -> BoxFuture<'_, Result<String, ProviderError>> {
        Box::pin(async { Err(ProviderError::Start("the standalone provider starts no TaskManagers".into())) })
    }

    fn stop_worker<'a>(&'a self, _: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }

    fn stop_all(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }

    fn workers(&self) -> Vec<(String, Instant)> {
        Vec::new()
    }

    fn exits(&self) -> broadcast::Receiver<WorkerExit> {
        self.exits.subscribe()
    }
}

/// How long a started worker may take to register before it counts as failed.
const REGISTRATION_GRACE: Duration = Duration::from_secs(30);

/// Drives an active provider for one leadership term: starts workers while jobs wait
/// for slots the registered and starting ones cannot give, stops workers idle for
/// `idle_timeout` or not registered in time, and backs off when workers die before
/// registering. Wakes on the ResourceManager's changes, on worker exits and at the
/// next deadline it knows of (an idle timeout, a registration grace, a back-off);
/// never on a tick. Ends when `ended` turns true. The provider's workers outlive terms.
pub async fn drive(
    provider: Arc<dyn ResourceProvider>,
    rm: Arc<ResourceManager>,
    slots_per_worker: u32,
    idle_timeout: Duration,
    mut ended: watch::Receiver<bool>,
) {
    if !provider.is_active() {
        return;
    }
    let slots_per_worker = slots_per_worker.max(1) as usize;
    let mut exits = provider.exits();
    let mut changes = rm.changes();
    let mut registered: HashSet<String> = HashSet::new();
    let mut idle_since: HashMap<String, Instant> = HashMap::new();
    // Workers that died before registering: start no more until then.
    let (mut failures, mut hold_until) = (0u32, Instant::now());
    // A first pass at once: jobs may be waiting already.
    let mut wake_at: Option<Instant> = Some(Instant::now());
    loop {
        let next = wake_at.unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400));
        tokio::select! {
            changed = changes.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            _ = tokio::time::sleep_until(next.into()) => {}
            exit = exits.recv() => {
                if let Ok(exit) = exit {
                    tracing::info!("TaskManager {} exited ({})", exit.resource_id, exit.description);
                    idle_since.remove(&exit.resource_id);
                    if !registered.remove(&exit.resource_id) {
                        failures += 1;
                        let wait = (Duration::from_millis(100) * 2u32.pow(failures.min(7))).min(Duration::from_secs(10));
                        tracing::warn!("TaskManager {} exited before it registered; starting no other for {} ms", exit.resource_id, wait.as_millis());
                        hold_until = Instant::now() + wait;
                    }
                }
            }
            _ = stopped(&mut ended) => return,
        }
        let now = Instant::now();
        let mut starting = 0usize;
        let mut stop = Vec::new();
        wake_at = None;
        let workers = provider.workers();
        // Only workers that still run are remembered (an exit notice may be missed).
        registered.retain(|id| workers.iter().any(|(w, _)| w == id));
        idle_since.retain(|id, _| workers.iter().any(|(w, _)| w == id));
        let mut wake = |at: Instant| wake_at = Some(wake_at.map_or(at, |w: Instant| w.min(at)));
        for (id, started) in workers {
            if rm.is_registered(&id) {
                if registered.insert(id.clone()) {
                    failures = 0;
                }
                if !rm.is_idle(&id) {
                    idle_since.remove(&id);
                } else {
                    let since = *idle_since.entry(id.clone()).or_insert(now);
                    if now.duration_since(since) >= idle_timeout {
                        tracing::info!(
                            "stopping TaskManager {id}: idle for {} ms (resourcemanager.taskmanager-timeout)",
                            idle_timeout.as_millis()
                        );
                        stop.push(id);
                    } else {
                        wake(since + idle_timeout);
                    }
                }
            } else if registered.contains(&id) {
                // Registered before and lost since (a JobManager change): it comes back.
            } else if now.duration_since(started) > REGISTRATION_GRACE {
                tracing::warn!("TaskManager {id} did not register within {} s; stopping it", REGISTRATION_GRACE.as_secs());
                stop.push(id);
            } else {
                starting += 1;
                wake(started + REGISTRATION_GRACE + Duration::from_millis(1));
            }
        }
        for id in stop {
            idle_since.remove(&id);
            provider.stop_worker(&id).await;
        }
        let missing = rm.unmet_demand().saturating_sub(starting * slots_per_worker);
        if missing == 0 {
            continue;
        }
        if now < hold_until {
            wake(hold_until);
            continue;
        }
        for _ in 0..missing.div_ceil(slots_per_worker) {
            match provider.start_worker(slots_per_worker as u32).await {
                // Checked again when its registration grace ends.
                Ok(_) => wake(Instant::now() + REGISTRATION_GRACE + Duration::from_millis(1)),
                Err(e) => {
                    tracing::error!("{e}");
                    hold_until = Instant::now() + Duration::from_secs(1);
                    wake(hold_until);
                    break;
                }
            }
        }
    }
}

async fn stopped(ended: &mut watch::Receiver<bool>) {
    let _ = ended.wait_for(|e| *e).await;
}
