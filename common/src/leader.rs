//! Leader discovery: how TaskManagers, standby JobManagers and the CLI find the
//! JobManager that currently leads. Without HA the address is static; with etcd HA it
//! comes from etcd and follows every leader change (`crate::etcd`).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// Where the leading JobManager can be reached.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeaderAddress {
    /// host:port of the ResourceManager gRPC endpoint (jobmanager.rpc.*).
    pub rpc_address: String,
    /// http://host:port of the REST endpoint (rest.*).
    pub rest_url: String,
    /// The leader token of this term, as the leader published it in etcd: a
    /// TaskManager registers only with a JobManager that presents it. Empty without HA.
    #[serde(default)]
    pub session: String,
}

/// The leader's token (`session`) never appears in a debug print.
impl std::fmt::Debug for LeaderAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaderAddress").field("rpc_address", &self.rpc_address).field("rest_url", &self.rest_url).finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LeaderRetrievalError {
    #[error("cannot reach the leader discovery service: {0}")]
    Unavailable(String),
    #[error("no JobManager leader is known after {0:?} ({1})")]
    NoLeader(Duration, String),
}

/// Discovery of the current leader.
pub trait LeaderRetrieval: Send + Sync + 'static {
    /// The leader as last learned (`None`: no leader right now, or not learned yet);
    /// the receiver sees every later change.
    fn subscribe(&self) -> watch::Receiver<Option<LeaderAddress>>;

    /// Where leaders are looked up, for messages.
    fn describe(&self) -> String;
}

/// Waits until a leader is known, at most `timeout`.
pub async fn current_leader(retrieval: &dyn LeaderRetrieval, timeout: Duration) -> Result<LeaderAddress, LeaderRetrievalError> {
    let mut rx = retrieval.subscribe();
    let found = tokio::time::timeout(timeout, rx.wait_for(Option::is_some)).await;
    match found {
        Ok(Ok(leader)) => Ok(leader.clone().expect("waited for Some")),
        Ok(Err(_)) => Err(LeaderRetrievalError::Unavailable(retrieval.describe())),
        Err(_) => Err(LeaderRetrievalError::NoLeader(timeout, retrieval.describe())),
    }
}

/// `high-availability.type: none`: the JobManager address from configuration.
#[derive(Debug)]
pub struct StaticLeaderRetrieval {
    address: watch::Sender<Option<LeaderAddress>>,
}

impl StaticLeaderRetrieval {
    pub fn new(address: LeaderAddress) -> Self {
        Self { address: watch::Sender::new(Some(address)) }
    }
}

impl LeaderRetrieval for StaticLeaderRetrieval {
    fn subscribe(&self) -> watch::Receiver<Option<LeaderAddress>> {
        self.address.subscribe()
    }

    fn describe(&self) -> String {
        let leader = self.address.borrow();
        format!("the configured JobManager {}", leader.as_ref().map(|l| l.rpc_address.as_str()).unwrap_or("?"))
    }
}
