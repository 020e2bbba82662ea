//! TaskManagerRunner: starts a TaskManager (TaskExecutor gRPC server plus the session
//! with the ResourceManager) and stops it, in-process or as the daemon's body.

use std::net::SocketAddr;
use std::sync::Arc;

use parking_lot::Mutex;
use rask_common::etcd::EtcdLeaderRetrieval;
use rask_common::leader::{LeaderAddress, LeaderRetrieval, StaticLeaderRetrieval};
use rask_common::proto::task_executor_server::TaskExecutorServer;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::configuration::TaskManagerConfiguration;
use crate::fencing::LeaderFence;
use crate::metrics::{ProcessFigures, TaskManagerMetricGroup, TaskManagerMetricSource};
use crate::resource_manager_connection::{self, ConnectionContext, ConnectionError};
use crate::runtime::task::TaskServices;
use crate::slot_table::SlotTable;
use crate::task_executor::TaskExecutorService;
use rask_common::metrics::prometheus::PrometheusReporter;

#[derive(Debug, thiserror::Error)]
pub enum TaskManagerError {
    #[error("cannot bind the TaskExecutor endpoint to {address}")]
    Bind { address: String, source: std::io::Error },
    #[error(transparent)]
    Connection(#[from] ConnectionError),
    #[error("TaskManager task failed: {0}")]
    Internal(String),
    #[error("internal TLS: {0}")]
    Tls(String),
    #[error("metrics: {0}")]
    Metrics(String),
}

/// A running TaskManager.
pub struct TaskManager {
    pub resource_id: String,
    /// host:port of the TaskExecutor gRPC endpoint.
    pub rpc_address: SocketAddr,
    /// Where the Prometheus reporter serves, when metrics.reporter.prom.port is set.
    pub prometheus_address: Option<SocketAddr>,
    shutdown: watch::Sender<bool>,
    connection: JoinHandle<Result<(), ConnectionError>>,
    server: JoinHandle<()>,
    /// The metric view updater and the reporter; both stop with the TaskManager.
    _metrics: MetricTasks,
}

/// Background metric work that ends when the TaskManager is dropped.
struct MetricTasks {
    views: tokio::task::AbortHandle,
    _reporter: Option<PrometheusReporter>,
}

impl Drop for MetricTasks {
    fn drop(&mut self) {
        self.views.abort();
    }
}

impl TaskManager {
    /// Starts a TaskManager that finds its JobManager through etcd (HA) or at the
    /// configured address.
    pub async fn start(conf: TaskManagerConfiguration) -> Result<Self, TaskManagerError> {
        let retrieval: Arc<dyn LeaderRetrieval> = match &conf.ha {
            Some(etcd) => EtcdLeaderRetrieval::start(etcd.clone()),
            None => Arc::new(StaticLeaderRetrieval::new(LeaderAddress {
                rpc_address: conf.jobmanager_rpc_address.clone(),
                rest_url: conf.jobmanager_rest_url.clone(),
                session: String::new(),
            })),
        };
        Self::start_with(conf, retrieval).await
    }

