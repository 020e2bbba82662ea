//! Flink's MetricFetcher: the TaskManagers' metrics, pulled over gRPC when the REST
//! API asks and the last pull is older than `metrics.fetcher.update-interval`.
//! Concurrent askers share one pull; a TaskManager that does not answer in time keeps
//! its previous figures.

use std::collections::BTreeMap;
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
    latest: tokio::sync::Mutex<(Option<Instant>, Arc<MetricStore>)>,
}

impl MetricFetcher {
    pub fn new(resource_manager: Arc<ResourceManager>, gateways: Arc<dyn TaskExecutorGateways>, update_interval: Duration) -> Self {
        Self { resource_manager, gateways, update_interval, latest: tokio::sync::Mutex::new((None, Arc::default())) }
    }

    /// The tail of a TaskManager's log or stdout (at most `max_bytes`).
    pub async fn request_log(&self, rpc_address: &str, kind: LogKind, max_bytes: u64) -> Result<LogResponse, GatewayError> {
        let gateway = self.gateways.connect(rpc_address)?;
        let request = LogRequest { leader_token: self.resource_manager.leader_token().to_string(), kind: kind.into(), max_bytes };
        tokio::time::timeout(FETCH_TIMEOUT, gateway.request_log(request))
            .await
            .map_err(|_| GatewayError::Failed(format!("the TaskManager at {rpc_address} did not answer in time")))?
    }

    /// The metrics, at most `metrics.fetcher.update-interval` old.
    pub async fn store(&self) -> Arc<MetricStore> {
        let mut latest = self.latest.lock().await;
        if latest.0.is_some_and(|at| at.elapsed() < self.update_interval) {
            return latest.1.clone();
        }
        let token = self.resource_manager.leader_token().to_string();
        let taskmanagers = self.resource_manager.taskmanagers();
        let pulls = taskmanagers.iter().map(|tm| {
            let gateway = self.gateways.connect(&tm.rpc_address);
            let request = MetricsRequest { leader_token: token.clone() };
            async move {
                let gateway = gateway.ok()?;
                tokio::time::timeout(FETCH_TIMEOUT, gateway.request_metrics(request)).await.ok()?.ok()
            }
        });
        let answers = futures::future::join_all(pulls).await;
        let mut store = MetricStore::default();
        for (tm, answer) in taskmanagers.iter().zip(answers) {
            let metrics = match answer {
                Some(mut m) => {
                    m.resource_id = tm.resource_id.clone();
                    Some(m)
                }
                None => latest.1.taskmanagers.get(&tm.resource_id).cloned(),
            };
            if let Some(m) = metrics {
                store.taskmanagers.insert(tm.resource_id.clone(), m);
            }
        }
        let store = Arc::new(store);
        *latest = (Some(Instant::now()), store.clone());
        store
    }
}
