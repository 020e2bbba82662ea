//! The file source: a file or every file of a directory (sorted), split between
//! subtasks by file, read as text lines, CSV or JSON lines. Reading and parsing run on
//! the blocking pool and stream: a few batches are buffered ahead, never a whole file,
//! and a text line longer than [`MAX_LINE_BYTES`] fails the task instead of growing
//! without bound.

use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::StringArray;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use futures::future::BoxFuture;
use rask_common::job::connectors::file::FileSourceOptions;
use rask_common::job::graph::{FileFormat, WatermarkStrategy};

use super::{SourceContext, SourceFactory, SourceReader, WatermarkGenerator};
use crate::runtime::{StreamElement, TaskError};

const BATCH_ROWS: usize = 8192;
/// Batches read ahead of the task.
const READ_AHEAD: usize = 4;
/// A text batch is cut at this many bytes even before BATCH_ROWS lines.
const BATCH_BYTES: usize = 8 << 20;
/// The longest text line read.
pub const MAX_LINE_BYTES: u64 = 16 << 20;

pub struct FileSource {
    path: PathBuf,
    format: FileFormat,
    header: bool,
    schema: SchemaRef,
    subtask: u32,
    parallelism: u32,
    batches: Option<tokio::sync::mpsc::Receiver<Result<RecordBatch, TaskError>>>,
    emitted: u64,
    skip: u64,
    watermarks: Option<WatermarkGenerator>,
    done: bool,
    allowed: rask_common::security::AllowedPaths,
}

impl FileSource {
    pub fn new(
        path: &str,
        format: FileFormat,
        header: bool,
        watermark: Option<WatermarkStrategy>,
        schema: SchemaRef,
        subtask: u32,
        parallelism: u32,
    ) -> Self {
        Self {
            path: PathBuf::from(path),
            format,
            header,
            schema,
            subtask,
            parallelism,
            batches: None,
            emitted: 0,
            skip: 0,
            watermarks: watermark.map(WatermarkGenerator::new),
            done: false,
            allowed: Default::default(),
        }
    }

    /// Reads only files inside `allowed` (rask.io.allowed-paths).
    pub fn with_allowed_paths(mut self, allowed: rask_common::security::AllowedPaths) -> Self {
        self.allowed = allowed;
        self
    }

    /// Continues after `batches` batches (restore): they are skipped when read.
    pub fn seek(&mut self, batches: u64) {
        self.skip = batches;
    }

    /// Batches this subtask has emitted.
    pub fn position(&self) -> u64 {
        self.emitted
    }

    pub async fn next(&mut self) -> Result<Vec<StreamElement>, TaskError> {
        if self.done {
            return Ok(vec![]);
        }
        if self.batches.is_none() {
            let (path, format, header, schema, subtask, parallelism) =
                (self.path.clone(), self.format, self.header, self.schema.clone(), self.subtask, self.parallelism);
            let (tx, rx) = tokio::sync::mpsc::channel(READ_AHEAD);
            let allowed = self.allowed.clone();
            tokio::task::spawn_blocking(move || {
                let emit = |batch: RecordBatch| tx.blocking_send(Ok(batch)).is_ok();
                let files = Files { path: &path, allowed: &allowed, subtask, parallelism };
                if let Err(e) = read_files(&files, format, header, schema, emit) {
                    let _ = tx.blocking_send(Err(e));
                }
            });
            self.batches = Some(rx);
        }
        let batches = self.batches.as_mut().expect("opened above");
        // After a restore: the batches already emitted are read again and skipped.
        while self.emitted < self.skip {
            match batches.recv().await {
                Some(b) => {
                    b?;
                    self.emitted += 1;
                }
                None => break,
            }
        }
        match batches.recv().await.transpose()? {
            Some(batch) => {
                self.emitted += 1;
                let wm = match &mut self.watermarks {
                    Some(w) => w.after(&batch)?,
                    None => None,
                };
                let mut out = vec![StreamElement::Batch(batch)];
                out.extend(wm.map(StreamElement::Watermark));
                Ok(out)
            }
            None => {
                self.done = true;
                // The end of bounded input is the end of event time, as in Flink (event
                // time assigned after the source needs it too).
                Ok(vec![StreamElement::Watermark(i64::MAX), StreamElement::EndOfInput])
            }
        }
    }
}

/// Appends one line (with its newline) of `reader` to `buf`; 0 at the end of the
/// file. A line longer than MAX_LINE_BYTES fails the task.
fn read_bounded_line(reader: &mut impl std::io::BufRead, buf: &mut Vec<u8>, file: &std::path::Path) -> Result<usize, TaskError> {
    use std::io::{BufRead, Read};
    let n = reader.by_ref().take(MAX_LINE_BYTES + 1).read_until(b'\n', buf)?;
    if n as u64 > MAX_LINE_BYTES {
        return Err(TaskError::operator("file source", format!("{}: a line is longer than {MAX_LINE_BYTES} bytes", file.display())));
    }
    Ok(n)
}

