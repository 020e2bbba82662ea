//! Connectors on the planning side: the sources and sinks a job file names with
//! `connector:`, each registered by name in [`SOURCES`] or [`SINKS`]. A connector plans
//! its operator from the job file (checks its options, derives its schema) into typed
//! options that travel in the JobGraph as `Source { connector, options }` /
//! `Sink { connector, options }`, and checks those options again, decoded into the
//! same typed struct, whenever a JobGraph arrives (a REST body is untrusted). The
//! TaskManager keeps the matching registry of runtime constructors, keyed by the same
//! [`SourceConnector::NAME`]. Adding a connector: one file here, one file in the
//! TaskManager, and a line in each registry (its job-file keys, if new, are fields of
//! [`SourceSpec`]/[`SinkSpec`]).

pub mod blackhole;
pub mod datagen;
pub mod file;
pub mod nexmark;
pub mod print;
pub mod socket;

use std::fmt;
use std::path::{Path, PathBuf};

use arrow::datatypes::{DataType, Schema, SchemaRef};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde::Serialize;

use super::error::JobFileError;
use super::graph::WatermarkStrategy;
use super::spec::{line_of, SinkSpec, SourceSpec};
use super::types::{column_names, type_name};
use super::validate::InvalidJobGraph;
use crate::config::values::parse_duration;

/// The source connectors, by name. Order is the order error messages list them in.
pub static SOURCES: &[&dyn ErasedSource] = &[&datagen::Datagen, &file::FileSource, &socket::Socket, &nexmark::Nexmark];

/// The sink connectors, by name. Order is the order error messages list them in.
pub static SINKS: &[&dyn ErasedSink] = &[&print::Print, &file::FileSink, &blackhole::Blackhole];

/// Whether a connector reads (source) or writes (sink).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Source,
    Sink,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Source => "source",
            Role::Sink => "sink",
        })
    }
}

/// A connector name that no registry entry has; the message lists the registered ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {role} connector '{name}' ({known})")]
pub struct UnknownConnector {
    pub role: Role,
    pub name: String,
    /// The registered names, as "a, b or c".
    pub known: String,
}

/// Options of a JobGraph operator that do not decode into its connector's typed struct.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the options of the {connector} {role} do not decode: {message}")]
pub struct BadOptions {
    pub role: Role,
    pub connector: &'static str,
    pub message: String,
}

/// "a, b or c"
fn known(names: impl Iterator<Item = &'static str>) -> String {
    let names: Vec<&str> = names.collect();
    match names.split_last() {
        None => String::new(),
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

/// The source connector registered as `name` (exact, lower case).
pub fn source(name: &str) -> Result<&'static dyn ErasedSource, UnknownConnector> {
    SOURCES.iter().copied().find(|c| c.name() == name).ok_or_else(|| UnknownConnector {
        role: Role::Source,
        name: name.to_string(),
        known: known(SOURCES.iter().map(|c| c.name())),
    })
}

/// The sink connector registered as `name` (exact, lower case).
pub fn sink(name: &str) -> Result<&'static dyn ErasedSink, UnknownConnector> {
    SINKS.iter().copied().find(|c| c.name() == name).ok_or_else(|| UnknownConnector {
        role: Role::Sink,
        name: name.to_string(),
        known: known(SINKS.iter().map(|c| c.name())),
    })
}

/// Decodes a JobGraph operator's options into the typed struct of connector `C`.
pub fn decode_source_options<C: SourceConnector>(options: &serde_json::Value) -> Result<C::Options, BadOptions> {
    C::Options::deserialize(options).map_err(|e| BadOptions { role: Role::Source, connector: C::NAME, message: e.to_string() })
}

/// Decodes a JobGraph operator's options into the typed struct of connector `C`.
pub fn decode_sink_options<C: SinkConnector>(options: &serde_json::Value) -> Result<C::Options, BadOptions> {
    C::Options::deserialize(options).map_err(|e| BadOptions { role: Role::Sink, connector: C::NAME, message: e.to_string() })
}

