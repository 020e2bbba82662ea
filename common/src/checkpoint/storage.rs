//! The checkpoint storage seam: [`CheckpointStorage`] is one directory (a prefix) of an
//! object store, through which every checkpoint, savepoint and `_metadata` read or
//! write goes, all of it async. Locations: a path or `file:` URL (the local file
//! system), `memory://NAME/PATH` (an in-memory store shared within the process, for
//! tests), and `s3://`, `gs://`, `az://` URLs in a build with the `s3`, `gcs` or
//! `azure` feature.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path as StorePath;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload};

use super::CheckpointError;

/// A checkpoint directory behind `object_store`. Cheap to open (no I/O) and to clone.
#[derive(Clone)]
pub struct CheckpointStorage {
    store: Arc<dyn ObjectStore>,
    /// Where in `store` this directory is.
    prefix: StorePath,
    /// The location as users see it: a local path (`/var/lib/rask/checkpoints`) or a URL.
    dir: String,
    /// The file system behind a local directory: directories are made there before
    /// use and removed once emptied (object stores have none), and only regular
    /// files are read.
    local: Option<Arc<LocalFileSystem>>,
}

impl std::fmt::Debug for CheckpointStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CheckpointStorage({})", self.dir)
    }
}

/// How many `memory://` stores one process keeps at most.
const MAX_MEMORY_STORES: usize = 64;

/// The scheme of `location` when it is a URL of the `scheme://…` form.
pub(crate) fn url_scheme(location: &str) -> Option<&str> {
    let (scheme, _) = location.split_once("://")?;
    (!scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))).then_some(scheme)
}

/// The local path of a location: `/x`, `file:/x` or `file:///x` (not necessarily
/// absolute: the caller checks); `None` for a URL of another scheme.
pub(crate) fn local_path(location: &str) -> Option<&str> {
    if let Some(rest) = location.strip_prefix("file:") {
        return Some(rest.strip_prefix("//").unwrap_or(rest));
    }
    match url_scheme(location) {
        Some(_) => None,
        None => Some(location),
    }
}

/// Whether a URL path segment is `.` or `..`, also percent-encoded (`%2e%2E`): a URL
/// parser would resolve it, leading out of the prefix `rask.io.allowed-paths` checked.
pub(crate) fn is_dot_segment(segment: &str) -> bool {
    let decoded = segment.to_ascii_lowercase().replace("%2e", ".");
    decoded == "." || decoded == ".."
}

/// The process-wide in-memory store called `name` (`memory://NAME/…`).
fn memory_store(name: &str) -> Option<Arc<InMemory>> {
    static STORES: OnceLock<parking_lot::Mutex<HashMap<String, Arc<InMemory>>>> = OnceLock::new();
    let mut stores = STORES.get_or_init(Default::default).lock();
    if let Some(store) = stores.get(name) {
        return Some(store.clone());
    }
    if stores.len() >= MAX_MEMORY_STORES {
        return None;
    }
    let store = Arc::new(InMemory::new());
    stores.insert(name.to_string(), store.clone());
    Some(store)
}

/// The local file system, shared: it holds no state but its root.
fn local_fs() -> Arc<LocalFileSystem> {
    static FS: OnceLock<Arc<LocalFileSystem>> = OnceLock::new();
    FS.get_or_init(|| Arc::new(LocalFileSystem::new())).clone()
}

/// `dir/relative`, with one separator.
fn join(dir: &str, relative: &str) -> String {
    if dir.ends_with('/') {
        format!("{dir}{relative}")
    } else {
        format!("{dir}/{relative}")
    }
}

