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
//!
//! No file I/O runs on the task's thread: rows are encoded into a buffer, which goes
//! to the sink's writer in chunks of [`CHUNK_BYTES`] (or after [`FLUSH_AFTER_MS`]); the
//! writer is a tokio task that runs the file operations in order, a batch of them per
//! trip to the runtime's blocking pool. The task waits for the writer
//! ([`StreamOperator::settle`]) only where it must: before a checkpoint's state is
//! written (the closed file must be in `.pending/`), after a restore (its commits and
//! removals done) and at the end of input. More than [`MAX_QUEUED_BYTES`] waiting to be
//! written holds the task's input back ([`StreamOperator::pause`]).

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use parking_lot::Mutex;
use rask_common::job::graph::FileFormat;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

mod writer;

use self::writer::{behind, room, write_files, Io, Shared};
use super::{now_ms, OperatorContext, Settling, StreamOperator};
use crate::runtime::{StreamElement, TaskError};

const IN_PROGRESS: &str = ".inprogress";
const PENDING: &str = ".pending";

/// Encoded rows go to the writer in chunks of this size.
pub const CHUNK_BYTES: usize = 512 << 10;
/// Rows that fill no chunk go to the writer this long after they were encoded.
pub const FLUSH_AFTER_MS: i64 = 200;
/// Bytes waiting for the writer beyond which the task's input is held back.
pub const MAX_QUEUED_BYTES: u64 = 4 << 20;

/// Encoded rows not yet handed to the writer: the Arrow writers write into it.
#[derive(Clone, Default)]
struct Spool(Arc<Mutex<Vec<u8>>>);

impl Write for Spool {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Spool {
    fn len(&self) -> usize {
        self.0.lock().len()
    }

    /// What is spooled, leaving a fresh buffer.
    fn take(&self) -> Option<Bytes> {
        let mut buf = self.0.lock();
        (!buf.is_empty()).then(|| Bytes::from(std::mem::replace(&mut *buf, Vec::with_capacity(CHUNK_BYTES))))
    }
}

/// The Arrow writer of the open part file (a new one per file: each CSV file has its
/// header).
enum Encoder {
    Csv(Box<arrow::csv::Writer<Spool>>),
    Json(arrow::json::LineDelimitedWriter<Spool>),
}

impl Encoder {
    fn new(format: FileFormat, spool: Spool) -> Self {
        match format {
            FileFormat::Json => Encoder::Json(arrow::json::LineDelimitedWriter::new(spool)),
            _ => Encoder::Csv(Box::new(arrow::csv::WriterBuilder::new().with_header(true).build(spool))),
        }
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<(), TaskError> {
        match self {
            Encoder::Csv(w) => w.write(batch)?,
            Encoder::Json(w) => w.write(batch)?,
        }
        Ok(())
    }

    /// Everything encoded is in the spool.
    fn finish(self) -> Result<(), TaskError> {
        if let Encoder::Json(mut w) = self {
            w.finish()?;
        }
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
    /// The open part file's name and encoder.
    current: Option<(String, Encoder)>,
    spool: Spool,
    /// When rows first sat in the spool without a chunk's worth (ms since the epoch).
    spooled_since: Option<i64>,
    pending: Vec<(u64, String)>,
    /// The latest barrier seen: files are named by the checkpoint they belong to.
    last_checkpoint: u64,
    writer: mpsc::UnboundedSender<Io>,
    shared: Arc<Shared>,
    /// Commands were sent since the last settle.
    unsettled: bool,
}

impl FileSink {
    /// A sink writing under `dir` (made by the writer; an error shows when the task
    /// settles, before it runs). Must be called within the tokio runtime.
    pub fn new(dir: &str, format: FileFormat, ctx: &OperatorContext) -> Result<Self, TaskError> {
        let dir = PathBuf::from(dir);
        let shared = Arc::new(Shared::default());
        let (writer, commands) = mpsc::unbounded_channel();
        tokio::spawn(write_files(commands, shared.clone()));
        let mut sink = Self {
            format,
            subtask: ctx.subtask,
            job: ctx.job_id.chars().take(6).collect(),
            attempt: ctx.attempt,
            transactional: ctx.transactional,
            seq: 0,
            current: None,
            spool: Spool::default(),
            spooled_since: None,
            pending: Vec::new(),
            last_checkpoint: 0,
            writer,
            shared,
            unsettled: false,
            dir,
        };
        let mut dirs = vec![sink.dir.clone()];
        if sink.transactional {
            dirs.extend([sink.dir.join(IN_PROGRESS), sink.dir.join(PENDING)]);
        }
        sink.send(Io::Dirs(dirs));
        Ok(sink)
    }

    fn send(&mut self, io: Io) {
        if let Io::Write(bytes) = &io {
            self.shared.queued.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        }
        self.unsettled |= !matches!(io, Io::Settle(_));
        // The writer ends only after the sink is gone.
        let _ = self.writer.send(io);
    }

    /// The writer's error, once it failed.
    fn check(&self) -> Result<(), TaskError> {
        match self.shared.failed.load(Ordering::Relaxed) {
            true => Err(TaskError::operator("file sink", self.shared.error.lock().clone().unwrap_or_default())),
            false => Ok(()),
        }
    }

    /// Hands what is spooled to the writer.
    fn send_spool(&mut self) {
        self.spooled_since = None;
        if let Some(bytes) = self.spool.take() {
            self.send(Io::Write(bytes));
        }
    }

    fn ext(&self) -> &'static str {
        if self.format == FileFormat::Json {
            "json"
        } else {
            "csv"
        }
    }

    fn encoder(&mut self) -> &mut Encoder {
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
            self.send(Io::Create(path));
            self.current = Some((name, Encoder::new(self.format, self.spool.clone())));
        }
        &mut self.current.as_mut().expect("set").1
    }

