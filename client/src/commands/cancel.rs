//! `rask cancel JOBID`, as `flink cancel`.

use crate::rest_client::RestClient;

pub async fn run(client: &RestClient, job_id: &str) -> anyhow::Result<()> {
    super::run::say(&format!("Cancelling job {job_id}."));
    client.patch(&format!("/jobs/{job_id}?mode=cancel")).await?;
    super::run::say(&format!("Cancelled job {job_id}."));
    Ok(())
}