    /// Starts a TaskManager that finds its JobManager through `leader_retrieval`.
    pub async fn start_with(conf: TaskManagerConfiguration, leader_retrieval: Arc<dyn LeaderRetrieval>) -> Result<Self, TaskManagerError> {
        let bind = rask_common::net::host_port(&conf.host, conf.rpc_port);
        let listener = TcpListener::bind(&bind).await.map_err(|source| TaskManagerError::Bind { address: bind.clone(), source })?;
        let local = listener.local_addr().map_err(|source| TaskManagerError::Bind { address: bind.clone(), source })?;
        let resource_id = conf.resource_id.clone().unwrap_or_else(|| rask_common::ids::taskmanager_resource_id(&conf.host, local.port()));
        let fence = Arc::new(LeaderFence::default());
        let slots = Arc::new(Mutex::new(SlotTable::new(conf.num_slots, conf.process_memory_bytes)));
        let (shutdown, shutdown_rx) = watch::channel(false);

        let own_address = rask_common::net::host_port(&conf.host, local.port());
        let metric_group = TaskManagerMetricGroup::new(&resource_id, &conf.host, conf.task_io_metrics);
        let tasks = Arc::new(TaskServices::new(
            resource_id.clone(),
            own_address,
            conf.internal_tls.clone(),
            conf.allowed_paths.clone(),
            metric_group.clone(),
        ));
        let metrics = Arc::new(TaskManagerMetricSource {
            group: metric_group.clone(),
            process: {
                let (slots, tasks) = (slots.clone(), tasks.clone());
                Box::new(move || {
                    let report = slots.lock().report();
                    ProcessFigures {
                        slots_total: report.slots.len() as u32,
                        slots_free: report.slots.iter().filter(|s| s.allocation_id.is_empty()).count() as u32,
                        managed_memory_total: report.slots.iter().map(|s| s.memory_budget_bytes).sum(),
                        managed_memory_used: tasks.managed_memory_used(),
                    }
                })
            },
        });
        let views = tokio::spawn(metric_group.update_views());
        let reporter = match &conf.prometheus {
            Some((host, ports)) => {
                Some(PrometheusReporter::start(host, ports, metrics.clone()).await.map_err(|e| TaskManagerError::Metrics(e.to_string()))?)
            }
            None => None,
        };
        let service = TaskExecutorService { fence: fence.clone(), slots: slots.clone(), tasks: tasks.clone(), metrics };
        let mut server_shutdown = shutdown_rx.clone();
        let tls = match &conf.internal_tls {
            Some(tls) => Some(tls.server_config().map_err(|e| TaskManagerError::Tls(e.to_string()))?),
            None => {
                tracing::warn!(
                    "security.ssl.internal.enabled is false: this TaskManager's endpoint at {local} is unauthenticated; any process that reaches it can read its data (docs/security.md)"
                );
                None
            }
        };
        let server = tokio::spawn(async move {
            let router = tonic::transport::Server::builder().add_service(
                // A descriptor carries the JobGraph (at most MAX_JOB_GRAPH_BYTES);
                // data frames travel in the other direction.
                TaskExecutorServer::new(service)
                    .max_decoding_message_size(rask_common::job::limits::MAX_JOB_GRAPH_BYTES + (1 << 20))
                    .max_encoding_message_size(256 << 20),
            );
            let stop = async move {
                let _ = server_shutdown.wait_for(|stop| *stop).await;
            };
            let result = match tls {
                Some(config) => router.serve_with_incoming_shutdown(rask_common::security::tls::incoming(listener, config), stop).await,
                None => router.serve_with_incoming_shutdown(rask_common::net::incoming(listener), stop).await,
            };
            if let Err(e) = result {
                tracing::error!("TaskExecutor endpoint failed: {e}");
            }
        });

        let ctx = ConnectionContext {
            resource_id: resource_id.clone(),
            instance_id: rask_common::ids::random_hex_id(),
            cluster_id: conf.cluster_id.clone(),
            rpc_address: rask_common::net::host_port(&conf.host, local.port()),
            data_port: u32::from(local.port()),
            process_memory_bytes: conf.process_memory_bytes,
            initial_backoff: conf.registration_initial_backoff,
            max_backoff: conf.registration_max_backoff,
            leader_retrieval,
            internal_tls: conf.internal_tls.clone(),
            fence,
            slots,
            tasks,
            registrations: Arc::default(),
            heartbeat_timeout_ms: Arc::default(),
        };
        let connection = tokio::spawn(resource_manager_connection::run(ctx, shutdown_rx));
        tracing::info!(
            "TaskManager {resource_id} started: {} slots of {} MiB each, TaskExecutor at {local}",
            conf.num_slots,
            (conf.process_memory_bytes / u64::from(conf.num_slots)) >> 20
        );
        Ok(Self {
            resource_id,
            rpc_address: local,
            prometheus_address: reporter.as_ref().map(|r| r.address),
            shutdown,
            connection,
            server,
            _metrics: MetricTasks { views: views.abort_handle(), _reporter: reporter },
        })
    }

    /// Waits until the TaskManager stops on its own, which happens only when the
    /// JobManager refuses its registration.
    pub async fn wait(&mut self) -> Result<(), TaskManagerError> {
        match (&mut self.connection).await {
            Ok(result) => Ok(result?),
            Err(e) => Err(TaskManagerError::Internal(e.to_string())),
        }
    }

    /// Deregisters from the JobManager and stops the TaskExecutor endpoint.
    pub async fn shutdown(self) -> Result<(), TaskManagerError> {
        let _ = self.shutdown.send(true);
        let result = match self.connection.await {
            Ok(r) => r.map_err(TaskManagerError::from),
            Err(e) => Err(TaskManagerError::Internal(e.to_string())),
        };
        let _ = self.server.await;
        result
    }
}
