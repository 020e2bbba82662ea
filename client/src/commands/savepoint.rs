//! `rask savepoint`, `rask savepoint --dispose` and `rask stop`, as Flink's CLI.

use std::time::Duration;

use serde_json::{json, Value};

use super::run::say;
use crate::rest_client::RestClient;

/// Polls a savepoint operation until it completes; returns its location.
async fn wait(client: &RestClient, job_id: &str, trigger: &str) -> anyhow::Result<String> {
    loop {
        let status: Value = client.get(&format!("/jobs/{job_id}/savepoints/{trigger}")).await?;
        if status["status"]["id"] == "COMPLETED" {
            if let Some(location) = status["operation"]["location"].as_str() {
                return Ok(location.to_string());
            }
            let cause = status["operation"]["failure-cause"]["stack-trace"].as_str().unwrap_or("unknown cause");
            anyhow::bail!("the savepoint of job {job_id} failed: {cause}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn trigger(client: &RestClient, job_id: &str, dir: Option<&str>) -> anyhow::Result<()> {
    say(&format!("Triggering savepoint for job {job_id}."));
    let body = match dir {
        Some(d) => json!({ "target-directory": d, "cancel-job": false }),
        None => json!({ "cancel-job": false }),
    };
    let answer: Value = client.post(&format!("/jobs/{job_id}/savepoints"), &body).await?;
    let trigger = answer["request-id"].as_str().unwrap_or_default().to_string();
    say("Waiting for response...");
    let location = wait(client, job_id, &trigger).await?;
    say(&format!("Savepoint completed. Path: {location}"));
    Ok(())
}

pub async fn stop(client: &RestClient, job_id: &str, dir: Option<&str>, drain: bool) -> anyhow::Result<()> {
    say(&format!("Suspending job \"{job_id}\" with a savepoint."));
    let mut body = json!({ "drain": drain });
    if let Some(d) = dir {
        body["targetDirectory"] = json!(d);
    }
    let answer: Value = client.post(&format!("/jobs/{job_id}/stop"), &body).await?;
    let trigger = answer["request-id"].as_str().unwrap_or_default().to_string();
    let location = wait(client, job_id, &trigger).await?;
    say(&format!("Savepoint completed. Path: {location}"));
    Ok(())
}

pub async fn dispose(client: &RestClient, path: &str) -> anyhow::Result<()> {
    let answer: Value = client.post("/savepoint-disposal", &json!({ "savepoint-path": path })).await?;
    let trigger = answer["request-id"].as_str().unwrap_or_default().to_string();
    let status: Value = client.get(&format!("/savepoint-disposal/{trigger}")).await?;
    if let Some(cause) = status["operation"]["failure-cause"]["stack-trace"].as_str() {
        anyhow::bail!("could not dispose savepoint {path}: {cause}");
    }
    say(&format!("Savepoint '{path}' disposed."));
    Ok(())
}
