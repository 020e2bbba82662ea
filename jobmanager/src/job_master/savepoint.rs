//! Checking a savepoint before a job's first start from it: its operators against
//! the job's, its task files inside its directory.

use rask_common::job::graph::JobGraph;

/// The largest savepoint `_metadata` read.
const MAX_METADATA_BYTES: u64 = 64 << 20;

/// Reads and checks a savepoint for this job's first start: every task file's
/// vertex must exist with the same parallelism; state of vertices the job lacks is
/// refused (naming its operators) unless `allow_non_restored`.
pub(super) async fn savepoint_restore(
    graph: &JobGraph,
    path: &str,
    allow_non_restored: bool,
) -> Result<rask_common::checkpoint::CheckpointMetadata, String> {
    let dir = path.strip_prefix("file:").map(|p| p.trim_start_matches("//")).unwrap_or(path);
    let dir = if dir.starts_with('/') { dir.to_string() } else { format!("/{dir}") };
    let file = std::path::Path::new(&dir).join("_metadata");
    // Bounded and off the runtime's threads: a huge file or a FIFO named _metadata
    // fails this job, nothing else.
    let len = tokio::fs::metadata(&file).await.map_err(|e| format!("savepoint {path}: cannot read its _metadata ({e})"))?;
    if !len.is_file() || len.len() > MAX_METADATA_BYTES {
        return Err(format!("savepoint {path}: _metadata is not a Rask savepoint's (not a file, or over {MAX_METADATA_BYTES} bytes)"));
    }
    let bytes = tokio::fs::read(&file).await.map_err(|e| format!("savepoint {path}: cannot read its _metadata ({e})"))?;
    let mut metadata: rask_common::checkpoint::CheckpointMetadata =
        serde_json::from_slice(&bytes).map_err(|e| format!("savepoint {path}: corrupt _metadata ({e})"))?;
    // A savepoint's task files are plain names inside its directory.
    if let Some(t) = metadata.tasks.iter().find(|t| !rask_common::checkpoint::is_plain_file_name(&t.path)) {
        return Err(format!("savepoint {path}: _metadata names the file '{}' outside its directory; refused", t.path));
    }
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
    for t in metadata.tasks.iter_mut() {
        t.path = format!("{}/{}", dir.trim_end_matches('/'), t.path);
    }
    tracing::info!("Job {}: savepoint {path} checked; it matches the job's operators.", graph.job_id);
    Ok(metadata)
}
