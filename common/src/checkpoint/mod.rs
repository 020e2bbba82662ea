//! Checkpoints and savepoints: where they are kept ([`storage`]), what their files
//! hold ([`format`]) and what a user does with a savepoint ([`savepoint`]).
//!
//! Every checkpoint, savepoint and `_metadata` read or write goes through
//! [`CheckpointStorage`], over the `object_store` crate: a local directory, an
//! in-memory store (`memory://`, for tests) or, in a build with the `s3`, `gcs` or
//! `azure` feature, an object store of the cloud.
//!
//! ```text
//! <state.checkpoints.dir>/<job id>/chk-<n>/<vertex id>-<subtask>   task state
//! <state.checkpoints.dir>/<job id>/chk-<n>/_metadata               JSON, written last
//! <savepoint dir>/savepoint-<job>-<random>/<vertex id>-<subtask>   a savepoint's task state
//! <savepoint dir>/savepoint-<job>-<random>/_metadata               paths relative to it
//! ```
//!
//! A checkpoint (or savepoint) exists when its `_metadata` does.

pub mod format;
pub mod savepoint;
pub mod storage;

pub use format::{
    decode_task_state, encode_task_state, is_plain_file_name, CheckpointMetadata, TaskStateHandle, METADATA_VERSION, SNAPSHOT_MAGIC,
    SNAPSHOT_VERSION,
};
pub use savepoint::{dispose_savepoint, read_savepoint, read_savepoint_file, savepoint_dir, savepoint_exists, MAX_METADATA_BYTES};
pub use storage::CheckpointStorage;

/// What a checkpoint storage operation fails with.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The location cannot be opened: relative, malformed, of an unknown scheme, or of
    /// a scheme this build has no support for.
    #[error("checkpoint storage {location}: {message}")]
    Location { location: String, message: String },
    /// The object is not there.
    #[error("checkpoint storage {dir}: {path} does not exist")]
    NotFound { dir: String, path: String },
    /// The object is not a regular file, or larger than the reader's bound; not read.
    #[error("checkpoint storage {dir}: {path} is not a file, or larger than {max} bytes")]
    TooLarge { dir: String, path: String, max: u64 },
    /// Any other failure of the store: I/O, permissions, the network.
    #[error("checkpoint storage {dir}: {message}")]
    Storage { dir: String, message: String },
    /// A state file that does not decode.
    #[error("corrupt state file {path}: {message}")]
    Corrupt { path: String, message: String },
    /// Not a savepoint Rask wrote, or one this build cannot read: refused, nothing
    /// changed.
    #[error("savepoint {path}: {message}")]
    Savepoint { path: String, message: String },
}
