//! The JobManager entrypoint: binds the gRPC endpoint (ResourceManager, JobMaster
//! gateway) and the REST endpoint, runs the leadership loop (`leadership`), and shuts
//! down cleanly (suspend, resign, stop the endpoints).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rask_common::metrics::prometheus::PrometheusReporter;

use rask_common::proto::resource_manager_server::ResourceManagerServer;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use rask_common::etcd::EtcdLeaderRetrieval;
use rask_common::leader::{LeaderAddress, LeaderRetrieval};

use crate::configuration::JobManagerConfiguration;
use crate::gateway::JobMasterGatewayService;
use crate::ha::etcd::EtcdLeaderElection;
use crate::ha::{HaError, LeaderElection, StandaloneLeaderElection};
use crate::leadership::{self, LeaderGate, LeaderTerm};
use crate::metrics::JobManagerMetricSource;
use crate::resource_manager::session::ResourceManagerService;
use crate::resource_provider::process::ProcessProvider;
use crate::resource_provider::{ResourceProvider, StandaloneProvider};
use rask_common::proto::job_master_gateway_server::JobMasterGatewayServer;

#[derive(Debug, thiserror::Error)]
pub enum JobManagerError {
    #[error("cannot bind the {endpoint} endpoint to {address}")]
    Bind { endpoint: &'static str, address: String, source: std::io::Error },
    #[error(transparent)]
    Ha(#[from] HaError),
    #[error("REST TLS: {0}")]
    Tls(String),
    #[error("cannot create the JobManager's working directory under {base} (process.jobmanager.working-dir): {reason}")]
    WorkingDir { base: String, reason: String },
    #[error("state.checkpoints.dir of the cluster's configuration cannot be used: {0}")]
    CheckpointStorage(String),
    #[error("metrics: {0}")]
    Metrics(String),
}

/// A running JobManager: both endpoints bound, leading or standing by.
pub struct JobManager {
    pub rpc_address: SocketAddr,
    pub rest_address: SocketAddr,
    gate: Arc<LeaderGate>,
    provider: Arc<dyn ResourceProvider>,
    shutdown: watch::Sender<bool>,
    leadership: JoinHandle<()>,
    rpc_server: JoinHandle<()>,
    rest_server: JoinHandle<()>,
    /// jm_<id> under process.jobmanager.working-dir, removed at shutdown.
    working_dir: WorkingDirectory,
    /// Where the Prometheus reporter serves, when metrics.reporter.prom.port is set.
    pub prometheus_address: Option<SocketAddr>,
    _reporter: Option<PrometheusReporter>,
}

/// The JobManager's working directory: removed at shutdown, and on drop when the
/// JobManager did not get that far (a start that failed half-way).
struct WorkingDirectory(std::path::PathBuf);

impl Drop for WorkingDirectory {
    fn drop(&mut self) {
        if self.0.exists() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

async fn bind(endpoint: &'static str, address: &str) -> Result<(TcpListener, SocketAddr), JobManagerError> {
    let err = |source| JobManagerError::Bind { endpoint, address: address.to_string(), source };
    let listener = TcpListener::bind(address).await.map_err(err)?;
    let local = listener.local_addr().map_err(err)?;
    Ok((listener, local))
}

impl JobManager {
    /// Starts a JobManager. Without HA it leads before this returns; with etcd HA it
    /// campaigns in the background and serves as a standby until it wins.
    pub async fn start(mut conf: JobManagerConfiguration) -> Result<Self, JobManagerError> {
        let working_dir = WorkingDirectory(conf.working_dir_base.join(format!("jm_{}", &rask_common::ids::random_hex_id()[..12])));
        let working_dir_error = |e: rask_common::checkpoint::CheckpointError| JobManagerError::WorkingDir {
            base: conf.working_dir_base.display().to_string(),
            reason: e.to_string(),
        };
        let staging = rask_common::checkpoint::CheckpointStorage::open(&working_dir.0.join("checkpoints").display().to_string())
            .map_err(working_dir_error)?;
        staging.prepare().await.map_err(working_dir_error)?;
        conf.savepoint_staging = Some(staging);
        // The cluster's checkpoint directory is made (or its object store reached) now:
        // a bad one stops the JobManager at start, as a bad key does.
        if let Ok(Some(checkpointing)) = crate::job_settings::checkpointing(&conf.raw) {
            checkpointing.storage.prepare().await.map_err(|e| JobManagerError::CheckpointStorage(e.to_string()))?;
        }
        let (rpc_listener, rpc_address) = bind("ResourceManager gRPC", &conf.rpc_bind).await?;
        let (rest_listener, rest_address) = bind("REST", &conf.rest_bind).await?;
        let gateway_address = rask_common::net::host_port(&conf.rpc_host, rpc_address.port());
        let own = LeaderAddress {
            rpc_address: gateway_address.clone(),
            rest_url: format!(
                "{}://{}",
                if conf.rest_tls.is_some() { "https" } else { "http" },
                rask_common::net::host_port(&conf.rest_address, rest_address.port())
            ),
            session: String::new(),
        };
        let (election, retrieval): (Arc<dyn LeaderElection>, Option<Arc<dyn LeaderRetrieval>>) = match &conf.ha {
            None => (Arc::new(StandaloneLeaderElection), None),
            Some(etcd) => (
                Arc::new(EtcdLeaderElection::new(etcd.clone(), own.clone())),
                Some(EtcdLeaderRetrieval::start(etcd.clone()) as Arc<dyn LeaderRetrieval>),
            ),
        };
        let gate = Arc::new(LeaderGate::new(retrieval, own.rest_url.clone()));
        let provider = resource_provider(&conf, rpc_address.port());
        let (shutdown, shutdown_rx) = watch::channel(false);

        let service = ResourceManagerService::new(gate.clone());
        let gateway = JobMasterGatewayService { gate: gate.clone() };
        let mut rpc_stop = shutdown_rx.clone();
        let tls = match &conf.internal_tls {
            Some(tls) => Some(tls.server_config().map_err(|e| JobManagerError::Tls(e.to_string()))?),
            None => None,
        };
        let rpc_server = tokio::spawn(async move {
            let router = tonic::transport::Server::builder()
                .tcp_nodelay(true)
                .add_service(ResourceManagerServer::new(service))
                .add_service(JobMasterGatewayServer::new(gateway).max_decoding_message_size(64 << 20));
            let stop = async move {
                let _ = rpc_stop.wait_for(|stop| *stop).await;
            };
            let result = match tls {
                Some(config) => router.serve_with_incoming_shutdown(rask_common::security::tls::incoming(rpc_listener, config), stop).await,
                None => router.serve_with_incoming_shutdown(rask_common::net::incoming(rpc_listener), stop).await,
            };
            if let Err(e) = result {
                tracing::error!("ResourceManager endpoint failed: {e}");
            }
        });

        let reporter = match &conf.prometheus {
            Some((host, ports)) => {
                let source = JobManagerMetricSource {
                    gate: gate.clone(),
                    host: conf.rpc_host.clone(),
                    started: Instant::now(),
                    cpu: Default::default(),
                };
                Some(PrometheusReporter::start(host, ports, Arc::new(source)).await.map_err(|e| JobManagerError::Metrics(e.to_string()))?)
            }
            None => None,
        };
        let app = leadership::rest_router(gate.clone());
        let rest_server = serve_rest(rest_listener, app, conf.rest_tls.as_deref(), shutdown_rx.clone())?;
        warn_if_unauthenticated(&conf);
        let standalone = conf.ha.is_none();
        let https = conf.rest_tls.is_some();
        let cluster_id = conf.cluster_id.clone();
        let leadership =
            tokio::spawn(leadership::run(Arc::new(conf), election, provider.clone(), gate.clone(), gateway_address, shutdown_rx));
        if standalone && gate.wait_for_term(Duration::from_secs(10)).await.is_none() {
            return Err(JobManagerError::Ha(HaError::Unavailable("the standalone JobManager did not start leading".into())));
        }
        let scheme = if https { "https" } else { "http" };
        tracing::info!(
            "JobManager started for cluster '{cluster_id}': ResourceManager at {rpc_address}, REST at {scheme}://{rest_address}"
        );
        Ok(Self {
            rpc_address,
            rest_address,
            gate,
            provider,
            shutdown,
            leadership,
            rpc_server,
            rest_server,
            working_dir,
            prometheus_address: reporter.as_ref().map(|r| r.address),
            _reporter: reporter,
        })
    }

    /// The current leadership term, when this JobManager leads.
    pub fn term(&self) -> Option<Arc<LeaderTerm>> {
        self.gate.term()
    }

    /// Waits until this JobManager leads, at most `timeout`.
    pub async fn wait_for_term(&self, timeout: Duration) -> Option<Arc<LeaderTerm>> {
        self.gate.wait_for_term(timeout).await
    }

    /// Stops leading (jobs are suspended, not cancelled: a standby recovers them),
    /// resigns so a standby takes over at once, and stops both endpoints.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let grace = Duration::from_secs(3);
        if tokio::time::timeout(grace * 2, self.leadership).await.is_err() {
            tracing::warn!("leadership did not end within {:?}", grace * 2);
        }
        self.provider.stop_all().await;
        if tokio::time::timeout(grace, self.rpc_server).await.is_err() {
            tracing::warn!("ResourceManager endpoint did not stop within {grace:?}");
        }
        if tokio::time::timeout(grace, self.rest_server).await.is_err() {
            tracing::warn!("REST endpoint did not stop within {grace:?}");
        }
        if let Err(e) = tokio::fs::remove_dir_all(&self.working_dir.0).await {
            tracing::warn!("could not remove the working directory {}: {e}", self.working_dir.0.display());
        }
        tracing::info!("JobManager stopped");
    }
}

/// Serves the REST router on `listener`: plain HTTP, or HTTPS (with client
/// certificates when required) under `security.ssl.rest.*`.
fn serve_rest(
    listener: TcpListener,
    app: axum::Router,
    tls: Option<&rask_common::security::RestTls>,
    mut stop: watch::Receiver<bool>,
) -> Result<JoinHandle<()>, JobManagerError> {
    let Some(tls) = tls else {
        return Ok(tokio::spawn(async move {
            let result = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|stop| *stop).await;
                })
                .await;
            if let Err(e) = result {
                tracing::error!("REST endpoint failed: {e}");
            }
        }));
    };
    let config = tls.server_config().map_err(|e| JobManagerError::Tls(e.to_string()))?;
    let listener = listener.into_std().map_err(|e| JobManagerError::Tls(e.to_string()))?;
    let server = axum_server::tls_rustls::from_tcp_rustls(listener, axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(config)))
        .map_err(|e| JobManagerError::Tls(e.to_string()))?;
    let handle = axum_server::Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        let _ = stop.wait_for(|stop| *stop).await;
        stopper.graceful_shutdown(Some(Duration::from_secs(1)));
    });
    Ok(tokio::spawn(async move {
        if let Err(e) = server.handle(handle).serve(app.into_make_service()).await {
            tracing::error!("REST endpoint failed: {e}");
        }
    }))
}

