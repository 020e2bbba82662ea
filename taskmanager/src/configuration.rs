//! The TaskManager's typed view of the configuration.

use std::time::Duration;

use rask_common::config::{options as o, ConfigError, Configuration};
use rask_common::net::host_port;

#[derive(Debug, Clone)]
pub struct TaskManagerConfiguration {
    pub num_slots: u32,
    pub process_memory_bytes: u64,
    pub host: String,
    pub rpc_port: u16,
    pub resource_id: Option<String>,
    pub cluster_id: String,
    /// host:port of the JobManager's ResourceManager (jobmanager.rpc.address/port).
    pub jobmanager_rpc_address: String,
    /// http://host:port of the JobManager's REST endpoint.
    pub jobmanager_rest_url: String,
    pub registration_initial_backoff: Duration,
    pub registration_max_backoff: Duration,
    /// etcd HA: the leader is found in etcd instead of at jobmanager.rpc.address.
    pub ha: Option<rask_common::etcd::EtcdSettings>,
    /// security.ssl.internal.*: mutual TLS on every gRPC connection.
    pub internal_tls: Option<std::sync::Arc<rask_common::security::InternalTls>>,
    /// rask.io.allowed-paths: where tasks may read and write.
    pub allowed_paths: rask_common::security::AllowedPaths,
    /// metrics.reporter.prom.host / .port: the Prometheus endpoint, when a port is set.
    pub prometheus: Option<(String, String)>,
    /// rask.metrics.task-io.enabled.
    pub task_io_metrics: bool,
}

impl TaskManagerConfiguration {
    pub fn from_configuration(conf: &Configuration) -> Result<Self, ConfigError> {
        let jm_host = conf.get_string(&o::JOBMANAGER_RPC_ADDRESS).unwrap_or_default();
        let jm_port = conf.get_port(&o::JOBMANAGER_RPC_PORT)?;
        let rest_host = conf.get_string(&o::REST_ADDRESS).unwrap_or_default();
        let rest_port = conf.get_port(&o::REST_PORT)?;
        Ok(Self {
            num_slots: conf.get_positive_int(&o::TASKMANAGER_NUM_SLOTS)?,
            process_memory_bytes: conf.get_memory_size(&o::TASKMANAGER_MEMORY_PROCESS_SIZE)?,
            host: conf.get_string(&o::TASKMANAGER_HOST).unwrap_or_default(),
            rpc_port: conf.get_port(&o::TASKMANAGER_RPC_PORT)?,
            resource_id: conf.get_string(&o::TASKMANAGER_RESOURCE_ID),
            cluster_id: conf.get_string(&o::CLUSTER_ID).unwrap_or_default(),
            jobmanager_rpc_address: host_port(&jm_host, jm_port),
            jobmanager_rest_url: format!(
                "{}://{}",
                if conf.get_bool(&o::SSL_REST_ENABLED)? { "https" } else { "http" },
                host_port(&rest_host, rest_port)
            ),
            registration_initial_backoff: conf.get_duration(&o::CLUSTER_REGISTRATION_INITIAL_TIMEOUT)?,
            registration_max_backoff: conf.get_duration(&o::CLUSTER_REGISTRATION_MAX_TIMEOUT)?,
            ha: rask_common::etcd::EtcdSettings::from_configuration(conf)?,
            internal_tls: rask_common::security::InternalTls::from_configuration(conf)?,
            allowed_paths: rask_common::security::AllowedPaths::from_configuration(conf)?,
            prometheus: conf
                .get_string(&o::METRICS_PROM_PORT)
                .map(|port| (conf.get_string(&o::METRICS_PROM_HOST).unwrap_or_else(|| "localhost".into()), port)),
            task_io_metrics: conf.get_bool(&o::METRICS_TASK_IO_ENABLED)?,
        })
    }
}
