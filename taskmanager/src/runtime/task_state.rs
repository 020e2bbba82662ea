//! A task's state I/O: the job's checkpoint storage (opened on first use), writing a
//! checkpoint's state and acknowledging it, and reading state back on restore.

use rask_common::checkpoint::{encode_task_state, CheckpointStorage};
use rask_common::proto::{CheckpointAck, CheckpointDecline, TaskDeploymentDescriptor};

use super::task::TaskServices;
use super::TaskError;

/// The job's checkpoint storage, opened when first used. Opening does no I/O (a local
/// directory is made by the first write): a job that never checkpoints leaves no
/// directory on this TaskManager.
pub(super) struct LazyStorage {
    dir: String,
    opened: std::sync::OnceLock<CheckpointStorage>,
}

impl LazyStorage {
    pub(super) fn new(dir: &str) -> Self {
        Self { dir: dir.to_string(), opened: std::sync::OnceLock::new() }
    }

    /// The storage; `None` when the job has no checkpoint directory.
    pub(super) fn get(&self) -> Result<Option<&CheckpointStorage>, String> {
        if self.dir.is_empty() {
            return Ok(None);
        }
        if let Some(storage) = self.opened.get() {
            return Ok(Some(storage));
        }
        let storage = CheckpointStorage::open(&self.dir).map_err(|e| e.to_string())?;
        Ok(Some(self.opened.get_or_init(|| storage)))
    }
}

/// Writes this task's state for checkpoint `id` and acknowledges it (or declines).
pub(super) async fn checkpoint(
    services: &TaskServices,
    tdd: &TaskDeploymentDescriptor,
    storage: &LazyStorage,
    id: u64,
    states: Result<Vec<(String, Vec<u8>)>, TaskError>,
) {
    let uids: Vec<String> = states.as_ref().map(|s| s.iter().map(|(u, _)| u.clone()).collect()).unwrap_or_default();
    let result = async {
        let storage = storage.get()?.ok_or_else(|| "this job has no state.checkpoints.dir".to_string())?;
        let states = states.map_err(|e| e.to_string())?;
        let path = format!("{}/{}-{}", storage.checkpoint_path(&tdd.job_id, id), tdd.vertex_id, tdd.subtask_index);
        let size = storage.put(&path, encode_task_state(&states)).await.map_err(|e| e.to_string())?;
        Ok::<_, String>((path, size))
    }
    .await;
    let Ok(mut client) = services.jobmaster(&tdd.jobmaster_address) else { return };
    let sent = match result {
        Ok((state_path, state_size)) => client
            .acknowledge_checkpoint(CheckpointAck {
                job_id: tdd.job_id.clone(),
                vertex_id: tdd.vertex_id.clone(),
                subtask_index: tdd.subtask_index,
                checkpoint_id: id,
                state_path,
                state_size,
                operator_uids: uids,
                execution_attempt_id: tdd.execution_attempt_id.clone(),
            })
            .await
            .map(drop),
        Err(reason) => {
            tracing::warn!("declining checkpoint {id}: {reason}");
            client
                .decline_checkpoint(CheckpointDecline {
                    job_id: tdd.job_id.clone(),
                    vertex_id: tdd.vertex_id.clone(),
                    subtask_index: tdd.subtask_index,
                    checkpoint_id: id,
                    reason,
                    execution_attempt_id: tdd.execution_attempt_id.clone(),
                })
                .await
                .map(drop)
        }
    };
    if let Err(e) = sent {
        tracing::debug!("could not report checkpoint {id}: {}", e.message());
    }
}

/// Reads a state file: an absolute path or a URL points into a savepoint (and must lie
/// inside rask.io.allowed-paths), a relative one into the checkpoint storage (and may
/// not climb out of it). A savepoint's file larger than the slot's memory could never
/// be restored and is refused before it is read. Both go through the checkpoint storage.
pub(super) async fn read_state(
    path: &str,
    storage: &LazyStorage,
    allowed: &rask_common::security::AllowedPaths,
    max_bytes: u64,
) -> Result<bytes::Bytes, TaskError> {
    let refuse = |m: String| TaskError::Deployment(format!("state file {path}: {m}"));
    let url = path.split_once("://").is_some_and(|(scheme, _)| !scheme.is_empty() && !scheme.contains('/'));
    if path.starts_with('/') || url {
        match url {
            true => allowed.check("a savepoint's state file", path),
            false => allowed.check_file("a savepoint's state file", path),
        }
        .map_err(|e| TaskError::Deployment(e.to_string()))?;
        rask_common::checkpoint::read_savepoint_file(path, max_bytes).await.map_err(|e| match e {
            rask_common::checkpoint::CheckpointError::TooLarge { .. } => {
                refuse(format!("not a file, or larger than the slot's {max_bytes} bytes of memory"))
            }
            e => refuse(e.to_string()),
        })
    } else {
        if path.split('/').any(|segment| segment == ".." || segment == ".") {
            return Err(refuse("a checkpoint's state file may not leave the checkpoint directory".into()));
        }
        let storage = storage
            .get()
            .map_err(TaskError::Deployment)?
            .ok_or_else(|| TaskError::Deployment("a restore needs state.checkpoints.dir".into()))?;
        storage.get(path).await.map_err(|e| TaskError::Deployment(e.to_string()))
    }
}