    /// Closes the open part file (its rows all sent), then moves it to `to` if given.
    fn close_current(&mut self, to: impl FnOnce(&Self, &str) -> Option<PathBuf>) -> Result<Option<String>, TaskError> {
        let Some((name, encoder)) = self.current.take() else { return Ok(None) };
        encoder.finish()?;
        self.send_spool();
        let to = to(self, &name);
        self.send(Io::Close { to });
        Ok(Some(name))
    }

    fn commit(&mut self, name: &str) {
        self.send(Io::Commit { from: self.dir.join(PENDING).join(name), to: self.dir.join(name) });
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

impl StreamOperator for FileSink {
    fn process_batch(&mut self, batch: RecordBatch, _out: &mut Vec<StreamElement>) -> Result<(), TaskError> {
        self.check()?;
        self.encoder().write(&batch)?;
        if self.spool.len() >= CHUNK_BYTES {
            self.send_spool();
        } else if self.spooled_since.is_none() {
            self.spooled_since = Some(now_ms());
        }
        Ok(())
    }

    fn next_timer(&self) -> Option<i64> {
        self.spooled_since.map(|t| t + FLUSH_AFTER_MS)
    }

    fn on_processing_time(&mut self, _now_ms: i64, _out: &mut Vec<StreamElement>) -> Result<(), TaskError> {
        self.send_spool();
        Ok(())
    }

    fn backlog(&self) -> Option<super::Backlog> {
        behind(&self.shared).then(|| Box::pin(room(self.shared.clone())) as super::Backlog)
    }

    fn prepare_checkpoint(&mut self, id: u64) -> Result<(), TaskError> {
        self.check()?;
        if !self.transactional {
            return Ok(());
        }
        self.last_checkpoint = id;
        // Pending and committed names carry the checkpoint they belong to.
        let pending = |sink: &Self, name: &str| Some(sink.dir.join(PENDING).join(epoch_name(name, id)));
        if let Some(name) = self.close_current(pending)? {
            self.pending.push((id, epoch_name(&name, id)));
        }
        Ok(())
    }

    fn settle(&mut self) -> Option<Settling> {
        if !std::mem::take(&mut self.unsettled) {
            return None;
        }
        let (answer, settled) = oneshot::channel();
        self.send(Io::Settle(answer));
        Some(Box::pin(async move {
            match settled.await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(TaskError::operator("file sink", e)),
                Err(_) => Err(TaskError::operator("file sink", "its writer stopped")),
            }
        }))
    }

    fn notify_checkpoint_complete(&mut self, id: u64) -> Result<(), TaskError> {
        let (done, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending).into_iter().partition(|(n, _)| *n <= id);
        self.pending = waiting;
        for (_, name) in done {
            self.commit(&name);
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
            self.commit(name);
        }
        // What was written after it is replayed; drop it. That includes files already
        // committed for later checkpoints when an older checkpoint is restored (the
        // newer one was unusable): their rows come again.
        let prefix = format!("part-{}-{}-", self.subtask, self.job);
        self.send(Io::Discard { dirs: vec![self.dir.join(IN_PROGRESS), self.dir.join(PENDING)], prefix });
        let prefix = format!("part-{}-{}-ck", self.subtask, self.job);
        self.send(Io::RollbackAfter { dir: self.dir.clone(), prefix, checkpoint: state.checkpoint });
        Ok(())
    }

    fn restore_state_rescaled(&mut self, state: &[u8], _keep: &dyn Fn(u64) -> bool) -> Result<(), TaskError> {
        // Files are not keyed: commit what the earlier subtask's checkpoint recorded.
        let state: SinkState =
            serde_json::from_slice(state).map_err(|e| TaskError::operator("file sink", format!("corrupt state: {e}")))?;
        for (_, name) in &state.pending {
            self.commit(name);
        }
        Ok(())
    }

    fn finish(&mut self, _out: &mut Vec<StreamElement>) -> Result<(), TaskError> {
        self.check()?;
        // The input ended: these rows are final.
        let last = self.last_checkpoint + 1;
        let committed = |sink: &Self, name: &str| sink.transactional.then(|| sink.dir.join(epoch_name(name, last)));
        self.close_current(committed)?;
        let pending = std::mem::take(&mut self.pending);
        for (_, name) in pending {
            self.commit(&name);
        }
        Ok(())
    }
}

impl Drop for FileSink {
    fn drop(&mut self) {
        let Some((name, encoder)) = self.current.take() else { return };
        if self.transactional {
            // Cancelled or failed: the open file's rows are not covered by any
            // checkpoint, and nothing still queued is done.
            self.shared.abandoned.store(true, Ordering::Relaxed);
            self.send(Io::Abandon(self.dir.join(IN_PROGRESS).join(name)));
        } else {
            // At least once: what was written stays.
            let _ = encoder.finish();
            self.send_spool();
            self.send(Io::Close { to: None });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc as StdArc;

    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;
    use crate::runtime::memory::SlotMemory;
    use crate::runtime::printed::PrintedRows;

    fn ctx(transactional: bool, attempt: u32) -> OperatorContext {
        let slot_memory = SlotMemory::new(64 << 20);
        OperatorContext {
            job_id: "abcdef0123".into(),
            subtask: 0,
            parallelism: 1,
            printed: PrintedRows::new(slot_memory.clone()),
            slot_memory,
            attempt,
            transactional,
        }
    }

    fn batch(from: i64, rows: i64) -> RecordBatch {
        let schema = StdArc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
        RecordBatch::try_new(schema, vec![StdArc::new(Int64Array::from_iter_values(from..from + rows))]).unwrap()
    }

    async fn settle(sink: &mut FileSink) -> Result<(), TaskError> {
        match sink.settle() {
            Some(wait) => wait.await,
            None => Ok(()),
        }
    }

    fn visible(dir: &std::path::Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("part-"))
            .collect();
        names.sort();
        names
    }

    fn rows(dir: &std::path::Path) -> usize {
        visible(dir).iter().map(|n| std::fs::read_to_string(dir.join(n)).unwrap().lines().count() - 1).sum()
    }

    #[tokio::test]
    async fn exactly_once_files_become_visible_when_their_checkpoint_completes() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("out");
        let mut sink = FileSink::new(dir.to_str().unwrap(), FileFormat::Csv, &ctx(true, 0)).unwrap();
        settle(&mut sink).await.unwrap();
        let mut out = Vec::new();
        sink.process_batch(batch(0, 1000), &mut out).unwrap();
        sink.prepare_checkpoint(1).unwrap();
        settle(&mut sink).await.unwrap();
        // Acknowledged: the closed file is durable in .pending/, nothing visible yet.
        assert_eq!(std::fs::read_dir(dir.join(PENDING)).unwrap().count(), 1);
        assert!(visible(&dir).is_empty());
        let state = sink.snapshot_state().unwrap().unwrap();
        sink.process_batch(batch(1000, 500), &mut out).unwrap();
        sink.notify_checkpoint_complete(1).unwrap();
        settle(&mut sink).await.unwrap();
        assert_eq!(rows(&dir), 1000);
        // A failure now: the open file goes; a new attempt restores checkpoint 1.
        drop(sink);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let mut again = FileSink::new(dir.to_str().unwrap(), FileFormat::Csv, &ctx(true, 1)).unwrap();
        again.restore_state(&state).unwrap();
        settle(&mut again).await.unwrap();
        assert_eq!(std::fs::read_dir(dir.join(IN_PROGRESS)).unwrap().count(), 0, "the failed attempt's file is gone");
        again.process_batch(batch(1000, 500), &mut out).unwrap();
        again.finish(&mut out).unwrap();
        settle(&mut again).await.unwrap();
        assert_eq!(rows(&dir), 1500, "{:?}", visible(&dir));
    }

