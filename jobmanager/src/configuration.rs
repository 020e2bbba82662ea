//! The JobManager's typed view of the configuration.

use std::sync::Arc;
use std::time::Duration;

use rask_common::config::{options as o, ConfigError, Configuration};
use rask_common::net::host_port;
use rask_common::security::{AllowedPaths, InternalTls, RestTls};

use crate::job_settings::JobSettings;

#[derive(Debug, Clone)]
pub struct JobManagerConfiguration {
    /// host:port the ResourceManager gRPC endpoint binds to.
    pub rpc_bind: String,
    /// The host TaskManagers reach the gRPC endpoint at (jobmanager.rpc.address).
    pub rpc_host: String,
    /// host:port the REST endpoint binds to.
    pub rest_bind: String,
    /// Host advertised for REST (rest.address).
    pub rest_address: String,
    pub heartbeat_interval: Duration,
    pub heartbeat_timeout: Duration,
    pub cluster_id: String,
    pub slot_request_timeout: Duration,
    pub jobstore_expiration: Duration,
    /// jobmanager.resource-provider is `process`: start TaskManagers on demand.
    pub process_provider: bool,
    /// resourcemanager.taskmanager-timeout: idle workers of an active provider stop.
    pub taskmanager_timeout: Duration,
    /// taskmanager.numberOfTaskSlots of the TaskManagers an active provider starts.
    pub slots_per_worker: u32,
    /// process.jobmanager.working-dir: the directory under which this JobManager
    /// makes its working directory.
    pub working_dir_base: std::path::PathBuf,
    /// Where the tasks of jobs without state.checkpoints.dir write a savepoint's state
    /// first: `checkpoints/` in the working directory (set by `JobManager::start`).
    pub savepoint_staging: Option<rask_common::checkpoint::CheckpointStorage>,
    /// env.log.dir: where started processes log.
    pub log_dir: Option<std::path::PathBuf>,
    /// etcd HA settings; `None` with `high-availability.type: none`.
    pub ha: Option<rask_common::etcd::EtcdSettings>,
    /// security.ssl.internal.*: mutual TLS on every gRPC connection.
    pub internal_tls: Option<Arc<InternalTls>>,
    /// security.ssl.rest.*: HTTPS (and client certificates) on the REST endpoint.
    pub rest_tls: Option<Arc<RestTls>>,
    /// rest.server.max-content-length in bytes.
    pub max_content_length: usize,
    /// rask.io.allowed-paths: where jobs may read and write.
    pub allowed_paths: AllowedPaths,
    /// metrics.fetcher.update-interval: how old the TaskManagers' metrics served by
    /// REST may be.
    pub metrics_fetcher_interval: Duration,
    /// metrics.reporter.prom.host / .port: the Prometheus endpoint, when a port is set.
    pub prometheus: Option<(String, String)>,
    /// The whole configuration, for `/jobmanager/config`.
    pub raw: Arc<Configuration>,
}

impl JobManagerConfiguration {
    pub fn from_configuration(conf: &Configuration) -> Result<Self, ConfigError> {
        let rpc_host = conf.get_string(&o::JOBMANAGER_RPC_ADDRESS).unwrap_or_default();
        let rpc_port = conf.get_port(&o::JOBMANAGER_RPC_PORT)?;
        let rest_address = conf.get_string(&o::REST_ADDRESS).unwrap_or_default();
        let rest_bind_host = conf.get_string(&o::REST_BIND_ADDRESS).unwrap_or_else(|| rest_address.clone());
        let rest_port = conf.get_port(&o::REST_PORT)?;
        let heartbeat_interval = conf.get_duration(&o::HEARTBEAT_INTERVAL)?;
        let heartbeat_timeout = conf.get_duration(&o::HEARTBEAT_TIMEOUT)?;
        if heartbeat_interval.is_zero() {
            return Err(ConfigError::InvalidValue {
                key: o::HEARTBEAT_INTERVAL.key.into(),
                value: "0".into(),
                origin: conf.origin(&o::HEARTBEAT_INTERVAL),
                reason: "must be greater than 0".into(),
            });
        }
        if heartbeat_timeout <= heartbeat_interval {
            return Err(ConfigError::InvalidValue {
                key: o::HEARTBEAT_TIMEOUT.key.into(),
                value: conf.get_string(&o::HEARTBEAT_TIMEOUT).unwrap_or_default(),
                origin: conf.origin(&o::HEARTBEAT_TIMEOUT),
                reason: format!("must be greater than heartbeat.interval ({} ms)", heartbeat_interval.as_millis()),
            });
        }
        // The cluster's defaults for its jobs: a bad checkpointing or restart key stops
        // the JobManager at start, naming it.
        JobSettings::resolve(conf, &Default::default(), None)?;
        Ok(Self {
            rpc_bind: host_port(&rpc_host, rpc_port),
            rpc_host: rpc_host.clone(),
            rest_bind: host_port(&rest_bind_host, rest_port),
            rest_address,
            heartbeat_interval,
            heartbeat_timeout,
            cluster_id: conf.get_string(&o::CLUSTER_ID).unwrap_or_default(),
            slot_request_timeout: conf.get_duration(&o::SLOT_REQUEST_TIMEOUT)?,
            jobstore_expiration: conf.get_duration(&o::JOBSTORE_EXPIRATION_TIME)?,
            ha: rask_common::etcd::EtcdSettings::from_configuration(conf)?,
            process_provider: conf.get_string(&o::RESOURCE_PROVIDER).is_some_and(|p| p.eq_ignore_ascii_case("process")),
            taskmanager_timeout: conf.get_duration(&o::RESOURCEMANAGER_TASKMANAGER_TIMEOUT)?,
            slots_per_worker: conf.get_positive_int(&o::TASKMANAGER_NUM_SLOTS)?,
            log_dir: conf.get_string(&o::ENV_LOG_DIR).map(std::path::PathBuf::from),
            savepoint_staging: None,
            working_dir_base: conf.get_string(&o::JOBMANAGER_WORKING_DIR).map(std::path::PathBuf::from).unwrap_or_else(std::env::temp_dir),
            internal_tls: InternalTls::from_configuration(conf)?,
            rest_tls: RestTls::server_from_configuration(conf)?,
            max_content_length: usize::try_from(conf.get_memory_size(&o::REST_SERVER_MAX_CONTENT_LENGTH)?).unwrap_or(usize::MAX),
            allowed_paths: AllowedPaths::from_configuration(conf)?,
            metrics_fetcher_interval: conf.get_duration(&o::METRICS_FETCHER_UPDATE_INTERVAL)?,
            prometheus: conf
                .get_string(&o::METRICS_PROM_PORT)
                .map(|port| (conf.get_string(&o::METRICS_PROM_HOST).unwrap_or_else(|| "localhost".into()), port)),
            raw: Arc::new(conf.clone()),
        })
    }
}
