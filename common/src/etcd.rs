//! etcd for high availability: the settings (`high-availability.etcd.*`), the client,
//! the layout of a cluster's keys, and leader discovery that follows leader changes
//! with a watch. The JobManager's election and stores build on this
//! (`rask_jobmanager::ha::etcd`).
//!
//! ```text
//! /rask/<cluster-id>/leader/<lease>          election candidates; the lowest create
//!                                            revision leads; value: LeaderAddress JSON
//! /rask/<cluster-id>/jobgraphs/<job>         submitted JobGraph (JSON)
//! /rask/<cluster-id>/checkpoints/<job>       latest completed checkpoints (JSON)
//! /rask/<cluster-id>/checkpoint-counter/<job> highest checkpoint id used
//! /rask/<cluster-id>/job-results/<job>       a job that reached a terminal state
//! ```

use std::sync::Arc;
use std::time::Duration;

use etcd_client::{Certificate, Client, ConnectOptions, EventType, GetOptions, Identity, SortOrder, SortTarget, TlsOptions, WatchOptions};
use tokio::sync::watch;

use crate::config::{options as o, ConfigError, Configuration};
use crate::leader::{LeaderAddress, LeaderRetrieval};

/// How long a single etcd request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// etcd's smallest lease TTL with its default election timeout.
pub const MIN_LEASE_TTL_SECS: u32 = 2;

#[derive(Debug, thiserror::Error)]
pub enum EtcdError {
    #[error("etcd at {endpoints}: {message}")]
    Client { endpoints: String, message: String },
    #[error("cannot read {what} {path}: {source}")]
    Tls { what: &'static str, path: String, source: std::io::Error },
}

/// How to reach etcd, and the cluster's key prefix.
#[derive(Clone)]
pub struct EtcdSettings {
    pub endpoints: Vec<String>,
    pub cluster_id: String,
    pub lease_ttl: Duration,
    pub user: Option<(String, String)>,
    pub ca_cert: Option<String>,
    pub client_cert: Option<(String, String)>,
}

/// The password never appears in a debug print (or a log line made from one).
impl std::fmt::Debug for EtcdSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdSettings")
            .field("endpoints", &self.endpoints)
            .field("cluster_id", &self.cluster_id)
            .field("lease_ttl", &self.lease_ttl)
            .field("user", &self.user.as_ref().map(|(u, _)| (u.as_str(), crate::config::REDACTED)))
            .field("ca_cert", &self.ca_cert)
            .field("client_cert", &self.client_cert.as_ref().map(|(cert, _)| (cert.as_str(), crate::config::REDACTED)))
            .finish()
    }
}

