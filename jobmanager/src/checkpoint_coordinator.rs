//! The CheckpointCoordinator of one job: triggers checkpoints at the sources every
//! `execution.checkpointing.interval`, collects every task's acknowledgement, writes
//! the checkpoint's `_metadata` when all are in (the checkpoint then exists), keeps
//! `state.checkpoints.num-retained` of them, and aborts (and deletes) checkpoints that
//! are declined or time out.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rask_common::checkpoint::{decode_task_state, CheckpointMetadata, CheckpointStorage, TaskStateHandle, METADATA_VERSION};
use rask_common::clock::now_ms;
use rask_common::proto::CheckpointAck;

use crate::ha::{CheckpointPointer, JobStore};

/// Checkpointing of a JobManager's jobs.
#[derive(Clone, Debug)]
pub struct CheckpointSettings {
    /// None: no periodic checkpoints, only savepoints.
    pub interval: Option<Duration>,
    pub timeout: Duration,
    pub min_pause: Duration,
    pub retained: usize,
    pub storage: CheckpointStorage,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointStatus {
    InProgress,
    Completed,
    Failed,
}

impl CheckpointStatus {
    pub fn name(self) -> &'static str {
        match self {
            CheckpointStatus::InProgress => "IN_PROGRESS",
            CheckpointStatus::Completed => "COMPLETED",
            CheckpointStatus::Failed => "FAILED",
        }
    }
}

/// One checkpoint as `/jobs/:id/checkpoints` shows it.
#[derive(Debug, Clone)]
pub struct CheckpointRecord {
    pub id: u64,
    pub status: CheckpointStatus,
    pub trigger_timestamp: i64,
    pub latest_ack_timestamp: i64,
    pub state_size: u64,
    pub num_subtasks: usize,
    pub num_acknowledged: usize,
    pub external_path: String,
    pub failure_message: Option<String>,
}

impl CheckpointRecord {
    pub fn duration_ms(&self) -> i64 {
        (self.latest_ack_timestamp - self.trigger_timestamp).max(0)
    }
}

/// What the REST API reads.
#[derive(Debug, Clone, Default)]
pub struct CheckpointStats {
    pub completed: u64,
    pub failed: u64,
    pub in_progress: u64,
    /// Restores from checkpoints, and the id and time of the latest.
    pub restored: u64,
    pub latest_restored: Option<(u64, i64)>,
    pub history: VecDeque<CheckpointRecord>,
    pub latest_completed: Option<CheckpointRecord>,
    pub latest_failed: Option<CheckpointRecord>,
    pub durations_ms: Vec<i64>,
    pub sizes: Vec<u64>,
}

const HISTORY: usize = 10;

impl CheckpointStats {
    fn upsert(&mut self, record: CheckpointRecord) {
        match self.history.iter_mut().find(|r| r.id == record.id) {
            Some(r) => *r = record,
            None => {
                self.history.push_front(record);
                self.history.truncate(HISTORY);
            }
        }
    }
}

/// A savepoint being taken: where it goes and the operation that waits for it.
#[derive(Debug, Clone)]
pub struct SavepointRequest {
    pub trigger_id: String,
    pub target_dir: String,
}

/// The state of an asynchronous savepoint operation (REST `.../savepoints/:triggerid`).
#[derive(Debug, Clone, PartialEq)]
pub enum SavepointOperation {
    InProgress,
    Completed { location: String },
    Failed { cause: String },
}

pub type SavepointOperations = std::sync::Arc<parking_lot::Mutex<HashMap<String, SavepointOperation>>>;

struct Pending {
    savepoint: Option<SavepointRequest>,
    record: CheckpointRecord,
    started: Instant,
    acks: HashMap<(String, u32), TaskStateHandle>,
}

pub struct CheckpointCoordinator {
    settings: CheckpointSettings,
    job_id: String,
    tasks: usize,
    next_id: u64,
    pending: Option<Pending>,
    /// Completed checkpoints kept on storage, oldest first.
    retained: VecDeque<CheckpointMetadata>,
    /// A checkpoint completed (here or under an earlier leader): from now on the job
    /// never starts from empty state.
    completed_any: bool,
    last_end: Instant,
    operations: SavepointOperations,
    /// Where checkpoint ids and completed checkpoints are recorded for the next leader.
    store: Arc<dyn JobStore>,
}

