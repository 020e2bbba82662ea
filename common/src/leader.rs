//! Leader discovery: how TaskManagers and the CLI find the JobManager that currently
//! leads. Without HA the address is static; with etcd HA it comes from etcd.

use std::future::Future;
use std::pin::Pin;

/// Where the leading JobManager can be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderAddress {
    /// host:port of the ResourceManager gRPC endpoint (jobmanager.rpc.*).
    pub rpc_address: String,
    /// http://host:port of the REST endpoint (rest.*).
    pub rest_url: String,
}

/// Discovery of the current leader.
pub trait LeaderRetrieval: Send + Sync + 'static {
    /// Resolves the current leader's address, waiting until one is known.
    ///
    /// Contract: returns the most recent leader known to the implementation; a caller
    /// that finds the address stale (connection refused, "not the leader") calls again
    /// and gets the newer one once the implementation has learnt it. It never fails
    /// for the static implementation; HA implementations may fail when their backing
    /// store cannot be reached. Idempotent and cheap to call repeatedly.
    fn leader(&self) -> Pin<Box<dyn Future<Output = Result<LeaderAddress, LeaderRetrievalError>> + Send + '_>>;
}

#[derive(Debug, thiserror::Error)]
pub enum LeaderRetrievalError {
    #[error("cannot reach the leader discovery service: {0}")]
    Unavailable(String),
}

/// `high-availability.type: none`: the JobManager address from configuration.
#[derive(Debug, Clone)]
pub struct StaticLeaderRetrieval {
    address: LeaderAddress,
}

impl StaticLeaderRetrieval {
    pub fn new(address: LeaderAddress) -> Self {
        Self { address }
    }
}

impl LeaderRetrieval for StaticLeaderRetrieval {
    fn leader(&self) -> Pin<Box<dyn Future<Output = Result<LeaderAddress, LeaderRetrievalError>> + Send + '_>> {
        let address = self.address.clone();
        Box::pin(async move { Ok(address) })
    }
}
