//! The one validation of a JobGraph, run by the client after planning, by the
//! JobManager on every submission (REST bodies are untrusted) and by the TaskManager
//! before it deploys a task: structure (ids, edges, no cycle) and the bounds of
//! [`limits`](super::limits), so that nothing sized by a job is allocated before it
//! is checked. A source's or sink's options are decoded into its connector's typed
//! struct and checked by that connector (see [`connectors`](super::connectors)). Paths
//! are checked against `rask.io.allowed-paths` by [`check_paths`].

use std::collections::{HashMap, HashSet};

use super::connectors;
use super::graph::{JobGraph, OperatorKind, Partitioning};
use super::limits::*;
use crate::security::{AllowedPaths, PathNotAllowed};

/// Why a JobGraph is refused; the message names the vertex or operator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid JobGraph: {0}")]
pub struct InvalidJobGraph(pub String);

pub(crate) fn invalid<T>(message: impl Into<String>) -> Result<T, InvalidJobGraph> {
    Err(InvalidJobGraph(message.into()))
}

/// A string of the graph is at most [`MAX_STRING_BYTES`] long.
pub(crate) fn string(what: &str, s: &str) -> Result<(), InvalidJobGraph> {
    if s.len() > MAX_STRING_BYTES {
        return invalid(format!("{what} is {} bytes; at most {MAX_STRING_BYTES} are allowed", s.len()));
    }
    Ok(())
}

/// A list of the graph has at most [`MAX_LIST_LEN`] entries.
pub(crate) fn list(what: &str, len: usize) -> Result<(), InvalidJobGraph> {
    if len > MAX_LIST_LEN {
        return invalid(format!("{what} has {len} entries; at most {MAX_LIST_LEN} are allowed"));
    }
    Ok(())
}

fn expression(what: &str, sql: &str) -> Result<(), InvalidJobGraph> {
    if sql.len() > MAX_EXPRESSION_BYTES {
        return invalid(format!("{what} is {} bytes; at most {MAX_EXPRESSION_BYTES} are allowed", sql.len()));
    }
    Ok(())
}

fn is_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
}

