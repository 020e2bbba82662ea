//! Checkpoint storage and format. Checkpoints go through the `object_store` crate
//! (the local file system now; S3 or GCS through the same code later):
//!
//! ```text
//! <state.checkpoints.dir>/<job id>/chk-<n>/<vertex id>-<subtask>   task state
//! <state.checkpoints.dir>/<job id>/chk-<n>/_metadata               JSON, written last
//! ```
//!
//! A task state file is `RASKSNAP` + format version (u32 LE), then per operator of the
//! chain: uid length (u32 LE), uid (UTF-8), state length (u64 LE), state bytes. Each
//! operator's state is its own format (Arrow IPC for keyed state). A checkpoint exists
//! when its `_metadata` does.

use std::sync::Arc;

use bytes::Bytes;
use object_store::local::LocalFileSystem;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

pub const SNAPSHOT_MAGIC: &[u8; 8] = b"RASKSNAP";
pub const SNAPSHOT_VERSION: u32 = 1;
pub const METADATA_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("checkpoint storage {dir}: {message}")]
    Storage { dir: String, message: String },
    #[error("corrupt state file {path}: {message}")]
    Corrupt { path: String, message: String },
}

/// What `_metadata` records of a completed checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CheckpointMetadata {
    pub version: u32,
    pub job_id: String,
    pub checkpoint_id: u64,
    pub trigger_timestamp: i64,
    pub complete_timestamp: i64,
    pub tasks: Vec<TaskStateHandle>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TaskStateHandle {
    pub vertex_id: String,
    pub subtask: u32,
    /// Relative to the storage directory (to the savepoint's directory in a savepoint).
    pub path: String,
    pub size: u64,
    /// The uids of the operators whose state the file holds.
    #[serde(default)]
    pub operators: Vec<String>,
}

/// A checkpoint directory behind `object_store`.
#[derive(Clone)]
pub struct CheckpointStorage {
    store: Arc<dyn ObjectStore>,
    dir: String,
}

impl std::fmt::Debug for CheckpointStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CheckpointStorage({})", self.dir)
    }
}

impl CheckpointStorage {
    /// Opens `state.checkpoints.dir`: a path or a `file://` URL (created if missing).
    pub fn open(dir: &str) -> Result<Self, CheckpointError> {
        let path = dir.strip_prefix("file://").unwrap_or(dir);
        let err = |message: String| CheckpointError::Storage { dir: dir.to_string(), message };
        if !path.starts_with('/') {
            return Err(err("must be an absolute path or a file:// URL".into()));
        }
        std::fs::create_dir_all(path).map_err(|e| err(e.to_string()))?;
        let store = LocalFileSystem::new_with_prefix(path).map_err(|e| err(e.to_string()))?;
        Ok(Self { store: Arc::new(store), dir: path.trim_end_matches('/').to_string() })
    }

    /// The directory, for paths users see.
    pub fn dir(&self) -> &str {
        &self.dir
    }

    pub fn checkpoint_path(&self, job_id: &str, checkpoint_id: u64) -> String {
        format!("{job_id}/chk-{checkpoint_id}")
    }

    fn error(&self, e: impl std::fmt::Display) -> CheckpointError {
        CheckpointError::Storage { dir: self.dir.clone(), message: e.to_string() }
    }

    pub async fn put(&self, relative: &str, data: Vec<u8>) -> Result<u64, CheckpointError> {
        let size = data.len() as u64;
        self.store.put(&StorePath::from(relative), PutPayload::from(Bytes::from(data))).await.map_err(|e| self.error(e))?;
        Ok(size)
    }

    pub async fn get(&self, relative: &str) -> Result<Bytes, CheckpointError> {
        let r = self.store.get(&StorePath::from(relative)).await.map_err(|e| self.error(e))?;
        r.bytes().await.map_err(|e| self.error(e))
    }

    /// Deletes a checkpoint's files. Idempotent.
    pub async fn discard(&self, job_id: &str, checkpoint_id: u64) -> Result<(), CheckpointError> {
        let dir = std::path::Path::new(&self.dir).join(self.checkpoint_path(job_id, checkpoint_id));
        match tokio::fs::remove_dir_all(&dir).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.error(e)),
        }
    }
}

/// The directory of a savepoint path (`file:/x`, `file:///x` or `/x`).
pub fn savepoint_dir(path: &str) -> String {
    let p = path.strip_prefix("file:").map(|p| p.trim_start_matches("//")).unwrap_or(path);
    if p.starts_with('/') {
        p.to_string()
    } else {
        format!("/{p}")
    }
}

/// Whether `name` is a plain file name inside a savepoint's directory (no separator,
/// not `.`, `..` or `_metadata`): the form of every task file a savepoint lists.
pub fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty() && name != "_metadata" && name != "." && name != ".." && !name.contains('/') && !name.contains('\\')
}

/// The largest `_metadata` read when disposing of a savepoint.
const MAX_METADATA_BYTES: u64 = 64 << 20;

