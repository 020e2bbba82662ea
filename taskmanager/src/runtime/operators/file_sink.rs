//! The file sink: CSV or JSON lines, part files per subtask.
//!
//! With checkpointing it commits in two phases, so that after any failure and restore
//! every row is in the visible output exactly once: rows go to an in-progress file
//! (`<path>/.inprogress/`); at barrier n that file is closed and moved to
//! `<path>/.pending/`, recorded in the checkpoint; when checkpoint n completes (or the
//! job is restored from it) the pending files become visible as `<path>/part-*`. Files
//! written after the last completed checkpoint are discarded on restore (their rows
//! are replayed). Without checkpointing it writes `<path>/part-<subtask>.<ext>`
//! directly (at least once).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use arrow::record_batch::RecordBatch;
use rask_common::job::graph::FileFormat;
use serde::{Deserialize, Serialize};

use super::{OperatorContext, StreamOperator};
use crate::runtime::{StreamElement, TaskError};

const IN_PROGRESS: &str = ".inprogress";
const PENDING: &str = ".pending";

enum Writer {
    Csv(Box<arrow::csv::Writer<BufWriter<File>>>),
    Json(arrow::json::LineDelimitedWriter<BufWriter<File>>),
}

impl Writer {
    fn create(path: &Path, format: FileFormat) -> Result<Self, TaskError> {
        let file = BufWriter::new(File::create(path)?);
        Ok(match format {
            FileFormat::Json => Writer::Json(arrow::json::LineDelimitedWriter::new(file)),
            _ => Writer::Csv(Box::new(arrow::csv::WriterBuilder::new().with_header(true).build(file))),
        })
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<(), TaskError> {
        match self {
            Writer::Csv(w) => w.write(batch)?,
            Writer::Json(w) => w.write(batch)?,
        }
        Ok(())
    }

    /// Flushes everything to the file and closes it.
    fn close(self) -> Result<(), TaskError> {
        let mut file = match self {
            Writer::Csv(w) => w.into_inner(),
            Writer::Json(mut w) => {
                w.finish()?;
                w.into_inner()
            }
        };
        file.flush()?;
        file.into_inner().map_err(|e| TaskError::Io(e.into_error()))?.sync_all()?;
        Ok(())
    }
}

/// What a checkpoint records: its id and the pending files (checkpoint id, name).
#[derive(Debug, Default, Serialize, Deserialize)]
struct SinkState {
    checkpoint: u64,
    pending: Vec<(u64, String)>,
}

pub struct FileSink {
    dir: PathBuf,
    format: FileFormat,
    subtask: u32,
    /// The first six characters of the job id: names never collide across jobs.
    job: String,
    attempt: u32,
    transactional: bool,
    seq: u64,
    current: Option<(String, Writer)>,
    pending: Vec<(u64, String)>,
    /// The latest barrier seen: files are named by the checkpoint they belong to.
    last_checkpoint: u64,
}

impl FileSink {
    pub fn new(dir: &str, format: FileFormat, ctx: &OperatorContext) -> Result<Self, TaskError> {
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir)?;
        if ctx.transactional {
            std::fs::create_dir_all(dir.join(IN_PROGRESS))?;
            std::fs::create_dir_all(dir.join(PENDING))?;
        }
        Ok(Self {
            dir,
            format,
            subtask: ctx.subtask,
            job: ctx.job_id.chars().take(6).collect(),
            attempt: ctx.attempt,
            transactional: ctx.transactional,
            seq: 0,
            current: None,
            pending: Vec::new(),
            last_checkpoint: 0,
        })
    }

    fn ext(&self) -> &'static str {
        if self.format == FileFormat::Json {
            "json"
        } else {
            "csv"
        }
    }

    fn writer(&mut self) -> Result<&mut Writer, TaskError> {
        if self.current.is_none() {
            let (name, path) = if self.transactional {
                let name = format!("part-{}-{}-{}-{}.{}", self.subtask, self.job, self.attempt, self.seq, self.ext());
                self.seq += 1;
                let path = self.dir.join(IN_PROGRESS).join(&name);
                (name, path)
            } else {
                let name = format!("part-{}.{}", self.subtask, self.ext());
                let path = self.dir.join(&name);
                (name, path)
            };
            self.current = Some((name, Writer::create(&path, self.format)?));
        }
        Ok(&mut self.current.as_mut().expect("set").1)
    }

    /// Makes a pending file visible. Idempotent: a file already visible is fine.
    fn commit(&self, name: &str) -> Result<(), TaskError> {
        let from = self.dir.join(PENDING).join(name);
        let to = self.dir.join(name);
        match std::fs::rename(&from, &to) {
            Ok(()) => Ok(()),
            Err(_) if to.exists() => Ok(()),
            Err(e) => Err(TaskError::operator("file sink", format!("cannot commit {}: {e}", from.display()))),
        }
    }

    /// Removes this job's and subtask's in-progress and pending files other than `keep`.
    fn discard_uncommitted(&self, keep: &[(u64, String)]) -> Result<(), TaskError> {
        let prefix = format!("part-{}-{}-", self.subtask, self.job);
        for sub in [IN_PROGRESS, PENDING] {
            let Ok(entries) = std::fs::read_dir(self.dir.join(sub)) else { continue };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with(&prefix) && !keep.iter().any(|(_, k)| k == &name) {
                    std::fs::remove_file(entry.path())?;
                }
            }
        }
        Ok(())
    }
}

