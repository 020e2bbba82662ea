//! The file sink's writer: a tokio task that runs the sink's file operations in order,
//! a batch of them per trip to the runtime's blocking pool, and what the sink and the
//! writer share (the bytes queued, the first error).

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};

use super::{epoch_of, MAX_QUEUED_BYTES};

/// What the writer does, in order.
pub(super) enum Io {
    /// Makes directories (with their parents).
    Dirs(Vec<PathBuf>),
    /// Creates (or truncates) the file the next writes go to.
    Create(PathBuf),
    Write(Bytes),
    /// Flushes the open file to disk and closes it; then renames it to `to`, if given.
    Close {
        to: Option<PathBuf>,
    },
    /// Makes a pending file visible. Idempotent: a file already visible is fine.
    Commit {
        from: PathBuf,
        to: PathBuf,
    },
    /// Removes the files in `dirs` whose names start with `prefix` (uncommitted files
    /// of this job's subtask).
    Discard {
        dirs: Vec<PathBuf>,
        prefix: String,
    },
    /// Removes the committed files in `dir` starting with `prefix` that belong to
    /// checkpoints after `checkpoint`.
    RollbackAfter {
        dir: PathBuf,
        prefix: String,
        checkpoint: u64,
    },
    /// The task was cancelled or failed: close the open file and remove it (the rows of
    /// an in-progress file are not covered by any checkpoint).
    Abandon(PathBuf),
    /// Answered once everything before it ran: Ok, or the writer's first error.
    Settle(oneshot::Sender<Result<(), String>>),
}

/// What the sink and its writer share.
#[derive(Default)]
pub(super) struct Shared {
    /// Bytes sent to the writer and not yet written.
    pub(super) queued: AtomicU64,
    /// Notified whenever the writer has taken bytes off `queued` (or failed).
    pub(super) drained: tokio::sync::Notify,
    /// The writer failed: its error, also answered to every settle.
    pub(super) failed: AtomicBool,
    pub(super) error: Mutex<Option<String>>,
    /// The sink was dropped before its end (exactly-once mode): what is still queued
    /// is not done, but for commits (of completed checkpoints) and `Abandon`.
    pub(super) abandoned: AtomicBool,
}

/// Whether more than MAX_QUEUED_BYTES wait for a writer that has not failed.
pub(super) fn behind(shared: &Shared) -> bool {
    shared.queued.load(Ordering::Relaxed) > MAX_QUEUED_BYTES && !shared.failed.load(Ordering::Relaxed)
}

/// Resolves once the writer is no longer [`behind`], woken by its drains.
pub(super) async fn room(shared: Arc<Shared>) {
    loop {
        // Registered before the check: a drain in between is not missed.
        let drained = shared.drained.notified();
        tokio::pin!(drained);
        drained.as_mut().enable();
        if !behind(&shared) {
            return;
        }
        drained.await;
    }
}

/// The writer's state, moved to the blocking pool and back for each batch of commands.
pub(super) struct FileWriter {
    pub(super) file: Option<(PathBuf, File)>,
    pub(super) shared: Arc<Shared>,
}

impl FileWriter {
    fn run(&mut self, io: Io) {
        if let Io::Write(bytes) = &io {
            self.shared.queued.fetch_sub(bytes.len() as u64, Ordering::Relaxed);
            self.shared.drained.notify_waiters();
        }
        let abandoned = self.shared.abandoned.load(Ordering::Relaxed);
        let failed = self.shared.failed.load(Ordering::Relaxed);
        let result = match io {
            Io::Settle(answer) => {
                let _ = answer.send(match failed {
                    true => Err(self.shared.error.lock().clone().unwrap_or_default()),
                    false => Ok(()),
                });
                Ok(())
            }
            Io::Abandon(path) => {
                self.file = None;
                remove(&path)
            }
            // A completed checkpoint's files are committed whatever becomes of the task.
            io @ Io::Commit { .. } => self.step(io),
            _ if failed || abandoned => Ok(()),
            io => self.step(io),
        };
        if let Err(e) = result {
            let mut error = self.shared.error.lock();
            if error.is_none() {
                *error = Some(e);
                self.shared.failed.store(true, Ordering::Relaxed);
                self.shared.drained.notify_waiters();
            }
        }
    }

    fn step(&mut self, io: Io) -> Result<(), String> {
        match io {
            Io::Dirs(dirs) => {
                for dir in dirs {
                    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
                }
            }
            Io::Create(path) => {
                let file = File::create(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
                self.file = Some((path, file));
            }
            Io::Write(bytes) => {
                let (path, file) = self.file.as_mut().ok_or("a write without an open file (please report)")?;
                file.write_all(&bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            }
            Io::Close { to } => {
                let (path, file) = self.file.take().ok_or("a close without an open file (please report)")?;
                file.sync_all().map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                drop(file);
                if let Some(to) = to {
                    std::fs::rename(&path, &to).map_err(|e| format!("cannot move {} to {}: {e}", path.display(), to.display()))?;
                }
            }
            Io::Commit { from, to } => match std::fs::rename(&from, &to) {
                Ok(()) => {}
                Err(_) if to.exists() => {}
                Err(e) => return Err(format!("cannot commit {}: {e}", from.display())),
            },
            Io::Discard { dirs, prefix } => {
                for dir in dirs {
                    let Ok(entries) = std::fs::read_dir(&dir) else { continue };
                    for entry in entries.flatten() {
                        if entry.file_name().to_string_lossy().starts_with(&prefix) {
                            remove(&entry.path())?;
                        }
                    }
                }
            }
            Io::RollbackAfter { dir, prefix, checkpoint } => {
                let entries = std::fs::read_dir(&dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
                for entry in entries.flatten() {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    if name.starts_with(&prefix) && epoch_of(&name).is_some_and(|e| e > checkpoint) {
                        tracing::warn!("file sink: removing {name}, written after checkpoint {checkpoint} that the job restarts from");
                        remove(&entry.path())?;
                    }
                }
            }
            Io::Abandon(_) | Io::Settle(_) => unreachable!("handled in run"),
        }
        Ok(())
    }
}

/// Removes a file; one already gone (an earlier attempt's writer removed it) is fine.
fn remove(path: &std::path::Path) -> Result<(), String> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(format!("cannot remove {}: {e}", path.display())),
        _ => Ok(()),
    }
}

/// The sink's writer: runs the commands in order, each batch of those waiting in one
/// trip to the blocking pool. Ends when the sink is gone and every command ran.
pub(super) async fn write_files(mut commands: mpsc::UnboundedReceiver<Io>, shared: Arc<Shared>) {
    let mut writer = Some(FileWriter { file: None, shared });
    let mut batch = Vec::with_capacity(16);
    while commands.recv_many(&mut batch, 16).await > 0 {
        let mut w = writer.take().expect("the writer came back");
        let mut todo = std::mem::take(&mut batch);
        let trip = tokio::task::spawn_blocking(move || {
            for io in todo.drain(..) {
                w.run(io);
            }
            (w, todo)
        });
        match trip.await {
            Ok((w, empty)) => {
                writer = Some(w);
                batch = empty;
            }
            // The runtime is shutting down, or a command panicked: settles waiting
            // on the dropped commands see the writer gone.
            Err(_) => return,
        }
    }
}
