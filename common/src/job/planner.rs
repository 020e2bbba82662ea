//! The program step: job file -> validated, planned JobGraph. Resolves inputs, checks
//! every expression against the schema flowing into it, derives schemas, picks edge
//! partitioning (forward, hash by key, rebalance) and chains operators joined by a
//! forward edge at equal parallelism into one vertex, as Flink does.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use super::error::JobFileError;
use super::expr::{self, ExprError};
use super::graph::*;
use super::spec::{self, JobSpec, Literal, Spanned};
use super::types::{is_numeric, parse_type, timestamp_type, type_name, TYPE_NAMES};
use crate::config::values::parse_duration;

/// Options of the program step that come from outside the job file.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// `--parallelism` / `parallelism.default`: overrides the job file's default.
    pub parallelism: Option<u32>,
    /// Default `pipeline.max-parallelism` when the file sets none.
    pub max_parallelism: Option<u32>,
    /// `parallelism.default`: used when neither the command line nor the file sets one.
    pub default_parallelism: Option<u32>,
}

/// Reads, validates and plans a job file.
pub fn plan_job_file(path: &Path, options: &PlanOptions) -> Result<JobGraph, JobFileError> {
    let text = std::fs::read_to_string(path).map_err(|e| JobFileError {
        file: path.to_path_buf(),
        line: 0,
        field: String::new(),
        message: match (e.kind(), path.is_relative()) {
            (std::io::ErrorKind::NotFound, true) => format!(
                "cannot read the job file: {e} (relative to {}; the examples are in examples/ of the repository)",
                std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default()
            ),
            _ => format!("cannot read the job file: {e}"),
        },
    })?;
    plan_job_text(&text, path, options)
}

/// Plans job-file text; `path` names the file in errors and anchors relative paths.
pub fn plan_job_text(text: &str, path: &Path, options: &PlanOptions) -> Result<JobGraph, JobFileError> {
    let spec: JobSpec = serde_saphyr::from_str(text).map_err(|e| {
        let mut error = JobFileError::yaml(path, &e);
        if text.lines().any(|l| l.starts_with("jobs:")) && !text.lines().any(|l| l.starts_with("sources:")) {
            error.message.push_str(" (this looks like an application file: run it with `rask run-application`)");
        }
        error
    })?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    Planner { file: path.to_path_buf(), base, nodes: Vec::new(), by_name: HashMap::new(), max_p: 128 }.plan(spec, options)
}

/// What planning one step yields: operator name, kind, output schema, hash keys of
/// its input edge, parallelism, event-time column, and the select list's column order.
type PlannedStep = (String, OperatorKind, SchemaRef, Option<Vec<usize>>, u32, Option<usize>, Option<Vec<String>>);

/// A logical operator before chaining.
struct Node {
    name: String,
    uid: String,
    parallelism: u32,
    inputs: Vec<usize>,
    /// Keys (input column indices) the edge into this node is hashed by.
    hash_keys: Option<Vec<usize>>,
    /// An explicit rebalance or broadcast of the node's input.
    exchange: Option<Partitioning>,
    descriptor: OperatorDescriptor,
    schema: SchemaRef,
    /// Event-time column of the output, if the stream carries watermarks.
    rowtime: Option<usize>,
}

struct Planner {
    file: PathBuf,
    base: PathBuf,
    nodes: Vec<Node>,
    by_name: HashMap<String, usize>,
    max_p: u32,
}

fn line_of<T>(s: &Spanned<T>) -> u32 {
    s.referenced.line() as u32
}

impl Planner {
    fn error(&self, line: u32, field: impl Into<String>, message: impl Into<String>) -> JobFileError {
        JobFileError { file: self.file.clone(), line, field: field.into(), message: message.into() }
    }