/// Deletes a savepoint Rask wrote, and nothing else: the directory's `_metadata` must
/// parse as Rask's savepoint format (every task file a plain name inside the
/// directory; a checkpoint's `_metadata` names files elsewhere and is refused). The
/// files it lists and `_metadata` are deleted, then the directory if it is empty.
/// `path` must be absolute (`/x`, `file:/x`, `file:///x`).
pub fn dispose_savepoint(path: &str) -> Result<(), CheckpointError> {
    let stripped = path.strip_prefix("file:").map(|p| p.trim_start_matches("//")).unwrap_or(path);
    let err = |message: String| CheckpointError::Storage { dir: path.to_string(), message };
    if !stripped.starts_with('/') {
        return Err(err("a savepoint path must be absolute (/dir or file:///dir)".into()));
    }
    let dir = std::path::Path::new(stripped);
    let metadata_file = dir.join("_metadata");
    let len = std::fs::metadata(&metadata_file).map_err(|_| err("not a savepoint (no _metadata there)".into()))?.len();
    if len > MAX_METADATA_BYTES {
        return Err(err("not a Rask savepoint (_metadata is too large)".into()));
    }
    let bytes = std::fs::read(&metadata_file).map_err(|e| err(format!("cannot read _metadata: {e}")))?;
    let metadata: CheckpointMetadata = serde_json::from_slice(&bytes)
        .map_err(|_| err("not a Rask savepoint (_metadata is not in Rask's format); nothing deleted".into()))?;
    if metadata.version != METADATA_VERSION {
        return Err(err(format!("savepoint format version {}, this build reads {METADATA_VERSION}; nothing deleted", metadata.version)));
    }
    if let Some(t) = metadata.tasks.iter().find(|t| !is_plain_file_name(&t.path)) {
        return Err(err(format!(
            "not a savepoint: _metadata names the file '{}' outside its directory (a checkpoint?); nothing deleted",
            t.path
        )));
    }
    for t in &metadata.tasks {
        match std::fs::remove_file(dir.join(&t.path)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(err(format!("cannot delete {}: {e}", t.path))),
        }
    }
    std::fs::remove_file(&metadata_file).map_err(|e| err(format!("cannot delete _metadata: {e}")))?;
    // Only when nothing else is left: a directory holding other files keeps them.
    let _ = std::fs::remove_dir(dir);
    Ok(())
}

/// Encodes a task's operator states into the state file format.
pub fn encode_task_state(states: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + states.iter().map(|(u, s)| u.len() + s.len() + 12).sum::<usize>());
    out.extend_from_slice(SNAPSHOT_MAGIC);
    out.extend_from_slice(&SNAPSHOT_VERSION.to_le_bytes());
    for (uid, state) in states {
        out.extend_from_slice(&(uid.len() as u32).to_le_bytes());
        out.extend_from_slice(uid.as_bytes());
        out.extend_from_slice(&(state.len() as u64).to_le_bytes());
        out.extend_from_slice(state);
    }
    out
}

/// Decodes a state file into (operator uid, state) pairs.
pub fn decode_task_state(path: &str, data: &[u8]) -> Result<Vec<(String, Vec<u8>)>, CheckpointError> {
    let corrupt = |m: &str| CheckpointError::Corrupt { path: path.to_string(), message: m.to_string() };
    if data.len() < 12 || &data[..8] != SNAPSHOT_MAGIC {
        return Err(corrupt("not a Rask state file"));
    }
    let version = u32::from_le_bytes(data[8..12].try_into().expect("4 bytes"));
    if version != SNAPSHOT_VERSION {
        return Err(corrupt(&format!("format version {version}, this build reads {SNAPSHOT_VERSION}")));
    }
    let mut at = 12;
    let mut out = Vec::new();
    while at < data.len() {
        let take = |at: &mut usize, n: usize| -> Result<&[u8], CheckpointError> {
            let s = data.get(*at..*at + n).ok_or_else(|| corrupt("truncated"))?;
            *at += n;
            Ok(s)
        };
        let ulen = u32::from_le_bytes(take(&mut at, 4)?.try_into().expect("4")) as usize;
        let uid = String::from_utf8(take(&mut at, ulen)?.to_vec()).map_err(|_| corrupt("operator uid is not UTF-8"))?;
        let slen = u64::from_le_bytes(take(&mut at, 8)?.try_into().expect("8")) as usize;
        out.push((uid, take(&mut at, slen)?.to_vec()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_files_round_trip_and_reject_corruption() {
        let states = vec![("a".to_string(), vec![1, 2, 3]), ("bb".to_string(), vec![])];
        let bytes = encode_task_state(&states);
        assert_eq!(decode_task_state("x", &bytes).unwrap(), states);
        assert!(decode_task_state("x", &bytes[..bytes.len() - 1]).is_err());
        assert!(decode_task_state("x", b"garbage").unwrap_err().to_string().contains("not a Rask state file"));
    }

    #[tokio::test]
    async fn storage_puts_gets_and_discards() {
        let dir = std::env::temp_dir().join(format!("rask-chk-{}", crate::ids::random_hex_id()));
        let storage = CheckpointStorage::open(&format!("file://{}", dir.display())).unwrap();
        storage.put("job/chk-1/v-0", vec![7; 10]).await.unwrap();
        assert_eq!(storage.get("job/chk-1/v-0").await.unwrap().len(), 10);
        storage.discard("job", 1).await.unwrap();
        assert!(!dir.join("job/chk-1").exists());
        storage.discard("job", 1).await.unwrap();
        let _ = std::fs::remove_dir_all(dir);
        assert!(CheckpointStorage::open("relative/dir").is_err());
    }
}
