//! `rask run`: the program step here in the client (job file -> JobGraph), then
//! submission to a cluster (`--target remote`) or to a MiniCluster started in this
//! process (`--target local`). Attached, it prints the job's printed rows as they
//! come and exits non-zero if the job fails. `--target per-job` hands the JobGraph to
//! a cluster started for it alone; `run-application` ships an application file to an
//! application cluster.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use rask_common::config::{options as o, Configuration};
use rask_common::job::planner::{plan_job_file, PlanOptions};
use rask_common::job::JobGraph;
use serde::Deserialize;

use crate::address::ClusterOptions;
use crate::deployment;
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
    let mut graph = plan_job_file(job_file, &options)?;
    // Flink's job configuration: the keys that apply per job travel with the JobGraph.
    graph.configuration = conf.job_configuration();
    Ok(graph)
}

/// Warns about `-D` keys a running cluster cannot take from a job (they would
/// otherwise be ignored without a word).
pub fn warn_cluster_keys(conf: &Configuration, cluster: &str) {
    for key in conf.dynamic_keys(rask_common::config::scope::Scope::Cluster) {
        eprintln!(
            "rask: warning: -D {key} is a cluster setting: the running cluster at {cluster} keeps its own value, so it does not apply to this job (set it in that cluster's configuration and restart it, or use --target per-job for a cluster of this job's own)"
        );
    }
}

#[derive(Deserialize)]
struct Submitted {
    jobid: String,
}

#[derive(Deserialize)]
struct Output {
    lines: Vec<String>,
    next: usize,
    #[serde(rename = "root-exception", default)]
    root_exception: Option<String>,
    #[serde(default)]
    dropped: usize,
    /// Failures so far, the newest last; `failure_count` counts those no longer kept.
    #[serde(rename = "failure-count", default)]
    failure_count: u64,
    #[serde(default)]
    failures: Vec<Failure>,
    state: String,
    terminal: bool,
}

#[derive(Deserialize)]
struct Failure {
    cause: String,
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
    let mut lost = 0usize;
    let mut failures_seen = 0u64;
    loop {
        let out: Output = client.get(&format!("/jobs/{job_id}/output?from={from}")).await?;
        if out.dropped > 0 {
            lost += out.dropped;
            eprintln!(
                "rask: {} printed rows were dropped before this client read them (the JobManager keeps the latest 100,000 lines, 64 MiB at most)",
                out.dropped
            );
        }
        // Each failure as it happens: a restart's cause (the last one, if the job
        // failed for good, is reported below with its end).
        let new = out.failure_count.saturating_sub(failures_seen) as usize;
        let restarts = if out.state == "FAILED" { new.saturating_sub(1) } else { new };
        let shown = out.failures.len().saturating_sub(new);
        for (i, f) in out.failures.iter().skip(shown).take(restarts).enumerate() {
            eprintln!("rask: job {job_id} restarting (restart {}) after: {}", failures_seen + i as u64 + 1, f.cause);
        }
        failures_seen += restarts as u64;
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
                if lost > 0 {
                    anyhow::bail!("job {job_id} finished, but {lost} printed rows were lost before this client read them");
                }
                return Ok(());
            }
            let cause = out.root_exception.unwrap_or_default();
            if cause.is_empty() {
                anyhow::bail!("job {job_id} ended {}", out.state);
            }
            anyhow::bail!("job {job_id} ended {}: {cause}", out.state);
        }
        tokio::time::sleep(poll).await;
    }
}

pub async fn run_remote(client: &RestClient, graph: &JobGraph, conf: &Configuration, options: &RunOptions) -> anyhow::Result<()> {
    warn_cluster_keys(conf, &client.base());
    let job_id = submit(client, graph).await?;
    say(&format!("Job has been submitted with JobID {job_id}"));
    if options.detached {
        return Ok(());
    }
    follow(client, &job_id, Duration::from_millis(100)).await
}

