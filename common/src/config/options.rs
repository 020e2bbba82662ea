//! The registry of every configuration key Rask understands, with Flink's names,
//! types, defaults and descriptions. A key not listed here is rejected at start.

/// The type of a configuration value; each is checked when the configuration loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    String,
    Port,
    PositiveInt,
    /// `true` or `false`.
    Boolean,
    /// A number of at least 1.0 (multipliers).
    Multiplier,
    /// Bare integer = milliseconds, or a number with a unit.
    Duration,
    MemorySize,
    /// One of a fixed set of words (case-insensitive).
    OneOf(&'static [&'static str]),
}

/// One configuration key.
#[derive(Debug)]
pub struct ConfigOption {
    pub key: &'static str,
    /// Older or alternative names that mean the same key.
    pub aliases: &'static [&'static str],
    pub kind: ValueKind,
    pub default: Option<&'static str>,
    pub description: &'static str,
}

macro_rules! option {
    ($name:ident, $key:literal, $kind:expr, $default:expr, $desc:literal $(, aliases = [$($alias:literal),*])?) => {
        pub const $name: ConfigOption = ConfigOption {
            key: $key,
            aliases: &[$($($alias),*)?],
            kind: $kind,
            default: $default,
            description: $desc,
        };
    };
}

use ValueKind::*;

