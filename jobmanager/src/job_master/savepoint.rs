//! Checking a savepoint before a job's first start from it: its operators against
//! the job's. The savepoint is read through the checkpoint storage seam
//! (`rask_common::checkpoint::read_savepoint`: bounded, its task files inside its
//! directory, paths resolved as the TaskManagers read them).

use rask_common::checkpoint::CheckpointMetadata;
use rask_common::job::graph::JobGraph;

/// Reads and checks a savepoint for this job's first start: every task file's
/// vertex must exist; state of vertices the job lacks is refused (naming its
/// operators) unless `allow_non_restored`. A vertex saved at another parallelism is
/// restored by key group.
pub(super) async fn savepoint_restore(graph: &JobGraph, path: &str, allow_non_restored: bool) -> Result<CheckpointMetadata, String> {
    let mut metadata = rask_common::checkpoint::read_savepoint(path).await.map_err(|e| e.to_string())?;
    let mut unknown: Vec<String> = Vec::new();
    metadata.tasks.retain(|t| match graph.vertex(&t.vertex_id) {
        Some(_) => true,
        None => {
            unknown.extend(t.operators.iter().cloned());
            false
        }
    });
    unknown.sort();
    unknown.dedup();
    if !unknown.is_empty() && !allow_non_restored {
        return Err(format!(
            "savepoint {path} holds state of operators this job does not run: {} (run with --allowNonRestoredState to skip it)",
            unknown.join(", ")
        ));
    }
    for v in &graph.vertices {
        let saved = metadata.tasks.iter().filter(|t| t.vertex_id == v.id).count();
        if saved > 0 && saved != v.parallelism as usize {
            tracing::info!(
                "Restoring '{}' from {saved} subtasks at parallelism {}: keyed state moves by key group.",
                v.name,
                v.parallelism
            );
        }
    }
    tracing::info!("Job {}: savepoint {path} checked; it matches the job's operators.", graph.job_id);
    Ok(metadata)
}
