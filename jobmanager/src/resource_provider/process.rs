//! The `process` resource provider: starts `rask-taskmanager` processes on this host,
//! each registering with this JobManager under a resource id the provider chose, and
//! stops them (SIGTERM, then SIGKILL). A TaskManager dies with its JobManager
//! (PR_SET_PDEATHSIG), so no worker outlives a killed cluster.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::broadcast;

use super::{ProviderError, ResourceProvider, WorkerExit};
use crate::ha::BoxFuture;

/// How long a stopped TaskManager may take before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

pub struct ProcessProvider {
    binary: PathBuf,
    /// `-D key=value` arguments every TaskManager gets.
    args: Vec<String>,
    /// Sensitive settings, passed as `RASK_<KEY>` environment variables instead: a
    /// command line is visible to every user of the host, an environment is not.
    env: Vec<(String, String)>,
    log_dir: Option<PathBuf>,
    /// Resource ids are `<cluster id>-taskmanager-<n>`.
    cluster_id: String,
    next: std::sync::atomic::AtomicU64,
    /// Running workers: resource id -> (pid, started at).
    running: Arc<Mutex<HashMap<String, (u32, Instant)>>>,
    exits: broadcast::Sender<WorkerExit>,
}

impl ProcessProvider {
    /// `settings` are passed to every TaskManager as `-D key=value` (sensitive ones
    /// through its environment); TaskManager logs go to `log_dir/<resource id>.log`
    /// (else to this process's stderr).
    pub fn new(binary: PathBuf, settings: Vec<(String, String)>, log_dir: Option<PathBuf>, cluster_id: String) -> Self {
        let (secret, plain): (Vec<_>, Vec<_>) = settings.into_iter().partition(|(k, _)| rask_common::config::is_sensitive(k));
        let args = plain.into_iter().flat_map(|(k, v)| ["-D".to_string(), format!("{k}={v}")]).collect();
        let env = secret.into_iter().map(|(k, v)| (rask_common::config::options::env_var_name(&k), v)).collect();
        Self { binary, args, env, log_dir, cluster_id, next: Default::default(), running: Arc::default(), exits: broadcast::channel(64).0 }
    }

    /// `rask-taskmanager` next to the running JobManager binary.
    pub fn default_binary() -> PathBuf {
        let exe = std::env::current_exe().unwrap_or_default();
        exe.parent().map(|d| d.join("rask-taskmanager")).unwrap_or_else(|| PathBuf::from("rask-taskmanager"))
    }

    fn spawn(&self, resource_id: &str, slots: u32) -> Result<u32, ProviderError> {
        let mut cmd = tokio::process::Command::new(&self.binary);
        cmd.args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .args(["-D".to_string(), format!("taskmanager.resource-id={resource_id}")])
            .args(["-D".to_string(), format!("taskmanager.numberOfTaskSlots={slots}")])
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        match &self.log_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| ProviderError::Start(format!("log directory {}: {e}", dir.display())))?;
                let path = dir.join(format!("{resource_id}.log"));
                let file = std::fs::File::create(&path).map_err(|e| ProviderError::Start(format!("{}: {e}", path.display())))?;
                cmd.stderr(file);
            }
            None => {
                cmd.stderr(Stdio::inherit());
            }
        }
        let parent = std::process::id() as libc::pid_t;
        // SAFETY: prctl and getppid are async-signal-safe; between fork and exec they
        // set this child's parent-death signal and check the parent did not die first.
        unsafe {
            cmd.pre_exec(move || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                if libc::getppid() != parent {
                    return Err(std::io::Error::other("the JobManager exited"));
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().map_err(|e| ProviderError::Start(format!("{}: {e}", self.binary.display())))?;
        let pid = child.id().unwrap_or_default();
        let (running, exits, id) = (self.running.clone(), self.exits.clone(), resource_id.to_string());
        running.lock().insert(id.clone(), (pid, Instant::now()));
        tokio::spawn(async move {
            let description = match child.wait().await {
                Ok(status) => status.to_string(),
                Err(e) => format!("wait failed: {e}"),
            };
            {
                let mut running = running.lock();
                if running.get(&id).is_some_and(|(p, _)| *p == pid) {
                    running.remove(&id);
                }
            }
            let _ = exits.send(WorkerExit { resource_id: id, description });
        });
        Ok(pid)
    }

    /// Waits until none of `ids` runs (woken by each exit), or until `deadline`.
    async fn wait_gone(&self, ids: &[String], deadline: Instant) -> bool {
        let mut exits = self.exits.subscribe();
        loop {
            if ids.iter().all(|id| !self.running.lock().contains_key(id)) {
                return true;
            }
            tokio::select! {
                _ = exits.recv() => {}
                _ = tokio::time::sleep_until(deadline.into()) => return false,
            }
        }
    }

    async fn stop(&self, ids: Vec<String>) {
        let pids: Vec<u32> = ids.iter().filter_map(|id| self.running.lock().get(id).map(|(p, _)| *p)).collect();
        for &pid in &pids {
            signal(pid, libc::SIGTERM);
        }
        if !self.wait_gone(&ids, Instant::now() + STOP_GRACE).await {
            for id in &ids {
                if let Some((pid, _)) = self.running.lock().get(id).copied() {
                    tracing::warn!("TaskManager {id} did not stop within {} s; killing it", STOP_GRACE.as_secs());
                    signal(pid, libc::SIGKILL);
                }
            }
            self.wait_gone(&ids, Instant::now() + STOP_GRACE).await;
        }
    }
}

fn signal(pid: u32, signal: i32) {
    if pid > 0 {
        // SAFETY: signalling a child process this provider started.
        unsafe {
            libc::kill(pid as i32, signal);
        }
    }
}

impl ResourceProvider for ProcessProvider {
    fn name(&self) -> &'static str {
        "process"
    }

    fn is_active(&self) -> bool {
        true
    }

    fn start_worker(&self, slots: u32) -> BoxFuture<'_, Result<String, ProviderError>> {
        Box::pin(async move {
            let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            let resource_id = format!("{}-taskmanager-{n}", self.cluster_id);
            let pid = self.spawn(&resource_id, slots)?;
            tracing::info!("started TaskManager {resource_id} with {slots} slots (pid {pid})");
            Ok(resource_id)
        })
    }

    fn stop_worker<'a>(&'a self, resource_id: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(self.stop(vec![resource_id.to_string()]))
    }

    fn stop_all(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let ids: Vec<String> = self.running.lock().keys().cloned().collect();
            if !ids.is_empty() {
                tracing::info!("stopping {} TaskManagers", ids.len());
                self.stop(ids).await;
            }
        })
    }

    fn workers(&self) -> Vec<(String, Instant)> {
        self.running.lock().iter().map(|(id, (_, started))| (id.clone(), *started)).collect()
    }

    fn exits(&self) -> broadcast::Receiver<WorkerExit> {
        self.exits.subscribe()
    }
}
