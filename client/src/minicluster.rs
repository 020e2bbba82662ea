//! The local MiniCluster (`--target local`): a JobManager and one TaskManager with as
//! many slots as the job needs, in this process, on loopback ports the OS picks. No
//! configuration, no ports to choose, no etcd.

use std::time::Duration;

use rask_common::config::{options as o, Configuration};
use rask_jobmanager::{JobManager, JobManagerConfiguration};
use rask_taskmanager::{TaskManager, TaskManagerConfiguration};

pub struct MiniCluster {
    jobmanager: JobManager,
    taskmanager: TaskManager,
    pub rest_url: String,
}

impl MiniCluster {
    /// Starts the cluster with `slots` slots; `base` carries the user's -D settings.
    pub async fn start(slots: u32, base: &Configuration) -> anyhow::Result<Self> {
        let mut conf = base.clone();
        for (key, value) in [
            ("jobmanager.rpc.address", "127.0.0.1".to_string()),
            ("jobmanager.rpc.port", "0".to_string()),
            ("rest.address", "127.0.0.1".to_string()),
            ("rest.port", "0".to_string()),
            ("taskmanager.host", "127.0.0.1".to_string()),
            ("taskmanager.rpc.port", "0".to_string()),
            ("taskmanager.numberOfTaskSlots", slots.max(1).to_string()),
            ("high-availability.type", "none".to_string()),
        ] {
            conf.set(key, value)?;
        }
        if !conf.contains(&o::TASKMANAGER_MEMORY_PROCESS_SIZE) {
            conf.set(o::TASKMANAGER_MEMORY_PROCESS_SIZE.key, format!("{}m", 512 * slots.max(1)))?;
        }
        let jobmanager = JobManager::start(JobManagerConfiguration::from_configuration(&conf)?).await?;
        let scheme = if conf.get_bool(&o::SSL_REST_ENABLED)? { "https" } else { "http" };
        let rest_url = format!("{scheme}://{}", jobmanager.rest_address);
        let mut tm_conf = TaskManagerConfiguration::from_configuration(&conf)?;
        tm_conf.jobmanager_rpc_address = jobmanager.rpc_address.to_string();
        tm_conf.jobmanager_rest_url = rest_url.clone();
        let taskmanager = TaskManager::start(tm_conf).await?;
        // Ready when the TaskManager's slots are registered: woken by the
        // ResourceManager's changes, not a poll.
        let registered = async {
            let term = jobmanager.wait_for_term(Duration::from_secs(10)).await?;
            let mut changes = term.resource_manager.changes();
            while term.resource_manager.overview().slots_total < slots as usize {
                changes.changed().await.ok()?;
            }
            Some(())
        };
        if tokio::time::timeout(Duration::from_secs(10), registered).await.ok().flatten().is_none() {
            anyhow::bail!("the local TaskManager did not register within 10 s");
        }
        Ok(Self { jobmanager, taskmanager, rest_url })
    }

    pub async fn shutdown(self) {
        let _ = self.taskmanager.shutdown().await;
        self.jobmanager.shutdown().await;
    }
}
