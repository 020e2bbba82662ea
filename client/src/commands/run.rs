//! `rask run`: the program step here in the client (job file -> JobGraph), then
//! submission to a cluster (`--target remote`) or to a MiniCluster started in this
//! process (`--target local`). Attached, it prints the job's printed rows as they
//! come and exits non-zero if the job fails.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use rask_common::config::{options as o, Configuration};
use rask_common::job::planner::{plan_job_file, PlanOptions};
use rask_common::job::JobGraph;
use serde::Deserialize;
use serde_json::Value;

use crate::minicluster::MiniCluster;
use crate::rest_client::RestClient;

pub struct RunOptions {
    pub detached: bool,
    pub parallelism: Option<u32>,
}

/// The program step, as `rask run` and `rask info` do it.
pub fn plan(job_file: &Path, parallelism: Option<u32>, conf: &Configuration) -> anyhow::Result<JobGraph> {
    let options = PlanOptions {
        parallelism,
        max_parallelism: conf
            .contains(&o::PIPELINE_MAX_PARALLELISM)
            .then(|| conf.get_positive_int(&o::PIPELINE_MAX_PARALLELISM))
            .transpose()?,
        default_parallelism: Some(conf.get_positive_int(&o::PARALLELISM_DEFAULT)?),
    };
    Ok(plan_job_file(job_file, &options)?)
}

#[derive(Deserialize)]
struct Submitted {
    jobid: String,
}

#[derive(Deserialize)]
struct Output {
    lines: Vec<String>,
    next: usize,
    #[serde(default)]
    dropped: usize,
    state: String,
    terminal: bool,
}

/// Submits a planned job to the cluster at `client`; returns the job id.
pub async fn submit(client: &RestClient, graph: &JobGraph) -> anyhow::Result<String> {
    let submitted: Submitted = client.post("/jobs", graph).await?;
    Ok(submitted.jobid)
}

/// Follows a job to its end, printing its rows; errors when it did not finish.
pub async fn follow(client: &RestClient, job_id: &str, poll: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut from = 0usize;
    loop {
        let out: Output = client.get(&format!("/jobs/{job_id}/output?from={from}")).await?;
        if out.dropped > 0 {
            eprintln!(
                "rask: {} printed rows were dropped before this client read them (the JobManager keeps the latest 100,000 lines)",
                out.dropped
            );
        }
        let mut stdout = std::io::stdout().lock();
        for line in &out.lines {
            if let Err(e) = writeln!(stdout, "{line}") {
                // The reader went away (`rask run ... | head`): stop following quietly.
                if e.kind() == std::io::ErrorKind::BrokenPipe {
                    return Ok(());
                }
                return Err(e.into());
            }
        }
        drop(stdout);
        from = out.next;
        if out.terminal {
            if out.state == "FINISHED" {
                say(&format!("Job with JobID {job_id} has finished."));
                say(&format!("Job Runtime: {} ms", started.elapsed().as_millis()));
                return Ok(());
            }
            let cause = client
                .get::<Value>(&format!("/jobs/{job_id}/exceptions"))
                .await
                .ok()
                .and_then(|v| v["root-exception"].as_str().map(str::to_string))
                .unwrap_or_default();
            if cause.is_empty() {
                anyhow::bail!("job {job_id} ended {}", out.state);
            }
            anyhow::bail!("job {job_id} ended {}: {cause}", out.state);
        }
        tokio::time::sleep(poll).await;
    }
}

pub async fn run_remote(client: &RestClient, graph: &JobGraph, options: &RunOptions) -> anyhow::Result<()> {
    let job_id = submit(client, graph).await?;
    say(&format!("Job has been submitted with JobID {job_id}"));
    if options.detached {
        return Ok(());
    }
    follow(client, &job_id, Duration::from_millis(100)).await
}

pub async fn run_local(graph: &JobGraph, conf: &Configuration) -> anyhow::Result<()> {
    let cluster = MiniCluster::start(graph.slots_needed(), conf).await?;
    let client = RestClient::new(cluster.rest_url.clone());
    let result = async {
        let job_id = submit(&client, graph).await?;
        say(&format!("Job has been submitted with JobID {job_id}"));
        follow(&client, &job_id, Duration::from_millis(10)).await
    }
    .await;
    cluster.shutdown().await;
    result
}

/// Prints a line; a closed stdout (`rask run ... | head`) is not an error.
pub fn say(line: &str) {
    let _ = writeln!(std::io::stdout(), "{line}");
}
