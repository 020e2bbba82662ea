//! The program step: job file -> validated, planned JobGraph. Resolves inputs, checks
//! every expression against the schema flowing into it, derives schemas, picks edge
//! partitioning (forward, hash by key, rebalance) and chains operators joined by a
//! forward edge at equal parallelism into one vertex, as Flink does. This module owns
//! the walk over the job file and the logical operators ([`Node`]); sources and sinks
//! are planned by their connectors ([`sources`], [`sinks`]), pipeline steps by
//! [`steps`] and [`aggregates`], and chaining into the JobGraph by [`chain`].

mod aggregates;
mod chain;
mod sinks;
mod sources;
pub mod sql;
mod steps;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use arrow::datatypes::SchemaRef;

use super::error::JobFileError;
use super::expr::ExprError;
use super::graph::{JobGraph, OperatorDescriptor, Partitioning};
use super::spec::{self, line_of, JobSpec, Spanned};

pub use aggregates::{agg_field, aggregate_type};

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
        column: 0,
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

/// A job a file plans into, with the SQL settings it carries (none for job files).
#[derive(Debug)]
pub struct PlannedJob {
    pub graph: JobGraph,
    /// Warnings for settings the job cannot apply.
    pub warnings: Vec<String>,
}

/// Plans a job file (YAML) or a SQL script (`.sql`, possibly several jobs) into its
/// jobs, in submission order; a script's job-scoped SET keys are in each graph's
/// configuration.
pub fn plan_file(path: &Path, options: &PlanOptions) -> Result<Vec<PlannedJob>, JobFileError> {
    if !super::sql::is_sql_file(path) {
        return Ok(vec![PlannedJob { graph: plan_job_file(path, options)?, warnings: Vec::new() }]);
    }
    let script = sql::plan_sql_file(path, options)?;
    Ok(script
        .jobs
        .into_iter()
        .map(|mut job| {
            let warnings = job.apply_settings();
            PlannedJob { graph: job.graph, warnings }
        })
        .collect())
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

/// A logical operator before chaining.
struct Node {
    name: String,
    uid: String,
    parallelism: u32,
    /// Indices of earlier nodes (never this node's or a later one's).
    inputs: Vec<usize>,
    /// Keys (input column indices) the edge into this node is hashed by.
    hash_keys: Option<Vec<usize>>,
    /// An explicit rebalance or broadcast of the node's input.
    exchange: Option<Partitioning>,
    /// Keys each input (in `inputs` order) is hashed by, when they differ per input
    /// (a join's two sides).
    input_keys: Option<Vec<Vec<usize>>>,
    descriptor: OperatorDescriptor,
    schema: SchemaRef,
    /// Event-time column of the output, if the stream carries watermarks.
    rowtime: Option<usize>,
}

/// The program step's state: the job file, and the nodes planned so far by name.
struct Planner {
    file: PathBuf,
    /// The job file's directory: relative paths in it are relative to this.
    base: PathBuf,
    nodes: Vec<Node>,
    by_name: HashMap<String, usize>,
    max_p: u32,
}

impl Planner {
    fn error(&self, line: u32, field: impl Into<String>, message: impl Into<String>) -> JobFileError {
        JobFileError { file: self.file.clone(), line, column: 0, field: field.into(), message: message.into() }
    }

    fn expr_error(&self, line: u32, field: &str) -> impl Fn(ExprError) -> JobFileError + '_ {
        let field = field.to_string();
        move |e| self.error(line, field.clone(), e.0)
    }

    /// Adds a node under its name.
    fn add(&mut self, node: Node, line: u32, field: &str) -> Result<usize, JobFileError> {
        if self.by_name.contains_key(&node.name) {
            return Err(self.error(line, field, format!("the name '{}' is used twice", node.name)));
        }
        let name = node.name.clone();
        let i = self.push(node)?;
        self.by_name.insert(name, i);
        Ok(i)
    }

    /// Appends a node without naming it. A node reads only nodes added before it (its
    /// inputs are resolved by name first), so the logical plan has no cycle and
    /// chaining indexes inputs safely; this keeps that invariant from ever turning into
    /// a panic. (The JobGraph's structural checks are
    /// [`validate_job_graph`](super::validate_job_graph)'s, run after chaining.)
    fn push(&mut self, node: Node) -> Result<usize, JobFileError> {
        let i = self.nodes.len();
        if node.inputs.iter().any(|&j| j >= i) {
            return Err(self.error(0, "pipeline", format!("cycle: '{}' reads its own output", node.name)));
        }
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
            self.source(i, source, default_p)?;
        }
        let first: Option<usize> = if spec.sources.len() == 1 { Some(0) } else { None };
        let previous = self.pipeline(&spec.pipeline, first, default_p)?;
        for (i, sink) in spec.sinks.iter().enumerate() {
            self.sink(i, sink, previous, default_p)?;
        }
        let file = self.file.clone();
        let graph = self.chain(spec.name.value.clone(), max_p);
        super::validate::validate_job_graph(&graph).map_err(|e| JobFileError {
            file,
            line: 0,
            column: 0,
            field: String::new(),
            message: e.0,
        })?;
        Ok(graph)
    }

    /// The nodes a step reads: those its `input` names (a union needs equal columns),
    /// else `previous`.
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

    /// A source's, step's or sink's parallelism: its own (1..=max-parallelism) or the
    /// default.
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
}
