//! Chaining: the planned nodes become the JobGraph's vertices and edges. A node joins
//! its input's vertex when it has one input over a forward edge at equal parallelism
//! and that input has no other consumer, as Flink chains operators; the edges between
//! vertices are hash (by key), an explicit rebalance or broadcast, forward (equal
//! parallelism) or rebalance.

use std::collections::HashSet;

use super::Planner;
use crate::job::graph::{Columns, JobEdge, JobGraph, JobVertex, OperatorDescriptor, OperatorKind, Partitioning, JOB_GRAPH_VERSION};

impl Planner {
    /// The JobGraph of the nodes planned so far (not yet validated).
    pub(super) fn chain(self, name: String, max_parallelism: u32) -> JobGraph {
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
        // Inputs are earlier nodes (Planner::push), so each input's vertex is known.
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
                let side = node.inputs.iter().position(|&i| i == up).and_then(|k| node.input_keys.as_ref().map(|keys| keys[k].clone()));
                let partitioning = match (&node.hash_keys, &node.exchange) {
                    _ if side.is_some() => Partitioning::Hash { keys: side.expect("checked") },
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
