//! Which process honours a configuration key: each job (Flink's job configuration,
//! which travels with the JobGraph), the client itself, or only a cluster process.

use super::options::{self as o, ConfigOption};

/// Where a key takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Applies to each job on its own: set on `rask run` (`-D`, `--config`), it travels
    /// with the JobGraph and applies to that job on any cluster.
    Job,
    /// Read by the `rask` CLI to find and reach the cluster (REST address, REST TLS,
    /// HA leader lookup, logging); a cluster reads it too.
    Client,
    /// Only a cluster process can honour it: set in the cluster's configuration, it
    /// takes effect when the process (re)starts.
    Cluster,
}

/// Keys a job may set for itself (Flink accepts these per job).
const JOB: &[&ConfigOption] = &[
    &o::PARALLELISM_DEFAULT,
    &o::PIPELINE_MAX_PARALLELISM,
    &o::EXECUTION_BUFFER_TIMEOUT,
    &o::CHECKPOINTING_INTERVAL,
    &o::CHECKPOINTING_TIMEOUT,
    &o::CHECKPOINTING_MIN_PAUSE,
    &o::CHECKPOINTS_DIR,
    &o::SAVEPOINTS_DIR,
    &o::CHECKPOINTS_NUM_RETAINED,
    &o::RESTART_STRATEGY_TYPE,
    &o::RESTART_FIXED_DELAY_ATTEMPTS,
    &o::RESTART_FIXED_DELAY_DELAY,
    &o::RESTART_EXP_INITIAL_BACKOFF,
    &o::RESTART_EXP_MAX_BACKOFF,
    &o::RESTART_EXP_MULTIPLIER,
    &o::RESTART_EXP_ATTEMPTS,
];

/// Keys the CLI itself reads.
const CLIENT: &[&ConfigOption] = &[
    &o::REST_ADDRESS,
    &o::REST_PORT,
    &o::CLUSTER_ID,
    &o::HA_TYPE,
    &o::HA_ETCD_ENDPOINTS,
    &o::HA_ETCD_LEASE_TTL,
    &o::HA_ETCD_USERNAME,
    &o::HA_ETCD_PASSWORD,
    &o::HA_ETCD_TLS_CA,
    &o::HA_ETCD_TLS_CERT,
    &o::HA_ETCD_TLS_KEY,
    &o::SSL_REST_ENABLED,
    &o::SSL_REST_CERT,
    &o::SSL_REST_KEY,
    &o::SSL_REST_TRUST_CERT,
    &o::SSL_REST_CLIENT_CERT,
    &o::SSL_REST_CLIENT_KEY,
    &o::LOG_LEVEL,
];

/// The scope of `option`.
pub fn scope(option: &ConfigOption) -> Scope {
    let is = |list: &[&ConfigOption]| list.iter().any(|o| o.key == option.key);
    if is(JOB) {
        Scope::Job
    } else if is(CLIENT) {
        Scope::Client
    } else {
        Scope::Cluster
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_has_one_scope_and_the_lists_name_known_keys() {
        for option in JOB.iter().chain(CLIENT) {
            assert!(o::ALL.iter().any(|a| a.key == option.key), "{} is not a registered key", option.key);
        }
        assert!(JOB.iter().all(|j| !CLIENT.iter().any(|c| c.key == j.key)));
        assert_eq!(scope(&o::CHECKPOINTS_DIR), Scope::Job);
        assert_eq!(scope(&o::REST_PORT), Scope::Client);
        assert_eq!(scope(&o::TASKMANAGER_NUM_SLOTS), Scope::Cluster);
    }
}