/// Parses one chunk of CSV or JSON lines into batches for `emit`; false when `emit`
/// wants no more.
fn parse_chunk(
    chunk: &[u8],
    format: FileFormat,
    header: bool,
    schema: &SchemaRef,
    emit: &mut impl FnMut(RecordBatch) -> bool,
) -> Result<bool, arrow::error::ArrowError> {
    let cursor = std::io::Cursor::new(chunk);
    let batches: Box<dyn Iterator<Item = Result<RecordBatch, arrow::error::ArrowError>>> = match format {
        FileFormat::Csv => {
            Box::new(arrow::csv::ReaderBuilder::new(schema.clone()).with_header(header).with_batch_size(BATCH_ROWS).build(cursor)?)
        }
        _ => Box::new(arrow::json::ReaderBuilder::new(schema.clone()).with_batch_size(BATCH_ROWS).build(cursor)?),
    };
    for b in batches {
        if !emit(b?) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Which files a subtask reads.
struct Files<'a> {
    /// A file, or a directory whose files are read in name order.
    path: &'a std::path::Path,
    allowed: &'a rask_common::security::AllowedPaths,
    subtask: u32,
    parallelism: u32,
}

/// Reads this subtask's files in order, handing each batch to `emit`; stops early
/// when `emit` returns false (the task is gone).
fn read_files(
    files: &Files,
    format: FileFormat,
    header: bool,
    schema: SchemaRef,
    mut emit: impl FnMut(RecordBatch) -> bool,
) -> Result<(), TaskError> {
    let (path, subtask, parallelism) = (files.path, files.subtask, files.parallelism);
    let mut paths: Vec<PathBuf> = if path.is_dir() {
        std::fs::read_dir(path)?.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect()
    } else {
        vec![path.to_path_buf()]
    };
    paths.sort();
    for (i, file) in paths.iter().enumerate() {
        if i as u32 % parallelism != subtask {
            continue;
        }
        files
            .allowed
            .check_file("a file of the file source", &file.display().to_string())
            .map_err(|e| TaskError::operator("file source", e.to_string()))?;
        let f = std::io::BufReader::new(std::fs::File::open(file)?);
        let parse_error = |e: arrow::error::ArrowError| TaskError::operator("file source", format!("{}: {e}", file.display()));
        match format {
            FileFormat::Text => {
                let mut reader = f;
                let mut lines: Vec<String> = Vec::with_capacity(BATCH_ROWS);
                let mut bytes = 0usize;
                loop {
                    let mut raw = Vec::new();
                    if read_bounded_line(&mut reader, &mut raw, file)? == 0 {
                        break;
                    }
                    let mut line = String::from_utf8(raw).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
                    if line.ends_with('\n') {
                        line.pop();
                        if line.ends_with('\r') {
                            line.pop();
                        }
                    }
                    bytes += line.len();
                    lines.push(line);
                    if lines.len() == BATCH_ROWS || bytes >= BATCH_BYTES {
                        bytes = 0;
                        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(StringArray::from(std::mem::take(&mut lines)))])?;
                        if !emit(batch) {
                            return Ok(());
                        }
                    }
                }
                if !lines.is_empty() && !emit(RecordBatch::try_new(schema.clone(), vec![Arc::new(StringArray::from(lines))])?) {
                    return Ok(());
                }
            }
            FileFormat::Csv | FileFormat::Json => {
                // Records are gathered as raw lines (each bounded) into chunks of at
                // most BATCH_ROWS lines or BATCH_BYTES, cut only where CSV quotes are
                // balanced, and each chunk is parsed on its own: no record or batch
                // grows without bound.
                let mut reader = f;
                let mut chunk: Vec<u8> = Vec::new();
                let (mut lines, mut quotes, mut first) = (0usize, 0usize, true);
                loop {
                    let start = chunk.len();
                    if read_bounded_line(&mut reader, &mut chunk, file)? == 0 {
                        break;
                    }
                    if format == FileFormat::Csv {
                        quotes += chunk[start..].iter().filter(|b| **b == b'"').count();
                    }
                    lines += 1;
                    let balanced = quotes % 2 == 0;
                    if !balanced && chunk.len() as u64 > 4 * MAX_LINE_BYTES {
                        return Err(TaskError::operator(
                            "file source",
                            format!("{}: a quoted CSV field runs on for more than {} bytes", file.display(), 4 * MAX_LINE_BYTES),
                        ));
                    }
                    if balanced && (lines >= BATCH_ROWS || chunk.len() >= BATCH_BYTES) {
                        if !parse_chunk(&chunk, format, header && first, &schema, &mut emit).map_err(parse_error)? {
                            return Ok(());
                        }
                        chunk.clear();
                        (lines, first) = (0, false);
                    }
                }
                if !chunk.is_empty() && !parse_chunk(&chunk, format, header && first, &schema, &mut emit).map_err(parse_error)? {
                    return Ok(());
                }
            }
        }
    }
    Ok(())
}

