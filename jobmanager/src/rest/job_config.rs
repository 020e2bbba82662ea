//! What a job runs with: `GET /jobs/:id/config` (Flink's execution config, plus the
//! job-level keys in effect and where each comes from) and
//! `GET /jobs/:id/jobmanager/config` (Flink's: the effective configuration as
//! key/value pairs, secrets shown as `******`).

use axum::extract::{Path, State};
use axum::Json;
use rask_common::config::options::ALL;
use rask_common::config::scope::{scope, Scope};
use rask_common::config::Origin;
use serde_json::{json, Value};

use super::{RestError, RestState};

pub async fn config(State(state): State<RestState>, Path(id): Path<String>) -> Result<Json<Value>, RestError> {
    let job = state.dispatcher.job(&id)?;
    let settings = &job.settings;
    let conf = &settings.configuration;
    let keys: Vec<Value> = ALL
        .iter()
        .filter(|option| scope(option) == Scope::Job)
        .filter_map(|option| {
            let value = conf.get_string(option)?;
            let origin = match conf.origin(option) {
                Origin::Job => "job",
                Origin::Default => "default",
                _ => "cluster",
            };
            Some(json!({ "key": option.key, "value": value, "origin": origin }))
        })
        .collect();
    let checkpoints = settings.checkpointing.as_ref().filter(|_| !settings.savepoint_staging);
    Ok(Json(json!({
        "jid": job.graph.job_id,
        "name": job.graph.name,
        "execution-config": {
            "restart-strategy": settings.restart_strategy.describe(),
            // The job's parallelism as planned (its highest vertex parallelism).
            "job-parallelism": job.graph.slots_needed(),
            "object-reuse-mode": false,
            "user-config": {},
        },
        "job-configuration": keys,
        "checkpoint-storage": checkpoints.map(|c| c.storage.dir().to_string()),
        "checkpoint-interval": checkpoints.and_then(|c| c.interval).map(|i| i.as_millis() as u64),
        "savepoint-directory": settings.savepoints_dir,
    })))
}

pub async fn jobmanager_config(State(state): State<RestState>, Path(id): Path<String>) -> Result<Json<Value>, RestError> {
    let job = state.dispatcher.job(&id)?;
    let entries: Vec<Value> =
        job.settings.configuration.effective_entries().into_iter().map(|(key, value)| json!({ "key": key, "value": value })).collect();
    Ok(Json(Value::Array(entries)))
}
