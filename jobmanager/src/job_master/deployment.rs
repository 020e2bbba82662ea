//! Task deployment descriptors: what a TaskExecutor is told to run for one subtask —
//! its place in the job (inputs from its producers' TaskManagers), its slot, its
//! settings and the state it restores from.

use rask_common::checkpoint::{CheckpointMetadata, TaskStateHandle};
use rask_common::job::graph::{JobGraph, JobVertex, Partitioning};
use rask_common::proto::{InputLocation, TaskDeploymentDescriptor};

use super::slot_pool::AllocatedSlot;
use crate::job_settings::JobSettings;

/// What every descriptor of one deployment attempt shares.
pub(super) struct Deployment<'a> {
    pub graph: &'a JobGraph,
    /// The JobGraph as JSON, encoded once per attempt.
    pub graph_json: prost::bytes::Bytes,
    pub settings: &'a JobSettings,
    /// Slot i hosts subtask i of every vertex: at least as many as the widest vertex's
    /// parallelism (checked by the caller).
    pub slots: &'a [AllocatedSlot],
    pub leader_token: &'a str,
    pub gateway_address: &'a str,
    pub attempt: u32,
    /// The checkpoint or savepoint to restore from.
    pub restore: Option<&'a CheckpointMetadata>,
}

impl Deployment<'_> {
    /// The descriptor of subtask `subtask` of `vertex`, as attempt `execution_attempt_id`.
    pub fn descriptor(&self, vertex: &JobVertex, subtask: u32, execution_attempt_id: String) -> TaskDeploymentDescriptor {
        let slot = &self.slots[subtask as usize];
        TaskDeploymentDescriptor {
            execution_attempt_id,
            leader_token: self.leader_token.to_string(),
            job_id: self.graph.job_id.clone(),
            vertex_id: vertex.id.clone(),
            subtask_index: subtask,
            attempt: self.attempt,
            allocation_id: slot.allocation_id.clone(),
            job_graph_json: self.graph_json.clone(),
            jobmaster_address: self.gateway_address.to_string(),
            inputs: self.inputs(vertex, subtask),
            memory_budget_bytes: slot.offer.memory_budget_bytes,
            buffer_timeout_ms: self.settings.buffer_timeout.as_millis() as u64,
            checkpoint_dir: self.settings.checkpointing.as_ref().map(|c| c.storage.dir().to_string()).unwrap_or_default(),
            exactly_once: self.settings.checkpointing.as_ref().is_some_and(|c| c.interval.is_some()),
            allow_non_restored_state: self.graph.savepoint.as_ref().is_some_and(|s| s.allow_non_restored_state),
            restore_state_path: self.restore_path(vertex, subtask),
            rescale_state_paths: self.rescale_paths(vertex),
        }
    }

    /// Where each producer subtask of the vertex's inputs runs.
    fn inputs(&self, vertex: &JobVertex, subtask: u32) -> Vec<InputLocation> {
        let mut inputs = Vec::new();
        for edge in self.graph.inputs_of(&vertex.id) {
            let producer = self.graph.vertex(&edge.source).expect("planned graph");
            let producers: Vec<u32> = match edge.partitioning {
                Partitioning::Forward => vec![subtask],
                _ => (0..producer.parallelism).collect(),
            };
            for p in producers {
                inputs.push(InputLocation {
                    producer_vertex_id: producer.id.clone(),
                    producer_subtask: p,
                    taskmanager_address: self.slots[p as usize].offer.rpc_address.clone(),
                });
            }
        }
        inputs
    }

    /// The subtask's own state file, when the saved parallelism is the vertex's.
    fn restore_path(&self, vertex: &JobVertex, subtask: u32) -> String {
        self.restore
            .filter(|m| m.tasks.iter().filter(|t| t.vertex_id == vertex.id).count() == vertex.parallelism as usize)
            .and_then(|m| m.tasks.iter().find(|t| t.vertex_id == vertex.id && t.subtask == subtask))
            .map(|t| t.path.clone())
            .unwrap_or_default()
    }

    /// Every saved subtask's state file of the vertex, in subtask order, when the job
    /// restores at another parallelism (keyed state moves by key group).
    fn rescale_paths(&self, vertex: &JobVertex) -> Vec<String> {
        let Some(m) = self.restore else { return Vec::new() };
        let mut saved: Vec<&TaskStateHandle> = m.tasks.iter().filter(|t| t.vertex_id == vertex.id).collect();
        saved.sort_by_key(|t| t.subtask);
        if saved.is_empty() || saved.len() == vertex.parallelism as usize {
            Vec::new()
        } else {
            saved.iter().map(|t| t.path.clone()).collect()
        }
    }
}
