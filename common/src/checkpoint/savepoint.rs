//! Savepoints as a user handles them: reading one to start a job from it
//! ([`read_savepoint`], [`read_savepoint_file`]) and disposing of one
//! ([`dispose_savepoint`]), each through a [`CheckpointStorage`] opened on the
//! savepoint's location, and only ever on what a Rask savepoint's `_metadata` lists.

use object_store::path::Path as StorePath;

use super::format::{is_plain_file_name, CheckpointMetadata, METADATA_VERSION};
use super::storage::{local_path, CheckpointStorage};
use super::CheckpointError;

/// The largest `_metadata` read from a savepoint.
pub const MAX_METADATA_BYTES: u64 = 64 << 20;

/// The directory of a savepoint path: a local one as a plain absolute path (`file:/x`,
/// `file:///x` and `/x` give `/x`), a URL of another scheme unchanged.
pub fn savepoint_dir(path: &str) -> String {
    match local_path(path) {
        Some(p) if p.starts_with('/') => p.to_string(),
        Some(p) => format!("/{p}"),
        None => path.to_string(),
    }
}

/// Whether `name` is a task file a savepoint may list: a plain name inside its
/// directory that the store keeps as it is (no character it would encode, so the name
/// read or deleted is the name listed).
fn is_savepoint_file_name(name: &str) -> bool {
    is_plain_file_name(name) && StorePath::from(name).as_ref() == name
}

fn refuse(path: &str, message: impl Into<String>) -> CheckpointError {
    CheckpointError::Savepoint { path: path.to_string(), message: message.into() }
}

/// Whether `path` holds a savepoint's `_metadata` (a regular file there). Fails only
/// when the location cannot be opened or the store cannot be asked.
pub async fn savepoint_exists(path: &str) -> Result<bool, CheckpointError> {
    CheckpointStorage::open(&savepoint_dir(path))?.exists("_metadata").await
}

/// Reads the savepoint at `path` (a directory holding `_metadata`: `/dir`, `file:` URL,
/// or a URL of another store) for a job to start from it. `_metadata` is read only if it
/// is a regular file of at most [`MAX_METADATA_BYTES`]; it must be Rask's format of this
/// version, and every task file it lists a plain name inside the directory (a
/// checkpoint's `_metadata`, whose paths lead elsewhere, is refused). The task paths
/// come back resolved against the savepoint's location, as a TaskManager reads them
/// with [`read_savepoint_file`]: `/dir/<file>` for a local savepoint, the URL otherwise.
/// Nothing is written. Errors are [`CheckpointError::Savepoint`] (or
/// [`CheckpointError::Location`] for a location this build cannot open), naming `path`.
pub async fn read_savepoint(path: &str) -> Result<CheckpointMetadata, CheckpointError> {
    let storage = CheckpointStorage::open(&savepoint_dir(path))?;
    let bytes = match storage.get_bounded("_metadata", MAX_METADATA_BYTES).await {
        Ok(bytes) => bytes,
        Err(CheckpointError::TooLarge { .. }) => {
            return Err(refuse(path, format!("_metadata is not a Rask savepoint's (not a file, or over {MAX_METADATA_BYTES} bytes)")))
        }
        Err(e) => return Err(refuse(path, format!("cannot read its _metadata ({e})"))),
    };
    let mut metadata: CheckpointMetadata = serde_json::from_slice(&bytes).map_err(|e| refuse(path, format!("corrupt _metadata ({e})")))?;
    if metadata.version != METADATA_VERSION {
        return Err(refuse(path, format!("savepoint format version {}, this build reads {METADATA_VERSION}", metadata.version)));
    }
    if let Some(t) = metadata.tasks.iter().find(|t| !is_savepoint_file_name(&t.path)) {
        return Err(refuse(path, format!("_metadata names the file '{}' outside its directory; refused", t.path)));
    }
    for t in metadata.tasks.iter_mut() {
        t.path = storage.resolve(&t.path);
    }
    Ok(metadata)
}

/// Reads one task state file of a savepoint, as [`read_savepoint`] resolved it
/// (`/dir/<file>` or `scheme://…/<file>`), if it is a regular file of at most
/// `max_bytes` (a file larger than a slot's memory could never be restored):
/// [`CheckpointError::TooLarge`] otherwise, unread.
pub async fn read_savepoint_file(path: &str, max_bytes: u64) -> Result<bytes::Bytes, CheckpointError> {
    let (dir, name) = path.rsplit_once('/').ok_or_else(|| refuse(path, "not a savepoint's state file"))?;
    if !is_savepoint_file_name(name) {
        return Err(refuse(path, "not a savepoint's state file"));
    }
    let dir = if dir.is_empty() || dir == "file:" { format!("{dir}/") } else { dir.to_string() };
    CheckpointStorage::open(&dir)?.get_bounded(name, max_bytes).await
}