/// Checks `graph` against the structure the program step guarantees and the limits.
pub fn validate_job_graph(graph: &JobGraph) -> Result<(), InvalidJobGraph> {
    if graph.version != super::graph::JOB_GRAPH_VERSION {
        return invalid(format!(
            "version {} is not supported (this build reads version {})",
            graph.version,
            super::graph::JOB_GRAPH_VERSION
        ));
    }
    if !is_id(&graph.job_id) {
        return invalid("the job id is not 32 lowercase hex characters");
    }
    string("the job name", &graph.name)?;
    if graph.max_parallelism == 0 || graph.max_parallelism > MAX_PARALLELISM {
        return invalid(format!("max-parallelism {} is outside 1..={MAX_PARALLELISM}", graph.max_parallelism));
    }
    if graph.vertices.is_empty() || graph.vertices.len() > MAX_VERTICES || graph.edges.len() > MAX_VERTICES {
        return invalid(format!("a JobGraph has 1 to {MAX_VERTICES} vertices and at most as many edges"));
    }
    if let Some(sp) = &graph.savepoint {
        string("the savepoint path", &sp.path)?;
    }
    // The job's configuration: known keys a job may set, with values of their type.
    if graph.configuration.len() > crate::config::options::ALL.len() {
        return invalid("the job configuration has more keys than there are configuration keys");
    }
    for (key, value) in &graph.configuration {
        string("a job configuration key", key)?;
        string("a job configuration value", value)?;
    }
    crate::config::Configuration::new().with_job_configuration(&graph.configuration).map_err(|e| InvalidJobGraph(e.to_string()))?;
    let mut ids = HashSet::new();
    for v in &graph.vertices {
        if !is_id(&v.id) {
            return invalid("a vertex id is not 32 lowercase hex characters");
        }
        if !ids.insert(v.id.as_str()) {
            return invalid(format!("vertex id {} appears twice", v.id));
        }
        string("a vertex name", &v.name)?;
        if v.parallelism == 0 || v.parallelism > graph.max_parallelism {
            return invalid(format!("vertex {} has parallelism {}, outside 1..={}", v.id, v.parallelism, graph.max_parallelism));
        }
        if v.operators.is_empty() || v.operators.len() > MAX_OPERATORS_PER_VERTEX {
            return invalid(format!("vertex {} has {} operators (1 to {MAX_OPERATORS_PER_VERTEX})", v.id, v.operators.len()));
        }
        for op in &v.operators {
            let what = format!("operator '{}'", op.name.chars().take(80).collect::<String>());
            string(&format!("{what}'s name"), &op.name)?;
            string(&format!("{what}'s uid"), &op.uid)?;
            list(&format!("{what}'s input schema"), op.input.0.len())?;
            list(&format!("{what}'s output schema"), op.output.0.len())?;
            for c in op.input.0.iter().chain(&op.output.0) {
                string(&format!("a column name of {what}"), &c.name)?;
                string(&format!("a column type of {what}"), &c.ty)?;
            }
            operator(&what, &op.kind, op.input.0.len(), op.output.0.len())?;
        }
    }
    let subtasks: u64 = graph.vertices.iter().map(|v| u64::from(v.parallelism)).sum();
    if subtasks > MAX_SUBTASKS {
        return invalid(format!("the job has {subtasks} subtasks; at most {MAX_SUBTASKS} are allowed"));
    }
    for e in &graph.edges {
        let (Some(from), Some(to)) = (graph.vertex(&e.source), graph.vertex(&e.target)) else {
            return invalid(format!("edge {} -> {} names a missing vertex", e.source, e.target));
        };
        list("an edge's schema", e.schema.0.len())?;
        match &e.partitioning {
            Partitioning::Forward if from.parallelism != to.parallelism => {
                return invalid(format!(
                    "forward edge {} -> {} joins parallelism {} and {}",
                    e.source, e.target, from.parallelism, to.parallelism
                ))
            }
            Partitioning::Hash { keys } if keys.len() > MAX_LIST_LEN || keys.iter().any(|&k| k >= e.schema.0.len()) => {
                return invalid(format!(
                    "hash edge {} -> {} names a key column outside its {} columns",
                    e.source,
                    e.target,
                    e.schema.0.len()
                ))
            }
            _ => {}
        }
    }
    // No cycles: repeatedly remove vertices without incoming edges.
    let mut incoming: HashMap<&str, usize> = graph.vertices.iter().map(|v| (v.id.as_str(), 0)).collect();
    for e in &graph.edges {
        *incoming.get_mut(e.target.as_str()).expect("checked") += 1;
    }
    let mut ready: Vec<&str> = incoming.iter().filter(|(_, n)| **n == 0).map(|(v, _)| *v).collect();
    let mut seen = 0;
    while let Some(v) = ready.pop() {
        seen += 1;
        for e in graph.edges.iter().filter(|e| e.source == v) {
            let n = incoming.get_mut(e.target.as_str()).expect("checked");
            *n -= 1;
            if *n == 0 {
                ready.push(e.target.as_str());
            }
        }
    }
    if seen != graph.vertices.len() {
        return invalid("the edges form a cycle");
    }
    Ok(())
}