impl EtcdSettings {
    /// The etcd settings when `high-availability.type` is `etcd`, else `None`.
    pub fn from_configuration(conf: &Configuration) -> Result<Option<Self>, ConfigError> {
        if !conf.get_string(&o::HA_TYPE).unwrap_or_default().eq_ignore_ascii_case("etcd") {
            return Ok(None);
        }
        let invalid = |option: &crate::config::ConfigOption, reason: &str| ConfigError::InvalidValue {
            key: option.key.into(),
            value: conf.get_string(option).unwrap_or_default(),
            origin: conf.origin(option),
            reason: reason.into(),
        };
        let endpoints: Vec<String> = conf
            .get_string(&o::HA_ETCD_ENDPOINTS)
            .unwrap_or_default()
            .split(',')
            .map(|e| e.trim().to_string())
            .filter(|e| !e.is_empty())
            .collect();
        if endpoints.is_empty() {
            return Err(invalid(&o::HA_ETCD_ENDPOINTS, "needs at least one etcd URL"));
        }
        if let Some(bad) = endpoints.iter().find(|e| !(e.starts_with("http://") || e.starts_with("https://"))) {
            return Err(invalid(&o::HA_ETCD_ENDPOINTS, &format!("'{bad}' is not an http:// or https:// URL")));
        }
        let ttl = conf.get_positive_int(&o::HA_ETCD_LEASE_TTL)?;
        if ttl < MIN_LEASE_TTL_SECS {
            return Err(invalid(&o::HA_ETCD_LEASE_TTL, "etcd's smallest lease is 2 seconds"));
        }
        let cluster_id = conf.get_string(&o::CLUSTER_ID).unwrap_or_default();
        if cluster_id.contains('/') || cluster_id.is_empty() {
            return Err(invalid(&o::CLUSTER_ID, "must be a non-empty name without '/' (it names the cluster's etcd keys)"));
        }
        let user = match (conf.get_string(&o::HA_ETCD_USERNAME), conf.get_string(&o::HA_ETCD_PASSWORD)) {
            (Some(u), Some(p)) => Some((u, p)),
            (None, None) => None,
            (Some(_), None) => return Err(invalid(&o::HA_ETCD_USERNAME, "needs high-availability.etcd.password too")),
            (None, Some(_)) => return Err(invalid(&o::HA_ETCD_PASSWORD, "needs high-availability.etcd.username too")),
        };
        let client_cert = match (conf.get_string(&o::HA_ETCD_TLS_CERT), conf.get_string(&o::HA_ETCD_TLS_KEY)) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            (Some(_), None) => return Err(invalid(&o::HA_ETCD_TLS_CERT, "needs high-availability.etcd.tls.key too")),
            (None, Some(_)) => return Err(invalid(&o::HA_ETCD_TLS_KEY, "needs high-availability.etcd.tls.cert too")),
        };
        Ok(Some(Self {
            endpoints,
            cluster_id,
            lease_ttl: Duration::from_secs(u64::from(ttl)),
            user,
            ca_cert: conf.get_string(&o::HA_ETCD_TLS_CA),
            client_cert,
        }))
    }

    pub fn describe(&self) -> String {
        self.endpoints.join(",")
    }

    fn prefix(&self) -> String {
        format!("/rask/{}", self.cluster_id)
    }

    /// The election's name: candidates' keys live under it.
    pub fn leader_election(&self) -> String {
        format!("{}/leader", self.prefix())
    }

    pub fn job_graphs(&self) -> String {
        format!("{}/jobgraphs/", self.prefix())
    }

    pub fn checkpoints(&self) -> String {
        format!("{}/checkpoints/", self.prefix())
    }

    pub fn checkpoint_counters(&self) -> String {
        format!("{}/checkpoint-counter/", self.prefix())
    }

    pub fn job_results(&self) -> String {
        format!("{}/job-results/", self.prefix())
    }

    fn error(&self, e: impl std::fmt::Display) -> EtcdError {
        EtcdError::Client { endpoints: self.describe(), message: e.to_string() }
    }

    fn client_error(&self, e: etcd_client::Error) -> EtcdError {
        self.error(describe_error(&e))
    }

    /// A client (connections are made lazily and re-made after failures).
    pub async fn connect(&self) -> Result<Client, EtcdError> {
        let mut options = ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(2))
            // No per-request timeout: a campaign blocks until it wins and a watch lasts;
            // unary requests are bounded by their callers. HTTP/2 pings find dead peers;
            // etcd closes connections that ping more often than every 5 s.
            .with_keep_alive(Duration::from_secs(10), Duration::from_secs(3));
        if let Some((user, password)) = &self.user {
            options = options.with_user(user.clone(), password.clone());
        }
        if self.ca_cert.is_some() || self.client_cert.is_some() {
            let read = |what, path: &String| std::fs::read(path).map_err(|source| EtcdError::Tls { what, path: path.clone(), source });
            let mut tls = TlsOptions::new();
            if let Some(ca) = &self.ca_cert {
                tls = tls.ca_certificate(Certificate::from_pem(read("the etcd CA certificate", ca)?));
            }
            if let Some((cert, key)) = &self.client_cert {
                tls = tls.identity(Identity::from_pem(read("the etcd client certificate", cert)?, read("the etcd client key", key)?));
            }
            options = options.with_tls(tls);
        }
        match tokio::time::timeout(REQUEST_TIMEOUT, Client::connect(&self.endpoints, Some(options))).await {
            Ok(client) => client.map_err(|e| self.client_error(e)),
            Err(_) => Err(self.error(format!("no answer within {} s", REQUEST_TIMEOUT.as_secs()))),
        }
    }

    /// The current leader: the candidate with the lowest create revision (what etcd's
    /// election API reports), and the store revision the answer is from.
    pub async fn read_leader(&self, client: &mut Client) -> Result<(Option<LeaderAddress>, i64), EtcdError> {
        let options = GetOptions::new().with_prefix().with_sort(SortTarget::Create, SortOrder::Ascend).with_limit(1);
        let request = client.get(format!("{}/", self.leader_election()), Some(options));
        let response = tokio::time::timeout(REQUEST_TIMEOUT, request)
            .await
            .map_err(|_| self.error(format!("no answer within {} s", REQUEST_TIMEOUT.as_secs())))?
            .map_err(|e| self.client_error(e))?;
        let revision = response.header().map(|h| h.revision()).unwrap_or_default();
        let leader = match response.kvs().first() {
            None => None,
            Some(kv) => match serde_json::from_slice::<LeaderAddress>(kv.value()) {
                Ok(address) => Some(address),
                Err(e) => {
                    tracing::warn!("ignoring an unreadable leader record in etcd ({e})");
                    None
                }
            },
        };
        Ok((leader, revision))
    }
}