pub async fn run_local(graph: &JobGraph, conf: &Configuration) -> anyhow::Result<()> {
    let cluster = MiniCluster::start(graph.slots_needed(), conf).await?;
    let tls = rask_common::security::RestTls::client_from_configuration(conf)?;
    let client = RestClient::new(cluster.rest_url.clone(), tls.as_deref())?;
    let result = async {
        let job_id = submit(&client, graph).await?;
        say(&format!("Job has been submitted with JobID {job_id}"));
        follow(&client, &job_id, Duration::from_millis(10)).await
    }
    .await;
    cluster.shutdown().await;
    result
}

/// `--target per-job`: starts a cluster for this job alone (the JobGraph planned
/// here is handed to its JobManager). Detached: prints the JobID and the cluster's
/// address and returns. Attached: follows the job; the cluster stops when it ends.
pub async fn run_per_job(graph: &JobGraph, cluster: &ClusterOptions, conf: &Configuration, options: &RunOptions) -> anyhow::Result<()> {
    let job_id = graph.job_id.clone();
    let cluster_id = format!("per-job-{}", &job_id[..12]);
    let dir = deployment::cluster_dir(&cluster_id)?;
    let graph_file = dir.join("job-graph.json");
    std::fs::write(&graph_file, serde_json::to_vec(graph)?).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", graph_file.display()))?;
    let mut args = vec!["--job-graph".to_string(), graph_file.display().to_string()];
    if !options.detached {
        args.push("--attached".into());
    }
    let mut started = deployment::start(&cluster_id, &dir, cluster, conf, &args).await?;
    let tls = rask_common::security::RestTls::client_from_configuration(conf)?;
    let client = RestClient::new(started.rest_url.clone(), tls.as_deref())?;
    // The JobManager submits the job right after it serves.
    let deadline = Instant::now() + Duration::from_secs(10);
    while client.get::<serde_json::Value>(&format!("/jobs/{job_id}")).await.is_err() {
        if Instant::now() > deadline {
            let _ = started.process.kill();
            anyhow::bail!("the per-job cluster at {} did not take job {job_id} (log: {})", started.rest_url, started.log_dir.display());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    say(&format!("Job has been submitted with JobID {job_id}"));
    if options.detached {
        say(&format!(
            "Per-job cluster {} runs at {} (logs in {}); it stops when the job ends.",
            started.cluster_id,
            started.rest_url,
            started.log_dir.display()
        ));
        return Ok(());
    }
    let result = follow(&client, &job_id, Duration::from_millis(20)).await;
    // The cluster stops once it has told us the end; wait for it to be gone.
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut exited = None;
    while exited.is_none() && Instant::now() < deadline {
        exited = started.process.try_wait()?;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    match (&result, exited) {
        // Its rows were printed here: nothing in the cluster's directory is needed.
        (Ok(()), Some(status)) if status.success() => {
            let _ = std::fs::remove_dir_all(&started.dir);
        }
        _ => eprintln!("The per-job cluster's logs are in {}", started.log_dir.display()),
    }
    result
}

/// `rask run-application`: ships the application to a new application cluster.
pub async fn run_application(app_file: &Path, cluster: &ClusterOptions, conf: &Configuration) -> anyhow::Result<()> {
    let application = rask_common::job::application::load_application(app_file)?;
    let cluster_id = format!("application-{}", &rask_common::ids::random_hex_id()[..12]);
    let dir = deployment::cluster_dir(&cluster_id)?;
    let shipped = deployment::ship(&application, &dir)?;
    let args = vec!["--application".to_string(), shipped.display().to_string()];
    let started = deployment::start(&cluster_id, &dir, cluster, conf, &args).await?;
    say(&format!(
        "Application '{}' ({} jobs) runs on application cluster {} at {}",
        application.name,
        application.jobs.len(),
        started.cluster_id,
        started.rest_url
    ));
    say(&format!("Shipped files: {}", shipped.parent().unwrap_or(&dir).display()));
    say(&format!("Logs: {}", started.log_dir.display()));
    Ok(())
}

/// Prints a line; a closed stdout (`rask run ... | head`) is not an error.
pub fn say(line: &str) {
    let _ = writeln!(std::io::stdout(), "{line}");
}