    #[tokio::test]
    async fn at_least_once_writes_one_part_file_in_chunks() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("out");
        let mut sink = FileSink::new(dir.to_str().unwrap(), FileFormat::Json, &ctx(false, 0)).unwrap();
        let mut out = Vec::new();
        for i in 0..100 {
            sink.process_batch(batch(i * 10_000, 10_000), &mut out).unwrap();
        }
        sink.finish(&mut out).unwrap();
        settle(&mut sink).await.unwrap();
        assert_eq!(visible(&dir), vec!["part-0.json".to_string()]);
        let text = std::fs::read_to_string(dir.join("part-0.json")).unwrap();
        assert_eq!(text.lines().count(), 1_000_000);
        assert_eq!(text.lines().last(), Some("{\"id\":999999}"));
    }

    #[tokio::test]
    async fn a_write_error_fails_the_sink() {
        let root = tempfile::tempdir().unwrap();
        let blocker = root.path().join("file");
        std::fs::write(&blocker, "not a directory").unwrap();
        let mut sink = FileSink::new(blocker.join("out").to_str().unwrap(), FileFormat::Csv, &ctx(true, 0)).unwrap();
        let e = settle(&mut sink).await.unwrap_err().to_string();
        assert!(e.contains("file sink") && e.contains("cannot create"), "{e}");
        assert!(sink.process_batch(batch(0, 1), &mut Vec::new()).is_err());
    }

    #[tokio::test]
    async fn a_sink_behind_its_writer_holds_input_back_until_the_writer_drains() {
        let shared = Arc::new(Shared::default());
        shared.queued.store(MAX_QUEUED_BYTES + 1, Ordering::Relaxed);
        let waiting = tokio::spawn(room(shared.clone()));
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "behind: the input waits");
        shared.queued.fetch_sub(2, Ordering::Relaxed);
        shared.drained.notify_waiters();
        tokio::time::timeout(std::time::Duration::from_secs(5), waiting).await.expect("woken by the drain").unwrap();
    }
}