option!(
    JOBMANAGER_RPC_ADDRESS,
    "jobmanager.rpc.address",
    String,
    Some("localhost"),
    "Host of the JobManager's gRPC endpoint (ResourceManager), where TaskManagers connect; the JobManager binds to it."
);
option!(JOBMANAGER_RPC_PORT, "jobmanager.rpc.port", Port, Some("6123"), "Port of the JobManager's gRPC endpoint.");
option!(REST_ADDRESS, "rest.address", String, Some("localhost"), "Host clients use to reach the REST endpoint.");
option!(REST_BIND_ADDRESS, "rest.bind-address", String, None, "Address the REST endpoint binds to; defaults to rest.address.");
option!(REST_PORT, "rest.port", Port, Some("8081"), "Port of the REST endpoint (0 = any free port).");
option!(
    HEARTBEAT_INTERVAL,
    "heartbeat.interval",
    Duration,
    Some("10000"),
    "Time between heartbeat requests from the JobManager to each TaskManager (ms, or with a unit)."
);
option!(
    HEARTBEAT_TIMEOUT,
    "heartbeat.timeout",
    Duration,
    Some("50000"),
    "Time without a heartbeat after which the peer is declared lost (ms, or with a unit). A dropped connection is detected at once."
);
option!(
    CLUSTER_ID,
    "high-availability.cluster-id",
    String,
    Some("default"),
    "Id of the cluster; TaskManagers of another cluster are refused.",
    aliases = ["cluster.id"]
);
option!(
    CLUSTER_REGISTRATION_INITIAL_TIMEOUT,
    "cluster.registration.initial-timeout",
    Duration,
    Some("10"),
    "First back-off of a TaskManager retrying to reach the JobManager (ms); it doubles after each failure."
);
option!(
    CLUSTER_REGISTRATION_MAX_TIMEOUT,
    "cluster.registration.max-timeout",
    Duration,
    Some("30000"),
    "Largest back-off between a TaskManager's attempts to reach the JobManager (ms)."
);
option!(
    TASKMANAGER_NUM_SLOTS,
    "taskmanager.numberOfTaskSlots",
    PositiveInt,
    Some("1"),
    "Number of slots a TaskManager offers; CPU is shared between them, memory split evenly."
);
option!(
    TASKMANAGER_MEMORY_PROCESS_SIZE,
    "taskmanager.memory.process.size",
    MemorySize,
    Some("1728m"),
    "Memory of the TaskManager process (e.g. 1g, 512m), split evenly into per-slot budgets."
);
option!(
    TASKMANAGER_HOST,
    "taskmanager.host",
    String,
    Some("localhost"),
    "Host the TaskManager binds its gRPC endpoint to and advertises to the JobManager."
);
option!(TASKMANAGER_RPC_PORT, "taskmanager.rpc.port", Port, Some("0"), "Port of the TaskManager's gRPC endpoint (0 = any free port).");
option!(TASKMANAGER_RESOURCE_ID, "taskmanager.resource-id", String, None, "Stable id of the TaskManager; defaults to host:port-<random>.");
option!(
    SLOT_REQUEST_TIMEOUT,
    "slot.request.timeout",
    Duration,
    Some("300000"),
    "How long a job waits for enough free slots before it fails (ms, or with a unit)."
);
option!(
    EXECUTION_BUFFER_TIMEOUT,
    "execution.buffer-timeout",
    Duration,
    Some("100"),
    "Longest time a partly filled batch waits before it is sent downstream (ms, or with a unit)."
);
option!(
    PARALLELISM_DEFAULT,
    "parallelism.default",
    PositiveInt,
    Some("1"),
    "Parallelism of jobs whose job file sets none (rask run --parallelism wins)."
);
option!(
    PIPELINE_MAX_PARALLELISM,
    "pipeline.max-parallelism",
    PositiveInt,
    Some("128"),
    "Number of key groups: the upper bound for the parallelism of keyed operators."
);
option!(
    CHECKPOINTING_INTERVAL,
    "execution.checkpointing.interval",
    Duration,
    None,
    "Time between checkpoints of a job (ms, or with a unit); unset = no checkpoints."
);
option!(
    CHECKPOINTING_TIMEOUT,
    "execution.checkpointing.timeout",
    Duration,
    Some("600000"),
    "A checkpoint not complete after this long is aborted and its files removed."
);
option!(
    CHECKPOINTING_MIN_PAUSE,
    "execution.checkpointing.min-pause",
    Duration,
    Some("0"),
    "Least time between the end of one checkpoint and the start of the next."
);
option!(
    CHECKPOINTS_DIR,
    "state.checkpoints.dir",
    String,
    None,
    "Where checkpoints are written: a directory path, a file:// URL, or an s3://, gs:// or az:// URL in a build with that feature."
);
option!(
    SAVEPOINTS_DIR,
    "state.savepoints.dir",
    String,
    None,
    "Default directory for savepoints (rask savepoint / rask stop without a directory): a path or a URL, as state.checkpoints.dir."
);
option!(
    CHECKPOINTS_NUM_RETAINED,
    "state.checkpoints.num-retained",
    PositiveInt,
    Some("1"),
    "How many completed checkpoints are kept; older ones are deleted."
);
option!(
    RESTART_STRATEGY_TYPE,
    "restart-strategy.type",
    OneOf(&["none", "disable", "off", "fixed-delay", "fixeddelay", "exponential-delay", "exponentialdelay"]),
    None,
    "What a job does when a task fails: none, fixed-delay or exponential-delay (the default when checkpointing is on)."
);
option!(
    RESTART_FIXED_DELAY_ATTEMPTS,
    "restart-strategy.fixed-delay.attempts",
    PositiveInt,
    Some("1"),
    "fixed-delay: restarts before the job fails."
);
option!(RESTART_FIXED_DELAY_DELAY, "restart-strategy.fixed-delay.delay", Duration, Some("1 s"), "fixed-delay: wait before each restart.");
option!(
    RESTART_EXP_INITIAL_BACKOFF,
    "restart-strategy.exponential-delay.initial-backoff",
    Duration,
    Some("1 s"),
    "exponential-delay: wait before the first restart."
);
option!(
    RESTART_EXP_MAX_BACKOFF,
    "restart-strategy.exponential-delay.max-backoff",
    Duration,
    Some("1 min"),
    "exponential-delay: the longest wait between restarts."
);
option!(
    RESTART_EXP_MULTIPLIER,
    "restart-strategy.exponential-delay.backoff-multiplier",
    Multiplier,
    Some("2.0"),
    "exponential-delay: how the wait grows after each restart."
);
option!(
    RESTART_EXP_ATTEMPTS,
    "restart-strategy.exponential-delay.attempts-before-reset-backoff",
    PositiveInt,
    Some("2147483647"),
    "exponential-delay: restarts before the job fails."
);
option!(
    JOBSTORE_EXPIRATION_TIME,
    "jobstore.expiration-time",
    Duration,
    Some("3600 s"),
    "How long a finished, failed or canceled job stays listed (and its printed rows kept)."
);
option!(
    HA_TYPE,
    "high-availability.type",
    OneOf(&["none", "etcd"]),
    Some("none"),
    "none: one JobManager, no failover. etcd: JobManagers elect a leader in etcd and keep jobs and checkpoint pointers there.",
    aliases = ["high-availability"]
);
option!(
    HA_ETCD_ENDPOINTS,
    "high-availability.etcd.endpoints",
    String,
    Some("http://localhost:2379"),
    "Comma-separated etcd client URLs (http:// or https://)."
);
option!(
    HA_ETCD_LEASE_TTL,
    "high-availability.etcd.lease-ttl",
    PositiveInt,
    Some("5"),
    "Seconds a leader's etcd lease lives without renewal (at least 2): a crashed leader is replaced after about this long."
);
option!(HA_ETCD_USERNAME, "high-availability.etcd.username", String, None, "User for etcd authentication (with .password).");
option!(HA_ETCD_PASSWORD, "high-availability.etcd.password", String, None, "Password for etcd authentication.");
option!(
    HA_ETCD_TLS_CA,
    "high-availability.etcd.tls.ca-cert",
    String,
    None,
    "PEM file of the CA that signed etcd's server certificate (https:// endpoints)."
);
option!(HA_ETCD_TLS_CERT, "high-availability.etcd.tls.cert", String, None, "PEM client certificate for etcd (with .key).");
option!(HA_ETCD_TLS_KEY, "high-availability.etcd.tls.key", String, None, "PEM private key of the etcd client certificate.");
option!(
    RESOURCE_PROVIDER,
    "jobmanager.resource-provider",
    OneOf(&["standalone", "process"]),
    Some("standalone"),
    "standalone: TaskManagers register themselves. process: the JobManager starts TaskManager processes on this host for the slots its jobs need and stops them when idle (per-job and application clusters use it)."
);
option!(
    RESOURCEMANAGER_TASKMANAGER_TIMEOUT,
    "resourcemanager.taskmanager-timeout",
    Duration,
    Some("30000"),
    "process provider: a started TaskManager with every slot free this long is stopped (ms, or with a unit)."
);
option!(
    ENV_LOG_DIR,
    "env.log.dir",
    String,
    None,
    "Directory for the logs of processes Rask starts (TaskManagers of the process provider, clusters of rask run --target per-job); unset: they log to the starter's stderr."
);
option!(
    JOBMANAGER_WORKING_DIR,
    "process.jobmanager.working-dir",
    String,
    None,
    "Directory under which a JobManager keeps its working directory (jm_<id>), removed when it stops: savepoints of jobs without state.checkpoints.dir are staged there. Unset: the system's temporary directory.",
    aliases = ["process.working-dir"]
);
option!(LOG_LEVEL, "log.level", OneOf(&["trace", "debug", "info", "warn", "error"]), Some("info"), "Log level when RUST_LOG is not set.");

