//! The format of checkpoint files (version 1): `_metadata` (JSON) and task state files.
//!
//! A task state file is `RASKSNAP` + format version (u32 LE), then per operator of the
//! chain: uid length (u32 LE), uid (UTF-8), state length (u64 LE), state bytes. Each
//! operator's state is its own format (Arrow IPC for keyed state).

use serde::{Deserialize, Serialize};

use super::CheckpointError;

pub const SNAPSHOT_MAGIC: &[u8; 8] = b"RASKSNAP";
pub const SNAPSHOT_VERSION: u32 = 1;
pub const METADATA_VERSION: u32 = 1;

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

/// Whether `name` is a plain file name inside a savepoint's directory (no separator,
/// not `.`, `..` or `_metadata`): the form of every task file a savepoint lists.
pub fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty() && name != "_metadata" && name != "." && name != ".." && !name.contains('/') && !name.contains('\\')
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
            let s = at.checked_add(n).and_then(|end| data.get(*at..end)).ok_or_else(|| corrupt("truncated"))?;
            *at += n;
            Ok(s)
        };
        let ulen = u32::from_le_bytes(take(&mut at, 4)?.try_into().expect("4")) as usize;
        let uid = String::from_utf8(take(&mut at, ulen)?.to_vec()).map_err(|_| corrupt("operator uid is not UTF-8"))?;
        let slen = usize::try_from(u64::from_le_bytes(take(&mut at, 8)?.try_into().expect("8"))).map_err(|_| corrupt("truncated"))?;
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
        // A length that would overflow the offset is truncation, not a panic.
        let mut huge = encode_task_state(&[]);
        huge.extend_from_slice(&1u32.to_le_bytes());
        huge.push(b'u');
        huge.extend_from_slice(&u64::MAX.to_le_bytes());
        assert!(decode_task_state("x", &huge).unwrap_err().to_string().contains("truncated"));
    }

    #[test]
    fn plain_file_names() {
        assert!(is_plain_file_name("v-0"));
        for bad in ["", ".", "..", "_metadata", "a/b", "../x", "a\\b"] {
            assert!(!is_plain_file_name(bad), "{bad}");
        }
    }
}