    fn expr_error(&self, line: u32, field: &str) -> impl Fn(ExprError) -> JobFileError + '_ {
        let field = field.to_string();
        move |e| self.error(line, field.clone(), e.0)
    }

    fn add(&mut self, node: Node, line: u32, field: &str) -> Result<usize, JobFileError> {
        if self.by_name.contains_key(&node.name) {
            return Err(self.error(line, field, format!("the name '{}' is used twice", node.name)));
        }
        let i = self.nodes.len();
        self.by_name.insert(node.name.clone(), i);
        self.nodes.push(node);
        Ok(i)
    }

    fn plan(mut self, spec: JobSpec, options: &PlanOptions) -> Result<JobGraph, JobFileError> {
        let default_p = match (options.parallelism, &spec.parallelism) {
            (Some(p), _) => p,
            (None, Some(p)) => p.value,
            (None, None) => options.default_parallelism.unwrap_or(1),
        };
        let (p_line, p_field) = match (options.parallelism, &spec.parallelism) {
            (Some(_), _) => (0, "--parallelism".to_string()),
            (None, Some(p)) => (line_of(p), "parallelism".to_string()),
            (None, None) => (0, "parallelism.default".to_string()),
        };
        if default_p == 0 {
            return Err(self.error(p_line, p_field, "must be at least 1"));
        }
        let max_p = spec.max_parallelism.as_ref().map(|m| m.value).or(options.max_parallelism).unwrap_or(128);
        if max_p == 0 || max_p > super::limits::MAX_PARALLELISM {
            return Err(self.error(
                spec.max_parallelism.as_ref().map(line_of).unwrap_or(0),
                "max-parallelism",
                format!("{max_p} is outside 1..={} (Flink's limit)", super::limits::MAX_PARALLELISM),
            ));
        }
        if default_p > max_p {
            return Err(self.error(p_line, p_field, format!("{default_p} exceeds max-parallelism ({max_p})")));
        }
        self.max_p = max_p;
        if spec.sources.is_empty() {
            return Err(self.error(0, "sources", "a job needs at least one source"));
        }
        if spec.sinks.is_empty() {
            return Err(self.error(0, "sinks", "a job needs at least one sink"));
        }
        for (i, source) in spec.sources.iter().enumerate() {
            self.source(i, source, default_p, max_p)?;
        }
        let mut previous: Option<usize> = if spec.sources.len() == 1 { Some(0) } else { None };
        let mut pending_keys: Option<(Vec<String>, u32)> = None;
        for (i, step) in spec.pipeline.iter().enumerate() {
            let field = format!("pipeline[{i}]");
            let line = line_of(step);
            let s = &step.value;
            let inputs = self.inputs(s.input.as_ref(), previous, line, &field)?;
            if let Some(key_by) = &s.key_by {
                if s.filter.is_some()
                    || s.map.is_some()
                    || s.flat_map.is_some()
                    || s.aggregate.is_some()
                    || s.window.is_some()
                    || s.top_n.is_some()
                    || s.state_machine.is_some()
                {
                    return Err(self.error(line, &field, "a step does exactly one thing: key_by stands alone"));
                }
                let keys: Vec<String> = key_by.value.split(',').map(|k| k.trim().to_string()).filter(|k| !k.is_empty()).collect();
                let schema = self.nodes[inputs[0]].schema.clone();
                for k in &keys {
                    if schema.index_of(k).is_err() {
                        return Err(self.error(
                            line_of(key_by),
                            format!("{field}.key_by"),
                            format!(
                                "unknown column '{k}' (columns: {}); key_by takes column names — compute a key with map first",
                                names(&schema)
                            ),
                        ));
                    }
                }
                if keys.is_empty() {
                    return Err(self.error(line_of(key_by), format!("{field}.key_by"), "names no column"));
                }
                pending_keys = Some((keys, line_of(key_by)));
                previous = Some(inputs[0]);
                continue;
            }
            if pending_keys.is_some() && s.input.is_some() && Some(inputs[0]) != previous {
                return Err(self.error(line, format!("{field}.input"), "a step after key_by reads the keyed stream: drop `input` here"));
            }
            let node = self.step(i, s, &inputs, line, &field, default_p, pending_keys.take())?;
            previous = Some(node);
        }
        if let Some((_, line)) = pending_keys {
            return Err(self.error(line, "pipeline", "key_by must be followed by aggregate, window, top_n or state_machine"));
        }
        for (i, sink) in spec.sinks.iter().enumerate() {
            self.sink(i, sink, previous, default_p)?;
        }
        self.check_acyclic()?;
        let file = self.file.clone();
        let graph = self.chain(spec.name.value.clone(), max_p);
        super::validate::validate_job_graph(&graph).map_err(|e| JobFileError { file, line: 0, field: String::new(), message: e.0 })?;
        Ok(graph)
    }

    fn inputs(
        &self,
        input: Option<&Spanned<spec::Inputs>>,
        previous: Option<usize>,
        line: u32,
        field: &str,
    ) -> Result<Vec<usize>, JobFileError> {
        match input {
            Some(spanned) => {
                let mut out = Vec::new();
                for name in spanned.value.names() {
                    let i = *self.by_name.get(&name).ok_or_else(|| {
                        let known: Vec<&str> = self.nodes.iter().map(|n| n.name.as_str()).collect();
                        self.error(
                            line_of(spanned),
                            format!("{field}.input"),
                            format!(
                                "unknown input '{name}' (known so far: {}); a step can only read sources and earlier steps",
                                known.join(", ")
                            ),
                        )
                    })?;
                    out.push(i);
                }
                if out.is_empty() {
                    return Err(self.error(line_of(spanned), format!("{field}.input"), "names no input"));
                }
                let first = self.nodes[out[0]].schema.clone();
                for &i in &out[1..] {
                    if self.nodes[i].schema.fields() != first.fields() {
                        return Err(self.error(
                            line_of(spanned),
                            format!("{field}.input"),
                            "inputs of a union must have the same columns and types",
                        ));
                    }
                }
                Ok(out)
            }
            None => previous.map(|p| vec![p]).ok_or_else(|| {
                self.error(line, format!("{field}.input"), "the job has several sources: say which this step reads with `input`")
            }),
        }
    }

    fn source(&mut self, i: usize, source: &Spanned<spec::SourceSpec>, default_p: u32, max_p: u32) -> Result<(), JobFileError> {
        let field = format!("sources[{i}]");
        let s = &source.value;
        let name = s.name.value.clone();
        let parallelism = s.parallelism.as_ref().map(|p| p.value).unwrap_or(default_p);
        if parallelism == 0 || parallelism > max_p {
            return Err(self.error(
                s.parallelism.as_ref().map(line_of).unwrap_or(line_of(source)),
                format!("{field}.parallelism"),
                format!("must be between 1 and max-parallelism ({max_p})"),
            ));
        }
        let connector = s.connector.value.to_ascii_lowercase();
        // Options of another connector are mistakes, not silently ignored.
        let given: [(&str, bool); 9] = [
            ("number-of-rows", s.number_of_rows.is_some()),
            ("rows-per-second", s.rows_per_second.is_some()),
            ("seed", s.seed.is_some()),
            ("path", s.path.is_some()),
            ("format", s.format.is_some()),
            ("header", s.header.is_some()),
            ("host", s.host.is_some()),
            ("port", s.port.is_some()),
            ("fields", !s.fields.is_empty()),
        ];
        let allowed: &[&str] = match connector.as_str() {
            "datagen" => &["number-of-rows", "rows-per-second", "seed", "fields"],
            "file" => &["path", "format", "header", "fields"],
            "socket" => &["host", "port"],
            _ => &["number-of-rows", "rows-per-second", "seed", "path", "format", "header", "host", "port", "fields"],
        };
        if let Some((option, _)) = given.iter().find(|(o, set)| *set && !allowed.contains(o)) {
            return Err(self.error(
                line_of(source),
                format!("{field}.{option}"),
                format!("'{option}' is not an option of the {connector} connector"),
            ));
        }
        if connector == "socket" && s.watermark.is_some() {
            return Err(self.error(line_of(source), format!("{field}.watermark"), "the socket source has no event-time column"));
        }
        let (schema, kind) = match connector.as_str() {
            "datagen" => {
                let mut fields = Vec::new();
                let mut gens = Vec::new();
                for (j, f) in s.fields.iter().enumerate() {
                    let (field_def, g) = self.datagen_field(&f.value, &format!("{field}.fields[{j}]"))?;
                    if fields.iter().any(|x: &Field| x.name() == field_def.name()) {
                        return Err(self.error(
                            line_of(&f.value.name),
                            format!("{field}.fields[{j}].name"),
                            format!("column '{}' appears twice", field_def.name()),
                        ));
                    }
                    fields.push(field_def);
                    gens.push(g);
                }
                if s.rows_per_second == Some(0) {
                    return Err(self.error(
                        line_of(source),
                        format!("{field}.rows-per-second"),
                        "must be at least 1 (leave it out for no limit)",
                    ));
                }
                if fields.is_empty() {
                    return Err(self.error(line_of(source), format!("{field}.fields"), "datagen needs at least one field"));
                }
                let schema = Arc::new(Schema::new(fields));
                let watermark = self.watermark(s, &schema, &field)?;
                (
                    schema,
                    OperatorKind::DatagenSource(DatagenSource {
                        number_of_rows: s.number_of_rows,
                        rows_per_second: s.rows_per_second,
                        seed: s.seed.unwrap_or(0),
                        fields: gens,
                        watermark,
                    }),
                )
            }
            "file" => {
                let path = s
                    .path
                    .as_ref()
                    .ok_or_else(|| self.error(line_of(source), format!("{field}.path"), "the file connector needs a path"))?;
                let format = match s.format.as_ref().map(|f| f.value.to_ascii_lowercase()).as_deref() {
                    None | Some("csv") => FileFormat::Csv,
                    Some("json") => FileFormat::Json,
                    Some("text") => FileFormat::Text,
                    Some(other) => {
                        return Err(self.error(
                            line_of(s.format.as_ref().unwrap()),
                            format!("{field}.format"),
                            format!("unknown format '{other}' (csv, json or text)"),
                        ))
                    }
                };
                let resolved = self.base.join(&path.value);
                if !resolved.exists() {
                    return Err(self.error(
                        line_of(path),
                        format!("{field}.path"),
                        format!("no such file or directory: {}", resolved.display()),
                    ));
                }
                let schema = match format {
                    FileFormat::Text => Arc::new(Schema::new(vec![Field::new("line", DataType::Utf8, true)])),
                    _ => self.plain_fields(s, &field, line_of(source))?,
                };
                let watermark = self.watermark(s, &schema, &field)?;
                let absolute = std::fs::canonicalize(&resolved).unwrap_or(resolved);
                (
                    schema,
                    OperatorKind::FileSource {
                        path: absolute.display().to_string(),
                        format,
                        header: s.header.unwrap_or(format == FileFormat::Csv),
                        watermark,
                    },
                )
            }
            "socket" => {
                let port = s
                    .port
                    .as_ref()
                    .ok_or_else(|| self.error(line_of(source), format!("{field}.port"), "the socket connector needs a port"))?;
                let schema = Arc::new(Schema::new(vec![Field::new("line", DataType::Utf8, true)]));
                (
                    schema,
                    OperatorKind::SocketSource {
                        host: s.host.clone().unwrap_or_else(|| "localhost".into()),
                        port: port.value,
                        watermark: None,
                    },
                )
            }
            other => {
                return Err(self.error(
                    line_of(&s.connector),
                    format!("{field}.connector"),
                    format!("unknown source connector '{other}' (datagen, file or socket)"),
                ))
            }
        };
        let rowtime = match &kind {
            OperatorKind::DatagenSource(d) => d.watermark.as_ref().map(|w| w.column),
            OperatorKind::FileSource { watermark, .. } => watermark.as_ref().map(|w| w.column),
            _ => None,
        };
        let node = Node {
            name: name.clone(),
            uid: s.uid.clone().unwrap_or_else(|| format!("source-{name}")),
            parallelism,
            inputs: vec![],
            hash_keys: None,
            exchange: None,
            descriptor: OperatorDescriptor {
                uid: String::new(),
                name: format!("Source: {name}"),
                input: Columns(vec![]),
                output: Columns::from_schema(&schema),
                kind,
            },
            schema,
            rowtime,
        };
        self.add(node, line_of(&s.name), &format!("{field}.name"))?;
        Ok(())
    }

    fn plain_fields(&self, s: &spec::SourceSpec, field: &str, line: u32) -> Result<SchemaRef, JobFileError> {
        if s.fields.is_empty() {
            return Err(self.error(line, format!("{field}.fields"), "csv and json files need their columns under `fields`"));
        }
        let mut out = Vec::new();
        for (j, f) in s.fields.iter().enumerate() {
            let ty = parse_type(&f.value.ty.value).ok_or_else(|| {
                self.error(
                    line_of(&f.value.ty),
                    format!("{field}.fields[{j}].type"),
                    format!("unknown type '{}' (use one of {TYPE_NAMES})", f.value.ty.value),
                )
            })?;
            out.push(Field::new(&f.value.name.value, ty, true));
        }
        Ok(Arc::new(Schema::new(out)))
    }

    fn watermark(&self, s: &spec::SourceSpec, schema: &Schema, field: &str) -> Result<Option<WatermarkStrategy>, JobFileError> {
        let Some(w) = &s.watermark else {
            return Ok(None);
        };
        let col = &w.value.column;
        let index = schema.index_of(&col.value).map_err(|_| {
            self.error(
                line_of(col),
                format!("{field}.watermark.column"),
                format!("unknown column '{}' (columns: {})", col.value, names(schema)),
            )
        })?;
        if !matches!(schema.field(index).data_type(), DataType::Timestamp(_, _)) {
            return Err(self.error(
                line_of(col),
                format!("{field}.watermark.column"),
                format!(
                    "type mismatch: the event-time column must be TIMESTAMP, '{}' is {}",
                    col.value,
                    type_name(schema.field(index).data_type())
                ),
            ));
        }
        let delay = match &w.value.max_out_of_orderness {
            Some(d) => parse_duration(&d.value)
                .map_err(|e| self.error(line_of(d), format!("{field}.watermark.max-out-of-orderness"), e))?
                .as_millis() as i64,
            None => 0,
        };
        Ok(Some(WatermarkStrategy { column: index, max_out_of_orderness_ms: delay }))
    }

    fn datagen_field(&self, f: &spec::FieldSpec, field: &str) -> Result<(Field, DatagenField), JobFileError> {
        let ty = parse_type(&f.ty.value).ok_or_else(|| {
            self.error(line_of(&f.ty), format!("{field}.type"), format!("unknown type '{}' (use one of {TYPE_NAMES})", f.ty.value))
        })?;
        let kind = f.kind.as_ref().map(|k| k.value.to_ascii_lowercase()).unwrap_or_else(|| "random".into());
        let kind_line = f.kind.as_ref().map(line_of).unwrap_or(line_of(&f.name));
        let is_ts = matches!(ty, DataType::Timestamp(_, _));
        let int = |l: &Option<Spanned<Literal>>, what: &str, default: i64| -> Result<i64, JobFileError> {
            match l {
                None => Ok(default),
                Some(s) => match (&s.value, is_ts) {
                    (Literal::Int(i), _) => Ok(*i),
                    (Literal::Float(x), false) => Ok(*x as i64),
                    (Literal::Text(t), true) => {
                        if what == "step" {
                            parse_duration(t)
                                .map(|d| d.as_millis() as i64)
                                .map_err(|e| self.error(line_of(s), format!("{field}.{what}"), e))
                        } else {
                            expr::parse_timestamp_millis(t).ok_or_else(|| {
                                self.error(line_of(s), format!("{field}.{what}"), format!("'{t}' is not a timestamp (YYYY-MM-DD HH:MM:SS)"))
                            })
                        }
                    }
                    (other, _) => Err(self.error(
                        line_of(s),
                        format!("{field}.{what}"),
                        format!("type mismatch: {other:?} for a {} field", type_name(&ty)),
                    )),
                },
            }
        };
        let float = |l: &Option<Spanned<Literal>>, what: &str, default: f64| -> Result<f64, JobFileError> {
            match l {
                None => Ok(default),
                Some(s) => match &s.value {
                    Literal::Int(i) => Ok(*i as f64),
                    Literal::Float(x) => Ok(*x),
                    Literal::Text(t) => {
                        Err(self.error(line_of(s), format!("{field}.{what}"), format!("type mismatch: '{t}' for a DOUBLE field")))
                    }
                },
            }
        };
        let g = match kind.as_str() {
            "sequence" => {
                if !(is_numeric(&ty) && ty != DataType::Float64 || is_ts) {
                    return Err(self.error(
                        kind_line,
                        format!("{field}.kind"),
                        format!("a sequence must be BIGINT, INT or TIMESTAMP, not {}", type_name(&ty)),
                    ));
                }
                DatagenField::Sequence { start: int(&f.start, "start", 0)?, step: int(&f.step, "step", 1)? }
            }
            "random" => match &ty {
                DataType::Int64 | DataType::Int32 | DataType::Timestamp(_, _) => {
                    if is_ts && (f.min.is_none() || f.max.is_none()) {
                        return Err(self.error(
                            kind_line,
                            format!("{field}.kind"),
                            "a random TIMESTAMP needs min and max (or use kind sequence or now)",
                        ));
                    }
                    let (min, max) =
                        (int(&f.min, "min", 0)?, int(&f.max, "max", if ty == DataType::Int32 { i32::MAX as i64 } else { i64::MAX })?);
                    if min > max {
                        return Err(self.error(kind_line, format!("{field}.min"), "min is greater than max"));
                    }
                    if ty == DataType::Int32 && (i32::try_from(min).is_err() || i32::try_from(max).is_err()) {
                        return Err(self.error(kind_line, format!("{field}.min"), "min and max of an INT field must fit in 32 bits"));
                    }
                    DatagenField::RandomInt { min, max }
                }
                DataType::Float64 => {
                    let (min, max) = (float(&f.min, "min", 0.0)?, float(&f.max, "max", 1.0)?);
                    if min > max {
                        return Err(self.error(kind_line, format!("{field}.min"), "min is greater than max"));
                    }
                    DatagenField::RandomDouble { min, max }
                }
                DataType::Utf8 => {
                    let length = f.length.unwrap_or(10);
                    if length > super::limits::MAX_DATAGEN_STRING_LENGTH {
                        return Err(self.error(
                            kind_line,
                            format!("{field}.length"),
                            format!("{length} is too long; at most {}", super::limits::MAX_DATAGEN_STRING_LENGTH),
                        ));
                    }
                    DatagenField::RandomString { length }
                }
                DataType::Boolean => DatagenField::RandomBoolean,
                _ => DatagenField::Now,
            },
            "choice" => {
                let values = f
                    .values
                    .clone()
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| self.error(kind_line, format!("{field}.values"), "choice needs a non-empty list of values"))?;
                if ty != DataType::Utf8 {
                    return Err(self.error(kind_line, format!("{field}.kind"), "choice fields must be STRING"));
                }
                DatagenField::Choice { values }
            }
            "now" if is_ts => DatagenField::Now,
            other => {
                return Err(self.error(
                    kind_line,
                    format!("{field}.kind"),
                    format!("unknown kind '{other}' (sequence, random, choice, or now for TIMESTAMP)"),
                ))
            }
        };
        Ok((Field::new(&f.name.value, ty, true), g))
    }

    #[allow(clippy::too_many_arguments)]
    fn step(
        &mut self,
        i: usize,
        s: &spec::StepSpec,
        inputs: &[usize],
        line: u32,
        field: &str,
        default_p: u32,
        keys: Option<(Vec<String>, u32)>,
    ) -> Result<usize, JobFileError> {
        let input = self.nodes[inputs[0]].schema.clone();
        let rowtime_in = self.nodes[inputs[0]].rowtime;
        let parallelism = self.parallelism(s.parallelism.as_ref(), default_p, &format!("{field}.parallelism"))?;
        let set = [
            s.filter.is_some(),
            s.map.is_some(),
            s.flat_map.is_some(),
            s.aggregate.is_some(),
            s.window.is_some(),
            s.top_n.is_some(),
            s.state_machine.is_some(),
        ];
        if set.iter().filter(|b| **b).count() != 1 {
            return Err(self.error(
                line,
                field,
                "a step needs exactly one of: filter, map, flat_map, key_by, aggregate, window, top_n, state_machine",
            ));
        }
        let key_indices = |this: &Self, keys: &Option<(Vec<String>, u32)>| -> Vec<usize> {
            let _ = this;
            keys.as_ref().map(|(k, _)| k.iter().map(|c| input.index_of(c).expect("checked")).collect()).unwrap_or_default()
        };
        let (name, kind, schema, hash_keys, parallelism, rowtime, extra_map): PlannedStep = if let Some(f) = &s.filter {
            let e = expr::compile_str(&f.value, &input).map_err(self.expr_error(line_of(f), &format!("{field}.filter")))?;
            if e.data_type() != DataType::Boolean {
                return Err(self.error(
                    line_of(f),
                    format!("{field}.filter"),
                    format!("type mismatch: a filter must be BOOLEAN, '{}' is {}", f.value, type_name(&e.data_type())),
                ));
            }
            ("Filter".into(), OperatorKind::Filter { predicate: f.value.clone() }, input.clone(), None, parallelism, rowtime_in, None)
        } else if let Some(m) = &s.map {
            let (exprs, schema) = self.projection(&m.value, &input, line_of(m), &format!("{field}.map"))?;
            let rowtime = rowtime_in.and_then(|rt| exprs.iter().position(|e| e == input.field(rt).name()));
            ("Map".into(), OperatorKind::Map { expressions: exprs }, schema, None, parallelism, rowtime, None)
        } else if let Some(fm) = &s.flat_map {
            let col = &fm.value.split;
            let idx = input.index_of(&col.value).map_err(|_| {
                self.error(
                    line_of(col),
                    format!("{field}.flat_map.split"),
                    format!("unknown column '{}' (columns: {})", col.value, names(&input)),
                )
            })?;
            if input.field(idx).data_type() != &DataType::Utf8 {
                return Err(self.error(
                    line_of(col),
                    format!("{field}.flat_map.split"),
                    format!("type mismatch: split needs a STRING column, '{}' is {}", col.value, type_name(input.field(idx).data_type())),
                ));
            }
            let mut fields: Vec<Field> =
                input.fields().iter().enumerate().filter(|(j, _)| *j != idx).map(|(_, f)| f.as_ref().clone()).collect();
            fields.push(Field::new(&fm.value.into.value, DataType::Utf8, true));
            (
                "FlatMap".into(),
                OperatorKind::FlatMapSplit {
                    column: col.value.clone(),
                    delimiter: fm.value.delimiter.clone(),
                    normalize: fm.value.normalize,
                },
                Arc::new(Schema::new(fields)),
                None,
                parallelism,
                None,
                None,
            )
        } else if let Some(a) = &s.aggregate {
            let keys_idx = key_indices(self, &keys);
            let (aggs, order) =
                self.aggregates(&a.value.select.value, &input, &keys_idx, line_of(&a.value.select), &format!("{field}.aggregate.select"))?;
            let mut fields: Vec<Field> = keys_idx.iter().map(|&k| input.field(k).clone()).collect();
            fields.extend(aggs.iter().map(|c| agg_field(c, &input)));
            let p = if keys_idx.is_empty() { 1 } else { parallelism };
            let name = if keys_idx.is_empty() { "GlobalAggregate" } else { "KeyedAggregate" };
            (
                name.into(),
                OperatorKind::Aggregate { keys: keys_idx.clone(), aggregates: aggs },
                Arc::new(Schema::new(fields)),
                Some(keys_idx),
                p,
                None,
                Some(order),
            )
        } else if let Some(w) = &s.window {
            let wf = format!("{field}.window");
            let w = &w.value;
            let size = parse_duration(&w.size.value).map_err(|e| self.error(line_of(&w.size), format!("{wf}.size"), e))?.as_millis() as i64;
            if size <= 0 {
                return Err(self.error(line_of(&w.size), format!("{wf}.size"), "must be greater than 0"));
            }
            let slide = match (w.kind.value.to_ascii_lowercase().as_str(), &w.slide) {
                ("tumbling", None) => size,
                ("tumbling", Some(sl)) => {
                    return Err(self.error(line_of(sl), format!("{wf}.slide"), "tumbling windows take no slide (use type: sliding)"))
                }
                ("sliding", Some(sl)) => {
                    let v = parse_duration(&sl.value).map_err(|e| self.error(line_of(sl), format!("{wf}.slide"), e))?.as_millis() as i64;
                    if v <= 0 || size % v != 0 {
                        return Err(self.error(line_of(sl), format!("{wf}.slide"), "must be greater than 0 and divide the size"));
                    }
                    v
                }
                ("sliding", None) => return Err(self.error(line_of(&w.kind), format!("{wf}.slide"), "sliding windows need a slide")),
                (other, _) => {
                    return Err(self.error(
                        line_of(&w.kind),
                        format!("{wf}.type"),
                        format!("unknown window type '{other}' (tumbling or sliding)"),
                    ))
                }
            };
            let event_time = match w.time.value.to_ascii_lowercase().as_str() {
                "event" => true,
                "processing" => false,
                other => {
                    return Err(self.error(line_of(&w.time), format!("{wf}.time"), format!("unknown time '{other}' (event or processing)")))
                }
            };
            if event_time && rowtime_in.is_none() {
                return Err(self.error(
                    line_of(&w.time),
                    format!("{wf}.time"),
                    "event-time windows need a source with a `watermark` (and the event-time column kept by every map before)",
                ));
            }
            let keys_idx = key_indices(self, &keys);
            let (aggs, order) = self.aggregates(&w.select.value, &input, &keys_idx, line_of(&w.select), &format!("{wf}.select"))?;
            let mut fields = vec![Field::new("window_start", timestamp_type(), false), Field::new("window_end", timestamp_type(), false)];
            fields.extend(keys_idx.iter().map(|&k| input.field(k).clone()));
            fields.extend(aggs.iter().map(|c| agg_field(c, &input)));
            let p = if keys_idx.is_empty() { 1 } else { parallelism };
            let kind_name = match (slide == size, event_time) {
                (true, true) => "TumblingEventTimeWindows",
                (true, false) => "TumblingProcessingTimeWindows",
                (false, true) => "SlidingEventTimeWindows",
                (false, false) => "SlidingProcessingTimeWindows",
            };
            let mut order_all = vec!["window_start".to_string(), "window_end".to_string()];
            order_all.extend(order);
            (
                format!("Window({kind_name}({size}))"),
                OperatorKind::Window(WindowOperator {
                    size_ms: size,
                    slide_ms: slide,
                    event_time,
                    time_column: if event_time { rowtime_in } else { None },
                    keys: keys_idx.clone(),
                    aggregates: aggs,
                }),
                Arc::new(Schema::new(fields)),
                Some(keys_idx),
                p,
                Some(1),
                Some(order_all),
            )
        } else if let Some(sm) = &s.state_machine {
            let sf = format!("{field}.state_machine");
            let keys_idx = key_indices(self, &keys);
            if keys_idx.is_empty() {
                return Err(self.error(line, &sf, "state_machine runs per key: put a key_by before it"));
            }
            let ev = &sm.value.event;
            let event_column = input.index_of(&ev.value).map_err(|_| {
                self.error(line_of(ev), format!("{sf}.event"), format!("unknown column '{}' (columns: {})", ev.value, names(&input)))
            })?;
            if input.field(event_column).data_type() != &DataType::Utf8 {
                return Err(self.error(
                    line_of(ev),
                    format!("{sf}.event"),
                    format!(
                        "type mismatch: the event column must be STRING, '{}' is {}",
                        ev.value,
                        type_name(input.field(event_column).data_type())
                    ),
                ));
            }
            let mut transitions = Vec::new();
            let mut seen = HashSet::new();
            for (j, t) in sm.value.transitions.iter().enumerate() {
                if !seen.insert((t.value.from.clone(), t.value.event.clone())) {
                    return Err(self.error(
                        line_of(t),
                        format!("{sf}.transitions[{j}]"),
                        format!("a second transition from '{}' on '{}'", t.value.from, t.value.event),
                    ));
                }
                transitions.push(Transition { from: t.value.from.clone(), event: t.value.event.clone(), to: t.value.to.clone() });
            }
            if !transitions.iter().any(|t| t.from == sm.value.initial.value) {
                return Err(self.error(
                    line_of(&sm.value.initial),
                    format!("{sf}.initial"),
                    format!("no transition leaves the initial state '{}'", sm.value.initial.value),
                ));
            }
            let mut fields: Vec<Field> = keys_idx.iter().map(|&k| input.field(k).clone()).collect();
            fields.push(Field::new("state", DataType::Utf8, false));
            fields.push(Field::new("event", DataType::Utf8, true));
            (
                "StateMachine".into(),
                OperatorKind::StateMachine { keys: keys_idx.clone(), event_column, initial: sm.value.initial.value.clone(), transitions },
                Arc::new(Schema::new(fields)),
                Some(keys_idx),
                parallelism,
                None,
                None,
            )
        } else {
            let t = s.top_n.as_ref().expect("one is set");
            let tf = format!("{field}.top_n");
            if t.value.n.value == 0 {
                return Err(self.error(line_of(&t.value.n), format!("{tf}.n"), "must be at least 1"));
            }
            let order = expr::parse_order_by(&t.value.order_by.value)
                .map_err(self.expr_error(line_of(&t.value.order_by), &format!("{tf}.order-by")))?;
            let mut order_by = Vec::new();
            for (e, desc) in order {
                let col = expr::default_name(&e)
                    .ok_or_else(|| self.error(line_of(&t.value.order_by), format!("{tf}.order-by"), "order-by takes column names"))?;
                let idx = input.index_of(&col).map_err(|_| {
                    self.error(
                        line_of(&t.value.order_by),
                        format!("{tf}.order-by"),
                        format!("unknown column '{col}' (columns: {})", names(&input)),
                    )
                })?;
                order_by.push((idx, desc));
            }
            let mut partition: Vec<usize> = key_indices(self, &keys);
            if partition.is_empty() {
                if let Ok(we) = input.index_of("window_end") {
                    partition.push(we);
                }
            }
            let mut fields = vec![Field::new("rank", DataType::Int64, false)];
            fields.extend(input.fields().iter().map(|f| f.as_ref().clone()));
            let p = if partition.is_empty() { 1 } else { parallelism };
            (
                "TopN".into(),
                OperatorKind::TopN { n: t.value.n.value, partition_keys: partition.clone(), order_by },
                Arc::new(Schema::new(fields)),
                Some(partition),
                p,
                None,
                None,
            )
        };
        if keys.is_some() && s.aggregate.is_none() && s.window.is_none() && s.top_n.is_none() && s.state_machine.is_none() {
            return Err(self.error(line, field, "key_by must be followed by aggregate, window, top_n or state_machine"));
        }
        let step_name = s.name.as_ref().map(|n| n.value.clone()).unwrap_or_else(|| format!("step-{i}"));
        let uid = s.uid.clone().unwrap_or_else(|| format!("{step_name}-{}", name.split('(').next().unwrap_or("").to_ascii_lowercase()));
        let hash_keys = hash_keys.map(|k| if k.is_empty() { Vec::new() } else { k });
        let node = Node {
            name: step_name.clone(),
            uid,
            parallelism,
            inputs: inputs.to_vec(),
            hash_keys: hash_keys.filter(|k| !k.is_empty()),
            exchange: None,
            descriptor: OperatorDescriptor {
                uid: String::new(),
                name,
                input: Columns::from_schema(&input),
                output: Columns::from_schema(&schema),
                kind,
            },
            schema: schema.clone(),
            rowtime,
        };
        let _ = parallelism;
        let idx = self.add(node, line, &format!("{field}.name"))?;
        self.nodes[idx].exchange =
            self.exchange(s.partition.as_ref(), &format!("{field}.partition"), self.nodes[idx].hash_keys.is_some())?;
        // Reorder to the select list's order when it differs from keys-then-aggregates.
        match extra_map {
            Some(order) if order.iter().map(String::as_str).ne(schema.fields().iter().map(|f| f.name().as_str())) => {
                let exprs: Vec<String> = order.iter().map(|n| quote_ident(n)).collect();
                let fields: Vec<Field> = order.iter().map(|n| schema.field_with_name(n).expect("planned column").clone()).collect();
                let out = Arc::new(Schema::new(fields));
                let rowtime = self.nodes[idx].rowtime.and_then(|rt| order.iter().position(|n| n == schema.field(rt).name()));
                let p = self.nodes[idx].parallelism;
                let map = Node {
                    name: format!("{step_name}.select"),
                    uid: format!("{}-select", self.nodes[idx].uid),
                    parallelism: p,
                    inputs: vec![idx],
                    hash_keys: None,
                    exchange: None,
                    descriptor: OperatorDescriptor {
                        uid: String::new(),
                        name: "Map".into(),
                        input: Columns::from_schema(&schema),
                        output: Columns::from_schema(&out),
                        kind: OperatorKind::Map { expressions: exprs },
                    },
                    schema: out,
                    rowtime,
                };
                let m = self.nodes.len();
                self.nodes.push(map);
                // The step's name now refers to its visible output.
                self.by_name.insert(step_name, m);
                Ok(m)
            }
            _ => Ok(idx),
        }
    }

    fn projection(&self, sql: &str, input: &Schema, line: u32, field: &str) -> Result<(Vec<String>, SchemaRef), JobFileError> {
        let items = expr::parse_select_list(sql).map_err(self.expr_error(line, field))?;
        let mut exprs = Vec::new();
        let mut fields: Vec<Field> = Vec::new();
        for (e, alias) in items {
            let name = alias
                .or_else(|| expr::default_name(&e))
                .ok_or_else(|| self.error(line, field, format!("'{e}' needs a name: write '{e} AS name'")))?;
            let compiled = expr::compile(&e, input).map_err(self.expr_error(line, field))?;
            if fields.iter().any(|f| f.name() == &name) {
                return Err(self.error(line, field, format!("column '{name}' appears twice")));
            }
            fields.push(Field::new(&name, compiled.data_type(), true));
            exprs.push(format!("{e}"));
        }
        Ok((exprs, Arc::new(Schema::new(fields))))
    }

    /// Parses an aggregate select list: key columns and COUNT/SUM/MIN/MAX/AVG calls.
    /// Returns the calls and the output column order.
    fn aggregates(
        &self,
        sql: &str,
        input: &Schema,
        keys: &[usize],
        line: u32,
        field: &str,
    ) -> Result<(Vec<AggregateCall>, Vec<String>), JobFileError> {
        let items = expr::parse_select_list(sql).map_err(self.expr_error(line, field))?;
        let mut calls = Vec::new();
        let mut order = Vec::new();
        for (e, alias) in items {
            if let sqlparser::ast::Expr::Function(f) = &e {
                let fname = f.name.to_string().to_ascii_uppercase();
                let function = match fname.as_str() {
                    "COUNT" => AggregateFunction::Count,
                    "SUM" => AggregateFunction::Sum,
                    "MIN" => AggregateFunction::Min,
                    "MAX" => AggregateFunction::Max,
                    "AVG" => AggregateFunction::Avg,
                    _ => {
                        return Err(self.error(
                            line,
                            field,
                            format!("'{e}' is not an aggregate (COUNT, SUM, MIN, MAX, AVG) or a key column"),
                        ))
                    }
                };
                let args = expr::function_args(&f.args).map_err(self.expr_error(line, field))?;
                let argument = match (function, args.as_slice()) {
                    (AggregateFunction::Count, [None]) | (AggregateFunction::Count, []) => None,
                    (_, [Some(a)]) => {
                        let c = expr::compile(a, input).map_err(self.expr_error(line, field))?;
                        let t = c.data_type();
                        if function != AggregateFunction::Count
                            && !(is_numeric(&t)
                                || (matches!(t, DataType::Timestamp(_, _))
                                    && matches!(function, AggregateFunction::Min | AggregateFunction::Max)))
                        {
                            return Err(self.error(
                                line,
                                field,
                                format!("type mismatch: {fname} needs a number, '{a}' is {}", type_name(&t)),
                            ));
                        }
                        Some(a.to_string())
                    }
                    _ => return Err(self.error(line, field, format!("{fname} takes one argument"))),
                };
                let output_name = alias.ok_or_else(|| self.error(line, field, format!("'{e}' needs a name: write '{e} AS name'")))?;
                if order.contains(&output_name) || keys.iter().any(|&k| input.field(k).name() == &output_name) {
                    return Err(self.error(line, field, format!("column '{output_name}' appears twice")));
                }
                if matches!(output_name.as_str(), "window_start" | "window_end") {
                    return Err(self.error(line, field, format!("'{output_name}' is a window column; choose another name")));
                }
                order.push(output_name.clone());
                calls.push(AggregateCall { function, argument, output_name });
            } else {
                let name = expr::default_name(&e)
                    .ok_or_else(|| self.error(line, field, format!("'{e}' is neither a key column nor an aggregate")))?;
                let idx = input
                    .index_of(&name)
                    .map_err(|_| self.error(line, field, format!("unknown column '{name}' (columns: {})", names(input))))?;
                if !keys.contains(&idx) {
                    return Err(self.error(
                        line,
                        field,
                        format!("column '{name}' is not a key: select key columns (from key_by) or aggregates"),
                    ));
                }
                if alias.as_ref().is_some_and(|a| a != &name) {
                    return Err(self.error(line, field, format!("key column '{name}' cannot be renamed here; rename it with a map after")));
                }
                order.push(name);
            }
        }
        for &k in keys {
            if !order.contains(input.field(k).name()) {
                order.insert(0, input.field(k).name().clone());
            }
        }
        Ok((calls, order))
    }

    fn sink(&mut self, i: usize, sink: &Spanned<spec::SinkSpec>, previous: Option<usize>, default_p: u32) -> Result<(), JobFileError> {
        let field = format!("sinks[{i}]");
        let s = &sink.value;
        let input = match &s.input {
            Some(name) => *self
                .by_name
                .get(&name.value)
                .ok_or_else(|| self.error(line_of(name), format!("{field}.input"), format!("unknown input '{}'", name.value)))?,
            None => previous
                .ok_or_else(|| self.error(line_of(sink), format!("{field}.input"), "say which step this sink reads with `input`"))?,
        };
        let schema = self.nodes[input].schema.clone();
        let connector = s.connector.value.to_ascii_lowercase();
        let kind = match connector.as_str() {
            "print" => OperatorKind::PrintSink,
            "blackhole" => OperatorKind::BlackholeSink { rows_per_second: s.rows_per_second },
            "file" => {
                let path = s
                    .path
                    .as_ref()
                    .ok_or_else(|| self.error(line_of(sink), format!("{field}.path"), "the file sink needs a path (a directory)"))?;
                let format = match s.format.as_ref().map(|f| f.value.to_ascii_lowercase()).as_deref() {
                    None | Some("csv") => FileFormat::Csv,
                    Some("json") => FileFormat::Json,
                    Some(other) => {
                        return Err(self.error(
                            line_of(s.format.as_ref().unwrap()),
                            format!("{field}.format"),
                            format!("unknown format '{other}' (csv or json)"),
                        ))
                    }
                };
                let resolved = self.base.join(&path.value);
                OperatorKind::FileSink { path: absolute(&resolved).display().to_string(), format }
            }
            other => {
                return Err(self.error(
                    line_of(&s.connector),
                    format!("{field}.connector"),
                    format!("unknown sink connector '{other}' (print, file or blackhole)"),
                ))
            }
        };
        let name = s.name.value.clone();
        let parallelism = self.parallelism(s.parallelism.as_ref(), default_p, &format!("{field}.parallelism"))?;
        let node = Node {
            name: name.clone(),
            uid: s.uid.clone().unwrap_or_else(|| format!("sink-{name}")),
            parallelism,
            inputs: vec![input],
            hash_keys: None,
            exchange: None,
            descriptor: OperatorDescriptor {
                uid: String::new(),
                name: format!("Sink: {name}"),
                input: Columns::from_schema(&schema),
                output: Columns(vec![]),
                kind,
            },
            schema: Arc::new(Schema::empty()),
            rowtime: None,
        };
        let at = self.add(node, line_of(&s.name), &format!("{field}.name"))?;
        self.nodes[at].exchange = self.exchange(s.partition.as_ref(), &format!("{field}.partition"), false)?;
        Ok(())
    }

    /// A step's or sink's parallelism: its own (1..=max-parallelism) or the default.
    fn parallelism(&self, own: Option<&Spanned<u32>>, default_p: u32, field: &str) -> Result<u32, JobFileError> {
        match own {
            None => Ok(default_p),
            Some(p) if p.value >= 1 && p.value <= self.max_p => Ok(p.value),
            Some(p) => Err(self.error(line_of(p), field, format!("must be between 1 and max-parallelism ({})", self.max_p))),
        }
    }

    /// An explicit `partition:` of a step's or sink's input.
    fn exchange(&self, partition: Option<&Spanned<String>>, field: &str, keyed: bool) -> Result<Option<Partitioning>, JobFileError> {
        let Some(p) = partition else { return Ok(None) };
        let explicit = match p.value.to_ascii_lowercase().as_str() {
            "forward" => return Ok(None),
            "rebalance" => Partitioning::Rebalance,
            "broadcast" => Partitioning::Broadcast,
            other => {
                return Err(self.error(line_of(p), field, format!("unknown partitioning '{other}' (forward, rebalance or broadcast)")))
            }
        };
        if keyed {
            return Err(self.error(line_of(p), field, "a keyed step's input is partitioned by its key; drop `partition` or the key_by"));
        }
        Ok(Some(explicit))
    }

    /// Inputs only point backwards by construction; this guards the invariant.
    fn check_acyclic(&self) -> Result<(), JobFileError> {
        for (i, n) in self.nodes.iter().enumerate() {
            if n.inputs.iter().any(|&j| j >= i) {
                return Err(self.error(0, "pipeline", format!("cycle: '{}' reads its own output", n.name)));
            }
        }
        Ok(())
    }

    fn chain(self, name: String, max_parallelism: u32) -> JobGraph {
        let n = self.nodes.len();
        let mut consumers = vec![0usize; n];
        for node in &self.nodes {
            for &i in &node.inputs {
                consumers[i] += 1;
            }
        }
        // A node chains onto its input when: one input, forward edge, same parallelism,
        // and the input has no other consumer.
        let chains_to_input = |j: usize| -> bool {
            let node = &self.nodes[j];
            if node.inputs.len() != 1 || node.hash_keys.is_some() || node.exchange.is_some() {
                return false;
            }
            let up = node.inputs[0];
            let global = matches!(node.descriptor.kind, OperatorKind::Aggregate { ref keys, .. } if keys.is_empty())
                || matches!(node.descriptor.kind, OperatorKind::Window(ref w) if w.keys.is_empty())
                || matches!(node.descriptor.kind, OperatorKind::TopN { ref partition_keys, .. } if partition_keys.is_empty());
            !global && consumers[up] == 1 && self.nodes[up].parallelism == node.parallelism
        };
        let mut vertex_of = vec![usize::MAX; n];
        let mut vertices: Vec<(Vec<usize>, u32)> = Vec::new();
        for j in 0..n {
            if chains_to_input(j) {
                let v = vertex_of[self.nodes[j].inputs[0]];
                vertex_of[j] = v;
                vertices[v].0.push(j);
            } else {
                vertex_of[j] = vertices.len();
                vertices.push((vec![j], self.nodes[j].parallelism));
            }
        }
        let job_vertices: Vec<JobVertex> = vertices
            .iter()
            .map(|(members, parallelism)| {
                let operators: Vec<OperatorDescriptor> = members
                    .iter()
                    .map(|&m| {
                        let mut d = self.nodes[m].descriptor.clone();
                        d.uid = self.nodes[m].uid.clone();
                        d
                    })
                    .collect();
                let id = xxhash_rust::xxh3::xxh3_128(operators[0].uid.as_bytes());
                JobVertex {
                    id: format!("{id:032x}"),
                    name: operators.iter().map(|o| o.name.as_str()).collect::<Vec<_>>().join(" -> "),
                    parallelism: *parallelism,
                    operators,
                }
            })
            .collect();
        let mut edges = Vec::new();
        let mut seen = HashSet::new();
        for (j, node) in self.nodes.iter().enumerate() {
            for &up in &node.inputs {
                let (from, to) = (vertex_of[up], vertex_of[j]);
                if from == to || !seen.insert((from, to)) {
                    continue;
                }
                let partitioning = match (&node.hash_keys, &node.exchange) {
                    (_, Some(explicit)) => explicit.clone(),
                    (Some(keys), None) => Partitioning::Hash { keys: keys.clone() },
                    (None, None) if self.nodes[up].parallelism == node.parallelism => Partitioning::Forward,
                    (None, None) => Partitioning::Rebalance,
                };
                edges.push(JobEdge {
                    source: job_vertices[from].id.clone(),
                    target: job_vertices[to].id.clone(),
                    partitioning,
                    schema: Columns::from_schema(&self.nodes[up].schema),
                });
            }
        }
        JobGraph {
            version: JOB_GRAPH_VERSION,
            job_id: crate::ids::random_hex_id(),
            name,
            max_parallelism,
            vertices: job_vertices,
            edges,
            savepoint: None,
            configuration: Default::default(),
        }
    }
}