option!(
    REST_SERVER_MAX_CONTENT_LENGTH,
    "rest.server.max-content-length",
    MemorySize,
    Some("104857600"),
    "Largest request body the REST endpoint accepts (bytes, or with a unit); larger ones get a 413."
);
option!(
    SSL_INTERNAL_ENABLED,
    "security.ssl.internal.enabled",
    Boolean,
    Some("false"),
    "Mutual TLS on every gRPC connection between JobManagers and TaskManagers (control plane and data exchange)."
);
option!(
    SSL_INTERNAL_CERT,
    "security.ssl.internal.cert",
    String,
    None,
    "PEM certificate (chain) this process presents on internal connections."
);
option!(SSL_INTERNAL_KEY, "security.ssl.internal.key", String, None, "PEM private key of security.ssl.internal.cert.");
option!(
    SSL_INTERNAL_TRUST_CERT,
    "security.ssl.internal.trust-cert",
    String,
    None,
    "PEM certificate of the cluster's CA: a peer is accepted only with a certificate it signed."
);
option!(SSL_REST_ENABLED, "security.ssl.rest.enabled", Boolean, Some("false"), "HTTPS on the REST endpoint (and for the rask CLI).");
option!(SSL_REST_CERT, "security.ssl.rest.cert", String, None, "PEM certificate (chain) of the REST endpoint.");
option!(SSL_REST_KEY, "security.ssl.rest.key", String, None, "PEM private key of security.ssl.rest.cert.");
option!(
    SSL_REST_TRUST_CERT,
    "security.ssl.rest.trust-cert",
    String,
    None,
    "PEM CA certificate: the CLI trusts REST servers it signed; with authentication-enabled the server accepts clients it signed."
);
option!(
    SSL_REST_AUTHENTICATION_ENABLED,
    "security.ssl.rest.authentication-enabled",
    Boolean,
    Some("false"),
    "REST requires a client certificate signed by security.ssl.rest.trust-cert (mutual TLS)."
);
option!(
    SSL_REST_CLIENT_CERT,
    "security.ssl.rest.client-cert",
    String,
    None,
    "CLI: PEM client certificate presented to a REST endpoint that requires one (defaults to security.ssl.rest.cert)."
);
option!(
    SSL_REST_CLIENT_KEY,
    "security.ssl.rest.client-key",
    String,
    None,
    "CLI: PEM private key of security.ssl.rest.client-cert (defaults to security.ssl.rest.key)."
);
option!(
    IO_ALLOWED_PATHS,
    "rask.io.allowed-paths",
    String,
    None,
    "Directories or URL prefixes (separated by ; or ,) that jobs may read and write: file sources and sinks, checkpoint and savepoint directories. Unset: anything the TaskManager's user may."
);
option!(
    METRICS_PROM_PORT,
    "metrics.reporter.prom.port",
    String,
    None,
    "Port (or range, e.g. 9250-9260: the first free one) of this process's Prometheus endpoint, Flink's PrometheusReporter; unset: no endpoint."
);
option!(METRICS_PROM_HOST, "metrics.reporter.prom.host", String, Some("localhost"), "Address the Prometheus endpoint binds to.");
option!(
    METRICS_FETCHER_UPDATE_INTERVAL,
    "metrics.fetcher.update-interval",
    Duration,
    Some("1000"),
    "How old the TaskManagers' metrics the REST API serves may be before the JobManager fetches them again (Flink's default is 10 s; Rask's dashboard refreshes every 1.5 s)."
);
option!(
    METRICS_TASK_IO_ENABLED,
    "rask.metrics.task-io.enabled",
    Boolean,
    Some("true"),
    "Whether tasks count records, bytes and busy time (off only to measure what counting costs)."
);