impl CheckpointStorage {
    /// Opens a location: an absolute path or `file:` URL (`/x`, `file:/x`,
    /// `file:///x`), `memory://NAME/PATH`, or a cloud URL (`s3://bucket/path`,
    /// `gs://…`, `az://…`) in a build with its feature, its credentials and region
    /// read from the environment as `object_store` documents (`AWS_*`, `GOOGLE_*`,
    /// `AZURE_*`). No I/O: nothing is created or checked until [`prepare`] or the
    /// first write (a local directory's parents are made on write).
    ///
    /// Fails with [`CheckpointError::Location`] for a relative path, a `.` or `..`
    /// segment in a URL, an unknown scheme, or one this build lacks.
    ///
    /// [`prepare`]: CheckpointStorage::prepare
    pub fn open(location: &str) -> Result<Self, CheckpointError> {
        let err = |message: String| CheckpointError::Location { location: location.to_string(), message };
        if let Some(path) = local_path(location) {
            if !path.starts_with('/') {
                return Err(err(
                    "must be an absolute path or a URL (file:///dir, or s3://, gs://, az:// in a build with that feature)".into()
                ));
            }
            // `.` and `..` are taken lexically: the directory never lies above what the
            // path names literally.
            let mut parts: Vec<&str> = Vec::new();
            for segment in path.split('/') {
                match segment {
                    "" | "." => {}
                    ".." => {
                        parts.pop();
                    }
                    s => parts.push(s),
                }
            }
            let prefix = StorePath::parse(parts.join("/")).map_err(|e| err(e.to_string()))?;
            let dir = match path.trim_end_matches('/') {
                "" => "/".to_string(),
                d => d.to_string(),
            };
            return Ok(Self { store: local_fs(), prefix, dir, local: Some(local_fs()) });
        }
        let scheme = url_scheme(location).unwrap_or_default().to_ascii_lowercase();
        let (_, rest) = location.split_once("://").unwrap_or_default();
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        if path.split('/').any(is_dot_segment) {
            return Err(err("a URL may not contain '.' or '..' segments".into()));
        }
        if scheme == "memory" {
            if host.len() > 64 || !host.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
                return Err(err("memory://NAME/PATH takes a NAME of letters, digits, '-', '_' and '.'".into()));
            }
            let prefix = StorePath::from_url_path(path.trim_end_matches('/')).map_err(|e| err(e.to_string()))?;
            let store = memory_store(host).ok_or_else(|| err(format!("at most {MAX_MEMORY_STORES} memory:// stores per process")))?;
            let dir = match prefix.as_ref() {
                "" => format!("memory://{host}"),
                p => format!("memory://{host}/{p}"),
            };
            return Ok(Self { store, prefix, dir, local: None });
        }
        let (store, prefix) = cloud_store(location, &scheme).map_err(err)?;
        Ok(Self { store, prefix, dir: location.trim_end_matches('/').to_string(), local: None })
    }

    /// A storage over `store` (its root), shown as `dir`: for tests and embedding.
    pub fn with_store(store: Arc<dyn ObjectStore>, dir: &str) -> Self {
        Self { store, prefix: StorePath::default(), dir: dir.to_string(), local: None }
    }

    /// Makes the location ready, so that a bad one fails now rather than at the first
    /// checkpoint: a local directory is created with its parents; an object store (which
    /// has no directories) is listed once, which checks that it is reachable with the
    /// credentials given. Idempotent.
    pub async fn prepare(&self) -> Result<(), CheckpointError> {
        match &self.local {
            Some(fs) => {
                let dir = fs.path_to_filesystem(&self.prefix).map_err(|e| self.error(e))?;
                tokio::fs::create_dir_all(&dir).await.map_err(|e| self.error(e))
            }
            None => self.store.list_with_delimiter(Some(&self.prefix)).await.map(drop).map_err(|e| self.error(e)),
        }
    }

    /// The location, for paths users see and for comparing two storages: a local
    /// directory's path (without `file:`), or the URL.
    pub fn dir(&self) -> &str {
        &self.dir
    }

    /// The location of `relative` as users see it: `file:/dir/relative` for a local
    /// directory, `scheme://…/relative` otherwise.
    pub fn location(&self, relative: &str) -> String {
        match self.local {
            Some(_) => format!("file:{}", join(&self.dir, relative)),
            None => join(&self.dir, relative),
        }
    }

    /// The location of `relative` as another process opens it: `/dir/relative` for a
    /// local directory (a plain path), the URL otherwise.
    pub fn resolve(&self, relative: &str) -> String {
        join(&self.dir, relative)
    }

    /// Where checkpoint `checkpoint_id` of job `job_id` lies, relative to the storage.
    pub fn checkpoint_path(&self, job_id: &str, checkpoint_id: u64) -> String {
        format!("{job_id}/chk-{checkpoint_id}")
    }

    fn error(&self, e: impl std::fmt::Display) -> CheckpointError {
        CheckpointError::Storage { dir: self.dir.clone(), message: e.to_string() }
    }

    /// An `object_store` error about `relative` as ours: a missing object is
    /// [`CheckpointError::NotFound`].
    fn store_error(&self, relative: &str, e: object_store::Error) -> CheckpointError {
        match e {
            object_store::Error::NotFound { .. } => CheckpointError::NotFound { dir: self.dir.clone(), path: relative.to_string() },
            e => self.error(e),
        }
    }

    /// The key of `relative` in the store. Each segment is taken literally (`..` is a
    /// name there, percent-encoded, never a step up).
    fn key(&self, relative: &str) -> StorePath {
        self.prefix.parts().chain(StorePath::from(relative).parts()).collect()
    }

    /// Writes `data` at `relative`, replacing what is there; returns its size.
    /// Atomic: a reader sees the old object or the whole new one, never a part (a local
    /// file is written beside its place and renamed), which is what makes `_metadata`,
    /// written last, the moment a checkpoint exists. Parents are created as needed.
    /// Idempotent for the same data.
    pub async fn put(&self, relative: &str, data: impl Into<Bytes>) -> Result<u64, CheckpointError> {
        let data: Bytes = data.into();
        let size = data.len() as u64;
        self.store.put(&self.key(relative), PutPayload::from(data)).await.map_err(|e| self.store_error(relative, e))?;
        Ok(size)
    }

    /// Reads the whole object at `relative`. A missing one is
    /// [`CheckpointError::NotFound`].
    pub async fn get(&self, relative: &str) -> Result<Bytes, CheckpointError> {
        let r = self.store.get(&self.key(relative)).await.map_err(|e| self.store_error(relative, e))?;
        r.bytes().await.map_err(|e| self.store_error(relative, e))
    }

    /// Reads the object at `relative` if it is at most `max` bytes, and never more than
    /// that many, whatever it grows to meanwhile: for files whose name or size comes from
    /// outside (a savepoint's `_metadata`, its state files). A local path that is not a
    /// regular file (a FIFO, a device, a directory) is refused unread, like one over
    /// `max`, with [`CheckpointError::TooLarge`]; a missing one is
    /// [`CheckpointError::NotFound`].
    pub async fn get_bounded(&self, relative: &str, max: u64) -> Result<Bytes, CheckpointError> {
        let too_large = || CheckpointError::TooLarge { dir: self.dir.clone(), path: relative.to_string(), max };
        let key = self.key(relative);
        if let Some(fs) = &self.local {
            let file = fs.path_to_filesystem(&key).map_err(|e| self.error(e))?;
            match tokio::fs::metadata(&file).await {
                Ok(m) if m.is_file() => {}
                Ok(_) => return Err(too_large()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(CheckpointError::NotFound { dir: self.dir.clone(), path: relative.to_string() })
                }
                Err(e) => return Err(self.error(format!("{relative}: {e}"))),
            }
        }
        let meta = self.store.head(&key).await.map_err(|e| self.store_error(relative, e))?;
        if meta.size > max {
            return Err(too_large());
        }
        if meta.size == 0 {
            return Ok(Bytes::new());
        }
        let options = GetOptions { range: Some(GetRange::Bounded(0..meta.size)), ..GetOptions::default() };
        let r = self.store.get_opts(&key, options).await.map_err(|e| self.store_error(relative, e))?;
        r.bytes().await.map_err(|e| self.store_error(relative, e))
    }

    /// Whether an object is at `relative` (on a local file system: a regular file).
    pub async fn exists(&self, relative: &str) -> Result<bool, CheckpointError> {
        let key = self.key(relative);
        if let Some(fs) = &self.local {
            let file = fs.path_to_filesystem(&key).map_err(|e| self.error(e))?;
            return match tokio::fs::metadata(&file).await {
                Ok(m) => Ok(m.is_file()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
                Err(e) => Err(self.error(format!("{relative}: {e}"))),
            };
        }
        match self.store.head(&key).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.store_error(relative, e)),
        }
    }

    /// Deletes the object at `relative`. Idempotent: a missing object is fine.
    pub async fn delete(&self, relative: &str) -> Result<(), CheckpointError> {
        match self.store.delete(&self.key(relative)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.store_error(relative, e)),
        }
    }

    /// Deletes every object under the directory `relative` (listed, then deleted one
    /// by one; `chk-1` does not cover `chk-10`); on a local file system the emptied
    /// directories go too, `relative` included. Idempotent: a missing directory is
    /// fine. Not atomic: a failure may leave some objects, and a second call deletes
    /// the rest.
    pub async fn delete_all(&self, relative: &str) -> Result<(), CheckpointError> {
        let prefix = self.key(relative);
        let listed: Vec<StorePath> = match self.store.list(Some(&prefix)).map_ok(|m| m.location).try_collect().await {
            Ok(listed) => listed,
            Err(object_store::Error::NotFound { .. }) => Vec::new(),
            Err(e) => return Err(self.store_error(relative, e)),
        };
        for location in &listed {
            match self.store.delete(location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.store_error(relative, e)),
            }
        }
        if let Some(fs) = &self.local {
            let top = fs.path_to_filesystem(&prefix).map_err(|e| self.error(e))?;
            let mut dirs = BTreeSet::from([top.clone()]);
            for location in &listed {
                let Ok(file) = fs.path_to_filesystem(location) else { continue };
                let mut dir = file.parent();
                while let Some(d) = dir.filter(|d| d.starts_with(&top) && *d != top) {
                    dirs.insert(d.to_path_buf());
                    dir = d.parent();
                }
            }
            remove_empty_dirs(dirs).await;
        }
        Ok(())
    }

    /// On a local file system, removes the directory `relative` if it is empty; a
    /// directory that holds anything stays. Nothing to do on an object store.
    pub async fn remove_dir_if_empty(&self, relative: &str) {
        if let Some(fs) = &self.local {
            if let Ok(dir) = fs.path_to_filesystem(&self.key(relative)) {
                remove_empty_dirs(BTreeSet::from([dir])).await;
            }
        }
    }

    /// Deletes a checkpoint's files: [`delete_all`] of its directory. Idempotent.
    ///
    /// [`delete_all`]: CheckpointStorage::delete_all
    pub async fn discard(&self, job_id: &str, checkpoint_id: u64) -> Result<(), CheckpointError> {
        self.delete_all(&self.checkpoint_path(job_id, checkpoint_id)).await
    }
}