/// The bounds of one operator's settings; `inputs` and `outputs` are its input's and
/// output's column counts.
fn operator(what: &str, kind: &OperatorKind, inputs: usize, outputs: usize) -> Result<(), InvalidJobGraph> {
    let column = |i: usize| if i < inputs { Ok(()) } else { invalid(format!("{what} names input column {i} of {inputs}")) };
    match kind {
        OperatorKind::Source { connector, options } => {
            string(&format!("{what}'s connector"), connector)?;
            connectors::source(connector).map_err(|e| InvalidJobGraph(format!("{what}: {e}")))?.validate(options, what, outputs)?
        }
        OperatorKind::Sink { connector, options } => {
            string(&format!("{what}'s connector"), connector)?;
            connectors::sink(connector).map_err(|e| InvalidJobGraph(format!("{what}: {e}")))?.validate(options, what, inputs)?
        }
        OperatorKind::Filter { predicate } => expression(&format!("{what}'s predicate"), predicate)?,
        OperatorKind::Map { expressions } => {
            list(&format!("{what}'s expressions"), expressions.len())?;
            for e in expressions {
                expression(&format!("an expression of {what}"), e)?;
            }
        }
        OperatorKind::FlatMapSplit { column, delimiter, .. } => {
            string(&format!("{what}'s column"), column)?;
            string(&format!("{what}'s delimiter"), delimiter.as_deref().unwrap_or(""))?;
        }
        OperatorKind::Join { left_keys, right_keys, right_input } => {
            list(&format!("{what}'s keys"), left_keys.len())?;
            list(&format!("{what}'s right input"), right_input.0.len())?;
            if left_keys.is_empty() || left_keys.len() != right_keys.len() {
                return invalid(format!("{what} joins {} keys with {}", left_keys.len(), right_keys.len()));
            }
            left_keys.iter().try_for_each(|&k| column(k))?;
            if let Some(k) = right_keys.iter().find(|&&k| k >= right_input.0.len()) {
                return invalid(format!("{what} names right input column {k} of {}", right_input.0.len()));
            }
            for c in &right_input.0 {
                string(&format!("a column of {what}"), &c.name)?;
            }
        }
        OperatorKind::WatermarkAssigner { strategy } => {
            column(strategy.column)?;
            if strategy.max_out_of_orderness_ms < 0 {
                return invalid(format!("{what}: a negative out-of-orderness"));
            }
        }
        OperatorKind::Aggregate { keys, aggregates, .. } => {
            list(&format!("{what}'s keys"), keys.len())?;
            list(&format!("{what}'s aggregates"), aggregates.len())?;
            keys.iter().try_for_each(|&k| column(k))?;
            for a in aggregates {
                expression(&format!("an aggregate of {what}"), a.argument.as_deref().unwrap_or(""))?;
                string(&format!("an aggregate name of {what}"), &a.output_name)?;
            }
        }
        OperatorKind::Window(w) => {
            list(&format!("{what}'s keys"), w.keys.len())?;
            list(&format!("{what}'s aggregates"), w.aggregates.len())?;
            w.keys.iter().chain(w.time_column.iter()).try_for_each(|&k| column(k))?;
            if w.size_ms <= 0 || w.size_ms > MAX_WINDOW_MS || w.slide_ms <= 0 || w.slide_ms > w.size_ms {
                return invalid(format!(
                    "{what}: window size {} ms and slide {} ms (0 < slide <= size <= {MAX_WINDOW_MS})",
                    w.size_ms, w.slide_ms
                ));
            }
            if w.size_ms / w.slide_ms > MAX_WINDOWS_PER_ELEMENT {
                return invalid(format!(
                    "{what}: size / slide puts each row in {} windows; at most {MAX_WINDOWS_PER_ELEMENT}",
                    w.size_ms / w.slide_ms
                ));
            }
            for a in &w.aggregates {
                expression(&format!("an aggregate of {what}"), a.argument.as_deref().unwrap_or(""))?;
            }
        }
        OperatorKind::TopN { n, partition_keys, order_by } => {
            if *n == 0 || *n > MAX_TOP_N {
                return invalid(format!("{what}: n = {n}, outside 1..={MAX_TOP_N}"));
            }
            list(&format!("{what}'s partition keys"), partition_keys.len())?;
            list(&format!("{what}'s order"), order_by.len())?;
            partition_keys.iter().chain(order_by.iter().map(|(k, _)| k)).try_for_each(|&k| column(k))?;
        }
        OperatorKind::StateMachine { keys, event_column, initial, transitions } => {
            list(&format!("{what}'s keys"), keys.len())?;
            list(&format!("{what}'s transitions"), transitions.len())?;
            keys.iter().chain(std::iter::once(event_column)).try_for_each(|&k| column(k))?;
            string(&format!("{what}'s initial state"), initial)?;
            for t in transitions {
                for s in [&t.from, &t.event, &t.to] {
                    string(&format!("a transition of {what}"), s)?;
                }
            }
        }
    }
    Ok(())
}

/// Checks every path a job names against `allowed`: file sources and sinks, the
/// savepoint it starts from, and the checkpoint and savepoint directories of its own
/// configuration. (Directories the cluster's configuration names are the operator's.)
pub fn check_paths(graph: &JobGraph, allowed: &AllowedPaths) -> Result<(), PathNotAllowed> {
    for v in &graph.vertices {
        for op in &v.operators {
            let (role, connector, paths) = match &op.kind {
                OperatorKind::Source { connector, options } => {
                    ("source", connector, connectors::source(connector).ok().map(|c| c.paths(options)))
                }
                OperatorKind::Sink { connector, options } => {
                    ("sink", connector, connectors::sink(connector).ok().map(|c| c.paths(options)))
                }
                _ => continue,
            };
            let what = format!("the path of {connector} {role} '{}'", op.name);
            match paths {
                Some(Ok(paths)) => paths.iter().try_for_each(|path| allowed.check_file(&what, path))?,
                // validate_job_graph refuses such a graph first; were it to get here,
                // an empty (relative) path fails closed when paths are restricted.
                _ => allowed.check_file(&what, "")?,
            }
        }
    }
    if let Some(sp) = &graph.savepoint {
        allowed.check("the savepoint to start from", &sp.path)?;
    }
    for key in ["state.checkpoints.dir", "state.savepoints.dir"] {
        if let Some(dir) = graph.configuration.get(key) {
            allowed.check(key, dir)?;
        }
    }
    Ok(())
}