/// Finds the leader in etcd and follows every change with a watch, reconnecting with
/// back-off when etcd is unreachable (the last leader learned stays meanwhile).
pub struct EtcdLeaderRetrieval {
    settings: EtcdSettings,
    leader: watch::Sender<Option<LeaderAddress>>,
    task: tokio::task::JoinHandle<()>,
}

impl EtcdLeaderRetrieval {
    /// Starts following the leader (needs a tokio runtime).
    pub fn start(settings: EtcdSettings) -> Arc<Self> {
        let leader = watch::Sender::new(None);
        let task = tokio::spawn(follow(settings.clone(), leader.clone()));
        Arc::new(Self { settings, leader, task })
    }
}

impl Drop for EtcdLeaderRetrieval {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl LeaderRetrieval for EtcdLeaderRetrieval {
    fn subscribe(&self) -> watch::Receiver<Option<LeaderAddress>> {
        self.leader.subscribe()
    }

    fn describe(&self) -> String {
        format!("etcd at {} (cluster id '{}')", self.settings.describe(), self.settings.cluster_id)
    }
}

async fn follow(settings: EtcdSettings, leader: watch::Sender<Option<LeaderAddress>>) {
    let mut backoff = Duration::from_millis(50);
    let mut failures = 0u32;
    loop {
        match follow_once(&settings, &leader).await {
            Ok(()) => {
                backoff = Duration::from_millis(50);
                failures = 0;
            }
            Err(e) => {
                failures += 1;
                if failures == 1 || failures.is_multiple_of(20) {
                    tracing::warn!("leader discovery: {e}; retrying");
                }
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

/// Reads the leader, then re-reads it after every change under the election prefix,
/// until the watch breaks.
async fn follow_once(settings: &EtcdSettings, leader: &watch::Sender<Option<LeaderAddress>>) -> Result<(), EtcdError> {
    let mut client = settings.connect().await?;
    let (current, revision) = settings.read_leader(&mut client).await?;
    publish(leader, current);
    let options = WatchOptions::new().with_prefix().with_start_revision(revision + 1);
    let mut stream = client.watch(format!("{}/", settings.leader_election()), Some(options)).await.map_err(|e| settings.client_error(e))?;
    loop {
        let Some(response) = stream.message().await.map_err(|e| settings.client_error(e))? else {
            return Ok(());
        };
        if response.canceled() {
            return Ok(());
        }
        if response.events().iter().any(|e| matches!(e.event_type(), EventType::Put | EventType::Delete)) {
            let (current, _) = settings.read_leader(&mut client).await?;
            publish(leader, current);
        }
    }
}

fn publish(leader: &watch::Sender<Option<LeaderAddress>>, current: Option<LeaderAddress>) {
    leader.send_if_modified(|known| {
        if *known == current {
            return false;
        }
        match &current {
            Some(l) => tracing::info!("the JobManager leader is at {} (REST {})", l.rpc_address, l.rest_url),
            None => tracing::info!("no JobManager leads right now"),
        }
        *known = current;
        true
    });
}

/// An etcd client error in one short line: a gRPC status as its code and message
/// ("Unavailable: tcp connect error: Connection refused"), not the whole status dump.
pub fn describe_error(e: &etcd_client::Error) -> String {
    let (mut message, mut source) = match e {
        etcd_client::Error::GRpcStatus(status) => (format!("{:?}: {}", status.code(), status.message()), std::error::Error::source(status)),
        etcd_client::Error::TransportError(t) => (t.to_string(), std::error::Error::source(t)),
        other => return other.to_string(),
    };
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message = format!("{message}: {text}");
        }
        source = cause.source();
    }
    message
}