/// What planning a source yields.
pub struct PlannedSource<O> {
    /// The source's output columns.
    pub schema: SchemaRef,
    /// Its options, as the JobGraph carries them.
    pub options: O,
    /// The output column that carries event time, if the source emits watermarks.
    pub event_time: Option<usize>,
}

/// Where a connector's part of a job file is, for its errors, and where the job file's
/// relative paths lead.
pub struct PlanContext<'a> {
    /// The job file (errors name it).
    pub file: &'a Path,
    /// The job file's directory: relative paths are relative to it.
    pub base: &'a Path,
    /// The source's or sink's field path, e.g. `sources[0]`.
    pub field: &'a str,
    /// The line the source or sink starts at.
    pub line: u32,
}

impl PlanContext<'_> {
    /// An error at `line` in `<field>.<option>` (the source or sink itself when
    /// `option` is empty).
    pub fn error(&self, line: u32, option: &str, message: impl Into<String>) -> JobFileError {
        let field = if option.is_empty() { self.field.to_string() } else { format!("{}.{option}", self.field) };
        JobFileError { file: self.file.to_path_buf(), line, column: 0, field, message: message.into() }
    }

    /// A path the job file names, resolved against its directory.
    pub fn resolve(&self, path: &str) -> PathBuf {
        self.base.join(path)
    }
}

/// A source connector's planning and checking, with its options typed. Implemented by a
/// unit struct listed in [`SOURCES`].
pub trait SourceConnector: Sync + 'static {
    /// The operator's options in the JobGraph. Decoding refuses unknown fields.
    type Options: Serialize + DeserializeOwned;
    /// The name job files give in `connector:` (lower case), unique among sources.
    const NAME: &'static str;
    /// The job-file keys the connector takes besides `name`, `connector`,
    /// `parallelism`, `uid` and `watermark` (spelled as in the job file); a key of
    /// another connector is an error, never silently ignored.
    const OPTIONS: &'static [&'static str];

    /// Plans the source `spec` describes: checks its options, derives its output
    /// columns and typed options. Fails with an error naming the line and field; reads
    /// the file system at most to check that paths exist. Deterministic for a given
    /// spec and file system.
    fn plan(&self, spec: &SourceSpec, cx: &PlanContext<'_>) -> Result<PlannedSource<Self::Options>, JobFileError>;

    /// Checks options that came in a JobGraph (untrusted) against the bounds of
    /// [`limits`](super::limits), before anything is sized by them; `what` names the
    /// operator in the message, `outputs` is its output column count. Pure.
    fn validate(&self, options: &Self::Options, what: &str, outputs: usize) -> Result<(), InvalidJobGraph>;

    /// The paths the operator reads, to check against `rask.io.allowed-paths`.
    fn paths<'a>(&self, _options: &'a Self::Options) -> Vec<&'a str> {
        Vec::new()
    }
}

/// A sink connector's planning and checking, with its options typed. Implemented by a
/// unit struct listed in [`SINKS`].
pub trait SinkConnector: Sync + 'static {
    /// The operator's options in the JobGraph. Decoding refuses unknown fields.
    type Options: Serialize + DeserializeOwned;
    /// The name job files give in `connector:` (lower case), unique among sinks.
    const NAME: &'static str;
    /// The job-file keys the connector takes besides `name`, `connector`, `input`,
    /// `parallelism`, `uid` and `partition`; a key of another connector is an error.
    const OPTIONS: &'static [&'static str];

    /// Plans the sink `spec` describes, reading rows of `input`: checks its options
    /// and returns them typed. Fails with an error naming the line and field; no side
    /// effects. Deterministic for a given spec.
    fn plan(&self, spec: &SinkSpec, input: &Schema, cx: &PlanContext<'_>) -> Result<Self::Options, JobFileError>;

    /// Checks options that came in a JobGraph (untrusted) against the bounds of
    /// [`limits`](super::limits); `what` names the operator, `inputs` is its input
    /// column count. Pure.
    fn validate(&self, options: &Self::Options, what: &str, inputs: usize) -> Result<(), InvalidJobGraph>;

    /// The paths the operator writes, to check against `rask.io.allowed-paths`.
    fn paths<'a>(&self, _options: &'a Self::Options) -> Vec<&'a str> {
        Vec::new()
    }
}