fn names(schema: &Schema) -> String {
    schema.fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>().join(", ")
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().map(|d| d.join(p)).unwrap_or_else(|_| p.to_path_buf())
    }
}

/// The output field of an aggregate call.
pub fn agg_field(call: &AggregateCall, input: &Schema) -> Field {
    Field::new(&call.output_name, aggregate_type(call, input), true)
}

/// Result type: COUNT BIGINT, AVG DOUBLE, SUM BIGINT or DOUBLE, MIN/MAX the argument's.
pub fn aggregate_type(call: &AggregateCall, input: &Schema) -> DataType {
    let arg = call.argument.as_ref().and_then(|a| expr::compile_str(a, input).ok()).map(|e| e.data_type());
    match (call.function, arg) {
        (AggregateFunction::Count, _) => DataType::Int64,
        (AggregateFunction::Avg, _) => DataType::Float64,
        (AggregateFunction::Sum, Some(DataType::Float64)) => DataType::Float64,
        (AggregateFunction::Sum, _) => DataType::Int64,
        (_, Some(t)) => t,
        (_, None) => DataType::Int64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn examples() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
    }

    fn plan(text: &str) -> Result<JobGraph, JobFileError> {
        plan_job_text(text, &examples().join("test.yaml"), &PlanOptions::default())
    }

    #[test]
    fn word_count_plans_into_two_vertices_with_a_hash_edge() {
        let g = plan_job_file(&examples().join("word-count.yaml"), &PlanOptions::default()).unwrap();
        assert_eq!(g.vertices.len(), 2, "{:#?}", g.vertices.iter().map(|v| &v.name).collect::<Vec<_>>());
        assert_eq!(g.vertices[0].name, "Source: lines -> FlatMap -> Filter");
        assert_eq!(g.vertices[1].name, "KeyedAggregate -> Sink: word counts");
        assert_eq!(g.edges.len(), 1);
        assert_eq!(g.edges[0].partitioning, Partitioning::Hash { keys: vec![0] });
        assert_eq!(g.slots_needed(), 2);
        let again = plan_job_file(&examples().join("word-count.yaml"), &PlanOptions::default()).unwrap();
        assert_eq!(g.vertices[1].id, again.vertices[1].id, "vertex ids are stable");
    }

    #[test]
    fn top_products_plans_window_and_top_n() {
        let g = plan_job_file(&examples().join("top-products.yaml"), &PlanOptions { parallelism: Some(3), ..Default::default() }).unwrap();
        let names: Vec<&str> = g.vertices.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names[0], "Source: orders -> Filter -> Map");
        assert!(names[1].starts_with("Window(TumblingEventTimeWindows(300000))"), "{names:?}");
        assert!(names[2].starts_with("TopN"), "{names:?}");
        assert!(g.vertices.iter().all(|v| v.parallelism == 3));
        let last = &g.vertices[2].operators;
        let out: Vec<&str> = last[last.len() - 2].output.0.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(out, ["window_end", "rank", "product_id", "product_name", "units_sold", "revenue"]);
    }

    const BASE: &str = "name: t\nsources:\n  - name: s\n    connector: datagen\n    number-of-rows: 10\n    fields:\n      - {name: id, type: BIGINT}\n      - {name: label, type: STRING}\n";

    #[test]
    fn errors_name_file_line_and_field() {
        let e = plan(&format!("{BASE}pipeline:\n  - filter: \"idd > 3\"\nsinks:\n  - {{name: out, connector: print}}\n")).unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (10, "pipeline[0].filter"), "{e}");
        assert!(e.to_string().contains("test.yaml:10: pipeline[0].filter: unknown column 'idd'"), "{e}");

        let e = plan(&format!("{BASE}pipeline:\n  - map: \"label * 2 AS x\"\nsinks:\n  - {{name: out, connector: print}}\n")).unwrap_err();
        assert!(e.message.contains("type mismatch"), "{e}");
        assert_eq!(e.line, 10);

        let e =
            plan(&format!("{BASE}pipeline:\n  - input: nowhere\n    filter: \"id > 1\"\nsinks:\n  - {{name: out, connector: print}}\n"))
                .unwrap_err();
        assert!(e.message.contains("unknown input 'nowhere'") && e.field == "pipeline[0].input", "{e}");

        let e = plan(&format!("{BASE}pipeline:\n  - name: a\n    input: b\n    filter: \"id > 1\"\n  - name: b\n    input: a\n    filter: \"id > 2\"\nsinks:\n  - {{name: out, connector: print}}\n")).unwrap_err();
        assert!(e.message.contains("unknown input 'b'") && e.message.contains("earlier steps"), "{e}");

        let e = plan(&format!("{BASE}pipeline:\n  - filtr: \"id > 1\"\nsinks:\n  - {{name: out, connector: print}}\n")).unwrap_err();
        assert!(e.line == 10 && e.message.contains("filtr"), "{e}");

        let e = plan("name: t\nsources:\n  - name: s\n    connector: datagen\n    fields:\n      - {name: id, type: BIGNT}\nsinks:\n  - {name: out, connector: print}\n").unwrap_err();
        assert!(e.line == 6 && e.field == "sources[0].fields[0].type" && e.message.contains("BIGNT"), "{e}");

        let g = plan(&format!("{BASE}pipeline:\n  - filter: \"id > 1\"\n    partition: broadcast\n    parallelism: 2\nsinks:\n  - {{name: out, connector: print, partition: rebalance}}\n")).unwrap();
        let kinds: Vec<&Partitioning> = g.edges.iter().map(|e| &e.partitioning).collect();
        assert_eq!(kinds, [&Partitioning::Broadcast, &Partitioning::Rebalance]);
        let e = plan(&format!(
            "{BASE}pipeline:\n  - filter: \"id > 1\"\n    partition: sideways\nsinks:\n  - {{name: out, connector: print}}\n"
        ))
        .unwrap_err();
        assert!(e.field == "pipeline[0].partition" && e.message.contains("sideways"), "{e}");

        let e = plan(&format!("{BASE}sinks:\n  - {{name: out, connector: kafka}}\n")).unwrap_err();
        assert!(e.message.contains("unknown sink connector 'kafka'"), "{e}");
    }

    #[test]
    fn inputs_that_used_to_panic_are_named_errors() {
        let sink = "sinks:\n  - {name: out, connector: print}\n";
        let e = plan(&format!("{BASE}pipeline:\n  - input: []\n    filter: \"id > 1\"\n{sink}")).unwrap_err();
        assert!(e.message.contains("names no input"), "{e}");
        let e = plan(&format!(
            "{BASE}  - name: t\n    connector: datagen\n    fields:\n      - {{name: x, type: BIGINT}}\npipeline:\n  - input: s\n    key_by: id\n  - input: t\n    aggregate: {{select: \"x, COUNT(*) AS n\"}}\n{sink}"
        ))
        .unwrap_err();
        assert!(e.message.contains("after key_by"), "{e}");
        let e = plan(&format!("{}{sink}", BASE.replace("number-of-rows: 10", "rows-per-second: 0"))).unwrap_err();
        assert!(e.field.ends_with("rows-per-second"), "{e}");
        let e = plan(&format!("{BASE}pipeline:\n  - filter: \"id > 1\"\n    parallelism: 500\n{sink}")).unwrap_err();
        assert!(e.field == "pipeline[0].parallelism" && e.message.contains("max-parallelism"), "{e}");
        let e = plan(&format!("{BASE}pipeline:\n  - key_by: id\n  - aggregate: {{select: \"id, COUNT(*) AS id\"}}\n{sink}")).unwrap_err();
        assert!(e.message.contains("appears twice"), "{e}");
        let e = plan(&format!(
            "name: t\nsources:\n  - name: s\n    connector: socket\n    port: 9\n    fields:\n      - {{name: a, type: BIGINT}}\n{sink}"
        ))
        .unwrap_err();
        assert!(e.message.contains("not an option of the socket connector"), "{e}");
        let e = plan(&format!("name: t\nparallelism: 500\n{}{sink}", &BASE["name: t\n".len()..])).unwrap_err();
        assert!(e.line == 2 && e.field == "parallelism" && e.message.contains("exceeds max-parallelism"), "{e}");
    }
}