/// Deletes a savepoint Rask wrote, and nothing else: the directory's `_metadata` must be
/// a regular file of at most [`MAX_METADATA_BYTES`] that parses as Rask's savepoint
/// format, every task file it lists a plain name inside the directory (a checkpoint's
/// `_metadata` names files elsewhere and is refused). The files it lists and then
/// `_metadata` are deleted, then the directory if it is empty (local file systems;
/// object stores have none): any other file stays. `path` must be absolute (`/x`,
/// `file:/x`, `file:///x`) or a URL. Idempotent for the task files (a missing one is
/// fine); once `_metadata` is gone the path is no savepoint any more.
pub async fn dispose_savepoint(path: &str) -> Result<(), CheckpointError> {
    if local_path(path).is_some_and(|p| !p.starts_with('/')) {
        return Err(refuse(path, "a savepoint path must be absolute (/dir or file:///dir) or a URL"));
    }
    let storage = CheckpointStorage::open(path)?;
    let bytes = match storage.get_bounded("_metadata", MAX_METADATA_BYTES).await {
        Ok(bytes) => bytes,
        Err(CheckpointError::NotFound { .. }) => return Err(refuse(path, "not a savepoint (no _metadata there)")),
        Err(CheckpointError::TooLarge { .. }) => {
            return Err(refuse(path, "not a Rask savepoint (_metadata is too large, or not a file); nothing deleted"))
        }
        Err(e) => return Err(refuse(path, format!("cannot read _metadata: {e}"))),
    };
    let metadata: CheckpointMetadata = serde_json::from_slice(&bytes)
        .map_err(|_| refuse(path, "not a Rask savepoint (_metadata is not in Rask's format); nothing deleted"))?;
    if metadata.version != METADATA_VERSION {
        return Err(refuse(
            path,
            format!("savepoint format version {}, this build reads {METADATA_VERSION}; nothing deleted", metadata.version),
        ));
    }
    if let Some(t) = metadata.tasks.iter().find(|t| !is_savepoint_file_name(&t.path)) {
        return Err(refuse(
            path,
            format!("not a savepoint: _metadata names the file '{}' outside its directory (a checkpoint?); nothing deleted", t.path),
        ));
    }
    for t in &metadata.tasks {
        storage.delete(&t.path).await.map_err(|e| refuse(path, format!("cannot delete {}: {e}", t.path)))?;
    }
    storage.delete("_metadata").await.map_err(|e| refuse(path, format!("cannot delete _metadata: {e}")))?;
    // Only when nothing else is left: a directory holding other files keeps them.
    storage.remove_dir_if_empty("").await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::format::TaskStateHandle;
    use super::*;

    fn metadata(paths: &[&str]) -> Vec<u8> {
        let tasks = paths
            .iter()
            .enumerate()
            .map(|(i, p)| TaskStateHandle { vertex_id: "v".into(), subtask: i as u32, path: p.to_string(), size: 1, operators: vec![] })
            .collect();
        let m = CheckpointMetadata {
            version: METADATA_VERSION,
            job_id: "j".into(),
            checkpoint_id: 1,
            trigger_timestamp: 0,
            complete_timestamp: 0,
            tasks,
        };
        serde_json::to_vec(&m).unwrap()
    }

    /// Writes a savepoint of two task files under `location`.
    async fn write_savepoint(location: &str) -> CheckpointStorage {
        let storage = CheckpointStorage::open(location).unwrap();
        storage.put("v-0", vec![0u8]).await.unwrap();
        storage.put("v-1", vec![1u8]).await.unwrap();
        storage.put("_metadata", metadata(&["v-0", "v-1"])).await.unwrap();
        storage
    }

    #[tokio::test]
    async fn a_savepoint_in_memory_is_read_resolved_and_disposed_of() {
        let storage = write_savepoint("memory://savepoint-test/sp/savepoint-1").await;
        storage.put("notes.txt", vec![9u8]).await.unwrap();
        let m = read_savepoint("memory://savepoint-test/sp/savepoint-1/").await.unwrap();
        let paths: Vec<&str> = m.tasks.iter().map(|t| t.path.as_str()).collect();
        assert_eq!(paths, ["memory://savepoint-test/sp/savepoint-1/v-0", "memory://savepoint-test/sp/savepoint-1/v-1"]);
        assert_eq!(&read_savepoint_file(paths[1], 10).await.unwrap()[..], &[1]);
        assert!(matches!(read_savepoint_file(paths[1], 0).await, Err(CheckpointError::TooLarge { .. })));
        assert!(savepoint_exists("memory://savepoint-test/sp/savepoint-1").await.unwrap());
        dispose_savepoint("memory://savepoint-test/sp/savepoint-1").await.unwrap();
        assert!(!savepoint_exists("memory://savepoint-test/sp/savepoint-1").await.unwrap());
        assert!(!storage.exists("v-0").await.unwrap() && !storage.exists("v-1").await.unwrap());
        assert!(storage.exists("notes.txt").await.unwrap(), "a file the savepoint does not list stays");
        let e = dispose_savepoint("memory://savepoint-test/sp/savepoint-1").await.unwrap_err().to_string();
        assert!(e.contains("not a savepoint (no _metadata there)"), "{e}");
    }

    #[tokio::test]
    async fn what_is_not_a_rask_savepoint_is_refused_and_left_alone() {
        let storage = CheckpointStorage::open("memory://savepoint-refusals/x").unwrap();
        storage.put("data.db", vec![1u8]).await.unwrap();
        let cases: [(&str, Vec<u8>, &str); 4] = [
            ("foreign", b"not Rask's".to_vec(), "not a Rask savepoint"),
            ("checkpoint", metadata(&["job/chk-1/v-0"]), "outside its directory"),
            ("climbing", metadata(&["../data.db"]), "outside its directory"),
            ("encoded", metadata(&["data%2Edb"]), "outside its directory"),
        ];
        for (name, bytes, expected) in cases {
            storage.put(&format!("{name}/_metadata"), bytes).await.unwrap();
            let path = format!("memory://savepoint-refusals/x/{name}");
            let e = dispose_savepoint(&path).await.unwrap_err().to_string();
            assert!(e.contains(expected) && e.contains(&path), "{name}: {e}");
            assert!(read_savepoint(&path).await.is_err(), "{name}");
            assert!(storage.exists(&format!("{name}/_metadata")).await.unwrap(), "{name}: nothing deleted");
        }
        assert!(storage.exists("data.db").await.unwrap());
        let mut newer: serde_json::Value = serde_json::from_slice(&metadata(&["v-0"])).unwrap();
        newer["version"] = 2.into();
        storage.put("newer/_metadata", serde_json::to_vec(&newer).unwrap()).await.unwrap();
        let e = dispose_savepoint("memory://savepoint-refusals/x/newer").await.unwrap_err().to_string();
        assert!(e.contains("format version 2"), "{e}");
        let e = read_savepoint("memory://savepoint-refusals/x/none").await.unwrap_err().to_string();
        assert!(e.contains("cannot read its _metadata"), "{e}");
        assert!(read_savepoint_file("memory://savepoint-refusals/x/../data.db", 10).await.is_err());
        assert!(read_savepoint_file("memory://savepoint-refusals/x/_metadata", 1 << 20).await.is_err());
    }

    #[tokio::test]
    async fn a_local_savepoint_is_read_and_disposed_of_directory_and_all() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("savepoint-1");
        let location = format!("file://{}", dir.display());
        write_savepoint(&location).await;
        let m = read_savepoint(&format!("file:{}", dir.display())).await.unwrap();
        assert_eq!(m.tasks[0].path, format!("{}/v-0", dir.display()));
        assert_eq!(&read_savepoint_file(&m.tasks[1].path, 1).await.unwrap()[..], &[1]);
        assert!(savepoint_exists(&dir.display().to_string()).await.unwrap());
        assert!(!savepoint_exists(&root.path().display().to_string()).await.unwrap());
        // A _metadata that is not a regular file is never opened.
        let fifo = root.path().join("fifo-savepoint");
        std::fs::create_dir(&fifo).unwrap();
        assert!(std::process::Command::new("mkfifo").arg(fifo.join("_metadata")).status().unwrap().success());
        let e = read_savepoint(&fifo.display().to_string()).await.unwrap_err().to_string();
        assert!(e.contains("not a file, or over"), "{e}");
        let e = dispose_savepoint(&fifo.display().to_string()).await.unwrap_err().to_string();
        assert!(e.contains("not a Rask savepoint"), "{e}");
        let e = dispose_savepoint("relative/savepoint").await.unwrap_err().to_string();
        assert!(e.contains("must be absolute"), "{e}");
        // Disposal removes the directory once it is empty.
        dispose_savepoint(&location).await.unwrap();
        assert!(!dir.exists());
        // With a stray file, the directory and the file stay.
        write_savepoint(&location).await;
        std::fs::write(dir.join("notes.txt"), "mine").unwrap();
        dispose_savepoint(&dir.display().to_string()).await.unwrap();
        assert!(!dir.join("_metadata").exists() && !dir.join("v-0").exists());
        assert_eq!(std::fs::read_to_string(dir.join("notes.txt")).unwrap(), "mine");
    }

    #[test]
    fn savepoint_dirs() {
        assert_eq!(savepoint_dir("file:///x/y"), "/x/y");
        assert_eq!(savepoint_dir("file:/x"), "/x");
        assert_eq!(savepoint_dir("/x"), "/x");
        assert_eq!(savepoint_dir("s3://b/x"), "s3://b/x");
    }
}