/// `part-<subtask>-<job>-<attempt>-<seq>.<ext>` as committed for checkpoint `id`:
/// `part-<subtask>-<job>-ck<id, 10 digits>-<attempt>-<seq>.<ext>`.
fn epoch_name(name: &str, id: u64) -> String {
    let mut parts = name.splitn(4, '-');
    let (part, subtask, job, tail) =
        (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    format!("{part}-{subtask}-{job}-ck{id:010}-{tail}")
}

/// The checkpoint a committed name belongs to.
fn epoch_of(name: &str) -> Option<u64> {
    name.split('-').find_map(|p| p.strip_prefix("ck")).and_then(|d| d.parse().ok())
}

impl FileSink {
    /// Deletes this subtask's committed files of checkpoints after `checkpoint`.
    fn rollback_after(&self, checkpoint: u64) -> Result<(), TaskError> {
        let prefix = format!("part-{}-{}-ck", self.subtask, self.job);
        for entry in std::fs::read_dir(&self.dir)?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(&prefix) && epoch_of(&name).is_some_and(|e| e > checkpoint) {
                tracing::warn!("file sink: removing {name}, written after checkpoint {checkpoint} that the job restarts from");
                std::fs::remove_file(entry.path())?;
            }
        }
        Ok(())
    }
}

impl StreamOperator for FileSink {
    fn process_batch(&mut self, batch: RecordBatch, _out: &mut Vec<StreamElement>) -> Result<(), TaskError> {
        self.writer()?.write(&batch)
    }

    fn prepare_checkpoint(&mut self, id: u64) -> Result<(), TaskError> {
        if !self.transactional {
            return Ok(());
        }
        self.last_checkpoint = id;
        if let Some((name, writer)) = self.current.take() {
            writer.close()?;
            // Pending and committed names carry the checkpoint they belong to.
            let committed = epoch_name(&name, id);
            std::fs::rename(self.dir.join(IN_PROGRESS).join(&name), self.dir.join(PENDING).join(&committed))?;
            self.pending.push((id, committed));
        }
        Ok(())
    }

    fn notify_checkpoint_complete(&mut self, id: u64) -> Result<(), TaskError> {
        let (done, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending).into_iter().partition(|(n, _)| *n <= id);
        self.pending = waiting;
        for (_, name) in done {
            self.commit(&name)?;
        }
        Ok(())
    }

    fn snapshot_state(&self) -> Result<Option<Vec<u8>>, TaskError> {
        if !self.transactional {
            return Ok(None);
        }
        let state = SinkState { checkpoint: self.last_checkpoint, pending: self.pending.clone() };
        Ok(Some(serde_json::to_vec(&state).expect("serializes")))
    }

    fn restore_state(&mut self, state: &[u8]) -> Result<(), TaskError> {
        let state: SinkState =
            serde_json::from_slice(state).map_err(|e| TaskError::operator("file sink", format!("corrupt state: {e}")))?;
        // The restored checkpoint completed: everything it recorded is committed.
        for (_, name) in &state.pending {
            self.commit(name)?;
        }
        // What was written after it is replayed; drop it. That includes files already
        // committed for later checkpoints when an older checkpoint is restored (the
        // newer one was unusable): their rows come again.
        self.discard_uncommitted(&[])?;
        self.rollback_after(state.checkpoint)
    }

    fn restore_state_rescaled(&mut self, state: &[u8], _keep: &dyn Fn(u64) -> bool) -> Result<(), TaskError> {
        // Files are not keyed: commit what the earlier subtask's checkpoint recorded.
        let state: SinkState =
            serde_json::from_slice(state).map_err(|e| TaskError::operator("file sink", format!("corrupt state: {e}")))?;
        for (_, name) in &state.pending {
            self.commit(name)?;
        }
        Ok(())
    }

    fn finish(&mut self, _out: &mut Vec<StreamElement>) -> Result<(), TaskError> {
        if let Some((name, writer)) = self.current.take() {
            writer.close()?;
            if self.transactional {
                // The input ended: these rows are final.
                let committed = epoch_name(&name, self.last_checkpoint + 1);
                std::fs::rename(self.dir.join(IN_PROGRESS).join(&name), self.dir.join(committed))?;
            }
        }
        let pending = std::mem::take(&mut self.pending);
        for (_, name) in pending {
            self.commit(&name)?;
        }
        Ok(())
    }
}

impl Drop for FileSink {
    fn drop(&mut self) {
        // Cancelled or failed: the open file's rows are not covered by any checkpoint.
        if let Some((name, _)) = self.current.take() {
            if self.transactional {
                let _ = std::fs::remove_file(self.dir.join(IN_PROGRESS).join(name));
            }
        }
    }
}
