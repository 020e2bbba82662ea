//! Flink's MetricFetcher: the TaskManagers' metrics, pulled over gRPC when the REST
//! API asks and a TaskManager's last pull is older than
//! `metrics.fetcher.update-interval`. Only the TaskManagers an answer needs are pulled
//! (a job's page: those running its tasks). Concurrent askers share one pull; a
//! TaskManager that does not answer in time keeps its previous figures.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rask_common::proto::{LogKind, LogRequest, LogResponse, MetricsRequest, TaskManagerMetrics, TaskMetrics};

use crate::job_master::gateway::{GatewayError, TaskExecutorGateways};
use crate::resource_manager::ResourceManager;

/// How long one TaskManager may take to answer.
const FETCH_TIMEOUT: Duration = Duration::from_secs(2);

/// The TaskManagers' latest metrics, by resource id.
#[derive(Debug, Default)]
pub struct MetricStore {
    pub taskmanagers: BTreeMap<String, TaskManagerMetrics>,
}

impl MetricStore {
    /// The running subtasks of a vertex, with the TaskManager each runs on, by index.
    pub fn subtasks(&self, job_id: &str, vertex_id: &str) -> Vec<(&str, &TaskMetrics)> {
        let mut out: Vec<(&str, &TaskMetrics)> = self
            .taskmanagers
            .iter()
            .flat_map(|(tm, m)| m.tasks.iter().map(move |t| (tm.as_str(), t)))
            .filter(|(_, t)| t.job_id == job_id && t.vertex_id == vertex_id)
            .collect();
        out.sort_by_key(|(_, t)| (t.subtask_index, std::cmp::Reverse(t.attempt)));
        out.dedup_by_key(|(_, t)| t.subtask_index);
        out
    }

    pub fn subtask(&self, job_id: &str, vertex_id: &str, index: u32) -> Option<&TaskMetrics> {
        self.subtasks(job_id, vertex_id).into_iter().find(|(_, t)| t.subtask_index == index).map(|(_, t)| t)
    }
}

pub struct MetricFetcher {
    resource_manager: Arc<ResourceManager>,
    gateways: Arc<dyn TaskExecutorGateways>,
    update_interval: Duration,
    /// Each TaskManager's latest metrics and when they were pulled.
    latest: tokio::sync::Mutex<BTreeMap<String, (Instant, TaskManagerMetrics)>>,
}

impl MetricFetcher {
    pub fn new(resource_manager: Arc<ResourceManager>, gateways: Arc<dyn TaskExecutorGateways>, update_interval: Duration) -> Self {
        Self { resource_manager, gateways, update_interval, latest: tokio::sync::Mutex::default() }
    }

    /// The tail of a TaskManager's log or stdout (at most `max_bytes`).
    pub async fn request_log(&self, rpc_address: &str, kind: LogKind, max_bytes: u64) -> Result<LogResponse, GatewayError> {
        let gateway = self.gateways.connect(rpc_address)?;
        let request = LogRequest { leader_token: self.resource_manager.leader_token().to_string(), kind: kind.into(), max_bytes };
        tokio::time::timeout(FETCH_TIMEOUT, gateway.request_log(request))
            .await
            .map_err(|_| GatewayError::Failed(format!("the TaskManager at {rpc_address} did not answer in time")))?
    }

    /// The metrics of the TaskManagers running a task of `job_id`.
    pub async fn store_for_job(&self, job: &crate::job_master::JobMasterHandle) -> MetricStore {
        let on: HashSet<String> = job.execution.read().executions().filter_map(|e| e.resource_id.clone()).collect();
        self.store_of(Some(&on)).await
    }

    /// The metrics of one TaskManager.
    pub async fn store_for_taskmanager(&self, resource_id: &str) -> MetricStore {
        self.store_of(Some(&HashSet::from([resource_id.to_string()]))).await
    }

    /// The metrics of the registered TaskManagers in `only` (all without it), pulling
    /// those older than the update interval.
    pub async fn store_of(&self, only: Option<&HashSet<String>>) -> MetricStore {
        let mut latest = self.latest.lock().await;
        let registered = self.resource_manager.taskmanagers();
        latest.retain(|id, _| registered.iter().any(|tm| tm.resource_id == *id));
        let wanted: Vec<_> = registered.iter().filter(|tm| only.is_none_or(|o| o.contains(&tm.resource_id))).collect();
        let stale: Vec<_> =
            wanted.iter().filter(|tm| latest.get(&tm.resource_id).is_none_or(|(at, _)| at.elapsed() >= self.update_interval)).collect();
        let token = self.resource_manager.leader_token().to_string();
        let pulls = stale.iter().map(|tm| {
            let gateway = self.gateways.connect(&tm.rpc_address);
            let request = MetricsRequest { leader_token: token.clone() };
            async move {
                let gateway = gateway.ok()?;
                tokio::time::timeout(FETCH_TIMEOUT, gateway.request_metrics(request)).await.ok()?.ok()
            }
        });
        let answers = futures::future::join_all(pulls).await;
        let now = Instant::now();
        for (tm, answer) in stale.iter().zip(answers) {
            if let Some(mut m) = answer {
                m.resource_id = tm.resource_id.clone();
                latest.insert(tm.resource_id.clone(), (now, m));
            }
        }
        MetricStore {
            taskmanagers: wanted.iter().filter_map(|tm| Some((tm.resource_id.clone(), latest.get(&tm.resource_id)?.1.clone()))).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job_master::fake::{register, FakeTaskExecutors};

    #[tokio::test]
    async fn pulls_only_the_taskmanagers_asked_for_and_only_when_stale() {
        let rm = Arc::new(ResourceManager::new("test".into(), "t".repeat(32), Duration::from_secs(1), Duration::from_secs(5)));
        register(&rm, "tm1", 1);
        register(&rm, "tm2", 1);
        let fakes = Arc::new(FakeTaskExecutors::default());
        let fetcher = MetricFetcher::new(rm.clone(), Arc::new(fakes.clone()), Duration::from_secs(60));
        let one = fetcher.store_for_taskmanager("tm1").await;
        assert_eq!(one.taskmanagers.keys().collect::<Vec<_>>(), ["tm1"]);
        assert_eq!(*fakes.metrics_requests.lock(), ["tm1:6122"]);
        // Fresh: not pulled again; the other one is pulled once when all are asked for.
        let all = fetcher.store_of(None).await;
        assert_eq!(all.taskmanagers.len(), 2);
        assert_eq!(*fakes.metrics_requests.lock(), ["tm1:6122", "tm2:6122"]);
        assert_eq!(all.taskmanagers["tm2"].resource_id, "tm2");
        // An unknown TaskManager has no metrics.
        assert!(fetcher.store_for_taskmanager("nobody").await.taskmanagers.is_empty());
        // With no update interval every ask pulls again.
        let eager = MetricFetcher::new(rm, Arc::new(fakes.clone()), Duration::ZERO);
        eager.store_for_taskmanager("tm2").await;
        eager.store_for_taskmanager("tm2").await;
        assert_eq!(fakes.metrics_requests.lock().len(), 4);
    }
}