/// What the planner and the validator use of a source connector: [`SourceConnector`]
/// with its options as JSON. Implemented for every `SourceConnector`.
pub trait ErasedSource: Sync {
    /// [`SourceConnector::NAME`].
    fn name(&self) -> &'static str;
    /// [`SourceConnector::OPTIONS`].
    fn options(&self) -> &'static [&'static str];
    /// [`SourceConnector::plan`], the options encoded as the JobGraph carries them.
    fn plan(&self, spec: &SourceSpec, cx: &PlanContext<'_>) -> Result<PlannedSource<serde_json::Value>, JobFileError>;
    /// Decodes `options` and runs [`SourceConnector::validate`] on them.
    fn validate(&self, options: &serde_json::Value, what: &str, outputs: usize) -> Result<(), InvalidJobGraph>;
    /// Decodes `options` and returns [`SourceConnector::paths`].
    fn paths(&self, options: &serde_json::Value) -> Result<Vec<String>, BadOptions>;
}

impl<C: SourceConnector> ErasedSource for C {
    fn name(&self) -> &'static str {
        C::NAME
    }

    fn options(&self) -> &'static [&'static str] {
        C::OPTIONS
    }

    fn plan(&self, spec: &SourceSpec, cx: &PlanContext<'_>) -> Result<PlannedSource<serde_json::Value>, JobFileError> {
        let planned = SourceConnector::plan(self, spec, cx)?;
        let options = serde_json::to_value(&planned.options)
            .map_err(|e| cx.error(cx.line, "", format!("the {} options do not encode: {e}", C::NAME)))?;
        Ok(PlannedSource { schema: planned.schema, options, event_time: planned.event_time })
    }

    fn validate(&self, options: &serde_json::Value, what: &str, outputs: usize) -> Result<(), InvalidJobGraph> {
        let typed = decode_source_options::<C>(options).map_err(|e| InvalidJobGraph(format!("{what}: {e}")))?;
        SourceConnector::validate(self, &typed, what, outputs)
    }

    fn paths(&self, options: &serde_json::Value) -> Result<Vec<String>, BadOptions> {
        let typed = decode_source_options::<C>(options)?;
        Ok(SourceConnector::paths(self, &typed).into_iter().map(str::to_string).collect())
    }
}

/// What the planner and the validator use of a sink connector: [`SinkConnector`] with
/// its options as JSON. Implemented for every `SinkConnector`.
pub trait ErasedSink: Sync {
    /// [`SinkConnector::NAME`].
    fn name(&self) -> &'static str;
    /// [`SinkConnector::OPTIONS`].
    fn options(&self) -> &'static [&'static str];
    /// [`SinkConnector::plan`], the options encoded as the JobGraph carries them.
    fn plan(&self, spec: &SinkSpec, input: &Schema, cx: &PlanContext<'_>) -> Result<serde_json::Value, JobFileError>;
    /// Decodes `options` and runs [`SinkConnector::validate`] on them.
    fn validate(&self, options: &serde_json::Value, what: &str, inputs: usize) -> Result<(), InvalidJobGraph>;
    /// Decodes `options` and returns [`SinkConnector::paths`].
    fn paths(&self, options: &serde_json::Value) -> Result<Vec<String>, BadOptions>;
}

impl<C: SinkConnector> ErasedSink for C {
    fn name(&self) -> &'static str {
        C::NAME
    }

    fn options(&self) -> &'static [&'static str] {
        C::OPTIONS
    }

    fn plan(&self, spec: &SinkSpec, input: &Schema, cx: &PlanContext<'_>) -> Result<serde_json::Value, JobFileError> {
        let options = SinkConnector::plan(self, spec, input, cx)?;
        serde_json::to_value(&options).map_err(|e| cx.error(cx.line, "", format!("the {} options do not encode: {e}", C::NAME)))
    }

    fn validate(&self, options: &serde_json::Value, what: &str, inputs: usize) -> Result<(), InvalidJobGraph> {
        let typed = decode_sink_options::<C>(options).map_err(|e| InvalidJobGraph(format!("{what}: {e}")))?;
        SinkConnector::validate(self, &typed, what, inputs)
    }

    fn paths(&self, options: &serde_json::Value) -> Result<Vec<String>, BadOptions> {
        let typed = decode_sink_options::<C>(options)?;
        Ok(SinkConnector::paths(self, &typed).into_iter().map(str::to_string).collect())
    }
}