/// Removes each of `dirs` that is empty, deepest first (through the runtime's blocking
/// pool); one that is not empty, or gone, stays as it is.
async fn remove_empty_dirs(dirs: BTreeSet<PathBuf>) {
    let mut dirs: Vec<PathBuf> = dirs.into_iter().collect();
    dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    for dir in dirs {
        let _ = tokio::fs::remove_dir(&dir).await;
    }
}

/// An object store of the cloud for `location`, when this build has its feature.
fn cloud_store(location: &str, scheme: &str) -> Result<(Arc<dyn ObjectStore>, StorePath), String> {
    let (feature, built) = match scheme {
        "s3" | "s3a" => ("s3", cfg!(feature = "s3")),
        "gs" => ("gcs", cfg!(feature = "gcs")),
        "az" | "azure" | "abfs" | "abfss" | "adl" => ("azure", cfg!(feature = "azure")),
        _ => return Err(format!("unknown scheme '{scheme}://': give an absolute path, a file:// URL, memory://, s3://, gs:// or az://")),
    };
    if !built {
        return Err(format!(
            "{scheme}:// needs a build with the `{feature}` feature (cargo build --release --features rask-common/{feature})"
        ));
    }
    let url = url::Url::parse(location).map_err(|e| format!("not a URL: {e}"))?;
    // Credentials, region and endpoint as object_store's builders read them.
    let options = std::env::vars()
        .filter(|(k, _)| ["AWS_", "GOOGLE_", "AZURE_"].iter().any(|p| k.starts_with(p)))
        .map(|(k, v)| (k.to_ascii_lowercase(), v));
    let (store, prefix) = object_store::parse_url_opts(&url, options).map_err(|e| e.to_string())?;
    Ok((Arc::from(store), prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory() -> (Arc<InMemory>, CheckpointStorage) {
        let store = Arc::new(InMemory::new());
        (store.clone(), CheckpointStorage::with_store(store, "memory://test"))
    }

    #[tokio::test]
    async fn puts_gets_and_deletes_in_memory() {
        let (store, storage) = memory();
        assert_eq!(storage.put("job/chk-1/v-0", vec![7u8; 10]).await.unwrap(), 10);
        assert_eq!(storage.get("job/chk-1/v-0").await.unwrap().len(), 10);
        assert!(storage.exists("job/chk-1/v-0").await.unwrap());
        // Replacing is whole.
        storage.put("job/chk-1/v-0", Bytes::from_static(b"new")).await.unwrap();
        assert_eq!(&storage.get("job/chk-1/v-0").await.unwrap()[..], b"new");
        // Missing objects: a typed error to read, nothing to delete.
        assert!(matches!(storage.get("job/chk-9/v-0").await, Err(CheckpointError::NotFound { .. })));
        assert!(!storage.exists("job/chk-9/v-0").await.unwrap());
        storage.delete("job/chk-9/v-0").await.unwrap();
        storage.delete("job/chk-1/v-0").await.unwrap();
        assert!(!storage.exists("job/chk-1/v-0").await.unwrap());
        // `..` is a name, never a step out of the directory.
        storage.put("../escape", vec![1]).await.unwrap();
        assert!(store.head(&StorePath::from("escape")).await.is_err());
    }

    #[tokio::test]
    async fn discard_deletes_one_checkpoint_and_is_idempotent() {
        let (store, storage) = memory();
        for chk in ["chk-1", "chk-10"] {
            storage.put(&format!("job/{chk}/v-0"), vec![1]).await.unwrap();
            storage.put(&format!("job/{chk}/_metadata"), vec![2]).await.unwrap();
        }
        storage.discard("job", 1).await.unwrap();
        storage.discard("job", 1).await.unwrap();
        storage.discard("other", 3).await.unwrap();
        let left: Vec<String> = store.list(None).map_ok(|m| m.location.to_string()).try_collect().await.unwrap();
        assert_eq!(left, vec!["job/chk-10/_metadata".to_string(), "job/chk-10/v-0".to_string()]);
    }

    #[tokio::test]
    async fn bounded_reads_refuse_large_objects_unread() {
        let (_, storage) = memory();
        storage.put("big", vec![0u8; 100]).await.unwrap();
        storage.put("empty", Vec::<u8>::new()).await.unwrap();
        assert_eq!(storage.get_bounded("big", 100).await.unwrap().len(), 100);
        assert!(matches!(storage.get_bounded("big", 99).await, Err(CheckpointError::TooLarge { .. })));
        assert!(storage.get_bounded("empty", 0).await.unwrap().is_empty());
        assert!(matches!(storage.get_bounded("none", 10).await, Err(CheckpointError::NotFound { .. })));
    }

    #[tokio::test]
    async fn local_directories_are_made_on_write_and_removed_once_empty() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/chk");
        // Opening does nothing on disk.
        let storage = CheckpointStorage::open(&format!("file://{}", dir.display())).unwrap();
        assert!(!dir.exists());
        assert_eq!(storage.dir(), dir.display().to_string());
        assert_eq!(storage.location("j/chk-1"), format!("file:{}/j/chk-1", dir.display()));
        storage.put("job/chk-1/v-0", vec![7u8; 10]).await.unwrap();
        storage.put("job/chk-1/sub/deeper", vec![1]).await.unwrap();
        storage.put("job/chk-10/v-0", vec![1]).await.unwrap();
        assert_eq!(std::fs::read(dir.join("job/chk-1/v-0")).unwrap(), vec![7u8; 10]);
        storage.discard("job", 1).await.unwrap();
        assert!(!dir.join("job/chk-1").exists(), "the checkpoint's directory goes");
        assert!(dir.join("job/chk-10/v-0").exists(), "another checkpoint stays");
        storage.discard("job", 1).await.unwrap();
        // A FIFO is refused unread (reading it would block).
        let fifo = dir.join("fifo");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        assert!(matches!(storage.get_bounded("fifo", 1 << 20).await, Err(CheckpointError::TooLarge { .. })));
        assert!(!storage.exists("fifo").await.unwrap());
        assert!(!storage.exists("job").await.unwrap(), "a directory is no object");
        // prepare makes the directory; relative paths are refused.
        let fresh = CheckpointStorage::open(&root.path().join("b/./c/../d/").display().to_string()).unwrap();
        fresh.prepare().await.unwrap();
        assert!(root.path().join("b/d").is_dir());
        assert!(matches!(CheckpointStorage::open("relative/dir"), Err(CheckpointError::Location { .. })));
        assert!(CheckpointStorage::open("file:relative").is_err());
        assert_eq!(CheckpointStorage::open("file:/x/").unwrap().dir(), "/x");
    }

    #[tokio::test]
    async fn memory_urls_share_a_store_per_name() {
        let a = CheckpointStorage::open("memory://storage-test/chk/").unwrap();
        assert_eq!(a.dir(), "memory://storage-test/chk");
        assert_eq!(a.location("j/chk-1"), "memory://storage-test/chk/j/chk-1");
        a.put("j/chk-1/_metadata", vec![1]).await.unwrap();
        let b = CheckpointStorage::open("memory://storage-test/chk/j").unwrap();
        assert_eq!(&b.get("chk-1/_metadata").await.unwrap()[..], &[1]);
        b.prepare().await.unwrap();
        let other = CheckpointStorage::open("memory://storage-other/chk").unwrap();
        assert!(!other.exists("j/chk-1/_metadata").await.unwrap());
        for bad in ["memory://x/a/../b", "memory://x/a/%2E%2e/b", "memory://x/./b", "memory://bad name/x"] {
            assert!(matches!(CheckpointStorage::open(bad), Err(CheckpointError::Location { .. })), "{bad}");
        }
    }

    #[test]
    fn cloud_schemes_name_their_feature_and_unknown_ones_are_refused() {
        let built = [("s3://bucket/chk", "s3", cfg!(feature = "s3")), ("gs://bucket/chk", "gcs", cfg!(feature = "gcs"))];
        for (url, feature, built) in built.into_iter().chain([("az://container/chk", "azure", cfg!(feature = "azure"))]) {
            if !built {
                let e = CheckpointStorage::open(url).unwrap_err().to_string();
                assert!(e.contains(&format!("needs a build with the `{feature}` feature")), "{e}");
            } else if feature == "s3" {
                // Opening builds the client only: no request, no credentials needed yet.
                let s3 = CheckpointStorage::open(url).unwrap();
                assert_eq!(s3.location("j/chk-1"), "s3://bucket/chk/j/chk-1");
            }
        }
        let e = CheckpointStorage::open("ftp://host/x").unwrap_err().to_string();
        assert!(e.contains("unknown scheme 'ftp://'"), "{e}");
        assert!(CheckpointStorage::open("s3://bucket/a/../b").unwrap_err().to_string().contains("'..'"));
    }
}
