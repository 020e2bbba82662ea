//! The JobManager's typed view of the configuration.

use std::sync::Arc;
use std::time::Duration;

use rask_common::checkpoint::CheckpointStorage;
use rask_common::config::{options as o, ConfigError, Configuration};
use rask_common::net::host_port;
use rask_common::security::{AllowedPaths, InternalTls, RestTls};

use crate::checkpoint_coordinator::CheckpointSettings;
use crate::restart_strategy::RestartStrategy;

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
    pub buffer_timeout: Duration,
    pub checkpointing: Option<CheckpointSettings>,
    pub restart_strategy: RestartStrategy,
    pub jobstore_expiration: Duration,
    /// state.savepoints.dir, the default target of savepoints.
    pub savepoints_dir: Option<String>,
    /// jobmanager.resource-provider is `process`: start TaskManagers on demand.
    pub process_provider: bool,
    /// resourcemanager.taskmanager-timeout: idle workers of an active provider stop.
    pub taskmanager_timeout: Duration,
    /// taskmanager.numberOfTaskSlots of the TaskManagers an active provider starts.
    pub slots_per_worker: u32,
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
        Ok(Self {
            rpc_bind: host_port(&rpc_host, rpc_port),
            rpc_host: rpc_host.clone(),
            rest_bind: host_port(&rest_bind_host, rest_port),
            rest_address,
            heartbeat_interval,
            heartbeat_timeout,
            cluster_id: conf.get_string(&o::CLUSTER_ID).unwrap_or_default(),
            slot_request_timeout: conf.get_duration(&o::SLOT_REQUEST_TIMEOUT)?,
            buffer_timeout: conf.get_duration(&o::EXECUTION_BUFFER_TIMEOUT)?,
            checkpointing: checkpointing(conf)?,
            restart_strategy: RestartStrategy::from_configuration(conf, conf.contains(&o::CHECKPOINTING_INTERVAL))?,
            jobstore_expiration: conf.get_duration(&o::JOBSTORE_EXPIRATION_TIME)?,
            savepoints_dir: conf.get_string(&o::SAVEPOINTS_DIR),
            ha: rask_common::etcd::EtcdSettings::from_configuration(conf)?,
            process_provider: conf.get_string(&o::RESOURCE_PROVIDER).is_some_and(|p| p.eq_ignore_ascii_case("process")),
            taskmanager_timeout: conf.get_duration(&o::RESOURCEMANAGER_TASKMANAGER_TIMEOUT)?,
            slots_per_worker: conf.get_positive_int(&o::TASKMANAGER_NUM_SLOTS)?,
            log_dir: conf.get_string(&o::ENV_LOG_DIR).map(std::path::PathBuf::from),
            internal_tls: InternalTls::from_configuration(conf)?,
            rest_tls: RestTls::server_from_configuration(conf)?,
            max_content_length: usize::try_from(conf.get_memory_size(&o::REST_SERVER_MAX_CONTENT_LENGTH)?).unwrap_or(usize::MAX),
            allowed_paths: AllowedPaths::from_configuration(conf)?,
            raw: Arc::new(conf.clone()),
        })
    }
}

/// Checkpoint settings, when `execution.checkpointing.interval` is set.
fn checkpointing(conf: &Configuration) -> Result<Option<CheckpointSettings>, ConfigError> {
    let interval = match conf.contains(&o::CHECKPOINTING_INTERVAL) {
        true => Some(conf.get_duration(&o::CHECKPOINTING_INTERVAL)?.max(Duration::from_millis(10))),
        // Without periodic checkpoints, a checkpoint directory still serves savepoints.
        false if conf.contains(&o::CHECKPOINTS_DIR) => None,
        false => return Ok(None),
    };
    let invalid = |key: &str, reason: String| ConfigError::InvalidValue {
        key: key.to_string(),
        value: conf.get_string(&o::CHECKPOINTS_DIR).unwrap_or_default(),
        origin: conf.origin(&o::CHECKPOINTS_DIR),
        reason,
    };
    let dir = conf
        .get_string(&o::CHECKPOINTS_DIR)
        .ok_or_else(|| invalid(o::CHECKPOINTS_DIR.key, "must be set when execution.checkpointing.interval is".into()))?;
    let storage = CheckpointStorage::open(&dir).map_err(|e| invalid(o::CHECKPOINTS_DIR.key, e.to_string()))?;
    Ok(Some(CheckpointSettings {
        interval,
        timeout: conf.get_duration(&o::CHECKPOINTING_TIMEOUT)?,
        min_pause: conf.get_duration(&o::CHECKPOINTING_MIN_PAUSE)?,
        retained: conf.get_positive_int(&o::CHECKPOINTS_NUM_RETAINED)? as usize,
        storage,
    }))
}