impl CheckpointCoordinator {
    pub fn new(
        settings: CheckpointSettings,
        job_id: String,
        tasks: usize,
        operations: SavepointOperations,
        store: Arc<dyn JobStore>,
    ) -> Self {
        let last_end = Instant::now();
        Self {
            settings,
            job_id,
            tasks,
            next_id: 1,
            pending: None,
            retained: VecDeque::new(),
            completed_any: false,
            last_end,
            operations,
            store,
        }
    }

    /// Takes over from an earlier leader: ids continue after the highest it used, and
    /// its retained checkpoints (their `_metadata`, read back) are the restore points.
    /// Fails when the checkpoints the HA store names cannot be read: starting over
    /// instead would repeat the job's output.
    pub async fn recover(&mut self, counter: u64, pointer: Option<CheckpointPointer>) -> Result<(), String> {
        self.next_id = self.next_id.max(counter + 1);
        let Some(pointer) = pointer.filter(|p| !p.retained.is_empty()) else { return Ok(()) };
        if pointer.dir != self.settings.storage.dir() {
            return Err(format!(
                "its checkpoints are in {}, but this JobManager's state.checkpoints.dir is {} (every JobManager needs the same, shared directory)",
                pointer.dir,
                self.settings.storage.dir()
            ));
        }
        let mut problems = Vec::new();
        for id in pointer.retained {
            self.next_id = self.next_id.max(id + 1);
            let path = format!("{}/_metadata", self.settings.storage.checkpoint_path(&self.job_id, id));
            let metadata = match self.settings.storage.get(&path).await {
                Ok(bytes) => serde_json::from_slice::<CheckpointMetadata>(&bytes).map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match metadata {
                Ok(m) => {
                    self.retained.push_back(m);
                    self.completed_any = true;
                }
                Err(e) => {
                    tracing::warn!("job {}: checkpoint {id} recorded in the HA store cannot be read ({e}); skipped", self.job_id);
                    problems.push(format!("checkpoint {id}: {e}"));
                }
            }
        }
        match self.retained.back() {
            Some(latest) => {
                tracing::info!("job {}: recovered checkpoint {} from the HA store", self.job_id, latest.checkpoint_id);
                Ok(())
            }
            None => Err(format!("none of its checkpoints can be read ({})", problems.join("; "))),
        }
    }

    /// Records checkpoint id `id` as taken before its trigger goes out, so no later
    /// leader reuses it.
    pub async fn reserve_id(&self, id: u64) -> Result<(), String> {
        self.store.checkpoint_id_used(&self.job_id, id).await.map_err(|e| format!("checkpoint id not recorded: {e}"))
    }

    pub fn storage(&self) -> &CheckpointStorage {
        &self.settings.storage
    }

    /// When the next checkpoint should start; the pending one's deadline if one runs.
    pub fn next_deadline(&self) -> Instant {
        match &self.pending {
            Some(p) => p.started + self.settings.timeout,
            None => match self.settings.interval {
                Some(interval) => self.last_end + interval.max(self.settings.min_pause),
                None => self.last_end + Duration::from_secs(86_400 * 365),
            },
        }
    }

    pub fn has_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Starts the next checkpoint; returns its id and trigger timestamp.
    pub fn start(&mut self, stats: &mut CheckpointStats) -> (u64, i64) {
        let id = self.next_id;
        self.next_id += 1;
        let record = CheckpointRecord {
            id,
            status: CheckpointStatus::InProgress,
            trigger_timestamp: now_ms(),
            latest_ack_timestamp: now_ms(),
            state_size: 0,
            num_subtasks: self.tasks,
            num_acknowledged: 0,
            external_path: self.settings.storage.location(&self.settings.storage.checkpoint_path(&self.job_id, id)),
            failure_message: None,
        };
        stats.in_progress += 1;
        stats.upsert(record.clone());
        let ts = record.trigger_timestamp;
        self.pending = Some(Pending { savepoint: None, record, started: Instant::now(), acks: HashMap::new() });
        (id, ts)
    }

    /// Starts a savepoint (a checkpoint that goes to `request.target_dir`).
    pub fn start_savepoint(&mut self, request: SavepointRequest, stats: &mut CheckpointStats) -> (u64, i64) {
        let (id, ts) = self.start(stats);
        if let Some(p) = self.pending.as_mut() {
            p.savepoint = Some(request);
        }
        (id, ts)
    }

    /// Records an acknowledgement; completes the checkpoint when it is the last.
    pub async fn acknowledge(&mut self, ack: CheckpointAck, stats: &mut CheckpointStats) {
        let Some(p) = self.pending.as_mut().filter(|p| p.record.id == ack.checkpoint_id) else { return };
        p.acks.insert(
            (ack.vertex_id.clone(), ack.subtask_index),
            TaskStateHandle {
                vertex_id: ack.vertex_id,
                subtask: ack.subtask_index,
                path: ack.state_path,
                size: ack.state_size,
                operators: ack.operator_uids,
            },
        );
        p.record.num_acknowledged = p.acks.len();
        p.record.latest_ack_timestamp = now_ms();
        p.record.state_size = p.acks.values().map(|h| h.size).sum();
        stats.upsert(p.record.clone());
        if p.acks.len() < self.tasks {
            return;
        }
        let p = self.pending.take().expect("checked");
        if let Some(request) = p.savepoint.clone() {
            let result = self.write_savepoint(&request, p.record.id, p.record.trigger_timestamp, p.acks.into_values().collect()).await;
            let _ = self.settings.storage.discard(&self.job_id, p.record.id).await;
            stats.in_progress = stats.in_progress.saturating_sub(1);
            let mut record = p.record;
            match result {
                Ok(location) => {
                    tracing::info!("Savepoint {} of job {} written to {location}.", record.id, self.job_id);
                    record.status = CheckpointStatus::Completed;
                    record.external_path = location.clone();
                    stats.completed += 1;
                    self.operations.lock().insert(request.trigger_id, SavepointOperation::Completed { location });
                }
                Err(cause) => {
                    record.status = CheckpointStatus::Failed;
                    record.failure_message = Some(cause.clone());
                    stats.failed += 1;
                    self.operations.lock().insert(request.trigger_id, SavepointOperation::Failed { cause });
                }
            }
            stats.upsert(record);
            self.last_end = Instant::now();
            return;
        }
        let mut tasks: Vec<TaskStateHandle> = p.acks.into_values().collect();
        tasks.sort_by(|a, b| (&a.vertex_id, a.subtask).cmp(&(&b.vertex_id, b.subtask)));
        let metadata = CheckpointMetadata {
            version: METADATA_VERSION,
            job_id: self.job_id.clone(),
            checkpoint_id: p.record.id,
            trigger_timestamp: p.record.trigger_timestamp,
            complete_timestamp: now_ms(),
            tasks,
        };
        let path = format!("{}/_metadata", self.settings.storage.checkpoint_path(&self.job_id, p.record.id));
        let json = serde_json::to_vec_pretty(&metadata).expect("metadata serializes");
        let mut record = p.record;
        stats.in_progress = stats.in_progress.saturating_sub(1);
        // Err(message, whether the files must go): a checkpoint whose HA record may
        // have been written (no answer from etcd) keeps its files.
        let mut written = self.settings.storage.put(&path, json).await.map(|_| ()).map_err(|e| (e.to_string(), true));
        if written.is_ok() {
            // The checkpoint exists for a next leader only once the HA store says so.
            let mut ids: Vec<u64> = self.retained.iter().map(|m| m.checkpoint_id).collect();
            ids.push(metadata.checkpoint_id);
            let keep = ids.len().saturating_sub(self.settings.retained);
            let pointer = CheckpointPointer { dir: self.settings.storage.dir().to_string(), retained: ids.split_off(keep) };
            written = self
                .store
                .put_checkpoints(&self.job_id, &pointer)
                .await
                .map_err(|e| (e.to_string(), matches!(e, crate::ha::HaError::NotLeader)));
        }
        match written {
            Ok(()) => {
                record.status = CheckpointStatus::Completed;
                stats.completed += 1;
                stats.durations_ms.push(record.duration_ms());
                stats.sizes.push(record.state_size);
                stats.latest_completed = Some(record.clone());
                stats.upsert(record.clone());
                tracing::info!(
                    "Completed checkpoint {} for job {} ({} bytes, {} ms).",
                    record.id,
                    self.job_id,
                    record.state_size,
                    record.duration_ms()
                );
                self.retained.push_back(metadata.clone());
                self.completed_any = true;
                while self.retained.len() > self.settings.retained {
                    let old = self.retained.pop_front().expect("non-empty").checkpoint_id;
                    if let Err(e) = self.settings.storage.discard(&self.job_id, old).await {
                        tracing::warn!("could not delete checkpoint {old}: {e}");
                    }
                }
            }
            Err((e, discard)) => {
                tracing::warn!("Checkpoint {} of job {} failed: {e}", record.id, self.job_id);
                record.status = CheckpointStatus::Failed;
                record.failure_message = Some(e);
                stats.failed += 1;
                stats.latest_failed = Some(record.clone());
                stats.upsert(record);
                if discard {
                    let _ = self.settings.storage.discard(&self.job_id, metadata.checkpoint_id).await;
                }
            }
        }
        self.last_end = Instant::now();
    }

    /// Copies a completed savepoint's task state into its own directory under the
    /// target and writes its `_metadata` last; returns the location (`file:<dir>`, or
    /// the URL of another store).
    async fn write_savepoint(
        &self,
        request: &SavepointRequest,
        id: u64,
        trigger_timestamp: i64,
        mut tasks: Vec<TaskStateHandle>,
    ) -> Result<String, String> {
        let target = CheckpointStorage::open(&request.target_dir).map_err(|e| e.to_string())?;
        let name = format!("savepoint-{}-{}", &self.job_id[..6], &rask_common::ids::random_hex_id()[..12]);
        tasks.sort_by(|a, b| (&a.vertex_id, a.subtask).cmp(&(&b.vertex_id, b.subtask)));
        for task in tasks.iter_mut() {
            let bytes = self.settings.storage.get(&task.path).await.map_err(|e| e.to_string())?;
            let file = format!("{}-{}", task.vertex_id, task.subtask);
            target.put(&format!("{name}/{file}"), bytes).await.map_err(|e| e.to_string())?;
            task.path = file;
        }
        let metadata = CheckpointMetadata {
            version: METADATA_VERSION,
            job_id: self.job_id.clone(),
            checkpoint_id: id,
            trigger_timestamp,
            complete_timestamp: now_ms(),
            tasks,
        };
        target
            .put(&format!("{name}/_metadata"), serde_json::to_vec_pretty(&metadata).expect("serializes"))
            .await
            .map_err(|e| e.to_string())?;
        Ok(target.location(&name))
    }

    /// Aborts the pending checkpoint (declined, timed out, job ending) and deletes
    /// what it wrote.
    pub async fn abort(&mut self, reason: &str, stats: &mut CheckpointStats) {
        let Some(p) = self.pending.take() else { return };
        if let Some(request) = &p.savepoint {
            self.operations.lock().insert(request.trigger_id.clone(), SavepointOperation::Failed { cause: reason.to_string() });
        }
        let mut record = p.record;
        tracing::warn!("Checkpoint {} of job {} aborted: {reason}", record.id, self.job_id);
        record.status = CheckpointStatus::Failed;
        record.failure_message = Some(reason.to_string());
        stats.in_progress = stats.in_progress.saturating_sub(1);
        stats.failed += 1;
        stats.latest_failed = Some(record.clone());
        stats.upsert(record.clone());
        if let Err(e) = self.settings.storage.discard(&self.job_id, record.id).await {
            tracing::warn!("could not delete aborted checkpoint {}: {e}", record.id);
        }
        self.last_end = Instant::now();
    }

    /// Skips this interval (not every task is running): try again after it.
    pub fn skip(&mut self) {
        self.last_end = Instant::now();
    }

    /// The latest completed checkpoint.
    pub fn latest_completed(&self) -> Option<&CheckpointMetadata> {
        self.retained.back()
    }

    /// The newest retained checkpoint whose files are all present and readable, to
    /// restore from; a missing or corrupt one is skipped (and dropped) with a warning.
    /// `Ok(None)` when no checkpoint ever completed; an error when some did but none
    /// is readable any more: starting from empty state would silently lose it.
    pub async fn restore_point(&mut self) -> Result<Option<CheckpointMetadata>, String> {
        let mut problems = Vec::new();
        while let Some(candidate) = self.retained.back().cloned() {
            match self.verify(&candidate).await {
                Ok(()) => return Ok(Some(candidate)),
                Err(problem) => {
                    tracing::warn!(
                        "Checkpoint {} of job {} cannot be restored ({problem}); falling back to the one before.",
                        candidate.checkpoint_id,
                        self.job_id
                    );
                    problems.push(format!("checkpoint {}: {problem}", candidate.checkpoint_id));
                    self.retained.pop_back();
                }
            }
        }
        if self.completed_any {
            let detail = if problems.is_empty() { "they were lost".to_string() } else { problems.join("; ") };
            return Err(format!(
                "no completed checkpoint of job {} can be restored ({detail}); refusing to start from empty state",
                self.job_id
            ));
        }
        Ok(None)
    }

    async fn verify(&self, metadata: &CheckpointMetadata) -> Result<(), String> {
        for task in &metadata.tasks {
            let bytes = self.settings.storage.get(&task.path).await.map_err(|e| e.to_string())?;
            if bytes.len() as u64 != task.size {
                return Err(format!("{} has {} bytes, the checkpoint recorded {}", task.path, bytes.len(), task.size));
            }
            decode_task_state(&task.path, &bytes).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    pub fn pending_id(&self) -> Option<u64> {
        self.pending.as_ref().map(|p| p.record.id)
    }
}

#[cfg(test)]
mod tests {
    use rask_common::checkpoint::{encode_task_state, read_savepoint, read_savepoint_file};

    use super::*;

    fn ack(vertex: &str, subtask: u32, id: u64, path: &str, size: u64) -> CheckpointAck {
        CheckpointAck {
            job_id: "0123456789abcdef".into(),
            vertex_id: vertex.into(),
            subtask_index: subtask,
            checkpoint_id: id,
            state_path: path.into(),
            state_size: size,
            operator_uids: vec!["op".into()],
            execution_attempt_id: String::new(),
        }
    }

    /// Checkpoints and a savepoint of a job of two tasks, all in object_store's
    /// in-memory store: `_metadata` last, one retained, the savepoint readable.
    #[tokio::test]
    async fn checkpoints_and_savepoints_go_through_the_storage() {
        let storage = CheckpointStorage::open("memory://coordinator-test/chk").unwrap();
        let settings = CheckpointSettings {
            interval: Some(Duration::from_secs(1)),
            timeout: Duration::from_secs(10),
            min_pause: Duration::ZERO,
            retained: 1,
            storage: storage.clone(),
        };
        let job = "0123456789abcdef";
        let operations = SavepointOperations::default();
        let mut coordinator =
            CheckpointCoordinator::new(settings, job.into(), 2, operations.clone(), Arc::new(crate::ha::StandaloneJobStore));
        let mut stats = CheckpointStats::default();
        let state = encode_task_state(&[("op".into(), vec![1, 2, 3])]);
        for _ in 0..2 {
            let (id, _) = coordinator.start(&mut stats);
            for subtask in 0..2 {
                let path = format!("{}/v-{subtask}", storage.checkpoint_path(job, id));
                let size = storage.put(&path, state.clone()).await.unwrap();
                assert!(!storage.exists(&format!("{}/_metadata", storage.checkpoint_path(job, id))).await.unwrap());
                coordinator.acknowledge(ack("v", subtask, id, &path, size), &mut stats).await;
            }
        }
        assert_eq!(stats.completed, 2);
        assert_eq!(stats.latest_completed.as_ref().unwrap().external_path, format!("memory://coordinator-test/chk/{job}/chk-2"));
        assert!(storage.exists(&format!("{job}/chk-2/_metadata")).await.unwrap());
        assert!(!storage.exists(&format!("{job}/chk-1/_metadata")).await.unwrap(), "one retained");
        assert!(!storage.exists(&format!("{job}/chk-1/v-0")).await.unwrap());
        assert_eq!(coordinator.restore_point().await.unwrap().unwrap().checkpoint_id, 2);

        let request = SavepointRequest { trigger_id: "t".into(), target_dir: "memory://coordinator-test/savepoints".into() };
        let (id, _) = coordinator.start_savepoint(request, &mut stats);
        for subtask in 0..2 {
            let path = format!("{}/v-{subtask}", storage.checkpoint_path(job, id));
            let size = storage.put(&path, state.clone()).await.unwrap();
            coordinator.acknowledge(ack("v", subtask, id, &path, size), &mut stats).await;
        }
        let location = match operations.lock().get("t") {
            Some(SavepointOperation::Completed { location }) => location.clone(),
            other => panic!("{other:?}"),
        };
        assert!(location.starts_with("memory://coordinator-test/savepoints/savepoint-012345-"), "{location}");
        assert!(!storage.exists(&format!("{job}/chk-{id}/v-0")).await.unwrap(), "the staged copy is gone");
        let savepoint = read_savepoint(&location).await.unwrap();
        assert_eq!(savepoint.tasks.len(), 2);
        assert_eq!(savepoint.tasks[0].path, format!("{location}/v-0"));
        assert_eq!(read_savepoint_file(&savepoint.tasks[1].path, 1 << 20).await.unwrap(), state);
    }
}
