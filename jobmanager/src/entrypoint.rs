//! The JobManager entrypoint: wins leadership (HA services), binds the ResourceManager
//! gRPC endpoint and the REST endpoint, and shuts both down cleanly.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rask_common::proto::resource_manager_server::ResourceManagerServer;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::configuration::JobManagerConfiguration;
use crate::dispatcher::Dispatcher;
use crate::gateway::JobMasterGatewayService;
use crate::ha::{HaError, LeaderElection, StandaloneLeaderElection};
use crate::job_master::JobMasterServices;
use crate::resource_manager::session::ResourceManagerService;
use crate::resource_manager::ResourceManager;
use crate::rest::{self, RestState};
use rask_common::proto::job_master_gateway_server::JobMasterGatewayServer;

#[derive(Debug, thiserror::Error)]
pub enum JobManagerError {
    #[error("cannot bind the {endpoint} endpoint to {address}")]
    Bind { endpoint: &'static str, address: String, source: std::io::Error },
    #[error(transparent)]
    Ha(#[from] HaError),
}

/// A running JobManager.
pub struct JobManager {
    pub rpc_address: SocketAddr,
    pub rest_address: SocketAddr,
    pub resource_manager: Arc<ResourceManager>,
    pub dispatcher: Arc<Dispatcher>,
    leader_election: Arc<dyn LeaderElection>,
    shutdown: watch::Sender<bool>,
    rpc_server: JoinHandle<()>,
    rest_server: JoinHandle<()>,
}

async fn bind(endpoint: &'static str, address: &str) -> Result<(TcpListener, SocketAddr), JobManagerError> {
    let err = |source| JobManagerError::Bind { endpoint, address: address.to_string(), source };
    let listener = TcpListener::bind(address).await.map_err(err)?;
    let local = listener.local_addr().map_err(err)?;
    Ok((listener, local))
}

impl JobManager {
    /// Starts a standalone (non-HA) JobManager.
    pub async fn start(conf: JobManagerConfiguration) -> Result<Self, JobManagerError> {
        Self::start_with(conf, Arc::new(StandaloneLeaderElection)).await
    }

    /// Starts a JobManager that campaigns through `leader_election` before serving.
    pub async fn start_with(conf: JobManagerConfiguration, leader_election: Arc<dyn LeaderElection>) -> Result<Self, JobManagerError> {
        let started = Instant::now();
        let (rpc_listener, rpc_address) = bind("ResourceManager gRPC", &conf.rpc_bind).await?;
        let (rest_listener, rest_address) = bind("REST", &conf.rest_bind).await?;
        let token = leader_election.campaign().await?;
        let resource_manager =
            Arc::new(ResourceManager::new(conf.cluster_id.clone(), token.0, conf.heartbeat_interval, conf.heartbeat_timeout));
        let (shutdown, shutdown_rx) = watch::channel(false);

        let dispatcher = Arc::new(Dispatcher::new(
            JobMasterServices {
                resource_manager: resource_manager.clone(),
                leader_token: resource_manager.leader_token().to_string(),
                gateway_address: rask_common::net::host_port(&conf.rpc_host, rpc_address.port()),
                slot_request_timeout: conf.slot_request_timeout,
                buffer_timeout: conf.buffer_timeout,
                checkpointing: conf.checkpointing.clone(),
                restart_strategy: conf.restart_strategy.clone(),
            },
            conf.jobstore_expiration,
        ));
        let service = ResourceManagerService::new(resource_manager.clone(), shutdown_rx.clone());
        let gateway = JobMasterGatewayService { dispatcher: dispatcher.clone() };
        let mut rpc_stop = shutdown_rx.clone();
        let rpc_server = tokio::spawn(async move {
            let result = tonic::transport::Server::builder()
                .tcp_nodelay(true)
                .add_service(ResourceManagerServer::new(service))
                .add_service(JobMasterGatewayServer::new(gateway))
                .serve_with_incoming_shutdown(rask_common::net::incoming(rpc_listener), async move {
                    let _ = rpc_stop.wait_for(|stop| *stop).await;
                })
                .await;
            if let Err(e) = result {
                tracing::error!("ResourceManager endpoint failed: {e}");
            }
        });

        let conf = Arc::new(conf);
        let app = rest::router(RestState {
            resource_manager: resource_manager.clone(),
            dispatcher: dispatcher.clone(),
            configuration: conf.clone(),
            started,
        });
        let mut rest_stop = shutdown_rx;
        let rest_server = tokio::spawn(async move {
            let result = axum::serve(rest_listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rest_stop.wait_for(|stop| *stop).await;
                })
                .await;
            if let Err(e) = result {
                tracing::error!("REST endpoint failed: {e}");
            }
        });
        tracing::info!(
            "JobManager started for cluster '{}': ResourceManager at {rpc_address}, REST at http://{rest_address}",
            conf.cluster_id
        );
        Ok(Self { rpc_address, rest_address, resource_manager, dispatcher, leader_election, shutdown, rpc_server, rest_server })
    }

    /// Resolves when leadership is lost (never, without HA).
    pub async fn leadership_lost(&self) {
        self.leader_election.lost().await
    }

    /// Stops serving: ends every TaskManager session, stops both endpoints, resigns.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let grace = Duration::from_secs(3);
        if tokio::time::timeout(grace, self.rpc_server).await.is_err() {
            tracing::warn!("ResourceManager endpoint did not stop within {grace:?}");
        }
        if tokio::time::timeout(grace, self.rest_server).await.is_err() {
            tracing::warn!("REST endpoint did not stop within {grace:?}");
        }
        if let Err(e) = self.leader_election.resign().await {
            tracing::warn!("could not resign leadership: {e}");
        }
        tracing::info!("JobManager stopped");
    }
}