/// Registers the file reader under `file` (see [`super::SOURCES`]).
pub struct Factory;

impl SourceFactory for Factory {
    type Connector = rask_common::job::connectors::file::FileSource;

    fn build(&self, o: FileSourceOptions, cx: &SourceContext<'_>) -> Result<Box<dyn SourceReader>, TaskError> {
        let source = FileSource::new(&o.path, o.format, o.header, o.watermark, cx.schema.clone(), cx.subtask, cx.parallelism);
        Ok(Box::new(source.with_allowed_paths(cx.allowed.clone())))
    }
}

impl SourceReader for FileSource {
    fn next(&mut self) -> BoxFuture<'_, Result<Vec<StreamElement>, TaskError>> {
        Box::pin(FileSource::next(self))
    }

    /// Batches emitted.
    fn position(&self) -> Vec<u64> {
        vec![FileSource::position(self)]
    }

    fn restore(&mut self, position: &[u64]) -> Result<(), TaskError> {
        self.seek(position.first().copied().unwrap_or(0));
        Ok(())
    }

    fn restore_rescaled(&mut self, _positions: &[Vec<u64>]) -> Result<(), TaskError> {
        Err(TaskError::Deployment("the file source cannot be restored at another parallelism yet".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{DataType, Field, Schema};

    fn lines_schema() -> SchemaRef {
        Arc::new(Schema::new(vec![Field::new("line", DataType::Utf8, true)]))
    }

    #[test]
    fn csv_chunks_keep_quoted_newlines_and_the_header_once() {
        let dir = std::env::temp_dir().join(format!("rask-csv-source-{}", rask_common::ids::random_hex_id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("in.csv");
        let mut text = String::from("id,note\n");
        for i in 0..20_000 {
            // Quoted fields with a newline inside, around the chunk boundaries.
            if (8_185..8_200).contains(&i) || i % 5_000 == 0 {
                text.push_str(&format!("{i},\"two\nlines, \"\"quoted\"\"\"\n"));
            } else {
                text.push_str(&format!("{i},plain\n"));
            }
        }
        std::fs::write(&file, text).unwrap();
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, true), Field::new("note", DataType::Utf8, true)]));
        let all = rask_common::security::AllowedPaths::default();
        let files = Files { path: &file, allowed: &all, subtask: 0, parallelism: 1 };
        let mut ids = Vec::new();
        read_files(&files, FileFormat::Csv, true, schema, |b| {
            let col = b.column(0).as_any().downcast_ref::<arrow::array::Int64Array>().unwrap();
            ids.extend(col.values().iter().copied());
            true
        })
        .unwrap();
        assert_eq!(ids, (0..20_000).collect::<Vec<i64>>());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn text_streams_in_batches_and_refuses_an_endless_line() {
        let dir = std::env::temp_dir().join(format!("rask-file-source-{}", rask_common::ids::random_hex_id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ok = dir.join("ok.txt");
        let text: String = (0..20_000).map(|i| format!("line {i}\r\n")).collect();
        std::fs::write(&ok, text).unwrap();
        let mut rows = Vec::new();
        let all = rask_common::security::AllowedPaths::default();
        let files = |path| Files { path, allowed: &all, subtask: 0, parallelism: 1 };
        read_files(&files(&ok), FileFormat::Text, false, lines_schema(), |b| {
            rows.push(b.num_rows());
            true
        })
        .unwrap();
        assert_eq!(rows, vec![8192, 8192, 3616], "batches of BATCH_ROWS lines, CRLF stripped");

        let endless = dir.join("endless.txt");
        std::fs::write(&endless, vec![b'a'; (MAX_LINE_BYTES + 10) as usize]).unwrap();
        let err = read_files(&files(&endless), FileFormat::Text, false, lines_schema(), |_| true).unwrap_err().to_string();
        assert!(err.contains("longer than"), "{err}");

        // A directory inside rask.io.allowed-paths whose entry links outside it.
        let data = dir.join("data");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::write(data.join("a.txt"), "fine\n").unwrap();
        std::os::unix::fs::symlink(&ok, data.join("b.txt")).unwrap();
        let allowed = rask_common::security::AllowedPaths::new(&[data.display().to_string()]).unwrap();
        let inside = Files { path: &data, allowed: &allowed, subtask: 0, parallelism: 1 };
        let err = read_files(&inside, FileFormat::Text, false, lines_schema(), |_| true).unwrap_err().to_string();
        assert!(err.contains("b.txt") && err.contains("rask.io.allowed-paths"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