/// The source's `watermark:` against its output columns: the event-time column (a
/// TIMESTAMP) and the bounded out-of-orderness.
pub fn plan_watermark(spec: &SourceSpec, schema: &Schema, cx: &PlanContext<'_>) -> Result<Option<WatermarkStrategy>, JobFileError> {
    let Some(w) = &spec.watermark else {
        return Ok(None);
    };
    let col = &w.value.column;
    let index = schema.index_of(&col.value).map_err(|_| {
        cx.error(line_of(col), "watermark.column", format!("unknown column '{}' (columns: {})", col.value, column_names(schema)))
    })?;
    if !matches!(schema.field(index).data_type(), DataType::Timestamp(_, _)) {
        return Err(cx.error(
            line_of(col),
            "watermark.column",
            format!(
                "type mismatch: the event-time column must be TIMESTAMP, '{}' is {}",
                col.value,
                type_name(schema.field(index).data_type())
            ),
        ));
    }
    let delay = match &w.value.max_out_of_orderness {
        Some(d) => parse_duration(&d.value).map_err(|e| cx.error(line_of(d), "watermark.max-out-of-orderness", e))?.as_millis() as i64,
        None => 0,
    };
    Ok(Some(WatermarkStrategy { column: index, max_out_of_orderness_ms: delay }))
}

/// Checks a watermark that came in a JobGraph: its column is an output column and its
/// out-of-orderness is not negative.
pub fn validate_watermark(watermark: Option<&WatermarkStrategy>, what: &str, outputs: usize) -> Result<(), InvalidJobGraph> {
    match watermark {
        Some(w) if w.column >= outputs || w.max_out_of_orderness_ms < 0 => {
            Err(InvalidJobGraph(format!("{what}'s watermark names column {} of {outputs}, or a negative out-of-orderness", w.column)))
        }
        _ => Ok(()),
    }
}

/// Checks a file path that came in a JobGraph: bounded and absolute.
pub fn validate_absolute_path(path: &str, what: &str) -> Result<(), InvalidJobGraph> {
    super::validate::string(&format!("{what}'s path"), path)?;
    if !path.starts_with('/') {
        return Err(InvalidJobGraph(format!("{what}'s path '{path}' is not an absolute file path")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_connector_lists_the_registered_ones() {
        let e = source("kafka").err().expect("not registered");
        assert_eq!(e.to_string(), "unknown source connector 'kafka' (datagen, file, socket or nexmark)");
        let e = sink("jdbc").err().expect("not registered");
        assert_eq!(e.to_string(), "unknown sink connector 'jdbc' (print, file or blackhole)");
    }

    #[test]
    fn names_are_unique_per_role() {
        for (i, a) in SOURCES.iter().enumerate() {
            assert!(SOURCES[i + 1..].iter().all(|b| b.name() != a.name()), "source {} twice", a.name());
        }
        for (i, a) in SINKS.iter().enumerate() {
            assert!(SINKS[i + 1..].iter().all(|b| b.name() != a.name()), "sink {} twice", a.name());
        }
    }

    #[test]
    fn options_of_a_graph_decode_strictly() {
        let datagen = source("datagen").unwrap();
        let e = datagen.validate(&serde_json::json!({"seed": 1, "fields": [], "bogus": 1}), "operator 'x'", 0).unwrap_err();
        assert!(e.0.contains("do not decode") && e.0.contains("bogus"), "{e}");
        let e = sink("print").unwrap().validate(&serde_json::json!("not an object"), "operator 'x'", 1).unwrap_err();
        assert!(e.0.contains("print sink"), "{e}");
    }
}