/// One WARN line at start when an endpoint accepts any caller who reaches it.
fn warn_if_unauthenticated(conf: &JobManagerConfiguration) {
    let mut open = Vec::new();
    if conf.internal_tls.is_none() {
        open.push(format!("gRPC at {} (security.ssl.internal.enabled is false: anyone can act as a TaskManager)", conf.rpc_bind));
    }
    if !conf.rest_tls.as_ref().is_some_and(|t| t.authentication_enabled) {
        open.push(format!(
            "REST at {} (security.ssl.rest.authentication-enabled is false: anyone can submit and cancel jobs)",
            conf.rest_bind
        ));
    }
    if !open.is_empty() {
        tracing::warn!("this cluster is unauthenticated: {}; see docs/security.md", open.join("; "));
    }
}

/// The resource provider `jobmanager.resource-provider` names. The process provider
/// passes this JobManager's settings on to the TaskManagers it starts.
fn resource_provider(conf: &JobManagerConfiguration, rpc_port: u16) -> Arc<dyn ResourceProvider> {
    if !conf.process_provider {
        return Arc::new(StandaloneProvider::default());
    }
    const OWN: [&str; 5] = [
        "jobmanager.rpc.address",
        "jobmanager.rpc.port",
        "taskmanager.resource-id",
        "taskmanager.numberOfTaskSlots",
        "jobmanager.resource-provider",
    ];
    let mut settings: Vec<(String, String)> =
        conf.raw.entries().filter(|(k, _)| !OWN.contains(k)).map(|(k, v)| (k.to_string(), v.to_string())).collect();
    settings.push(("jobmanager.rpc.address".into(), conf.rpc_host.clone()));
    settings.push(("jobmanager.rpc.port".into(), rpc_port.to_string()));
    Arc::new(ProcessProvider::new(ProcessProvider::default_binary(), settings, conf.log_dir.clone(), conf.cluster_id.clone()))
}
