//! High-availability services of the JobManager: leader election, and the store of
//! what a new leader needs to carry on every job (Flink's JobGraphStore,
//! CompletedCheckpointStore, CheckpointIDCounter and JobResultStore in one).
//! `none` (standalone) leads at once and keeps nothing; `etcd` is in `etcd.rs`;
//! `memory.rs` keeps everything in the process (unit tests); `conformance.rs` is the
//! suite every backend passes.

pub mod conformance;
pub mod etcd;
pub mod memory;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use rask_common::job::graph::JobGraph;
use serde::{Deserialize, Serialize};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

#[derive(Debug, thiserror::Error)]
pub enum HaError {
    #[error("high-availability backend unavailable: {0}")]
    Unavailable(String),
    #[error("this JobManager is no longer the leader; the write was refused")]
    NotLeader,
    #[error("job {0} has already ended under an earlier leader")]
    JobEnded(String),
    #[error("corrupt high-availability record {key}: {message}")]
    Corrupt { key: String, message: String },
}

/// One leadership term.
pub struct Leadership {
    /// Fences every command the leader sends to TaskManagers (32 hex chars).
    pub token: String,
    /// Grows with every term (etcd: the leader key's create revision; 0 without HA).
    pub term: u64,
    /// Writes through this store succeed only while this term lasts.
    pub store: Arc<dyn JobStore>,
}

/// Leader election among JobManagers.
pub trait LeaderElection: Send + Sync + 'static {
    /// Waits until this JobManager is the leader. Fails only when the backend cannot
    /// be reached; the caller retries. A call after `lost` resolved campaigns anew.
    fn campaign(&self) -> BoxFuture<'_, Result<Leadership, HaError>>;

    /// Resolves when the leadership granted by the last `campaign` is lost (the lease
    /// could not be renewed in time). The leader must stop acting as leader at once.
    /// Never resolves for the standalone implementation.
    fn lost(&self) -> BoxFuture<'_, ()>;

    /// Gives up leadership at once so a standby takes over without waiting for the
    /// lease to expire (clean shutdown). Idempotent.
    fn resign(&self) -> BoxFuture<'_, Result<(), HaError>>;
}

/// The completed checkpoints of a job a new leader restores from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckpointPointer {
    /// state.checkpoints.dir the checkpoints are in.
    pub dir: String,
    /// Ids of the retained completed checkpoints, oldest first; the last is the latest.
    pub retained: Vec<u64>,
}

/// A job that reached a globally terminal state: never run again by a new leader.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobResult {
    pub job_id: String,
    pub name: String,
    pub status: String,
    pub end_time: i64,
}

/// A job a new leader takes over.
#[derive(Debug, Clone)]
pub struct RecoveredJob {
    pub graph: JobGraph,
    /// The highest checkpoint id any earlier leader used (0: none).
    pub checkpoint_counter: u64,
    pub checkpoints: Option<CheckpointPointer>,
}

/// What survives the leader. Writes are fenced by the leadership term that made the
/// store: after the term ends they fail with `NotLeader`.
pub trait JobStore: Send + Sync + 'static {
    /// Records a submitted job before it runs.
    fn put_job_graph<'a>(&'a self, graph: &'a JobGraph) -> BoxFuture<'a, Result<(), HaError>>;
    /// Every job submitted and not terminated, with its checkpoint state.
    fn recover_jobs(&self) -> BoxFuture<'_, Result<Vec<RecoveredJob>, HaError>>;
    /// Jobs that reached a terminal state.
    fn job_results(&self) -> BoxFuture<'_, Result<Vec<JobResult>, HaError>>;
    /// Records that checkpoint ids up to `id` are taken, before checkpoint `id` starts.
    fn checkpoint_id_used<'a>(&'a self, job_id: &'a str, id: u64) -> BoxFuture<'a, Result<(), HaError>>;
    /// Records the completed checkpoints to restore from; a checkpoint counts as
    /// completed only once this succeeded.
    fn put_checkpoints<'a>(&'a self, job_id: &'a str, pointer: &'a CheckpointPointer) -> BoxFuture<'a, Result<(), HaError>>;
    /// Records a terminal job and removes its JobGraph, checkpoint pointer and counter.
    fn job_terminated<'a>(&'a self, result: &'a JobResult) -> BoxFuture<'a, Result<(), HaError>>;
}

/// `high-availability.type: none`: the only JobManager is the leader, with a token
/// fresh for each process start, so TaskManagers tell a restarted JobManager apart.
#[derive(Debug, Default)]
pub struct StandaloneLeaderElection;

impl LeaderElection for StandaloneLeaderElection {
    fn campaign(&self) -> BoxFuture<'_, Result<Leadership, HaError>> {
        Box::pin(async {
            Ok(Leadership { token: rask_common::ids::random_hex_id(), term: 0, store: Arc::new(StandaloneJobStore) as Arc<dyn JobStore> })
        })
    }

    fn lost(&self) -> BoxFuture<'_, ()> {
        Box::pin(std::future::pending())
    }

    fn resign(&self) -> BoxFuture<'_, Result<(), HaError>> {
        Box::pin(async { Ok(()) })
    }
}

/// Without HA nothing outlives the JobManager.
#[derive(Debug, Default)]
pub struct StandaloneJobStore;

impl JobStore for StandaloneJobStore {
    fn put_job_graph<'a>(&'a self, _: &'a JobGraph) -> BoxFuture<'a, Result<(), HaError>> {
        Box::pin(async { Ok(()) })
    }

    fn recover_jobs(&self) -> BoxFuture<'_, Result<Vec<RecoveredJob>, HaError>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    fn job_results(&self) -> BoxFuture<'_, Result<Vec<JobResult>, HaError>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    fn checkpoint_id_used<'a>(&'a self, _: &'a str, _: u64) -> BoxFuture<'a, Result<(), HaError>> {
        Box::pin(async { Ok(()) })
    }

    fn put_checkpoints<'a>(&'a self, _: &'a str, _: &'a CheckpointPointer) -> BoxFuture<'a, Result<(), HaError>> {
        Box::pin(async { Ok(()) })
    }

    fn job_terminated<'a>(&'a self, _: &'a JobResult) -> BoxFuture<'a, Result<(), HaError>> {
        Box::pin(async { Ok(()) })
    }
}
