//! High-availability services: leader election for the JobManager. `none` (standalone)
//! grants leadership at once; etcd is the planned second implementation.

use std::future::Future;
use std::pin::Pin;

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A leader session token: fences every command the leader sends (32 hex chars).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderToken(pub String);

#[derive(Debug, thiserror::Error)]
pub enum HaError {
    #[error("high-availability backend unavailable: {0}")]
    Unavailable(String),
}

/// Leader election among JobManagers.
pub trait LeaderElection: Send + Sync + 'static {
    /// Waits until this JobManager is the leader and returns a fresh token for this
    /// leadership term. Fails only when the backend cannot be reached; the caller
    /// retries. A second call after `lost` resolved starts a new campaign.
    fn campaign(&self) -> BoxFuture<'_, Result<LeaderToken, HaError>>;

    /// Resolves when the leadership granted by the last `campaign` is lost (lease not
    /// renewed, revoked). The leader must stop acting as leader at once. Never
    /// resolves for the standalone implementation.
    fn lost(&self) -> BoxFuture<'_, ()>;

    /// Gives up leadership at once so a standby can take over without waiting for a
    /// lease to expire (clean shutdown). Idempotent.
    fn resign(&self) -> BoxFuture<'_, Result<(), HaError>>;
}

/// `high-availability.type: none`: the only JobManager is the leader, with a token
/// fresh for each process start, so TaskManagers tell a restarted JobManager apart.
#[derive(Debug, Default)]
pub struct StandaloneLeaderElection;

impl LeaderElection for StandaloneLeaderElection {
    fn campaign(&self) -> BoxFuture<'_, Result<LeaderToken, HaError>> {
        Box::pin(async { Ok(LeaderToken(rask_common::ids::random_hex_id())) })
    }

    fn lost(&self) -> BoxFuture<'_, ()> {
        Box::pin(std::future::pending())
    }

    fn resign(&self) -> BoxFuture<'_, Result<(), HaError>> {
        Box::pin(async { Ok(()) })
    }
}