/// Every key, in the order `rask.yaml` documents them.
pub const ALL: &[&ConfigOption] = &[
    &JOBMANAGER_RPC_ADDRESS,
    &JOBMANAGER_RPC_PORT,
    &REST_ADDRESS,
    &REST_BIND_ADDRESS,
    &REST_PORT,
    &HEARTBEAT_INTERVAL,
    &HEARTBEAT_TIMEOUT,
    &CLUSTER_ID,
    &HA_TYPE,
    &HA_ETCD_ENDPOINTS,
    &HA_ETCD_LEASE_TTL,
    &HA_ETCD_USERNAME,
    &HA_ETCD_PASSWORD,
    &HA_ETCD_TLS_CA,
    &HA_ETCD_TLS_CERT,
    &HA_ETCD_TLS_KEY,
    &CLUSTER_REGISTRATION_INITIAL_TIMEOUT,
    &CLUSTER_REGISTRATION_MAX_TIMEOUT,
    &TASKMANAGER_NUM_SLOTS,
    &TASKMANAGER_MEMORY_PROCESS_SIZE,
    &TASKMANAGER_HOST,
    &TASKMANAGER_RPC_PORT,
    &TASKMANAGER_RESOURCE_ID,
    &SLOT_REQUEST_TIMEOUT,
    &EXECUTION_BUFFER_TIMEOUT,
    &PARALLELISM_DEFAULT,
    &PIPELINE_MAX_PARALLELISM,
    &CHECKPOINTING_INTERVAL,
    &CHECKPOINTING_TIMEOUT,
    &CHECKPOINTING_MIN_PAUSE,
    &CHECKPOINTS_DIR,
    &SAVEPOINTS_DIR,
    &CHECKPOINTS_NUM_RETAINED,
    &RESTART_STRATEGY_TYPE,
    &RESTART_FIXED_DELAY_ATTEMPTS,
    &RESTART_FIXED_DELAY_DELAY,
    &RESTART_EXP_INITIAL_BACKOFF,
    &RESTART_EXP_MAX_BACKOFF,
    &RESTART_EXP_MULTIPLIER,
    &RESTART_EXP_ATTEMPTS,
    &JOBSTORE_EXPIRATION_TIME,
    &REST_SERVER_MAX_CONTENT_LENGTH,
    &SSL_INTERNAL_ENABLED,
    &SSL_INTERNAL_CERT,
    &SSL_INTERNAL_KEY,
    &SSL_INTERNAL_TRUST_CERT,
    &SSL_REST_ENABLED,
    &SSL_REST_CERT,
    &SSL_REST_KEY,
    &SSL_REST_TRUST_CERT,
    &SSL_REST_AUTHENTICATION_ENABLED,
    &SSL_REST_CLIENT_CERT,
    &SSL_REST_CLIENT_KEY,
    &IO_ALLOWED_PATHS,
    &RESOURCE_PROVIDER,
    &RESOURCEMANAGER_TASKMANAGER_TIMEOUT,
    &ENV_LOG_DIR,
    &JOBMANAGER_WORKING_DIR,
    &LOG_LEVEL,
    &METRICS_PROM_PORT,
    &METRICS_PROM_HOST,
    &METRICS_FETCHER_UPDATE_INTERVAL,
    &METRICS_TASK_IO_ENABLED,
];

/// Finds the option a key (or one of its aliases) names, ignoring ASCII case.
pub fn lookup(key: &str) -> Option<&'static ConfigOption> {
    ALL.iter().copied().find(|o| o.key.eq_ignore_ascii_case(key) || o.aliases.iter().any(|a| a.eq_ignore_ascii_case(key)))
}

/// The environment variable that overrides an option: `RASK_` and the key in upper
/// case with `.` and `-` turned into `_` (`rest.port` -> `RASK_REST_PORT`).
pub fn env_var_name(key: &str) -> std::string::String {
    let mut name = std::string::String::from("RASK_");
    name.extend(key.chars().map(|c| match c {
        '.' | '-' => '_',
        c => c.to_ascii_uppercase(),
    }));
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse_as_their_kind() {
        for option in ALL {
            if let Some(default) = option.default {
                super::super::check_value(option, default).unwrap_or_else(|e| panic!("default of {} is invalid: {e}", option.key));
            }
        }
    }

    #[test]
    fn env_names_are_unique() {
        let mut names: Vec<std::string::String> =
            ALL.iter().flat_map(|o| std::iter::once(o.key).chain(o.aliases.iter().copied())).map(env_var_name).collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n);
    }
}
