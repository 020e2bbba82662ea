//! The file source: a file or every file of a directory (sorted), split between
//! subtasks by file, read as text lines, CSV or JSON lines. Reading and parsing run on
//! the blocking pool.

use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::StringArray;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use rask_common::job::graph::{FileFormat, WatermarkStrategy};

use super::WatermarkGenerator;
use crate::runtime::{StreamElement, TaskError};

const BATCH_ROWS: usize = 8192;

pub struct FileSource {
    path: PathBuf,
    format: FileFormat,
    header: bool,
    schema: SchemaRef,
    subtask: u32,
    parallelism: u32,
    batches: Option<std::vec::IntoIter<RecordBatch>>,
    emitted: u64,
    skip: u64,
    watermarks: Option<WatermarkGenerator>,
    done: bool,
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
        }
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
            let batches = tokio::task::spawn_blocking(move || read_all(&path, format, header, schema, subtask, parallelism))
                .await
                .map_err(|e| TaskError::Io(std::io::Error::other(e.to_string())))??;
            let mut batches = batches.into_iter();
            for _ in 0..self.skip {
                batches.next();
            }
            self.emitted = self.skip;
            self.batches = Some(batches);
        }
        match self.batches.as_mut().and_then(|b| b.next()) {
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
                let mut out = Vec::new();
                if self.watermarks.is_some() {
                    out.push(StreamElement::Watermark(i64::MAX));
                }
                out.push(StreamElement::EndOfInput);
                Ok(out)
            }
        }
    }
}

fn read_all(
    path: &std::path::Path,
    format: FileFormat,
    header: bool,
    schema: SchemaRef,
    subtask: u32,
    parallelism: u32,
) -> Result<Vec<RecordBatch>, TaskError> {
    let mut files: Vec<PathBuf> = if path.is_dir() {
        std::fs::read_dir(path)?.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect()
    } else {
        vec![path.to_path_buf()]
    };
    files.sort();
    let mut out = Vec::new();
    for (i, file) in files.iter().enumerate() {
        if i as u32 % parallelism != subtask {
            continue;
        }
        let f = std::fs::File::open(file)?;
        match format {
            FileFormat::Text => {
                let text = std::io::read_to_string(f)?;
                let lines: Vec<&str> = text.lines().collect();
                for chunk in lines.chunks(BATCH_ROWS) {
                    out.push(RecordBatch::try_new(schema.clone(), vec![Arc::new(StringArray::from(chunk.to_vec()))])?);
                }
            }
            FileFormat::Csv => {
                let reader = arrow::csv::ReaderBuilder::new(schema.clone()).with_header(header).with_batch_size(BATCH_ROWS).build(f)?;
                for b in reader {
                    out.push(b.map_err(|e| TaskError::operator("file source", format!("{}: {e}", file.display())))?);
                }
            }
            FileFormat::Json => {
                let reader =
                    arrow::json::ReaderBuilder::new(schema.clone()).with_batch_size(BATCH_ROWS).build(std::io::BufReader::new(f))?;
                for b in reader {
                    out.push(b.map_err(|e| TaskError::operator("file source", format!("{}: {e}", file.display())))?);
                }
            }
        }
    }
    Ok(out)
}
