//! The `file` connectors (planning and checking). As a source: options `path` (a file,
//! or a directory whose files are read in name order; relative to the job file; it must
//! exist), `format` (`csv` (default), `json` lines, or `text`: one `line STRING`
//! column), `header` (CSV: the first line is a header; default true), `fields` (the
//! columns `{name, type}`, required for csv and json) and an optional `watermark`. As a
//! sink: `path` (a directory, relative to the job file) and `format` (`csv` (default)
//! or `json`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use serde::{Deserialize, Serialize};

use super::{plan_watermark, validate_absolute_path, validate_watermark, PlanContext, PlannedSource, SinkConnector, SourceConnector};
use crate::job::error::JobFileError;
use crate::job::graph::{FileFormat, WatermarkStrategy};
use crate::job::spec::{line_of, SinkSpec, SourceSpec};
use crate::job::types::{parse_type, TYPE_NAMES};
use crate::job::validate::InvalidJobGraph;

/// The file source's options in the JobGraph.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FileSourceOptions {
    /// Absolute path of the file or directory.
    pub path: String,
    pub format: FileFormat,
    /// CSV: the first line of each file is a header.
    pub header: bool,
    pub watermark: Option<WatermarkStrategy>,
}

/// The file sink's options in the JobGraph.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FileSinkOptions {
    /// Absolute path of the directory the part files go to.
    pub path: String,
    pub format: FileFormat,
}

/// The `file` source connector.
pub struct FileSource;

impl SourceConnector for FileSource {
    type Options = FileSourceOptions;
    const NAME: &'static str = "file";
    const OPTIONS: &'static [&'static str] = &["path", "format", "header", "fields"];

    fn plan(&self, s: &SourceSpec, cx: &PlanContext<'_>) -> Result<PlannedSource<FileSourceOptions>, JobFileError> {
        let path = s.path.as_ref().ok_or_else(|| cx.error(cx.line, "path", "the file connector needs a path"))?;
        let format = match s.format.as_ref().map(|f| (line_of(f), f.value.to_ascii_lowercase())) {
            None => FileFormat::Csv,
            Some((_, f)) if f == "csv" => FileFormat::Csv,
            Some((_, f)) if f == "json" => FileFormat::Json,
            Some((_, f)) if f == "text" => FileFormat::Text,
            Some((line, other)) => return Err(cx.error(line, "format", format!("unknown format '{other}' (csv, json or text)"))),
        };
        let resolved = cx.resolve(&path.value);
        if !resolved.exists() {
            return Err(cx.error(line_of(path), "path", format!("no such file or directory: {}", resolved.display())));
        }
        let schema = match format {
            FileFormat::Text => Arc::new(Schema::new(vec![Field::new("line", DataType::Utf8, true)])),
            _ => columns(s, cx)?,
        };
        let watermark = plan_watermark(s, &schema, cx)?;
        let absolute = std::fs::canonicalize(&resolved).unwrap_or(resolved);
        Ok(PlannedSource {
            schema,
            event_time: watermark.as_ref().map(|w| w.column),
            options: FileSourceOptions {
                path: absolute.display().to_string(),
                format,
                header: s.header.unwrap_or(format == FileFormat::Csv),
                watermark,
            },
        })
    }

    fn validate(&self, o: &FileSourceOptions, what: &str, outputs: usize) -> Result<(), InvalidJobGraph> {
        validate_watermark(o.watermark.as_ref(), what, outputs)?;
        validate_absolute_path(&o.path, what)
    }

    fn paths<'a>(&self, o: &'a FileSourceOptions) -> Vec<&'a str> {
        vec![&o.path]
    }
}

/// The columns of a csv or json file, from `fields`.
fn columns(s: &SourceSpec, cx: &PlanContext<'_>) -> Result<SchemaRef, JobFileError> {
    if s.fields.is_empty() {
        return Err(cx.error(cx.line, "fields", "csv and json files need their columns under `fields`"));
    }
    let mut out = Vec::new();
    for (j, f) in s.fields.iter().enumerate() {
        let ty = parse_type(&f.value.ty.value).ok_or_else(|| {
            cx.error(
                line_of(&f.value.ty),
                &format!("fields[{j}].type"),
                format!("unknown type '{}' (use one of {TYPE_NAMES})", f.value.ty.value),
            )
        })?;
        out.push(Field::new(&f.value.name.value, ty, true));
    }
    Ok(Arc::new(Schema::new(out)))
}

/// The `file` sink connector.
pub struct FileSink;

impl SinkConnector for FileSink {
    type Options = FileSinkOptions;
    const NAME: &'static str = "file";
    const OPTIONS: &'static [&'static str] = &["path", "format"];

    fn plan(&self, s: &SinkSpec, _input: &Schema, cx: &PlanContext<'_>) -> Result<FileSinkOptions, JobFileError> {
        let path = s.path.as_ref().ok_or_else(|| cx.error(cx.line, "path", "the file sink needs a path (a directory)"))?;
        let format = match s.format.as_ref().map(|f| (line_of(f), f.value.to_ascii_lowercase())) {
            None => FileFormat::Csv,
            Some((_, f)) if f == "csv" => FileFormat::Csv,
            Some((_, f)) if f == "json" => FileFormat::Json,
            Some((line, other)) => return Err(cx.error(line, "format", format!("unknown format '{other}' (csv or json)"))),
        };
        Ok(FileSinkOptions { path: absolute(&cx.resolve(&path.value)).display().to_string(), format })
    }

    fn validate(&self, o: &FileSinkOptions, what: &str, _inputs: usize) -> Result<(), InvalidJobGraph> {
        validate_absolute_path(&o.path, what)
    }

    fn paths<'a>(&self, o: &'a FileSinkOptions) -> Vec<&'a str> {
        vec![&o.path]
    }
}

/// `p` made absolute against the working directory (it need not exist yet).
fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().map(|d| d.join(p)).unwrap_or_else(|_| p.to_path_buf())
    }
}
